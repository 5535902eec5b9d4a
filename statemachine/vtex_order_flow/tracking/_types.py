"""The tracker's records: orders, outbox entries, anomalies, and the retry policy."""

from __future__ import annotations

import enum
import random
from dataclasses import dataclass, field, fields
from types import TracebackType
from typing import Any, Self

from ..errors import InvalidArgumentError
from ._events import OrderEvent, format_ticks

__all__ = [
    "CLAIMABLE",
    "IN_FLIGHT",
    "OPEN_STATES",
    "Anomaly",
    "AnomalyKind",
    "Applied",
    "DropClass",
    "Entry",
    "EntryState",
    "EventOutcome",
    "OrderRecord",
    "RetryPolicy",
]


class Closing:
    """``with thing:`` calls its `close()` at the end (stores, trackers, hook endpoints)."""

    def close(self) -> None:
        """Release the resources."""

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        self.close()


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


class EntryState(enum.StrEnum):
    """Where an outbox entry is in its life::

    pending -> ready -> claimed (a lease) -> sent -> done
                                          -> retry (due at) -> claimed ...
    any open state -> dropped (with a `DropClass`)
    """

    PENDING = "pending"
    """Waiting for the order's status (or facts) to change."""
    READY = "ready"
    """Sendable now: the next `Tracker.claim` hands it to a worker (decided again first)."""
    CLAIMED = "claimed"
    """A worker holds it under a lease (`owner`, until `due`); when the lease expires without an
    answer, it is claimable again."""
    SENT = "sent"
    """Sent; VTEX's answer (a notification, or the order reaching the action's goal) is awaited."""
    DONE = "done"
    """VTEX applied it (or the order reached the action's goal): nothing more to send."""
    RETRY = "retry"
    """VTEX said 'try again later': claimable again once `due` has passed."""
    DROPPED = "dropped"
    """It can never succeed, or it was given up, withdrawn or superseded: `drop` says which."""


OPEN_STATES = frozenset(
    {EntryState.PENDING, EntryState.READY, EntryState.CLAIMED, EntryState.SENT, EntryState.RETRY}
)
"""States an entry can still leave: every state but done and dropped."""
IN_FLIGHT = frozenset({EntryState.CLAIMED, EntryState.SENT})
"""States in which the update is on its way to VTEX."""
CLAIMABLE = frozenset({EntryState.READY, EntryState.RETRY, EntryState.CLAIMED, EntryState.SENT})
"""States `claim` looks at once their `due` has passed: ready, a retry come due, a claim whose
lease expired, a send VTEX never answered (the tracker's `answer_timeout`)."""


class DropClass(enum.StrEnum):
    """Why an entry was dropped, as a class a connector can act on."""

    ALREADY_DONE = "already-done"
    """The order already is where the update would take it."""
    IMPOSSIBLE = "impossible"
    """The model says VTEX can never accept it from the order's status (with its facts)."""
    SUPERSEDED = "superseded"
    """A newer registration replaced it."""
    WITHDRAWN = "withdrawn"
    """The connector withdrew it (`Tracker.withdraw`)."""
    EXPIRED = "expired"
    """Still not sendable after the tracker's `max_age`."""
    GAVE_UP = "gave-up"
    """VTEX refused it for good, asked for a person, or kept failing past the retry policy."""


@dataclass(frozen=True, slots=True)
class Entry:
    """One update the connector wants VTEX to have: an outbox entry.

    Named by the caller's idempotency `key` (``"{order_id}:{action}"`` when none is given):
    registering the same key again is the same entry. Two partial invoices of one order are
    two keys, two entries.
    """

    key: str
    order_id: str
    action: str
    state: EntryState
    payload: Any = None
    """What the connector will send (an invoice's number and value, a tracking number, ...):
    JSON data, kept as given."""
    facts: frozenset[str] = frozenset()
    """The update's own facts (an invoice is partial), added to the order's at every decision."""
    reason: str = ""
    drop: DropClass | None = None
    """Why it was dropped (None unless `state` is dropped)."""
    status: str | None = None
    """The order's status at the last decision."""
    attempts: int = 0
    """Answers from VTEX that asked to send it again (retry, not-now)."""
    claims: int = 0
    """How many times a worker claimed it."""
    registered_at: float = 0.0
    """Seconds since the epoch on the tracker's clock."""
    due: float | None = None
    """Ready: 0 (claimable at once); retry: when it comes due; claimed: when the lease expires;
    sent: when to stop waiting for VTEX's answer (None: never)."""
    owner: str | None = None
    """The worker holding the lease (claimed), or the last one that held it."""
    updated_at: float = 0.0
    """When the entry last changed state (seconds since the epoch; `prune` reads it)."""
    seq: int = 0
    """Order of the last change, so that every store lists entries in the same order."""

    def evolve(self, **changes: Any) -> Entry:
        """A copy with these fields changed (`dataclasses.replace`, at a third of its cost: the
        outbox copies entries on every change)."""
        values = {name: getattr(self, name) for name in _ENTRY_FIELDS}
        values.update(changes)
        return Entry(**values)

    @property
    def retry_at(self) -> float | None:
        """When a retry comes due (None unless `state` is retry)."""
        return self.due if self.state is EntryState.RETRY else None

    @property
    def lease_until(self) -> float | None:
        """When a claim's lease expires (None unless `state` is claimed)."""
        return self.due if self.state is EntryState.CLAIMED else None

    @property
    def in_flight(self) -> bool:
        """Whether it is on its way to VTEX (claimed or sent)."""
        return self.state in IN_FLIGHT

    def to_dict(self) -> dict[str, Any]:
        """The entry as JSON-ready data."""
        data: dict[str, Any] = {
            "key": self.key,
            "orderId": self.order_id,
            "action": self.action,
            "facts": sorted(self.facts),
            "state": str(self.state),
            "status": self.status,
        }
        if self.payload is not None:
            data["payload"] = self.payload
        if self.reason:
            data["reason"] = self.reason
        if self.drop is not None:
            data["drop"] = str(self.drop)
        if self.attempts:
            data["attempts"] = self.attempts
        if self.claims:
            data["claims"] = self.claims
        if self.state is EntryState.RETRY:
            data["retry_at"] = self.due
        if self.state is EntryState.CLAIMED:
            data["owner"] = self.owner
            data["lease_until"] = self.due
        return data


_ENTRY_FIELDS = tuple(f.name for f in fields(Entry))


class AnomalyKind(enum.StrEnum):
    """What kind of move VTEX made that the model does not have."""

    UNKNOWN_STATUS = "unknown-status"
    """A status the model does not know."""
    NOT_IN_FLOW = "not-in-flow"
    """A status of another flow."""
    FROM_TERMINAL = "from-terminal"
    """A move out of a terminal status (VTEX's known canceled -> cancel flip)."""
    UNREACHABLE = "unreachable"
    """No path in the model leads there from the order's status."""
    SAME_TIME = "same-time"
    """Two statuses at one time."""
    FUTURE_TIME = "future-time"
    """An event dated too far ahead of the tracker's clock: recorded, not applied, so that it
    cannot freeze the order."""


@dataclass(frozen=True, slots=True)
class Anomaly:
    """A move VTEX made that the model does not have. VTEX is the source of truth: the move is
    applied all the same, and recorded here with its kind."""

    order_id: str
    from_status: str | None
    to_status: str
    kind: AnomalyKind
    """An `AnomalyKind` (a string read from a store is taken as its member)."""
    changed_at: int

    def __post_init__(self) -> None:
        if not isinstance(self.kind, AnomalyKind) and self.kind in _ANOMALY_KINDS:
            object.__setattr__(self, "kind", AnomalyKind(self.kind))

    def to_dict(self) -> dict[str, Any]:
        """The anomaly as JSON-ready data."""
        return {
            "orderId": self.order_id,
            "from": self.from_status,
            "to": self.to_status,
            "kind": str(self.kind),
            "changed_at": format_ticks(self.changed_at),
        }


_ANOMALY_KINDS = frozenset(kind.value for kind in AnomalyKind)


class EventOutcome(enum.StrEnum):
    """What one event did to its order's record."""

    FIRST = "first"
    """A new order."""
    MOVED = "moved"
    """The order moved (or its status was confirmed at a later time)."""
    DUPLICATE = "duplicate"
    """Applied before."""
    STALE = "stale"
    """Older than what the record holds: it never moves the order back."""
    FUTURE = "future"
    """Dated too far ahead of the tracker's clock: recorded as an anomaly, not applied."""
    OTHER_DOMAIN = "other-domain"
    """Its ``Domain`` is not the tracker's flow's: another flow's order of the same id, ignored."""


@dataclass(frozen=True, slots=True)
class Applied:
    """What one event did."""

    event: OrderEvent
    outcome: EventOutcome
    previous: str | None = None
    anomaly: Anomaly | None = None
    ready: tuple[Entry, ...] = ()
    """Entries this event made sendable (a worker gets them from `Tracker.claim`)."""
    dropped: tuple[Entry, ...] = ()
    done: tuple[Entry, ...] = ()
    """Sent entries the order's new status shows VTEX applied."""

    @property
    def changed(self) -> bool:
        """Deprecated (goes in the next release): ``outcome in {FIRST, MOVED}``."""
        import warnings

        warnings.warn(
            "Applied.changed is deprecated: test outcome in (EventOutcome.FIRST, EventOutcome.MOVED)",
            DeprecationWarning,
            stacklevel=2,
        )
        return self.outcome in (EventOutcome.FIRST, EventOutcome.MOVED)


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
        try:
            ceiling = min(self.max_delay, self.base * self.factor ** max(attempt - 1, 0))
        except OverflowError:  # a long run of attempts: the cap
            ceiling = self.max_delay
        return ceiling / 2 + self.rng.uniform(0, ceiling / 2)
