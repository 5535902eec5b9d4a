"""The domain operations (`Store.snapshot`, `Store.claim_snapshot`, `Store.write`) built from a
store's row-level members, in one transaction: what the memory and SQLite stores do (their
transactions exclude every other writer, and a statement costs no round trip). The PostgreSQL
store answers each in one round trip instead (`_pg_operations.py`)."""

from __future__ import annotations

from collections.abc import Collection, Iterable

from .._changes import Changes, ClaimSnapshot, OrderState, Snapshot
from .._types import Entry
from ._protocol import RowStore

__all__ = ["by_order", "claim_snapshot", "orders_of", "snapshot", "write"]


def by_order(entries: Iterable[Entry]) -> dict[str, tuple[Entry, ...]]:
    """Entries grouped by order, each group in the order given."""
    grouped: dict[str, list[Entry]] = {}
    for entry in entries:
        grouped.setdefault(entry.order_id, []).append(entry)
    return {order_id: tuple(group) for order_id, group in grouped.items()}


def orders_of(store: RowStore, order_ids: Collection[str]) -> dict[str, OrderState]:
    """The `OrderState` of each of these orders with a record or facts."""
    held = store.load_orders(order_ids)
    found: dict[str, OrderState] = {}
    for order_id in order_ids:
        if order_id in held:
            status, changed_at, facts = held[order_id]
            found[order_id] = OrderState(status, changed_at, facts)
        elif facts := store.load_facts(order_id):
            found[order_id] = OrderState(None, 0, facts)
    return found


def snapshot(
    store: RowStore, order_ids: Collection[str], *, lock: bool = True, links: bool = True
) -> Snapshot:
    """The orders' locks (in sorted order), then their records, facts, open entries and links."""
    ids = sorted(set(order_ids))
    with store.transaction():
        if lock:
            for order_id in ids:
                store.lock_order(order_id)
        open_entries = {}
        for order_id in ids:
            if entries := store.open_entries(order_id, lock=lock):
                open_entries[order_id] = tuple(entries)
        if not links:
            return Snapshot(orders_of(store, ids), open_entries)
        linked = {i: link for i in ids if (link := store.load_link(i)) is not None}
        linked_from = {i: source for i in ids if (source := store.load_marketplace_id(i)) is not None}
        return Snapshot(orders_of(store, ids), open_entries, linked, linked_from)


def claim_snapshot(store: RowStore, now: float, limit: int) -> ClaimSnapshot:
    """The claimable entries whose orders' locks were free (taken), the others' keys, and the
    taken orders' states and entries on their way."""
    with store.transaction():
        found = store.claimable(now, limit)
        locked = store.try_lock_orders({entry.order_id for entry in found})
        candidates = tuple(entry for entry in found if entry.order_id in locked)
        skipped = frozenset(entry.key for entry in found if entry.order_id not in locked)
        ids = sorted({entry.order_id for entry in candidates})
        in_flight = by_order(store.in_flight(ids)) if ids else {}
        return ClaimSnapshot(candidates, skipped, orders_of(store, ids), in_flight)


def stamped(entries: Iterable[Entry], seqs: list[int], updated_at: float | None = None) -> dict[str, Entry]:
    """Each entry with its new ``seq`` (and `updated_at`, when given), by key: one copy each."""
    if updated_at is None:
        return {entry.key: entry.evolve(seq=seq) for entry, seq in zip(entries, seqs, strict=True)}
    return {
        entry.key: entry.evolve(seq=seq, updated_at=updated_at)
        for entry, seq in zip(entries, seqs, strict=True)
    }


def write(store: RowStore, changes: Changes) -> dict[str, Entry]:
    """Write `changes` in order (links, records, facts, entries with new ``seq``s, anomalies,
    counters) in one transaction; the entries as written, by key."""
    with store.transaction():
        for marketplace_id, order_id in changes.links:
            store.save_link(marketplace_id, order_id)
        for order_id, (status, changed_at) in changes.records.items():
            store.save_record(order_id, status, changed_at)
        for order_id, facts in changes.facts.items():
            store.save_facts(order_id, facts)
        written: dict[str, Entry] = {}
        if changes.entries:
            seqs = store.next_seqs(len(changes.entries))
            written = stamped(changes.entries.values(), seqs, changes.updated_at)
            store.save_entries(list(written.values()))
        for anomaly in changes.anomalies:
            store.add_anomaly(anomaly)
        for name, by in changes.counters.items():
            if by:
                store.incr(name, by)
        return written
