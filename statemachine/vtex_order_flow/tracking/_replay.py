"""Replay a file of order events into a tracker, and the deferred-updates file format.

What `vtex-order-flow replay` does, as library functions: a connector can replay its own event
log (to rebuild a tracker, or to test) without the command line.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import IO, Any

from ..errors import UnknownNameError
from ._events import EventError, OrderEvent, Ping, parse_event
from ._tracker import Tracker
from ._types import EntryState

__all__ = ["ReplayResult", "numbered_lines", "register_deferred", "replay", "replay_report"]

DEFER_FIELDS = ("orderId", "action", "facts", "key", "payload")
"""The fields of one line of an updates file: ``{"orderId", "action"}`` and optional ``"facts"``,
``"key"`` (the idempotency key) and ``"payload"``."""


@dataclass(slots=True)
class ReplayResult:
    """What a replay applied: each outcome's count, pings seen, and the lines it could not read."""

    outcomes: dict[str, int] = field(default_factory=dict)
    pings: int = 0
    errors: list[dict[str, object]] = field(default_factory=list)


def numbered_lines(source: IO[bytes]) -> Iterator[tuple[int, bytes]]:
    """The non-blank lines of a binary stream, numbered from 1, read as they are consumed; the
    stream is closed when the lines run out."""
    with source:
        for number, raw in enumerate(source, 1):
            if raw.strip():
                yield number, raw


def register_deferred(
    tracker: Tracker, lines: Iterable[tuple[int, bytes]], name: str = "defer"
) -> list[dict[str, object]]:
    """Register one outbox entry per line (``{"orderId", "action"}``, optional ``"facts"``,
    ``"key"``, ``"payload"``); returns an error per line that could not be (``{"file": name,
    "line", "error"}``), the rest registered."""
    errors: list[dict[str, object]] = []
    for number, raw in lines:
        try:
            record = json.loads(raw)
            if not isinstance(record, dict) or not isinstance(record.get("orderId"), str):
                raise ValueError(
                    'each line must be {"orderId", "action"} with optional "facts", "key", "payload"'
                )
            if "action" not in record:
                raise ValueError(f'missing "action"; valid fields: {", ".join(DEFER_FIELDS)}')
            unknown = sorted(set(record) - set(DEFER_FIELDS))
            if unknown:
                raise ValueError(f"unknown field {unknown[0]!r}; valid fields: {', '.join(DEFER_FIELDS)}")
            tracker.register(
                record["orderId"],
                str(record.get("action")),
                record.get("facts"),
                key=record.get("key"),
                payload=record.get("payload"),
            )
        except (ValueError, RecursionError, UnknownNameError) as error:  # RecursionError: nesting too deep
            errors.append({"file": name, "line": number, "error": str(error)})
    return errors


def replay(tracker: Tracker, lines: Iterable[tuple[int, bytes]], batch: int = 500) -> ReplayResult:
    """Apply numbered lines of events (hook, feed, broadcast bodies or pings, recognised by their
    fields) to `tracker`, in `batch`-sized transactions as they are read. A line that is not an
    event is reported in `errors` and skipped; the rest is applied all the same."""
    result = ReplayResult()
    chunk: list[OrderEvent] = []

    def apply() -> None:
        for applied in tracker.apply_many(chunk, batch=batch):
            result.outcomes[applied.outcome] = result.outcomes.get(applied.outcome, 0) + 1
        chunk.clear()

    for number, raw in lines:
        try:
            parsed = parse_event(raw)
        except EventError as error:
            result.errors.append({"file": "events", "line": number, "error": str(error)})
            continue
        if isinstance(parsed, Ping):
            result.pings += 1
            continue
        chunk.append(parsed)
        if len(chunk) >= batch:
            apply()
    apply()
    return result


def replay_report(
    tracker: Tracker, errors: Iterable[dict[str, object]] = (), result: ReplayResult | None = None
) -> dict[str, Any]:
    """The tracker's state as JSON-ready data: orders, the outbox's entries by state (ready,
    pending (retries included), claimed, sent, done, dropped), anomalies, errors; with the
    replay's `result`, its `outcomes` (how many events were first, moved, duplicate, stale,
    ...) and `pings`."""

    def listed(*states: EntryState) -> list[dict[str, Any]]:
        return [e.to_dict() for e in tracker.entries(*states)]

    return {
        "orders": {r.order_id: r.to_dict() for r in tracker.records()},
        "ready": listed(EntryState.READY),
        "pending": listed(EntryState.PENDING, EntryState.RETRY),
        "claimed": listed(EntryState.CLAIMED),
        "sent": listed(EntryState.SENT),
        "done": listed(EntryState.DONE),
        "dropped": listed(EntryState.DROPPED),
        "anomalies": [a.to_dict() for a in tracker.anomalies()],
        "errors": list(errors),
    } | ({"outcomes": dict(sorted(result.outcomes.items())), "pings": result.pings} if result else {})
