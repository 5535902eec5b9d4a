"""The row codec the SQL stores share: an `Entry` as a row of the ``entries`` table and back,
facts as stored text. The columns are in `COLUMNS` order, as every query selecting an entry
lists them (``{entry_columns}`` in the .sql files)."""

from __future__ import annotations

import functools
import json
from typing import Any

from .._types import DropClass, Entry, EntryState

__all__ = ["COLUMNS", "WAITING", "entry_of", "facts_of", "facts_text", "payload_text", "row_of"]

COLUMNS = (
    "key",
    "order_id",
    "action",
    "state",
    "payload",
    "facts",
    "reason",
    "drop_class",
    "status",
    "attempts",
    "claims",
    "registered_at",
    "due",
    "owner",
    "updated_at",
    "seq",
)
"""The ``entries`` table's columns, in the order a row holds them."""


@functools.lru_cache(maxsize=4096)
def facts_of(text: str) -> frozenset[str]:
    """Stored facts (a JSON list) as a set; an order carries one of few combinations: cached."""
    return frozenset(json.loads(text))


@functools.lru_cache(maxsize=4096)
def facts_text(facts: frozenset[str]) -> str:
    """Facts as stored: a sorted JSON list."""
    return json.dumps(sorted(facts))


def payload_text(payload: Any) -> str | None:
    """A payload as stored: compact JSON with sorted keys (None stays NULL)."""
    return None if payload is None else json.dumps(payload, sort_keys=True, separators=(",", ":"))


def row_of(entry: Entry) -> tuple[Any, ...]:
    """The entry as a row, in `COLUMNS` order."""
    return (
        entry.key,
        entry.order_id,
        entry.action,
        str(entry.state),
        payload_text(entry.payload),
        facts_text(entry.facts),
        entry.reason,
        None if entry.drop is None else str(entry.drop),
        entry.status,
        entry.attempts,
        entry.claims,
        entry.registered_at,
        entry.due,
        entry.owner,
        entry.updated_at,
        entry.seq,
    )


def entry_of(row: tuple[Any, ...] | Any) -> Entry:
    """The entry a row (in `COLUMNS` order) holds."""
    (key, order_id, action, state, payload, facts, reason, drop, status) = row[:9]
    (attempts, claims, registered_at, due, owner, updated_at, seq) = row[9:16]
    return Entry(
        key=key,
        order_id=order_id,
        action=action,
        state=EntryState(state),
        payload=None if payload is None else json.loads(payload),
        facts=facts_of(facts),
        reason=reason,
        drop=None if drop is None else DropClass(drop),
        status=status,
        attempts=attempts,
        claims=claims,
        registered_at=registered_at,
        due=due,
        owner=owner,
        updated_at=updated_at,
        seq=seq,
    )


WAITING = (EntryState.PENDING, EntryState.RETRY)
"""The states `stale_entries` looks at: waiting to be sent (what `Tracker.expire` drops)."""
