"""The dispatcher: claims what the outbox says is sendable, sends it, records VTEX's answer."""

from __future__ import annotations

import logging
import threading
import time
from concurrent.futures import Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from typing import TYPE_CHECKING

from .. import Advice, advice_for
from .._guards import expect, expect_id
from ..errors import InvalidArgumentError, LeaseLostError, PayloadError, VtexOrderFlowError
from ._records import Records
from ._sync import VtexClient
from ._types import Answer, Request

if TYPE_CHECKING:
    from collections.abc import Callable

    from ..tracking import Entry, Tracker

__all__ = ["Dispatcher", "Outcome"]

log = logging.getLogger("vtex_order_flow.dispatcher")


@dataclass(frozen=True, slots=True)
class Outcome:
    """One entry's trip: the entry as the outbox holds it after VTEX's answer, and the answer
    (None when it never went out: released at a stop, its lease lost, or its body invalid)."""

    entry: Entry
    answer: Answer | None
    note: str = ""


@dataclass(frozen=True, slots=True)
class _Trip:
    """A claimed entry marked sent, with its request: what a worker puts on the wire."""

    entry: Entry
    request: Request
    marketplace_id: str | None


def _invalid_body(error: PayloadError, entry: Entry) -> Advice:
    """A stored body VTEX's API would not take: a code no model has, so a person looks."""
    return advice_for(
        "INVALID-BODY",
        meaning=str(error),
        order_id=entry.order_id,
        errors=tuple(f"{path}: {message}" for path, message in error.problems),
    )


class Dispatcher:
    """Drains the outbox: claims sendable entries (at most `concurrency` on their way at once),
    sends each with its stored payload through the client, and records the outcome: done, sent
    and awaiting VTEX's notification, retry at a time (a 429's ``Retry-After`` honoured), or
    dropped with its class.

    Each claimed batch goes to the wire in steps, one tracker call per step (`Records`): the
    orders' marketplace ids, the requests built (a stored body VTEX would not take is given up
    unsent), the batch marked sent; then each request goes out on its own, and its answer is
    recorded as it comes. An entry is marked sent before its request goes out: a worker that
    dies mid-call leaves it awaiting an answer (sent again, after deciding again, when the
    tracker's `answer_timeout` passes), never sent twice at once. `start` runs it on a thread
    (woken as entries become ready); `run_once` and `drain` run it in the caller's thread.
    `stop` is graceful: no new claims, the calls on the wire finish, and claims not yet sent
    are released.
    """

    def __init__(
        self,
        tracker: Tracker,
        client: VtexClient,
        *,
        concurrency: int = 4,
        lease: float = 120.0,
        owner: str | None = None,
        idle: float = 1.0,
        on_outcome: Callable[[Outcome], None] | None = None,
        credentials_wait: float = 60.0,
    ) -> None:
        from ..tracking import Tracker

        expect(tracker, Tracker, "Dispatcher's tracker")
        expect(client, VtexClient, "Dispatcher's client")
        if isinstance(concurrency, bool) or not isinstance(concurrency, int) or not 1 <= concurrency <= 256:
            raise InvalidArgumentError(f"concurrency must be an integer from 1 to 256, not {concurrency!r}")
        for value, what in ((lease, "lease"), (idle, "idle"), (credentials_wait, "credentials_wait")):
            if isinstance(value, bool) or not isinstance(value, int | float) or not 0 < value < 86_400:
                raise InvalidArgumentError(f"{what} must be seconds between 0 and a day, not {value!r}")
        if owner is not None:
            expect_id(owner, "Dispatcher's owner")
        self.tracker = tracker
        self.client = client
        self.concurrency = concurrency
        self.lease = float(lease)
        self.owner = owner or tracker.owner
        self.idle = float(idle)
        self.on_outcome = on_outcome
        self.credentials_wait = float(credentials_wait)
        self._held_until = 0.0
        self._pool = ThreadPoolExecutor(max_workers=concurrency, thread_name_prefix="vof-dispatch")
        self._busy = threading.Semaphore(concurrency)
        self._stopping = threading.Event()
        self._claiming = threading.Lock()
        self._running_flag = threading.Event()  # cleared: paused
        self._running_flag.set()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self._running: set[Future[Outcome]] = set()
        self._empty_rounds = 0
        self.records = Records(tracker, self.owner)
        """The tracker's calls, one per claimed batch and step (see `Records`)."""
        self.counts: dict[str, int] = {}
        """How many outcomes of each kind (the entry's state after the trip, or ``released``)."""

    # -- one claimed batch --------------------------------------------------------------------

    def _prepare(self, claimed: list[Entry]) -> tuple[list[_Trip], list[Outcome]]:
        """A claimed batch up to the wire, one tracker call per step (`Records`): released when
        stopping; each entry's request built (a stored body VTEX would not take is given up,
        never sent); the rest marked sent. The trips to send, and the outcomes settled here."""
        if self._stopping.is_set():
            released = self.records.release(claimed)
            return [], [
                self._settled(e, r, "released: stopping") for e, r in zip(claimed, released, strict=True)
            ]
        ids = self.records.marketplace_ids(claimed)
        ready: list[_Trip] = []
        invalid: list[tuple[Entry, PayloadError]] = []
        settled: list[Outcome] = []
        for entry in claimed:
            marketplace_id = ids.get(entry.order_id)
            try:
                ready.append(_Trip(entry, self.client.entry_request(entry, marketplace_id), marketplace_id))
            except PayloadError as error:
                invalid.append((entry, error))
            except VtexOrderFlowError as error:  # (an action the model no longer has)
                settled.append(self._settled(entry, error, ""))
        recorded = self.records.results([(entry, _invalid_body(bad, entry)) for entry, bad in invalid])
        for (entry, bad), after in zip(invalid, recorded, strict=True):
            settled.append(self._settled(entry, after, str(bad)))
        trips: list[_Trip] = []
        for trip, after in zip(ready, self.records.sent([trip.entry for trip in ready]), strict=True):
            if isinstance(after, LeaseLostError):
                settled.append(Outcome(trip.entry, None, f"lease lost before sending: {after}"))
            elif isinstance(after, VtexOrderFlowError):
                settled.append(self._settled(trip.entry, after, ""))
            else:
                trips.append(trip)
        return trips, settled

    @staticmethod
    def _settled(entry: Entry, after: Entry | VtexOrderFlowError, note: str) -> Outcome:
        """The outcome of a step that sent nothing: the entry after it, or the step's failure
        (the lease brings the entry back)."""
        if isinstance(after, VtexOrderFlowError):
            log.error("dispatch of %s failed: %s", entry.key, after)
            return Outcome(entry, None, f"failed: {after}")
        return Outcome(after, None, note)

    # -- one entry on the wire -----------------------------------------------------------------

    def _deliver(self, trip: _Trip) -> Outcome:
        try:
            return self._send(trip)
        except VtexOrderFlowError as error:  # the store failed: the lease brings it back
            log.error("dispatch of %s failed: %s", trip.entry.key, error)
            return Outcome(trip.entry, None, f"failed: {error}")
        except Exception as error:  # a bug below (a transport, a hook): logged, never lost
            log.exception("dispatch of %s failed", trip.entry.key)
            return Outcome(trip.entry, None, f"failed: {type(error).__name__}: {error}")
        finally:
            self._busy.release()

    def _send(self, trip: _Trip) -> Outcome:
        entry = trip.entry
        answer = self.client.send_entry(entry, trip.marketplace_id, request=trip.request)
        if answer.advice is None:  # (send_entry always interprets what it got)
            return Outcome(entry, answer, "no answer to record")
        from ..tracking import credentials_refused  # (lazy: the client alone needs no outbox)

        if credentials_refused(answer.advice):
            # The credentials, not the update: every send would fail alike. Hold sending (the
            # rule and the entry's own fate are the tracker's: `credentials_refused`, `results`).
            log.error(
                "VTEX refused the app key or token (%s): sending held for %g s; fix the credentials",
                answer.advice.http_status,
                self.credentials_wait,
            )
            self._held_until = time.monotonic() + self.credentials_wait
        (after,) = self.records.results([(entry, answer.advice)])
        if isinstance(after, LeaseLostError):
            return Outcome(entry, answer, f"answer not recorded: {after}")
        if isinstance(after, VtexOrderFlowError):
            raise after
        return Outcome(after, answer)

    def _finished(self, future: Future[Outcome]) -> None:
        with self._lock:
            self._running.discard(future)
        if future.cancelled():
            return
        error = future.exception()
        if error is not None:
            log.error("dispatch failed: %r", error)
            return
        outcome = future.result()
        kind = "released" if outcome.note.startswith("released") else str(outcome.entry.state)
        with self._lock:
            self.counts[kind] = self.counts.get(kind, 0) + 1
        if self.on_outcome is not None:
            try:
                self.on_outcome(outcome)
            except Exception:
                log.exception("on_outcome failed for %s", outcome.entry.key)

    # -- rounds --------------------------------------------------------------------------------

    def _submit_claims(self, block: bool) -> list[Future[Outcome]]:
        if not self._running_flag.is_set() or time.monotonic() < self._held_until:
            return []
        free = 0
        while self._busy.acquire(
            blocking=block and free == 0, timeout=self.idle if block and free == 0 else None
        ):
            free += 1
            if free == self.concurrency:
                break
        if free == 0:
            return []
        # One claim round at a time, and none once paused: `pause` waits for the round in
        # progress, so that nothing is claimed after it returns.
        with self._claiming:
            paused = not self._running_flag.is_set() or self._stopping.is_set()
            try:
                claimed = [] if paused else self.records.claim(free, self.lease)
            except BaseException:
                for _ in range(free):
                    self._busy.release()
                raise
            for _ in range(free - len(claimed)):
                self._busy.release()
            if not claimed and not paused:
                with self._lock:
                    self._empty_rounds += 1
            try:
                trips, settled = self._prepare(claimed) if claimed else ([], [])
            except Exception as error:  # the store failed (or a bug): the leases bring them back
                if isinstance(error, VtexOrderFlowError):
                    log.error("dispatch of a claimed batch failed: %s", error)
                else:
                    log.exception("dispatch of a claimed batch failed")
                trips, settled = [], [Outcome(entry, None, f"failed: {error}") for entry in claimed]
            futures: dict[str, Future[Outcome]] = {}
            for trip in trips:
                future = self._pool.submit(self._deliver, trip)
                with self._lock:
                    self._running.add(future)
                future.add_done_callback(self._finished)
                futures[trip.entry.key] = future
        for outcome in settled:  # (after the round: `on_outcome` may pause)
            self._busy.release()
            done: Future[Outcome] = Future()
            done.set_result(outcome)
            self._finished(done)
            futures[outcome.entry.key] = done
        return [futures[entry.key] for entry in claimed if entry.key in futures]

    def run_once(self) -> list[Outcome]:
        """One round in the caller's thread: claim up to `concurrency` entries, send them
        concurrently, and return their outcomes once all are answered."""
        futures = self._submit_claims(block=True)
        return [future.result() for future in futures]

    def drain(self, rounds: int = 1000) -> list[Outcome]:
        """Rounds until nothing is claimable now (or `rounds` ran): everything sendable sent."""
        outcomes: list[Outcome] = []
        for _ in range(rounds):
            done = self.run_once()
            if not done:
                break
            outcomes += done
        return outcomes

    # -- in the background ---------------------------------------------------------------------

    def start(self) -> Dispatcher:
        """Run on a background thread until `stop`."""
        with self._lock:
            if self._thread is not None:
                raise InvalidArgumentError("the dispatcher is already running")
            self._thread = threading.Thread(target=self._loop, name="vof-dispatcher", daemon=True)
            self._thread.start()
        return self

    def _loop(self) -> None:
        last_expiry = 0.0
        while not self._stopping.is_set():
            try:
                if not self._running_flag.is_set():
                    self._running_flag.wait(self.idle)
                    continue
                if time.monotonic() - last_expiry >= self.idle:
                    self.tracker.expire()  # (nothing unless the tracker has a max_age)
                    last_expiry = time.monotonic()
                if not self._submit_claims(block=True) and not self._stopping.is_set():
                    self.tracker.wait(self.idle)
            except VtexOrderFlowError as error:  # a store that is down: try again soon
                log.error("claiming failed: %s", error)
                self._stopping.wait(self.idle)

    def pause(self) -> None:
        """Claim nothing more until `resume` (the calls on the wire finish), for maintenance or a
        test that lets the world act between rounds. Returns once no claim is in progress."""
        self._running_flag.clear()
        with self._claiming:
            pass

    def resume(self) -> None:
        """Claim again after `pause`."""
        self._running_flag.set()
        self.tracker.wake()

    @property
    def in_progress(self) -> int:
        """How many entries this dispatcher has on their way now."""
        with self._lock:
            return len(self._running)

    def wait_idle(self, timeout: float = 30.0) -> bool:
        """Wait until this dispatcher has nothing on its way and a claim made after this call
        found nothing to send (or `timeout` seconds pass); whether it got there. For a running
        dispatcher (`start`)."""
        deadline = time.monotonic() + timeout
        with self._lock:
            seen = self._empty_rounds
        while time.monotonic() < deadline:
            self.tracker.wake()
            with self._lock:
                if self._running:  # what it finishes may make more sendable: count from then
                    seen = self._empty_rounds
                elif self._empty_rounds >= seen + 2:  # a whole empty round since
                    return True
            time.sleep(0.005)
        return False

    def stop(self, timeout: float = 30.0) -> None:
        """Stop claiming; let the calls on the wire finish (up to `timeout` seconds); release
        the claims not yet sent. The client is left open (it is the caller's)."""
        deadline = time.monotonic() + max(timeout, 0.0)
        self._stopping.set()
        self.tracker.wake()
        thread = self._thread
        if thread is not None:
            thread.join(timeout)
        self._pool.shutdown(wait=False, cancel_futures=False)  # (queued ones are marked sent: they go)
        with self._lock:
            running = list(self._running)
        wait(running, timeout=max(deadline - time.monotonic(), 0.0))

    def __enter__(self) -> Dispatcher:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
