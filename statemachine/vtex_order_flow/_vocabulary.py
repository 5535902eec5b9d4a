"""The fixed words of the model: causes of transitions and confidence levels."""

from __future__ import annotations

import enum
import math

from ._guards import is_number
from ._text import shown
from .errors import InvalidArgumentError

__all__ = ["CAUSES", "Cause", "Confidence", "FollowUp", "duration"]


class Cause(enum.StrEnum):
    """Who or what moves an order along a transition."""

    PLATFORM = "platform"
    """VTEX moves the order on by itself."""
    TIMER = "timer"
    """A period ends (grace period, 30-day expiries)."""
    GATEWAY = "gateway"
    """The payment gateway approves or denies."""
    SELLER = "seller"
    """The seller account (Admin, ERP, or the connector acting as the seller's integration)."""
    CUSTOMER = "customer"
    """The buyer (cancellation requests, replacements)."""
    MARKETPLACE = "marketplace"
    """The marketplace, that is the connector: creation, approval, cancellation."""


class Confidence(enum.StrEnum):
    """How sure the model is of a fact; members compare by strength (contested < inferred < documented)."""

    CONTESTED = "contested"
    """VTEX documents disagree; the model takes the safer reading."""
    INFERRED = "inferred"
    """No document states it; inferred by the model's authors."""
    DOCUMENTED = "documented"
    """A VTEX document states it."""

    @property
    def strength(self) -> int:
        """0 for contested, 1 for inferred, 2 for documented."""
        return _STRENGTH[self]

    @classmethod
    def _strength_of(cls, other: object) -> int | None:
        if isinstance(other, str) and other in _STRENGTH_BY_VALUE:
            return _STRENGTH_BY_VALUE[other]
        return None

    def __lt__(self, other: object) -> bool:
        theirs = self._strength_of(other)
        return NotImplemented if theirs is None else self.strength < theirs

    def __le__(self, other: object) -> bool:
        theirs = self._strength_of(other)
        return NotImplemented if theirs is None else self.strength <= theirs

    def __gt__(self, other: object) -> bool:
        theirs = self._strength_of(other)
        return NotImplemented if theirs is None else self.strength > theirs

    def __ge__(self, other: object) -> bool:
        theirs = self._strength_of(other)
        return NotImplemented if theirs is None else self.strength >= theirs


_STRENGTH = {Confidence.CONTESTED: 0, Confidence.INFERRED: 1, Confidence.DOCUMENTED: 2}
_STRENGTH_BY_VALUE = {level.value: strength for level, strength in _STRENGTH.items()}

CAUSES: tuple[str, ...] = tuple(cause.value for cause in Cause)

#: The definite follow-ups consistent with each verdict: a rejected update is never retried or
#: deferred, and a deferred one is never given up or done. (`decide-again` is not definite: a
#: decision resolves it by its verdict.)
DEFER_FOLLOW_UPS = frozenset({"wait-for-notification", "retry-with-backoff", "defer-until-status-changes"})
REJECT_FOLLOW_UPS = frozenset({"done", "give-up", "needs-person"})


class FollowUp(enum.StrEnum):
    """What a connector should do after VTEX answers with a result code."""

    DONE = "done"
    """The goal is reached (or was already): nothing more to send."""
    WAIT_FOR_NOTIFICATION = "wait-for-notification"
    """The request was queued; the real result arrives as a notification."""
    RETRY_WITH_BACKOFF = "retry-with-backoff"
    """A transient VTEX failure: send the same request again later, backing off."""
    DEFER_UNTIL_STATUS_CHANGES = "defer-until-status-changes"
    """Not now: send again when the order's status changes (watch the feed or hook)."""
    DECIDE_AGAIN = "decide-again"
    """The order's status does not allow it now: decide again from its current status (the
    decision says whether to wait for a change or to give up)."""
    GIVE_UP = "give-up"
    """It can never succeed as sent."""
    NEEDS_PERSON = "needs-person"
    """Someone has to look: configuration, stock, support."""


_UNITS = (("day", "d", 86400), ("hour", "h", 3600), ("minute", "min", 60))


_LONGEST = 1000 * 366 * 86400


def duration(seconds: float, *, short: bool = False) -> str:
    """A whole number of days, hours or minutes when it is one: ``30 minutes`` (``30 min`` short).

    `seconds` is an int or a finite float, 0 or more (`InvalidArgumentError` otherwise)."""
    if not is_number(seconds):
        raise InvalidArgumentError(
            f"duration's seconds must be an int or float, not {type(seconds).__name__} {shown(seconds)}"
        )
    if (isinstance(seconds, float) and not math.isfinite(seconds)) or not 0 <= seconds <= _LONGEST:
        raise InvalidArgumentError(
            f"duration's seconds must be finite, 0 or more and at most {_LONGEST:,} (a thousand "
            f"years), not {shown(seconds)}"
        )
    for unit, abbreviation, size in _UNITS:
        if seconds % size == 0:
            count = seconds // size
            if short:
                return f"{count} {abbreviation}"
            return f"{count} {unit}{'s' if count != 1 else ''}"
    return f"{seconds} s"
