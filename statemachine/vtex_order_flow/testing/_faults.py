"""What the fake VTEX injects (`Faults`: transient failures, each a probability per request) and
what it records (`WireCall`: one request and its answer)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .._guards import expect_number

__all__ = ["Faults", "WireCall"]


@dataclass(frozen=True, slots=True)
class Faults:
    """Transient failures the fake injects, each a probability per request (checked in this
    order; an injected failure applies nothing, except a lost answer, which applies first)."""

    rate_limit: float = 0.0
    """429 with ``Retry-After: retry_after``."""
    retry_after: float = 1.0
    server_error: float = 0.0
    """503."""
    lost_answer: float = 0.0
    """The request is applied and its answer lost: the client sees a read timeout (over a real
    socket, `asgi` answers only after `slow_seconds`)."""
    slow_seconds: float = 12.0

    def __post_init__(self) -> None:
        for name in ("rate_limit", "server_error", "lost_answer"):
            value = getattr(self, name)
            expect_number(value, f"Faults.{name}", "a probability from 0 to 1", lambda p: 0 <= p <= 1)


@dataclass(frozen=True, slots=True)
class WireCall:
    """One request the fake received and what it answered."""

    method: str
    path: str
    action: str | None
    order_id: str | None
    """VTEX's order id (None when VTEX has no order for it)."""
    marketplace_id: str | None
    status_code: int
    code: str | None = None
    fault: str | None = None
    """The injected failure (``rate-limit``, ``server-error``, ``lost-answer``), if any."""
    body: Any = None
