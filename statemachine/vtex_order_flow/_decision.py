"""What a decision is: its `Verdict`, the `Step`s of the path it explains, the `Decision` itself,
and the `Facts` a caller may give besides the status."""

from __future__ import annotations

import enum
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from ._vocabulary import Cause, Confidence, FollowUp

__all__ = ["Decision", "Facts", "Step", "Verdict"]

Facts = Mapping[str, bool] | Iterable[str] | None
"""Facts the status alone does not carry: a mapping of name to bool, or the names that hold."""


class Verdict(enum.StrEnum):
    """Whether an update may go to VTEX now."""

    SEND = "send"
    """VTEX accepts it now."""
    DEFER = "defer"
    """Not now, but a status that accepts it is reachable without anyone undoing anything."""
    REJECT = "reject"
    """It can never succeed from here."""


@dataclass(frozen=True, slots=True)
class Step:
    """One move on the way to a status that accepts the action."""

    source: str
    dest: str
    trigger: str
    cause: Cause
    by_action: bool
    after: int | None = None

    @property
    def actor(self) -> str:
        """Who makes this move: ``connector`` for the connector's own actions, else the cause."""
        return "connector" if self.by_action else str(self.cause)

    def to_dict(self) -> dict[str, Any]:
        """The step as JSON-ready data."""
        return {
            "from": self.source,
            "to": self.dest,
            "trigger": self.trigger,
            "cause": str(self.cause),
            "actor": self.actor,
            "after": self.after,
        }


@dataclass(frozen=True, slots=True)
class Decision:
    """The verdict on one update, with the evidence to act on it. Immutable and shared."""

    verdict: Verdict
    status: str
    action: str
    flow: str
    reason: str
    path: tuple[Step, ...]
    """Shortest path to a status that accepts the action (empty unless DEFER)."""
    next_actor: str | None
    """Who must act next: ``connector``, or a cause (``platform``, ``timer``, ``seller``, ...)."""
    remedy: tuple[str, ...]
    """The connector's own actions on the path, in order: what it can send to unblock it."""
    expected_error: str | None
    """The code VTEX would answer if the update were sent now (None when it would be accepted)."""
    already_done: bool
    """The action's goal is already reached (approving an approved order, cancelling a canceled one).

    Derived from the graph: every path to the status goes through a status the action (or another
    party doing the same) moves orders to, or the platform alone is carrying the order into one;
    or the facts the action sets hold; or VTEX's predicted answer means done. Only on a REJECT:
    an update VTEX accepts, or will accept, still has something to do.
    """
    retry_after: int | None
    """Seconds of timers on the path, when there are any: a hint for when to look again."""
    confidence: Confidence
    """The lowest confidence among the facts the decision used."""
    facts: frozenset[str]
    """The facts that held for this decision."""
    moves_to: str | None
    """SEND: the status the order moves to."""
    accepted_in: str | None
    """SEND or DEFER: the status in which VTEX accepts the action."""
    follow_up: FollowUp | None = None
    """What to do if it were sent now and VTEX answered `expected_error` (None when it would not
    refuse), consistent with the verdict: an answer that means "not in this status"
    (`decide-again` in the model) is resolved here, to give-up on a reject (done when
    `already_done`) and to defer-until-status-changes on a defer."""

    @property
    def send(self) -> bool:
        """Whether the verdict is SEND."""
        return self.verdict is Verdict.SEND

    def to_dict(self) -> dict[str, Any]:
        """The decision as JSON-ready data (the CLI's ``--json`` shape)."""
        return {
            "verdict": str(self.verdict),
            "status": self.status,
            "action": self.action,
            "flow": self.flow,
            "reason": self.reason,
            "path": [step.to_dict() for step in self.path],
            "next_actor": self.next_actor,
            "remedy": list(self.remedy),
            "expected_error": self.expected_error,
            "already_done": self.already_done,
            "retry_after": self.retry_after,
            "confidence": str(self.confidence),
            "facts": sorted(self.facts),
            "moves_to": self.moves_to,
            "accepted_in": self.accepted_in,
            "follow_up": None if self.follow_up is None else str(self.follow_up),
        }
