"""Temporary: the unit of work over the row-level store members (until the stores implement
`snapshot`, `claim_snapshot` and `write` themselves)."""

from __future__ import annotations

from collections.abc import Collection

from ._changes import Changes, ClaimSnapshot, OrderState, Snapshot
from ._stores import Store
from ._types import Entry


def snapshot(store: Store, order_ids: Collection[str], *, lock: bool = True) -> Snapshot:
    ids = sorted(set(order_ids))
    if lock:
        for order_id in ids:
            store.lock_order(order_id)
    held = store.load_orders(ids)
    orders: dict[str, OrderState] = {}
    entries: dict[str, tuple[Entry, ...]] = {}
    links: dict[str, str] = {}
    linked_from: dict[str, str] = {}
    for order_id in ids:
        if order_id in held:
            status, changed_at, facts = held[order_id]
            orders[order_id] = OrderState(status, changed_at, facts)
        else:
            facts = store.load_facts(order_id)
            if facts:
                orders[order_id] = OrderState(None, 0, facts)
        found = store.open_entries(order_id, lock=lock)
        if found:
            entries[order_id] = tuple(found)
        link = store.load_link(order_id)
        if link is not None:
            links[order_id] = link
        back = store.load_marketplace_id(order_id)
        if back is not None:
            linked_from[order_id] = back
    return Snapshot(orders, entries, links, linked_from)


def claim_snapshot(store: Store, now: float, limit: int) -> ClaimSnapshot:
    found = store.claimable(now, limit)
    if not found:
        return ClaimSnapshot()
    locked = store.try_lock_orders({entry.order_id for entry in found})
    candidates = tuple(entry for entry in found if entry.order_id in locked)
    skipped = frozenset(entry.key for entry in found if entry.order_id not in locked)
    ids = {entry.order_id for entry in candidates}
    going: dict[str, list[Entry]] = {}
    for other in store.in_flight(ids):
        going.setdefault(other.order_id, []).append(other)
    orders = {
        order_id: OrderState(status, changed_at, facts)
        for order_id, (status, changed_at, facts) in store.load_orders(ids).items()
    }
    return ClaimSnapshot(candidates, skipped, orders, {k: tuple(v) for k, v in going.items()})


def write(store: Store, changes: Changes) -> dict[str, Entry]:
    for marketplace_id, order_id in changes.links:
        store.save_link(marketplace_id, order_id)
    for order_id, (status, changed_at) in changes.records.items():
        store.save_record(order_id, status, changed_at)
    for order_id, facts in changes.facts.items():
        store.save_facts(order_id, facts)
    stamped: dict[str, Entry] = {}
    if changes.entries:
        seqs = store.next_seqs(len(changes.entries))
        stamped = {
            key: entry.evolve(seq=seq)
            for (key, entry), seq in zip(changes.entries.items(), seqs, strict=True)
        }
        store.save_entries(list(stamped.values()))
    for anomaly in changes.anomalies:
        store.add_anomaly(anomaly)
    for name, by in changes.counters.items():
        if by:
            store.incr(name, by)
    return stamped
