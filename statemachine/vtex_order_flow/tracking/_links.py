"""Id links: VTEX's orderId for a marketplace order id (SOI001's ``mainOrderId``); the updates
registered under the marketplace id move to VTEX's id."""

from __future__ import annotations

import logging

from .. import Advice
from .._guards import expect_id
from ..errors import InvalidArgumentError
from ._changes import Changes
from ._types import IN_FLIGHT, DropClass, Entry, EntryState
from ._unit import Core
from ._verdicts import FlowTables, redecide

__all__ = ["link", "link_from", "same_update"]

log = logging.getLogger("vtex_order_flow.tracking")


def same_update(
    tables: FlowTables,
    entries: tuple[Entry, ...] | list[Entry],
    action: str,
    payload: object,
    ignore: str | None,
) -> Entry | None:
    """The open entry (of `entries`, an order's) an update would repeat: any of the action's
    (one per order), or, for an action an order may need several times, the one with the same
    payload (the entry `ignore` names excepted). Pure."""
    for entry in entries:
        if entry.key == ignore or entry.action != action:
            continue
        if action not in tables.repeatable or entry.payload == payload:
            return entry
    return None


def link(core: Core, marketplace_id: str, order_id: str, now: float) -> list[Entry]:
    """Link the ids; the marketplace id's open entries move to VTEX's id (one that repeats an
    update already there is dropped as superseded), its facts too, and are decided again."""
    if marketplace_id == order_id:
        return []
    # Locks in one order everywhere (the marketplace id, then VTEX's): no deadlock.
    theirs = core.load((marketplace_id,))
    if theirs.links.get(marketplace_id) == order_id:
        return []
    ours = core.load((order_id,))
    # The link first, alone: a second pair with either id is refused before anything changes.
    core.save(Changes(links=[(marketplace_id, order_id)]), now)
    changes = Changes()
    there = list(ours.entries(order_id))
    kept: list[Entry] = []
    for entry in theirs.entries(marketplace_id):
        same = same_update(core.tables, there, entry.action, entry.payload, ignore=None)
        if same is not None and entry.state not in IN_FLIGHT:
            changes.put(
                entry.evolve(
                    order_id=order_id,
                    state=EntryState.DROPPED,
                    drop=DropClass.SUPERSEDED,
                    reason=f"the same update as {same.key!r} of VTEX order {order_id!r}",
                    due=None,
                )
            )
            continue
        moved = changes.put(entry.evolve(order_id=order_id))
        kept.append(moved)
        there.append(moved)
    facts = ours.order(order_id).facts
    moved_facts = theirs.order(marketplace_id).facts
    if moved_facts:
        facts = facts | moved_facts
        changes.facts[order_id] = facts
        changes.facts[marketplace_id] = frozenset()
    status = ours.order(order_id).status
    if status is not None:
        for entry in redecide(core.tables, there, status, facts).changed:
            changes.put(entry)
    written = core.save(changes, now)
    return [written.get(e.key, e) for e in kept]


def link_from(core: Core, advice: Advice, now: float) -> None:
    """Fill the id map from a consistent success that names both ids; ids no store can hold, or
    a pair that contradicts the map, are left out (logged)."""
    marketplace_id, order_id = advice.marketplace_order_id, advice.order_id
    if not (advice.success and advice.consistent and marketplace_id and order_id):
        return
    try:
        expect_id(marketplace_id, "marketplaceOrderId")
        expect_id(order_id, "mainOrderId")
        link(core, marketplace_id, order_id, now)
    except InvalidArgumentError as error:
        log.warning("not linking %r to %r: %s", marketplace_id, order_id, error)
