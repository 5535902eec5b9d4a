"""Order status events from any VTEX channel (hook, feed, VTEX IO broadcast), in one shape."""

from __future__ import annotations

import calendar
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Literal

from .._text import validation_problems
from ..errors import EventError

__all__ = ["OrderEvent", "Ping", "format_ticks", "parse_event", "parse_ticks"]

TICKS_PER_SECOND = 10_000_000
"""Event times are kept as integers of 100 ns since the epoch: VTEX writes 7 fractional digits."""

_TIME = re.compile(
    r"(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,9}))?(Z|([+-])(\d{2}):?(\d{2}))\Z"
)


def parse_ticks(text: str) -> int:
    """An ISO 8601 time as 100 ns ticks since the epoch (UTC); digits past the 7th are dropped."""
    if not isinstance(text, str):
        raise EventError(f"not an ISO 8601 time: {text!r} (a string is expected)")
    found = _TIME.match(text)
    if found is None:
        raise EventError(f"not an ISO 8601 time: {text!r}")
    year, month, day, hour, minute, second = (int(found.group(i)) for i in range(1, 7))
    if not (year >= 1 and 1 <= month <= 12 and 1 <= day <= calendar.monthrange(year, month)[1]):
        raise EventError(f"not a date: {text!r} (month 1-12, day within the month)")
    if hour > 23 or minute > 59 or second > 59:
        raise EventError(f"not a time of day: {text!r} (00:00:00 to 23:59:59)")
    seconds = calendar.timegm((year, month, day, hour, minute, second, 0, 0, 0))
    fraction = (found.group(7) or "").ljust(7, "0")[:7]
    if found.group(8) != "Z":
        if int(found.group(10)) > 23 or int(found.group(11)) > 59:
            raise EventError(f"not a UTC offset: {text!r} (-23:59 to +23:59)")
        offset = int(found.group(10)) * 3600 + int(found.group(11)) * 60
        seconds -= offset if found.group(9) == "+" else -offset
    ticks = seconds * TICKS_PER_SECOND + int(fraction)
    if not 0 <= ticks < _MAX_TICKS:
        raise EventError(f"not a time from 1970 to 9999 (UTC): {text!r}")
    return ticks


_MAX_TICKS = 253402300800 * 10_000_000  # 10000-01-01T00:00:00Z


def format_ticks(ticks: int) -> str:
    """100 ns ticks as an ISO 8601 UTC time with 7 fractional digits, as VTEX writes them."""
    if isinstance(ticks, bool) or not isinstance(ticks, int) or not 0 <= ticks < _MAX_TICKS:
        raise EventError(f"not a time in 100 ns ticks from 1970 to 9999: {ticks!r}")
    seconds, fraction = divmod(ticks, TICKS_PER_SECOND)
    return _strftime(seconds) + f".{fraction:07d}Z"


def _strftime(seconds: int) -> str:
    import time

    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds))


_NO_EXTRA: Mapping[str, Any] = MappingProxyType({})


@dataclass(frozen=True, slots=True)
class OrderEvent:
    """One status change of one order, whatever channel delivered it."""

    order_id: str
    state: str
    changed_at: int
    """When the order entered `state`, in 100 ns ticks (``CurrentChange``, or ``LastChange``
    when VTEX leaves ``CurrentChange`` out)."""
    last_state: str | None = None
    domain: str | None = None
    source: Literal["hook", "feed", "broadcast", "test"] = "test"
    handle: str | None = None
    """Feed items: the handle to commit once the event is applied."""
    extra: Mapping[str, Any] = field(default_factory=lambda: _NO_EXTRA, compare=False, repr=False)
    """Fields of the payload this library does not know (VTEX adds some now and then): kept,
    read-only, never refused."""

    @property
    def changed_at_iso(self) -> str:
        """When the status changed, as ISO 8601 with VTEX's 7 fractional digits."""
        return format_ticks(self.changed_at)


@dataclass(frozen=True, slots=True)
class Ping:
    """The hook's configuration check, ``{"hookConfig": "ping"}``."""


def _kind(data: Mapping[str, Any]) -> str:
    if "hookConfig" in data:
        return "ping"
    if "OrderId" in data:
        return "hook"
    if "eventId" in data or "handle" in data:
        return "feed"
    if "currentState" in data:
        return "broadcast"
    raise EventError(
        "not an order event: expected a hook notification (OrderId, State, ...), a feed item "
        "(eventId, handle, ...), a VTEX IO broadcast event (orderId, currentState, ...) or a hook ping"
    )


def _checked(event: OrderEvent, kind: str) -> OrderEvent:
    """The event, if every store can hold its ids (no NUL, valid Unicode); else an EventError
    naming the field (a hook answers 400, a replay reports the line)."""
    from .._guards import expect_id
    from ..errors import InvalidArgumentError

    for name, value in (("order id", event.order_id), ("status", event.state)):
        try:
            expect_id(value, f"the {name}")
        except InvalidArgumentError as error:
            raise EventError(f"invalid {kind} payload", (str(error),)) from None
    return event


def _extra(payload: Any) -> Mapping[str, Any]:
    extra = payload.model_extra
    return MappingProxyType(dict(extra)) if extra else _NO_EXTRA


def _ticks(payload: Any, kind: str, *fields: str) -> int:
    """The first of these time fields that is set, as ticks; an impossible time is an
    `EventError` that names its field."""
    for name in fields:
        text = getattr(payload, name)
        if text:
            try:
                return parse_ticks(text)
            except EventError as error:
                raise EventError(f"invalid {kind} payload", (f"{name}: {error}",)) from None
    raise EventError(f"invalid {kind} payload", (f"{fields[0]}: Field required",))


def _from_hook(hook: Any) -> OrderEvent:
    _ticks(hook, "hook", "LastChange")  # checked too, though CurrentChange dates the event
    return _checked(_hook_event(hook), "hook")


def _hook_event(hook: Any) -> OrderEvent:
    return OrderEvent(
        order_id=hook.OrderId,
        state=hook.State,
        changed_at=_ticks(hook, "hook", "CurrentChange", "LastChange"),
        last_state=hook.LastState,
        domain=hook.Domain,
        source="hook",
        extra=_extra(hook),
    )


def parse_event(payload: bytes | str | Mapping[str, Any]) -> OrderEvent | Ping:
    """Recognise a hook notification, a feed item, a broadcast event or a ping by its fields,
    validate it strictly (pydantic), and return it as an `OrderEvent` (or `Ping`).

    Raises `EventError`, naming each bad field, for anything else.
    """
    from pydantic import ValidationError

    from .. import payloads

    if isinstance(payload, bytes | str):
        try:
            raw = payload.encode() if isinstance(payload, str) else payload
        except UnicodeEncodeError as error:  # a lone surrogate: no JSON text can carry it
            raise EventError(f"not JSON text: {error}") from None
        if b'"OrderId"' in raw and b'"hookConfig"' not in raw:
            # The common case, a hook notification: pydantic parses the JSON itself (faster);
            # anything it refuses goes through the general path below for the full message.
            try:
                hook = payloads.HookNotification.model_validate_json(raw)
            except ValidationError:
                pass
            else:
                return _from_hook(hook)
        try:
            data = json.loads(payload)
        except (ValueError, RecursionError) as error:
            raise EventError(f"not JSON: {error}") from None
    else:
        data = payload
    if not isinstance(data, Mapping):
        raise EventError("an event must be a JSON object")
    kind = _kind(data)
    try:
        if kind == "ping":
            payloads.HookPing.model_validate(data)
            return Ping()
        if kind == "hook":
            return _from_hook(payloads.HookNotification.model_validate(data))
        if kind == "feed":
            item = payloads.FeedItem.model_validate(data)
            return _checked(
                OrderEvent(
                    order_id=item.orderId,
                    state=item.state,
                    changed_at=_ticks(item, "feed", "currentChange"),
                    last_state=item.lastState,
                    domain=item.domain,
                    source="feed",
                    handle=item.handle,
                    extra=_extra(item),
                ),
                "feed",
            )
        broadcast = payloads.BroadcastEvent.model_validate(data)
        return _checked(
            OrderEvent(
                order_id=broadcast.orderId,
                state=broadcast.currentState,
                changed_at=_ticks(broadcast, "broadcast", "currentChangeDate"),
                last_state=broadcast.lastState,
                domain=broadcast.domain,
                source="broadcast",
                extra=_extra(broadcast),
            ),
            "broadcast",
        )
    except ValidationError as error:
        problems = tuple(f"{path or '(body)'}: {message}" for path, message in validation_problems(error))
        raise EventError(f"invalid {kind} payload", problems) from None
