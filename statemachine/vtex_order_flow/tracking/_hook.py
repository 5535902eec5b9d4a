"""A hook endpoint, independent of any web framework: raw body in, status and body out, in time."""

from __future__ import annotations

import json
from collections.abc import Callable
from concurrent.futures import Executor, ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass

from ..errors import InvalidArgumentError, expect
from ._events import EventError, Ping, parse_event
from ._tracker import Tracker
from ._types import Applied, Deferred

__all__ = ["HookEndpoint", "HookResponse"]

VTEX_HOOK_DEADLINE = 5.0
"""VTEX wants the hook's 200 within 5000 ms, or it counts a failed delivery (and retries)."""


@dataclass(frozen=True, slots=True)
class HookResponse:
    """What to answer VTEX's hook: an HTTP status, a body and its content type."""

    status: int
    body: bytes
    content_type: str = "application/json"


def _json(status: int, payload: dict[str, object]) -> HookResponse:
    return HookResponse(status, json.dumps(payload, separators=(",", ":")).encode())


class HookEndpoint:
    """Turns the body VTEX posts to your hook URL into the response to send back.

    Plug `handle` into any framework::

        endpoint = HookEndpoint(tracker, on_ready=send_updates)
        response = endpoint.handle(request_body)     # -> HookResponse(status, body)

    - ``{"hookConfig": "ping"}`` is answered 200 at once (VTEX's configuration check).
    - An order event is applied to the tracker (and committed) on the endpoint's worker thread;
      the answer waits for it at most `timeout` seconds (default 4, under VTEX's 5-second
      limit). Past that it answers 503, so VTEX delivers the event again (applying it twice is
      harmless: duplicates are applied once).
    - Updates that became ready are handed to `on_ready` on another executor: sending them to
      VTEX never delays the answer.
    - A body that is not an order event is answered 400 with the problems named.
    """

    def __init__(
        self,
        tracker: Tracker,
        *,
        on_ready: Callable[[list[Deferred]], object] | None = None,
        timeout: float = 4.0,
        worker: Executor | None = None,
        dispatcher: Executor | None = None,
    ) -> None:
        expect(tracker, Tracker, "HookEndpoint's tracker")
        if (
            isinstance(timeout, bool)
            or not isinstance(timeout, int | float)
            or not 0 < timeout < VTEX_HOOK_DEADLINE
        ):
            raise InvalidArgumentError(f"timeout must be between 0 and {VTEX_HOOK_DEADLINE} s, not {timeout}")
        self.tracker = tracker
        self.on_ready = on_ready
        self.timeout = timeout
        self._worker = worker or ThreadPoolExecutor(max_workers=1, thread_name_prefix="vof-hook")
        self._dispatcher = dispatcher or ThreadPoolExecutor(max_workers=1, thread_name_prefix="vof-ready")

    def handle(self, body: bytes | str) -> HookResponse:
        """Answer one hook delivery: a status code and a body, within VTEX's deadline."""
        try:
            parsed = parse_event(body)
        except EventError as error:
            return _json(400, {"ok": False, "error": str(error)})
        if isinstance(parsed, Ping):
            return _json(200, {"ok": True, "ping": True})
        future = self._worker.submit(self.tracker.apply, parsed)
        try:
            applied: Applied = future.result(timeout=self.timeout)
        except FutureTimeout:
            return _json(503, {"ok": False, "error": "busy; deliver again"})
        if applied.ready and self.on_ready is not None:
            self._dispatcher.submit(self.on_ready, list(applied.ready))
        return _json(200, {"ok": True, "outcome": applied.outcome})

    def close(self) -> None:
        """Wait for queued work, then stop the endpoint's threads."""
        self._worker.shutdown(wait=True)
        self._dispatcher.shutdown(wait=True)
