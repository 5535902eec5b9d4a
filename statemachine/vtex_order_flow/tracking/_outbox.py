"""Registration: updates put in the outbox (idempotent by key, repeats folded into the open entry,
supersede), withdrawn, expired."""

from __future__ import annotations

import hashlib
import json
from typing import Any

from ..errors import InvalidArgumentError
from ._changes import Changes, Snapshot
from ._links import same_update
from ._types import DropClass, Entry, EntryState
from ._unit import Core
from ._verdicts import REOPENABLE, FlowTables, rule_now

__all__ = ["default_key", "expire", "json_copy", "register", "withdraw"]


def json_copy(payload: object) -> Any:
    """The payload as stored: JSON data, copied (so that a caller's later change cannot alter it)."""
    if payload is None:
        return None
    try:
        return json.loads(json.dumps(payload, allow_nan=False))
    except (TypeError, ValueError, RecursionError) as error:
        raise InvalidArgumentError(f"an entry's payload must be JSON data: {error}") from None


def default_key(tables: FlowTables, order_id: str, action: str, payload: Any) -> str:
    """``order:action``; for an action an order may need several times, with a digest of the
    payload (two partial invoices are two entries, the same one twice is one)."""
    if action not in tables.repeatable or payload is None:
        return f"{order_id}:{action}"
    digest = hashlib.sha256(json.dumps(payload, sort_keys=True, separators=(",", ":")).encode()).hexdigest()
    return f"{order_id}:{action}:{digest[:16]}"


def _ruled(tables: FlowTables, entry: Entry, snapshot: Snapshot) -> Entry:
    return rule_now(tables, entry, snapshot).applied_to(entry)


def _reopened(
    tables: FlowTables, entry: Entry, facts: frozenset[str], payload: Any, snapshot: Snapshot
) -> Entry:
    """An entry not yet gone out, with new facts or payload, decided again; a retry keeps its
    backoff unless it can no longer succeed."""
    decided = _ruled(tables, entry.evolve(facts=facts, payload=payload), snapshot)
    if entry.state is EntryState.RETRY and decided.state is not EntryState.DROPPED:
        return entry.evolve(facts=facts, payload=payload)
    return decided


def _supersede(core: Core, changes: Changes, key: str, by: str) -> None:
    old = core.store.get_entry(key)
    if old is not None and old.state in REOPENABLE:
        changes.put(
            old.evolve(
                state=EntryState.DROPPED, drop=DropClass.SUPERSEDED, reason=f"superseded by {by!r}", due=None
            )
        )


def register(
    core: Core,
    update: tuple[str, str, frozenset[str], Any],
    name: str,
    replaces: str | None,
    now: float,
) -> Entry:
    """Register `update` (order id, action, facts, payload) under key `name` (see
    `Tracker.register`): one snapshot of the order, one write."""
    order_id, action, names, data = update
    tables = core.tables
    core.store.lock_key(name)  # two orders registering one key: one of them is refused
    order_id, snapshot = core.resolve(order_id)
    existing = core.store.get_entry(name)
    if existing is not None and (existing.order_id, existing.action) != (order_id, action):
        raise InvalidArgumentError(
            f"key {name!r} already names the {existing.action} of order {existing.order_id!r}, "
            f"not the {action} of {order_id!r}; use a key per update"
        )
    changes = Changes()
    if existing is None:
        replaced = core.store.get_entry(replaces) if replaces is not None else None
        supersedable = replaced is not None and replaced.state in REOPENABLE
        existing = same_update(
            tables, snapshot.entries(order_id), action, data, ignore=replaces if supersedable else None
        )
    if existing is not None:
        if existing.state not in REOPENABLE or (existing.facts, existing.payload) == (names, data):
            return existing  # no change: nor to what `replaces` names
        if replaces is not None and replaces != existing.key:
            _supersede(core, changes, replaces, existing.key)
        entry = changes.put(_reopened(tables, existing, names, data, snapshot))
        return core.save(changes, now)[entry.key]
    if replaces is not None and replaces != name:
        _supersede(core, changes, replaces, name)
    new = Entry(
        key=name,
        order_id=order_id,
        action=action,
        state=EntryState.PENDING,
        payload=data,
        facts=names,
        registered_at=now,
    )
    entry = changes.put(_ruled(tables, new, snapshot))
    return core.save(changes, now)[entry.key]


def withdraw(core: Core, key: str, reason: str, now: float) -> Entry:
    """Retract an entry not yet on its way; one claimed, sent or finished is returned unchanged."""
    current = core.existing(key)
    if current.state in (EntryState.CLAIMED, EntryState.SENT, EntryState.DONE, EntryState.DROPPED):
        return current
    return core.save_one(
        current.evolve(state=EntryState.DROPPED, drop=DropClass.WITHDRAWN, reason=reason, due=None), now
    )


def expire(core: Core, max_age: float, moment: float, limit: int) -> list[Entry]:
    """Drop (as expired) up to `limit` pending or retrying entries registered before
    `moment - max_age`, oldest first: one read, one write."""
    changes = Changes()
    stale = core.store.stale_entries(moment - max_age, limit)
    for entry in stale:
        changes.put(
            entry.evolve(
                state=EntryState.DROPPED,
                drop=DropClass.EXPIRED,
                reason=f"still not sendable after {max_age:g} s; gave up",
                due=None,
            )
        )
    written = core.save(changes, moment)
    return [written[entry.key] for entry in stale]
