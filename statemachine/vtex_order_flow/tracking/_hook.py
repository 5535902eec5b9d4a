"""A hook endpoint, independent of any web framework: raw body in, status and body out, in time."""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable
from concurrent.futures import Executor, Future, ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass

from .._guards import expect
from ..errors import EventError, InvalidArgumentError
from ._events import OrderEvent, Ping, parse_event
from ._tracker import Tracker
from ._types import Applied, Closing, Entry

__all__ = ["HookEndpoint", "HookResponse"]

VTEX_HOOK_DEADLINE = 5.0
"""VTEX wants the hook's 200 within 5000 ms, or it counts a failed delivery (and retries)."""

log = logging.getLogger("vtex_order_flow.hook")


@dataclass(frozen=True, slots=True)
class HookResponse:
    """What to answer VTEX's hook: an HTTP status, a body and its content type."""

    status: int
    body: bytes
    content_type: str = "application/json"


def _json(status: int, payload: dict[str, object]) -> HookResponse:
    return HookResponse(status, json.dumps(payload, separators=(",", ":")).encode())


BUSY = _json(503, {"ok": False, "error": "busy; deliver again"})
"""The answer while the store is slow or the queue full: VTEX delivers the event again."""
CLOSED = _json(503, {"ok": False, "error": "closed; deliver again"})


def _number(value: object, what: str, low: float, high: float) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not low < value < high:
        raise InvalidArgumentError(
            f"{what} must be a number of seconds between {low:g} and {high:g}, not {value!r}"
        )
    return float(value)


class HookEndpoint(Closing):
    """Turns the body VTEX posts to your hook URL into the response to send back, and hands the
    updates that become sendable to `on_ready`.

    Plug `handle` into any framework::

        endpoint = HookEndpoint(tracker, on_ready=send_entries)
        response = endpoint.handle(request_body)     # -> HookResponse(status, body)

    - ``{"hookConfig": "ping"}`` is answered 200 at once (VTEX's configuration check).
    - An order event is applied to the tracker (and committed) on the endpoint's worker thread;
      the answer waits for it at most `timeout` seconds (default 4, under VTEX's 5-second
      limit). Past that it answers 503, so VTEX delivers the event again (applying it twice is
      harmless); the work still finishes, and what it made sendable is still delivered.
    - Delivery goes through `Tracker.claim`: entries the event made ready, and (every `sweep`
      seconds, or as soon as this process readies one) entries readied by `register`, retries
      come due and claims whose lease expired, are claimed with a `lease` and handed to
      `on_ready` on another executor. `on_ready` sends each and calls `Tracker.sent` or
      `Tracker.result`; an exception it raises is logged, and its entries are claimable again
      when their lease expires. The sweep also expires entries older than the tracker's
      `max_age` (`Tracker.expire`).
      `on_ready` runs on the dispatcher executor only (one thread unless you pass your own),
      one delivery at a time.
    - At most `max_pending` events wait for the worker: past that a delivery is answered 503 at
      once (VTEX delivers it again), so a stuck store never piles up work.
    - A body that is not an order event is answered 400 with the problems named; after
      `close()`, every delivery is answered 503.
    """

    def __init__(
        self,
        tracker: Tracker,
        *,
        on_ready: Callable[[list[Entry]], object] | None = None,
        timeout: float = 4.0,
        lease: float = 60.0,
        sweep: float | None = 1.0,
        claim_limit: int = 100,
        max_pending: int = 64,
        worker: Executor | None = None,
        dispatcher: Executor | None = None,
    ) -> None:
        expect(tracker, Tracker, "HookEndpoint's tracker")
        self.timeout = _number(timeout, "timeout", 0, VTEX_HOOK_DEADLINE)
        self.lease = _number(lease, "lease", 0, 1e7)
        if sweep is not None:
            _number(sweep, "sweep", 0, 1e7)
        if (
            isinstance(claim_limit, bool)
            or not isinstance(claim_limit, int)
            or not 1 <= claim_limit <= 10_000
        ):
            raise InvalidArgumentError(f"claim_limit must be an integer from 1 to 10000, not {claim_limit!r}")
        if isinstance(max_pending, bool) or not isinstance(max_pending, int) or max_pending < 1:
            raise InvalidArgumentError(f"max_pending must be an integer >= 1, not {max_pending!r}")
        if on_ready is not None and not callable(on_ready):
            raise InvalidArgumentError(f"on_ready must be callable, not {on_ready!r}")
        for name, given in (("worker", worker), ("dispatcher", dispatcher)):
            if given is not None:
                expect(given, Executor, f"HookEndpoint's {name}")
        self.tracker = tracker
        self.on_ready = on_ready
        self.claim_limit = claim_limit
        self.max_pending = max_pending
        self._pending = 0
        self._scheduled = False
        self._state = threading.Lock()
        self._inside = threading.local()
        self._owned: list[ThreadPoolExecutor] = []
        self._worker = worker or self._own("vof-hook")
        self._dispatcher = dispatcher or self._own("vof-ready")
        self._closed = threading.Event()
        self._sweeper: threading.Thread | None = None
        if on_ready is not None and sweep is not None:
            self._sweeper = threading.Thread(
                target=self._sweep, args=(float(sweep),), name="vof-sweep", daemon=True
            )
            self._sweeper.start()

    def _own(self, name: str) -> ThreadPoolExecutor:
        executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix=name)
        self._owned.append(executor)
        return executor

    def handle(self, body: bytes | str) -> HookResponse:
        """Answer one hook delivery: a status code and a body, within VTEX's deadline."""
        started = self.begin(body)
        if isinstance(started, HookResponse):
            return started
        try:
            applied = started.result(timeout=self.timeout)
        except FutureTimeout:
            return BUSY
        except Exception as error:  # the store failed (logged by _apply): VTEX delivers again
            return self.failed(error)
        return self.applied(applied)

    def begin(self, body: bytes | str) -> HookResponse | Future[Applied]:
        """The first half of `handle`, which never blocks: the answer when there is one now
        (a ping, a bad body, busy, closed), or the event's application on the endpoint's worker
        (a future: wait for it at most `timeout`, then answer `applied(...)`, `failed(...)` or
        `BUSY`). An event loop awaits it without holding a thread."""
        if self._closed.is_set():
            return CLOSED
        try:
            parsed = parse_event(body)
        except EventError as error:
            return _json(400, {"ok": False, "error": str(error)})
        if isinstance(parsed, Ping):
            return _json(200, {"ok": True, "ping": True})
        with self._state:
            if self._pending >= self.max_pending:
                return BUSY
            self._pending += 1
        try:
            return self._worker.submit(self._apply, parsed)
        except RuntimeError:  # the executor was shut down
            with self._state:
                self._pending -= 1
            return CLOSED

    @staticmethod
    def busy() -> HookResponse:
        """The answer while the store is slow or the queue is full (VTEX delivers again)."""
        return BUSY

    @staticmethod
    def applied(applied: Applied) -> HookResponse:
        """The answer for an event applied."""
        return _json(200, {"ok": True, "outcome": applied.outcome})

    @staticmethod
    def failed(error: BaseException) -> HookResponse:
        """The answer for an event the store failed to apply (VTEX delivers it again)."""
        return _json(503, {"ok": False, "error": f"not applied ({type(error).__name__}); deliver again"})

    def _apply(self, event: OrderEvent) -> Applied:
        try:
            applied = self.tracker.apply(event)
        except Exception:  # logged here: the answer may have gone (503) before it failed
            log.exception("applying %s failed; nothing of it was applied", event)
            raise
        finally:
            with self._state:
                self._pending -= 1
        if applied.ready:
            self._schedule()
        return applied

    def _schedule(self) -> None:
        """Have the dispatcher deliver, unless a delivery is already waiting for it."""
        if self.on_ready is None:
            return
        with self._state:
            if self._scheduled:
                return
            self._scheduled = True
        try:
            self._dispatcher.submit(self._scheduled_delivery)
        except RuntimeError:  # closing: the entries stay ready, claimable later
            with self._state:
                self._scheduled = False

    def _scheduled_delivery(self) -> None:
        with self._state:
            self._scheduled = False
        self._inside.dispatching = True
        try:
            self.deliver()
        finally:
            self._inside.dispatching = False

    def deliver(self) -> int:
        """Claim what is sendable now and hand it to `on_ready` (in the calling thread); how
        many entries were handed over."""
        if self.on_ready is None:
            return 0
        handed = 0
        while True:
            try:
                entries = self.tracker.claim(self.claim_limit, self.lease)
            except Exception:
                log.exception("claiming ready entries failed")
                return handed
            if not entries:
                break
            handed += len(entries)
            try:
                self.on_ready(entries)
            except Exception:
                log.exception(
                    "on_ready failed for %d entr%s (%s); claimable again after the %g s lease",
                    len(entries),
                    "y" if len(entries) == 1 else "ies",
                    ", ".join(e.key for e in entries[:5]),
                    self.lease,
                )
            if len(entries) < self.claim_limit or self._closed.is_set():
                break
        return handed

    def _sweep(self, every: float) -> None:
        while not self._closed.is_set():
            try:
                self.tracker.expire()  # (nothing unless the tracker has a max_age)
            except Exception:
                log.exception("expiring old entries failed")
            self._schedule()
            try:
                self.tracker.wait(every)
            except Exception:  # a store that cannot be listened to now: poll
                log.exception("waiting for ready entries failed")
                self._closed.wait(every)

    def close(self) -> None:
        """Answer 503 from now on, let queued work finish, stop the endpoint's own threads.
        Executors passed in are left running (they are the caller's). Called from `on_ready`
        itself, it does not wait for the delivery it is part of."""
        self._closed.set()
        inside = getattr(self._inside, "dispatching", False)
        for executor in self._owned:
            executor.shutdown(wait=not inside)
        if self._sweeper is not None:
            self.tracker.wake()  # so that the sweeper sees the close at once
            if self._sweeper is not threading.current_thread():
                self._sweeper.join()
