"""What one call takes and gives back: how it is decided and sent, the request on the wire, and
what became of it."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, TypedDict

from .. import Advice, Decision, Facts, FollowUp

__all__ = ["Answer", "Request", "SendOptions"]


class SendOptions(TypedDict, total=False):
    """How one call is decided and sent (every action method takes them)."""

    status: str | None
    """The order's status as the caller knows it (default: the tracker's record)."""
    facts: Facts
    """Facts the order carries beyond the tracker's."""
    force: bool
    """Send even when the model says VTEX will refuse it; needs `reason`."""
    reason: str | None
    """Why a forced send overrules the model (logged and kept in the answer)."""
    strict: bool
    """Raise `NotSendableError` instead of returning an unsent answer."""


@dataclass(frozen=True, slots=True)
class Request:
    """The HTTP request for one action: what is (or would be) on the wire."""

    action: str
    method: str
    url: str
    json: Any
    params: dict[str, str] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready (credentials are never part of it)."""
        return {
            "action": self.action,
            "method": self.method,
            "url": self.url,
            "params": self.params,
            "json": self.json,
        }


@dataclass(frozen=True, slots=True)
class Answer:
    """What became of one call: the decision, whether it went out, and VTEX's answer."""

    action: str
    order_id: str
    decision: Decision | None
    request: Request
    sent: bool
    advice: Advice | None = None
    status_code: int | None = None
    body: Any = None
    attempts: int = 0
    forced: str | None = None
    """Why the caller overruled the model (``force=True``), when it did."""

    @property
    def accepted(self) -> bool:
        """VTEX took it: done, or queued with the result to come as a notification."""
        return (
            self.advice is not None
            and self.advice.success
            and self.advice.follow_up
            in (
                FollowUp.DONE,
                FollowUp.WAIT_FOR_NOTIFICATION,
            )
        )

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready (the CLI's ``--json`` shape)."""
        return {
            "action": self.action,
            "order_id": self.order_id,
            "decision": self.decision.to_dict() if self.decision is not None else None,
            "sent": self.sent,
            "forced": self.forced,
            "request": self.request.to_dict(),
            "status_code": self.status_code,
            "body": self.body,
            "attempts": self.attempts,
            "accepted": self.accepted,
            "advice": self.advice.to_dict() if self.advice is not None else None,
        }
