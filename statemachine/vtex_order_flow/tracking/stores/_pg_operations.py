"""The PostgreSQL store's domain operations, each in one round trip: statements whose results
are not read yet travel together in the transaction's pipeline, and the server runs them in
order, each read with a snapshot taken after the statements before it (the locks) ran."""

from __future__ import annotations

from collections.abc import Callable, Collection, Sequence
from typing import Any

from .._changes import Changes, ClaimSnapshot, OrderState, Snapshot
from .._types import Entry, EntryState
from ._base import refuse_link
from ._operations import by_order, stamped
from ._rows import entry_of, facts_of, facts_text, row_of
from ._sql import Queries

__all__ = ["claim_snapshot", "snapshot", "write"]

Run = Callable[[str, Sequence[Any]], Any]
"""A statement on the transaction's connection (pipeline mode): a cursor, read when needed."""


def _orders(rows: Any) -> dict[str, OrderState]:
    return {
        order_id: OrderState(status, changed_at or 0, facts_of(facts) if facts else frozenset())
        for order_id, status, changed_at, facts in rows
    }


def snapshot(
    run: Run, sql: Queries, schema: str, order_ids: Collection[str], *, lock: bool, links: bool = True
) -> Snapshot:
    """`Store.snapshot` in one pipeline: the locks, then three reads."""
    ids = sorted(set(order_ids))
    if not ids:
        return Snapshot()
    if lock:
        for order_id in ids:
            run(sql["lock_order"], (f"{schema}:{order_id}",))
    orders = run(sql["snapshot_orders"], (ids,))
    entries = run(sql["snapshot_open_entries_for_update" if lock else "snapshot_open_entries"], (ids,))
    pairs = run(sql["snapshot_links"], (ids, ids)).fetchall() if links else []
    wanted = set(ids)
    linked: dict[str, str] = {}
    linked_from: dict[str, str] = {}
    for marketplace_id, order_id in pairs:
        if marketplace_id in wanted:
            linked[marketplace_id] = order_id
        if order_id in wanted:
            linked_from[order_id] = marketplace_id
    return Snapshot(
        _orders(orders.fetchall()),
        by_order(entry_of(row) for row in entries.fetchall()),
        linked,
        linked_from,
    )


def claim_snapshot(run: Run, sql: Queries, schema: str, now: float, limit: int) -> ClaimSnapshot:
    """`Store.claim_snapshot` in one pipeline: candidates and order locks in one statement,
    then the taken orders' entries on their way and their states."""
    found = run(sql["claim_candidates"], (now, limit, schema))
    going = run(sql["claim_in_flight"], ())
    orders = run(sql["claim_orders"], ())
    candidates: list[Entry] = []
    skipped: set[str] = set()
    for row in found.fetchall():
        if row[0] is None:  # (the row that notes the orders when nothing is claimable)
            continue
        entry = entry_of(row)
        if row[16]:
            candidates.append(entry)
        else:
            skipped.add(entry.key)
    candidates.sort(key=lambda e: (e.due, e.seq))
    return ClaimSnapshot(
        tuple(candidates),
        frozenset(skipped),
        _orders(orders.fetchall()),
        by_order(entry_of(row) for row in going.fetchall()),
    )


def write(
    run: Run, many: Run, sql: Queries, changes: Changes, seqs: Callable[[int], list[int]]
) -> dict[str, Entry]:
    """`Store.write`: the links checked first (one read, only when there are links), then every
    write queued in the pipeline (they travel with the commit). `many` runs a statement for
    each of a list of parameter rows."""
    if changes.links:
        _check_links(run, sql, changes.links)
        many(sql["save_link"], changes.links)
    if changes.records:
        many(sql["save_record"], [(o, status, at) for o, (status, at) in changes.records.items()])
    kept = [(order_id, facts_text(facts)) for order_id, facts in changes.facts.items() if facts]
    gone = [(order_id,) for order_id, facts in changes.facts.items() if not facts]
    if kept:
        many(sql["save_facts"], kept)
    if gone:
        many(sql["delete_facts"], gone)
    written: dict[str, Entry] = {}
    if changes.entries:
        written = stamped(changes.entries.values(), seqs(len(changes.entries)), changes.updated_at)
        many(sql["save_entry"], [row_of(entry) for entry in written.values()])
    if changes.anomalies:
        many(
            sql["add_anomaly"],
            [(a.order_id, a.from_status, a.to_status, a.kind, a.changed_at) for a in changes.anomalies],
        )
    return written


def readies(written: dict[str, Entry]) -> bool:
    """Whether any entry written is ready (NOTIFY at commit)."""
    return any(entry.state is EntryState.READY for entry in written.values())


def _check_links(run: Run, sql: Queries, pairs: list[tuple[str, str]]) -> None:
    """Refuse a pair contradicting the id map or another pair of the same write (the tracker
    holds both orders' locks: nobody links either between this read and the write)."""
    sources = [source for source, _ in pairs]
    targets = [target for _, target in pairs]
    held = run(sql["write_links_held"], (sources, targets, targets, sources)).fetchall()
    links = dict(held)
    linked_from = {target: source for source, target in held}
    for source, target in pairs:
        refuse_link(
            source,
            target,
            linked=links.get(source),
            linked_from=linked_from.get(target),
            mkp_is_vtex=source not in links and source in linked_from,
            vtex_is_mkp=target not in linked_from and target in links,
        )
        links[source], linked_from[target] = target, source
