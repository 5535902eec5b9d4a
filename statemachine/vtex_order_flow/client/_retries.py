"""What is sent again, and when: answers worth another try (408, 429, 5xx), failures that never
reached VTEX, and stamina's backoff around them."""

from __future__ import annotations

from typing import Any

import httpx
import stamina

from ..errors import VtexOrderFlowError
from ._answers import parse_retry_after

__all__ = ["NEVER_SENT", "Transient", "is_transient", "retrying"]

# Sent, and never applied: safe to send again at once.
NEVER_SENT = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout, httpx.UnsupportedProtocol)


class Transient(VtexOrderFlowError):  # noqa: N818 (internal signal, never seen by callers)
    """An answer worth sending again (429, 5xx): carried through stamina's retry loop."""

    def __init__(self, response: httpx.Response) -> None:
        self.response = response


def is_transient(response: httpx.Response) -> bool:
    """An answer worth sending again: the server timed out reading it, a 429, a 5xx."""
    return response.status_code in (408, 429) or response.status_code >= 500


def retry_on(error: BaseException, max_retry_after: float) -> bool | float:
    """stamina's backoff hook: what to send again, and after how long (a 429's ``Retry-After``
    longer than `max_retry_after` is not waited for here: the outbox waits instead)."""
    if isinstance(error, Transient):
        if error.response.status_code == 429:
            wait = parse_retry_after(error.response.headers.get("retry-after"))
            if wait is not None:
                return False if wait > max_retry_after else max(wait, 0.001)
        return True
    return isinstance(error, NEVER_SENT)


def retrying(attempts: int, timeout: float, max_retry_after: float) -> Any:
    """stamina's retry context for one exchange (exponential backoff with jitter)."""
    return stamina.retry_context(
        on=lambda error: retry_on(error, max_retry_after),
        attempts=attempts,
        timeout=timeout,
        wait_initial=0.2,
        wait_max=5.0,
        wait_jitter=0.5,
    )
