"""The tracker's records: orders, deferred updates, anomalies, and the retry policy."""

from __future__ import annotations

import enum
import random
from dataclasses import dataclass, field
from typing import Any

from ..errors import InvalidArgumentError
from ._events import OrderEvent, format_ticks

__all__ = ["Anomaly", "Applied", "Deferred", "DeferredState", "OrderRecord", "RetryPolicy"]


@dataclass(frozen=True, slots=True)
class OrderRecord:
    """What the tracker knows of one order: its current status and when it entered it."""

    order_id: str
    status: str
    changed_at: int
    """100 ns ticks since the epoch (`format_ticks` writes it back as VTEX does)."""

    def to_dict(self) -> dict[str, Any]:
        """The record as JSON-ready data."""
        return {"status": self.status, "changed_at": format_ticks(self.changed_at)}


class DeferredState(enum.StrEnum):
    """Where a deferred update is in its life."""

    PENDING = "pending"
    """Waiting for the order's status to change."""
    READY = "ready"
    """Send it now (then call `Tracker.mark_sent`)."""
    RETRY = "retry"
    """VTEX said 'try again later': due at `retry_at` (see `Tracker.due`)."""
    SENT = "sent"
    """The connector sent it (and VTEX did not ask for it again)."""
    DROPPED = "dropped"
    """It can never succeed, or it was given up: `reason` says why."""


@dataclass(frozen=True, slots=True)
class Deferred:
    """An update the connector registered because `decide()` deferred it."""

    order_id: str
    action: str
    facts: frozenset[str]
    state: DeferredState
    registered_at: float | None
    """Seconds since the epoch on the tracker's clock (None: not aged, e.g. in a replay)."""
    reason: str = ""
    status: str | None = None
    """The order's status at the last decision."""
    attempts: int = 0
    retry_at: float | None = None
    seq: int = 0
    """Order of the last change, so that every store lists updates in the same order."""

    @property
    def key(self) -> tuple[str, str]:
        """(order id, action): what names a deferred update."""
        return (self.order_id, self.action)

    def to_dict(self) -> dict[str, Any]:
        """The update as JSON-ready data."""
        data: dict[str, Any] = {
            "orderId": self.order_id,
            "action": self.action,
            "facts": sorted(self.facts),
            "state": str(self.state),
            "status": self.status,
        }
        if self.reason:
            data["reason"] = self.reason
        if self.attempts:
            data["attempts"] = self.attempts
        if self.retry_at is not None:
            data["retry_at"] = self.retry_at
        return data


@dataclass(frozen=True, slots=True)
class Anomaly:
    """A move VTEX made that the model does not have. VTEX is the source of truth: the move is
    applied all the same, and recorded here with its kind."""

    order_id: str
    from_status: str | None
    to_status: str
    kind: str
    """``unknown-status``, ``not-in-flow``, ``from-terminal`` (VTEX's known canceled -> cancel
    flip), ``unreachable`` (no path in the model), or ``same-time`` (two statuses, one time)."""
    changed_at: int

    def to_dict(self) -> dict[str, Any]:
        """The anomaly as JSON-ready data."""
        return {
            "orderId": self.order_id,
            "from": self.from_status,
            "to": self.to_status,
            "kind": self.kind,
            "changed_at": format_ticks(self.changed_at),
        }


@dataclass(frozen=True, slots=True)
class Applied:
    """What one event did."""

    event: OrderEvent
    outcome: str
    """``first`` (a new order), ``moved``, ``duplicate`` (applied before), ``stale`` (older than
    what the record holds: it never moves the order back)."""
    previous: str | None = None
    anomaly: Anomaly | None = None
    ready: tuple[Deferred, ...] = ()
    dropped: tuple[Deferred, ...] = ()

    @property
    def changed(self) -> bool:
        """Whether the event changed the order's record."""
        return self.outcome in {"first", "moved"}


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """Exponential backoff with jitter for VTEX's 'try again later' answers (EOI006, EOI010).

    Attempt n waits ``min(max_delay, base * factor ** (n - 1))`` seconds, half of it fixed and
    half drawn at random (so that many connectors do not retry in step); after `max_attempts`
    the update is dropped.
    """

    base: float = 30.0
    factor: float = 2.0
    max_delay: float = 3600.0
    max_attempts: int = 8
    rng: random.Random = field(default_factory=random.Random, compare=False, repr=False)

    def __post_init__(self) -> None:
        for name in ("base", "factor", "max_delay"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int | float) or not value >= 0:
                raise InvalidArgumentError(f"RetryPolicy.{name} must be a number >= 0, not {value!r}")
        if (
            isinstance(self.max_attempts, bool)
            or not isinstance(self.max_attempts, int)
            or self.max_attempts < 0
        ):
            raise InvalidArgumentError(
                f"RetryPolicy.max_attempts must be an integer >= 0, not {self.max_attempts!r}"
            )

    def delay(self, attempt: int) -> float:
        """Seconds to wait before attempt number `attempt` (with jitter)."""
        ceiling = min(self.max_delay, self.base * self.factor ** max(attempt - 1, 0))
        return ceiling / 2 + self.rng.uniform(0, ceiling / 2)
