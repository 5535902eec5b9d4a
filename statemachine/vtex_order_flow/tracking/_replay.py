"""Replay a file of order events into a tracker, and the deferred-updates file format.

What `vtex-order-flow replay` does, as library functions: a connector can replay its own event
log (to rebuild a tracker, or to test) without the command line.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import IO, Any

from .._guards import expect, expect_iterable
from .._text import shown
from ..errors import EventError, InvalidArgumentError, UnknownNameError
from ._events import OrderEvent, Ping, parse_event
from ._tracker import Tracker
from ._types import EntryState

__all__ = [
    "MAX_ERRORS_KEPT",
    "ReplayResult",
    "numbered_lines",
    "register_deferred",
    "replay",
    "replay_report",
]

MAX_ERRORS_KEPT = 1_000
"""How many bad lines a replay keeps the details of; the rest are counted (`errors_omitted`), so
that a file of junk costs no memory per line."""

BOM = b"\xef\xbb\xbf"
"""UTF-8's byte-order mark, which some editors put at the start of a file: dropped from line 1."""

DEFER_FIELDS = ("orderId", "action", "facts", "key", "payload")
"""The fields of one line of an updates file: ``{"orderId", "action"}`` and optional ``"facts"``,
``"key"`` (the idempotency key) and ``"payload"``."""


@dataclass(slots=True)
class ReplayResult:
    """What a replay applied: each outcome's count, pings seen, and the lines it could not read."""

    outcomes: dict[str, int] = field(default_factory=dict)
    pings: int = 0
    errors: list[dict[str, object]] = field(default_factory=list)
    """The first `MAX_ERRORS_KEPT` bad lines: ``{"file", "line", "error"}`` each."""
    errors_omitted: int = 0
    """Bad lines past those, counted only."""

    def add_error(self, error: dict[str, object]) -> None:
        """Keep a bad line's details, or count it once `MAX_ERRORS_KEPT` are kept."""
        if len(self.errors) < MAX_ERRORS_KEPT:
            self.errors.append(error)
        else:
            self.errors_omitted += 1


def _numbered(lines: object, what: str) -> Iterator[tuple[int, bytes]]:
    """`lines`, checked to be numbered lines of bytes as they are read."""
    expect_iterable(lines, what, "(line number, bytes) pairs")
    return _checked_lines(lines, what)  # type: ignore[arg-type]  # (an Iterable: checked)


def _checked_lines(lines: Iterable[object], what: str) -> Iterator[tuple[int, bytes]]:
    for item in lines:
        if (
            type(item) is not tuple
            or len(item) != 2
            or type(item[0]) is not int
            or not isinstance(item[1], bytes)
        ):
            raise InvalidArgumentError(
                f"{what} must yield (line number, bytes) pairs, not {type(item).__name__} {shown(item)}"
            )
        yield item  # (checked above)


def numbered_lines(source: IO[bytes]) -> Iterator[tuple[int, bytes]]:
    """The non-blank lines of a binary stream, numbered from 1, read as they are consumed; the
    stream is closed when the lines run out. A byte-order mark at the start is dropped (a line
    of it alone is blank)."""
    if not all(callable(getattr(source, name, None)) for name in ("__iter__", "__enter__", "__exit__")):
        raise InvalidArgumentError(
            f"numbered_lines's source must be a binary stream (an open file), not "
            f"{type(source).__name__} {shown(source)}"
        )
    return _stream_lines(source)


def _stream_lines(source: IO[bytes]) -> Iterator[tuple[int, bytes]]:
    with source:
        for number, line in enumerate(source, 1):
            raw = line[3:] if number == 1 and line.startswith(BOM) else line
            if raw.strip():
                yield number, raw


def register_deferred(
    tracker: Tracker, lines: Iterable[tuple[int, bytes]], name: str = "defer"
) -> list[dict[str, object]]:
    """Register one outbox entry per line (``{"orderId", "action"}``, optional ``"facts"``,
    ``"key"``, ``"payload"``); returns an error per line that could not be (``{"file": name,
    "line", "error"}``), the rest registered."""
    expect(tracker, Tracker, "register_deferred's tracker")
    expect(name, str, "register_deferred's name")
    errors: list[dict[str, object]] = []
    for number, raw in _numbered(lines, "register_deferred's lines"):
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
    event is reported in `errors` (the first `MAX_ERRORS_KEPT`; the rest counted in
    `errors_omitted`) and skipped; the rest is applied all the same."""
    expect(tracker, Tracker, "replay's tracker")
    if type(batch) is not int or batch < 1:
        raise InvalidArgumentError(f"replay's batch must be a positive int, not {shown(batch)}")
    numbered = _numbered(lines, "replay's lines")
    result = ReplayResult()
    chunk: list[OrderEvent] = []

    def apply() -> None:
        for applied in tracker.apply_many(chunk, batch=batch):
            result.outcomes[applied.outcome] = result.outcomes.get(applied.outcome, 0) + 1
        chunk.clear()

    for number, raw in numbered:
        try:
            parsed = parse_event(raw)
        except EventError as error:
            result.add_error({"file": "events", "line": number, "error": str(error)})
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
    ...) and `pings`, and ``errors_omitted`` when it counted bad lines past those it kept."""
    expect(tracker, Tracker, "replay_report's tracker")
    if result is not None:
        expect(result, ReplayResult, "replay_report's result")
    expect_iterable(errors, "replay_report's errors", "error dicts")

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
    } | (
        {"outcomes": dict(sorted(result.outcomes.items())), "pings": result.pings}
        | ({"errors_omitted": result.errors_omitted} if result.errors_omitted else {})
        if result is not None
        else {}
    )
