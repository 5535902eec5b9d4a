"""The tracker: VTEX's order events in, each order's status kept, deferred updates re-decided."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import replace

from .. import Advice, Facts, FlowModel, Verdict
from ..errors import InvalidArgumentError, UnknownNameError, UnknownUpdateError, expect, expect_id
from ._events import OrderEvent
from ._stores import MemoryStore, Store
from ._types import Anomaly, Applied, Deferred, DeferredState, OrderRecord, RetryPolicy

__all__ = ["Tracker"]


def _check_event(event: object) -> None:
    """Refuse what is not an order event (a Ping, None, a raw dict) before it reaches a store."""
    expect(event, OrderEvent, "an applied event")
    if not isinstance(event, OrderEvent) or not (
        isinstance(event.order_id, str) and isinstance(event.state, str) and type(event.changed_at) is int
    ):
        raise InvalidArgumentError(
            f"an OrderEvent needs a str order id and state and int ticks, not {event!r}"
        )


_STORE_METHODS = (
    "transaction",
    "load_record",
    "save_record",
    "get_deferred",
    "open_deferred",
    "save_deferred",
)

_FINAL = (DeferredState.READY, DeferredState.SENT, DeferredState.DROPPED)
"""States a second registration does not reopen."""


class Tracker:
    """Keeps each order's current status from VTEX's hook and feed events, and re-decides the
    updates the connector deferred every time an order's status changes.

    VTEX delivers events at least once, unordered and duplicated: an event is applied once; an
    event older than the record never moves the order back; a move the model does not have is
    applied all the same (VTEX is the source of truth) and recorded as an `Anomaly`.

    Thread-safe: every call takes the tracker's lock. Use one tracker per store.
    """

    def __init__(
        self,
        model: FlowModel | None = None,
        *,
        flow: str | None = None,
        store: Store | None = None,
        max_age: float | None = None,
        retry: RetryPolicy | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        from .. import bundled_model

        if model is not None:
            expect(model, FlowModel, "Tracker's model")
        if max_age is not None and (isinstance(max_age, bool) or not isinstance(max_age, int | float)):
            raise InvalidArgumentError(
                f"Tracker's max_age must be a number of seconds or None, not {max_age!r}"
            )
        if not callable(clock):
            raise InvalidArgumentError(f"Tracker's clock must be a callable returning seconds, not {clock!r}")
        if retry is not None:
            expect(retry, RetryPolicy, "Tracker's retry")
        if store is not None and not all(callable(getattr(store, name, None)) for name in _STORE_METHODS):
            raise InvalidArgumentError(
                f"Tracker's store must be a Store (MemoryStore, SQLiteStore), not {store!r}"
            )
        self.model = model or bundled_model()
        self.flow = self.model.flow_name(flow)
        self.store: Store = store if store is not None else MemoryStore()
        self.max_age = max_age
        self.retry = retry or RetryPolicy()
        self.clock = clock
        self._lock = threading.RLock()
        members = {s.id for s in self.model.statuses_in(self.flow)}
        self._members = frozenset(members)
        self._terminal = frozenset(s for s in members if self.model.statuses[s].terminal)
        self._reach = {status: self.model.reachable(status, self.flow) for status in members}

    # -- events ----------------------------------------------------------------------------------

    def apply(self, event: OrderEvent) -> Applied:
        """Apply one event; it and everything it causes are stored in one transaction."""
        _check_event(event)
        with self._lock, self.store.transaction():
            return self._apply(event)

    def apply_many(self, events: Iterable[OrderEvent], batch: int = 500) -> list[Applied]:
        """Apply events in order, `batch` per transaction (fewer commits, same atomicity: a
        transaction holds whole events, each with everything it causes)."""
        if isinstance(batch, bool) or not isinstance(batch, int) or batch < 1:
            raise InvalidArgumentError(f"batch must be an integer >= 1, not {batch!r}")
        expect(events, Iterable, "apply_many's events")
        results: list[Applied] = []
        chunk: list[OrderEvent] = []
        for event in events:
            _check_event(event)
            chunk.append(event)
            if len(chunk) >= batch:
                results += self._apply_chunk(chunk)
                chunk = []
        if chunk:
            results += self._apply_chunk(chunk)
        return results

    def _apply_chunk(self, chunk: list[OrderEvent]) -> list[Applied]:
        with self._lock, self.store.transaction():
            return [self._apply(event) for event in chunk]

    def _apply(self, event: OrderEvent) -> Applied:
        store = self.store
        held = store.load_record(event.order_id)
        if held is None:
            store.save_record(event.order_id, event.state, event.changed_at)
            store.incr("applied")
            anomaly = self._anomaly(None, event)
            ready, dropped = self._redecide(event.order_id, event.state)
            return Applied(event, "first", None, anomaly, ready, dropped)
        status, changed_at = held
        if event.changed_at < changed_at:
            return Applied(event, "stale", status)
        if event.changed_at == changed_at:
            if event.state == status:
                return Applied(event, "duplicate", status)
            if event.state < status:
                # Two statuses at one time: the same one wins whatever the delivery order.
                return Applied(event, "stale", status)
        store.save_record(event.order_id, event.state, event.changed_at)
        store.incr("applied")
        anomaly = self._anomaly(status, event, same_time=event.changed_at == changed_at)
        if event.state == status:
            return Applied(event, "moved", status, anomaly)
        ready, dropped = self._redecide(event.order_id, event.state)
        return Applied(event, "moved", status, anomaly, ready, dropped)

    def _anomaly(self, previous: str | None, event: OrderEvent, same_time: bool = False) -> Anomaly | None:
        new = event.state
        kind = None
        if new not in self.model.statuses:
            kind = "unknown-status"
        elif new not in self._members:
            kind = "not-in-flow"
        elif same_time:
            kind = "same-time"
        elif previous is None or previous == new or previous not in self._members:
            kind = None
        elif previous in self._terminal:
            kind = "from-terminal"
        elif new not in self._reach[previous]:  # (previous == new was settled above)
            kind = "unreachable"
        if kind is None:
            return None
        anomaly = Anomaly(event.order_id, previous, new, kind, event.changed_at)
        self.store.add_anomaly(anomaly)
        return anomaly

    # -- deferred updates ------------------------------------------------------------------------

    def defer(self, order_id: str, action: str, facts: Facts = None) -> Deferred:
        """Register an update that `decide()` deferred; it is decided again now (if the order is
        known) and at every status change (a ready update not yet sent too: it goes back to
        pending, or is dropped, if the order moves past where it was sendable).

        Registering the same (order, action) again changes nothing unless its facts differ while
        it is still open (then it is decided again with them): registration is idempotent."""
        expect_id(order_id)
        action_id = self.model.action(action).name
        names = self.model.normalize_facts(facts)
        with self._lock, self.store.transaction():
            existing = self.store.get_deferred(order_id, action_id)
            if existing is not None and (existing.state in _FINAL or existing.facts == names):
                return existing
            held = self.store.load_record(order_id)
            base = Deferred(
                order_id=order_id,
                action=action_id,
                facts=names,
                state=DeferredState.PENDING,
                registered_at=existing.registered_at if existing else self.clock(),
                reason="waiting for the order's first event",
            )
            updated = self._decided(base, held[0]) if held else base
            return self._save(updated)

    def _save(self, deferred: Deferred) -> Deferred:
        stamped = replace(deferred, seq=self.store.incr("seq"))
        self.store.save_deferred(stamped)
        return stamped

    def _decided(self, deferred: Deferred, status: str) -> Deferred:
        try:
            decision = self.model.decide(status, deferred.action, self.flow, deferred.facts)
        except UnknownNameError as error:
            return replace(
                deferred, state=DeferredState.PENDING, status=status, reason=f"cannot decide yet: {error}"
            )
        state = {
            Verdict.SEND: DeferredState.READY,
            Verdict.DEFER: DeferredState.PENDING,
            Verdict.REJECT: DeferredState.DROPPED,
        }[decision.verdict]
        return replace(deferred, state=state, status=status, reason=decision.reason)

    def _redecide(self, order_id: str, status: str) -> tuple[tuple[Deferred, ...], tuple[Deferred, ...]]:
        if not self.store.has_open(order_id):
            return (), ()
        ready, dropped = [], []
        for deferred in self.store.open_deferred(order_id):
            if deferred.state is DeferredState.RETRY:
                continue  # waits for its retry time, not for a status
            updated = self._decided(deferred, status)
            if updated == deferred:
                continue
            updated = self._save(updated)
            # Reported once, when it becomes ready: a ready update not yet sent is decided again
            # too, since the order may have moved past the status where it was sendable.
            if updated.state is DeferredState.READY and deferred.state is not DeferredState.READY:
                ready.append(updated)
            elif updated.state is DeferredState.DROPPED:
                dropped.append(updated)
        return tuple(ready), tuple(dropped)

    def mark_sent(self, order_id: str, action: str) -> Deferred:
        """The connector sent a ready update."""
        return self._set(order_id, action, DeferredState.SENT, "sent")

    def result(self, order_id: str, action: str, advice: Advice) -> Deferred:
        """What VTEX answered to a sent update (`interpret_notification`): done, retry later with
        backoff, wait for the next status change, or give up."""
        from .. import FollowUp

        expect(advice, Advice, "result's advice")
        with self._lock, self.store.transaction():
            current = self._existing(order_id, action)
            follow_up = advice.follow_up
            if follow_up in (FollowUp.DONE, FollowUp.WAIT_FOR_NOTIFICATION):
                updated = replace(
                    current, state=DeferredState.SENT, reason=f"{advice.code}: {advice.meaning}"
                )
            elif follow_up is FollowUp.RETRY_WITH_BACKOFF:
                attempts = current.attempts + 1
                if attempts > self.retry.max_attempts:
                    updated = replace(
                        current,
                        state=DeferredState.DROPPED,
                        attempts=attempts,
                        reason=f"gave up after {current.attempts} retries ({advice.code})",
                    )
                else:
                    updated = replace(
                        current,
                        state=DeferredState.RETRY,
                        attempts=attempts,
                        retry_at=self.clock() + self.retry.delay(attempts),
                        reason=f"{advice.code}: {advice.meaning}",
                    )
            elif follow_up is FollowUp.DEFER_UNTIL_STATUS_CHANGES:
                updated = replace(
                    current, state=DeferredState.PENDING, reason=f"{advice.code}: {advice.meaning}"
                )
            elif follow_up is FollowUp.DECIDE_AGAIN:
                # "Not in this status": the order is not where we thought. Wait for its next status
                # (pending), unless the model already says it can never succeed from the known one.
                known = self.store.load_record(order_id)
                decided = self._decided(current, known[0]) if known is not None else current
                state = (
                    DeferredState.DROPPED if decided.state is DeferredState.DROPPED else DeferredState.PENDING
                )
                updated = replace(
                    decided, state=state, reason=f"{advice.code}: {advice.meaning}; {decided.reason}"
                )
            else:
                updated = replace(
                    current, state=DeferredState.DROPPED, reason=f"{advice.code}: {advice.meaning}"
                )
            return self._save(updated)

    def due(self, now: float | None = None) -> list[Deferred]:
        """Retries whose time has come: they become ready."""
        moment = self.clock() if now is None else now
        with self._lock, self.store.transaction():
            return [
                self._save(replace(d, state=DeferredState.READY, retry_at=None))
                for d in self.store.deferred(DeferredState.RETRY)
                if d.retry_at is not None and d.retry_at <= moment
            ]

    def expire(self, now: float | None = None) -> list[Deferred]:
        """Give up pending updates older than `max_age` seconds (none when it is None)."""
        if self.max_age is None:
            return []
        moment = self.clock() if now is None else now
        limit = self.max_age
        with self._lock, self.store.transaction():
            return [
                self._save(
                    replace(
                        d,
                        state=DeferredState.DROPPED,
                        reason=f"still not sendable after {limit:g} s; gave up",
                    )
                )
                for d in self.store.deferred(DeferredState.PENDING, DeferredState.RETRY)
                if d.registered_at is not None and moment - d.registered_at > limit
            ]

    def _existing(self, order_id: str, action: str) -> Deferred:
        found = self.store.get_deferred(order_id, action)
        if found is None:
            raise UnknownUpdateError(f"no deferred update for order {order_id!r} and action {action!r}")
        return found

    def _set(self, order_id: str, action: str, state: DeferredState, reason: str) -> Deferred:
        with self._lock, self.store.transaction():
            return self._save(replace(self._existing(order_id, action), state=state, reason=reason))

    # -- reading ---------------------------------------------------------------------------------

    def record(self, order_id: str) -> OrderRecord | None:
        """The order's current record, or None when no event named it yet."""
        expect_id(order_id)
        with self._lock:
            held = self.store.load_record(order_id)
        return None if held is None else OrderRecord(order_id, held[0], held[1])

    def records(self) -> list[OrderRecord]:
        """Every order's record."""
        with self._lock:
            return list(self.store.records())

    def updates(self, *states: DeferredState) -> list[Deferred]:
        """The deferred updates in these states (every one when none is given)."""
        with self._lock:
            return self.store.deferred(*states)

    def anomalies(self) -> list[Anomaly]:
        """Every anomaly recorded, oldest first."""
        with self._lock:
            return self.store.anomalies()

    @property
    def applied(self) -> int:
        """How many events changed a record (duplicates and stale events excluded)."""
        with self._lock:
            return self.store.counter("applied")
