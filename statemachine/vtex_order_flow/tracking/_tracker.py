"""The tracker: VTEX's order events in, each order's status and facts kept, an outbox of updates
released through one claim API the moment the model says VTEX will accept them."""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import math
import os
import socket
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import replace
from typing import Any

from .. import Advice, Decision, Facts, FlowModel, FollowUp, Verdict
from ..errors import (
    ContradictoryFactsError,
    InvalidArgumentError,
    LeaseLostError,
    StoreError,
    UnknownNameError,
    UnknownUpdateError,
    expect,
    expect_id,
    shown,
)
from ._events import _MAX_TICKS, TICKS_PER_SECOND, OrderEvent
from ._types import (
    IN_FLIGHT,
    Anomaly,
    Applied,
    Closing,
    DropClass,
    Entry,
    EntryState,
    OrderRecord,
    RetryPolicy,
)
from .stores import MemoryStore, Store

__all__ = ["Tracker"]

log = logging.getLogger("vtex_order_flow.tracking")

_CREDENTIALS = frozenset({401, 403})
_CREDENTIALS_WAIT = 60.0


def _check_event(event: object) -> None:
    """Refuse what is not an order event (a Ping, None, a raw dict) before it reaches a store."""
    expect(event, OrderEvent, "an applied event")
    if not isinstance(event, OrderEvent) or not (
        isinstance(event.order_id, str) and isinstance(event.state, str) and type(event.changed_at) is int
    ):
        raise InvalidArgumentError(
            f"an OrderEvent needs a str order id and state and int ticks, not {event!r}"
        )
    expect_id(event.order_id, "an event's order id")
    expect_id(event.state, "an event's status")
    if not 0 <= event.changed_at < _MAX_TICKS:
        raise InvalidArgumentError(
            f"an event's time is 100 ns ticks from 1970 to 9999, not {event.changed_at!r}"
        )


def _seconds(value: object, what: str, *, positive: bool = False) -> float:
    if (
        isinstance(value, bool)
        or not isinstance(value, int | float)
        or not math.isfinite(value)
        or value < 0
        or (positive and value == 0)
    ):
        bound = "> 0" if positive else ">= 0"
        raise InvalidArgumentError(f"{what} must be a finite number of seconds {bound}, not {value!r}")
    return float(value)


def _json_copy(payload: object) -> Any:
    """The payload as stored: JSON data, copied (so that a caller's later change cannot alter it)."""
    if payload is None:
        return None
    try:
        return json.loads(json.dumps(payload, allow_nan=False))
    except (TypeError, ValueError, RecursionError) as error:
        raise InvalidArgumentError(f"an entry's payload must be JSON data: {error}") from None


_STORE_METHODS = (
    "transaction",
    "lock_order",
    "lock_key",
    "try_lock_orders",
    "next_seqs",
    "load_record",
    "save_record",
    "load_facts",
    "save_facts",
    "load_link",
    "load_marketplace_id",
    "save_link",
    "get_entry",
    "save_entry",
    "open_entries",
    "in_flight",
    "claimable",
)

_READY_DUE = 0.0
"""A ready entry's `due`: before any time, so that it is claimable at once (a clock stepped back
by NTP holds up nothing) and claims take ready entries before retries, by ``seq``."""

_NOTHING: tuple[tuple[Entry, ...], tuple[Entry, ...], tuple[Entry, ...]] = ((), (), ())

_REOPENABLE = (EntryState.PENDING, EntryState.READY, EntryState.RETRY)
"""States in which a second registration with new facts or payload updates the entry."""


class Tracker(Closing):
    """Keeps each order's status and facts from VTEX's hook and feed events, and an outbox of the
    updates the connector wants VTEX to have.

    - **Events**: VTEX delivers them at least once, unordered and duplicated: an event is
      applied once; an event older than the record never moves the order back; a move the
      model does not have is applied all the same (VTEX is the source of truth) and recorded
      as an `Anomaly`; an event dated more than `max_skew` seconds ahead of the clock is
      recorded as an anomaly and not applied. Each applied move records the facts its
      transition sets (``sets``) and forgets those it clears.
    - **Outbox**: `register` an update (with an idempotency key and the payload to send); it is
      decided at once and again at every change of its order (status or facts). Workers take
      what is sendable with `claim(limit, lease)`, which decides each entry again, leases it,
      and never gives one entry to two workers while its lease holds; then `sent`, `result`,
      `release`. `withdraw`, `expire` and `prune` close and clean up.

    Thread-safe, and safe across processes on one SQLite file: every call is one store
    transaction, and no state that decides correctness is kept in the process.
    """

    def __init__(
        self,
        model: FlowModel | None = None,
        *,
        flow: str | None = None,
        store: Store | None = None,
        max_age: float | None = None,
        max_skew: float | None = 3600.0,
        retry: RetryPolicy | None = None,
        clock: Callable[[], float] = time.time,
        owner: str | None = None,
        answer_timeout: float | None = 3600.0,
    ) -> None:
        from .. import bundled_model

        if model is not None:
            expect(model, FlowModel, "Tracker's model")
        if max_age is not None:
            _seconds(max_age, "Tracker's max_age")
        if max_skew is not None:
            _seconds(max_skew, "Tracker's max_skew")
        if answer_timeout is not None:
            _seconds(answer_timeout, "Tracker's answer_timeout", positive=True)
        if not callable(clock):
            raise InvalidArgumentError(f"Tracker's clock must be a callable returning seconds, not {clock!r}")
        if retry is not None:
            expect(retry, RetryPolicy, "Tracker's retry")
        if owner is not None:
            expect_id(owner, "Tracker's owner")
        if store is not None and not all(callable(getattr(store, name, None)) for name in _STORE_METHODS):
            raise InvalidArgumentError(
                f"Tracker's store must be a Store (MemoryStore, SQLiteStore), not {store!r}"
            )
        self.model = model or bundled_model()
        self.flow = self.model.flow_name(flow)
        self.store: Store = store if store is not None else MemoryStore()
        self.max_age = max_age
        self.max_skew = max_skew
        self.answer_timeout = answer_timeout
        self.retry = retry or RetryPolicy()
        self.clock = clock
        self.owner = owner or f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        """The name this tracker claims under when `claim` is given none."""
        # Trackers sharing one store object share its lock; a tracker's calls are each atomic.
        self._lock: Any = getattr(self.store, "lock", None) or threading.RLock()
        self._wake = threading.Condition()
        self._woken = 0
        members = {s.id for s in self.model.statuses_in(self.flow)}
        self._members = frozenset(members)
        self._terminal = frozenset(s for s in members if self.model.statuses[s].terminal)
        self._reach = {status: self.model.reachable(status, self.flow) for status in members}
        self._places = self.model.fact_places(self.flow)
        self._domain = self.model.flow(self.flow).domain.casefold()
        self._repeatable = frozenset(a for a in self.model.actions if self.model.repeatable(self.flow, a))
        self._moves = self.model.move_facts(self.flow)
        self._initial = self.model.flow(self.flow).initial
        self._operations = {a.operation: a.name for a in self.model.actions.values() if a.operation}

    # -- context ---------------------------------------------------------------------------------

    def close(self) -> None:
        """Close the tracker's store."""
        with self._lock:
            self.store.close()

    # -- events ----------------------------------------------------------------------------------

    def apply(self, event: OrderEvent) -> Applied:
        """Apply one event; it and everything it causes are stored in one transaction."""
        _check_event(event)
        with self._lock, self.store.transaction():
            return self._apply(event, self._now())

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
            now = self._now()
            return [self._apply(event, now) for event in chunk]

    def _apply(self, event: OrderEvent, now: float) -> Applied:
        if event.domain and self._domain and event.domain.casefold() != self._domain:
            # The same order id in the other domain (a marketplace's and a seller's order in one
            # account): not this flow's events; recording them would move the order back and forth.
            return Applied(event, "other-domain")
        store = self.store
        state = self.model.canonical(event.state)
        if state != event.state:
            event = replace(event, state=state)
        store.lock_order(event.order_id)  # the same event delivered to two workers: one applies it
        held = store.load_orders((event.order_id,)).get(event.order_id)  # status, time, facts: one read
        if self.max_skew is not None and event.changed_at > (now + self.max_skew) * TICKS_PER_SECOND:
            future = Anomaly(
                event.order_id, held[0] if held else None, state, "future-time", event.changed_at
            )
            store.add_anomaly(future)
            return Applied(event, "future", held[0] if held else None, future)
        if held is None:
            store.save_record(event.order_id, state, event.changed_at)
            store.incr("applied")
            return self._moved(event, "first", None, self._anomaly(None, event), now)
        return self._apply_known(event, held, now)

    def _apply_known(self, event: OrderEvent, held: tuple[str, int, frozenset[str]], now: float) -> Applied:
        store = self.store
        status, changed_at, facts = held
        state = event.state
        if event.changed_at < changed_at or (
            # Two statuses at one time: the same one wins whatever the delivery order.
            event.changed_at == changed_at and state < status
        ):
            return Applied(event, "stale", status)
        if event.changed_at == changed_at and state == status:
            return Applied(event, "duplicate", status)
        store.save_record(event.order_id, state, event.changed_at)
        store.incr("applied")
        anomaly = self._anomaly(status, event, same_time=event.changed_at == changed_at)
        if state == status:
            return Applied(event, "moved", status, anomaly)
        move = self._moves.get((status, state))
        if move is not None:
            sets, clears = move
            changed = (facts - clears) | sets
            if changed != facts:
                store.save_facts(event.order_id, changed)
                facts = changed
        return self._moved(event, "moved", status, anomaly, now, facts=facts)

    def _moved(
        self,
        event: OrderEvent,
        outcome: str,
        previous: str | None,
        anomaly: Anomaly | None,
        now: float,
        *,
        facts: frozenset[str] | None = None,
    ) -> Applied:
        ready, dropped, done = self._redecide(event.order_id, now, event.state, facts)
        if ready or dropped or done:
            return Applied(event, outcome, previous, anomaly, ready, dropped, done)
        return Applied(event, outcome, previous, anomaly)

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
        self.store.incr("anomalies")
        return anomaly

    # -- decisions -------------------------------------------------------------------------------

    def _visible(self, facts: frozenset[str], status: str) -> frozenset[str]:
        """The order's facts that can hold in `status` (one carried past where it holds is not)."""
        return frozenset(f for f in facts if f not in self._places or status in self._places[f])

    def _verdict(self, entry: Entry, status: str, order_facts: frozenset[str], now: float) -> dict[str, Any]:
        """The changes that make `entry` what the model decides in `status`: ready, pending or
        dropped (as fields, so that a caller adds its own and copies the entry once)."""
        try:
            decision = self.model.decide(
                status, entry.action, self.flow, self._visible(order_facts, status) | entry.facts
            )
        except ContradictoryFactsError as error:
            return {
                "state": EntryState.DROPPED,
                "status": status,
                "drop": DropClass.IMPOSSIBLE,
                "reason": str(error),
                "due": None,
            }
        except UnknownNameError as error:
            reason = f"cannot decide yet: {error}"
            return {"state": EntryState.PENDING, "status": status, "reason": reason, "due": None}
        if decision.verdict is Verdict.SEND:
            due = _READY_DUE  # claimable at once, whatever the clock does
            return {
                "state": EntryState.READY,
                "status": status,
                "reason": decision.reason,
                "due": due,
                "drop": None,
            }
        if decision.verdict is Verdict.DEFER:
            return {
                "state": EntryState.PENDING,
                "status": status,
                "reason": decision.reason,
                "due": None,
                "drop": None,
            }
        drop = DropClass.ALREADY_DONE if decision.already_done else DropClass.IMPOSSIBLE
        return {
            "state": EntryState.DROPPED,
            "status": status,
            "reason": decision.reason,
            "drop": drop,
            "due": None,
        }

    def _verdict_now(self, entry: Entry, now: float) -> dict[str, Any]:
        held = self.store.load_record(entry.order_id)
        if held is None:
            return self._verdict_unknown(entry, now)
        return self._verdict(entry, held[0], self.store.load_facts(entry.order_id), now)

    def _verdict_unknown(self, entry: Entry, now: float) -> dict[str, Any]:
        """An entry of an order no event named yet: sendable only from where the flow starts
        (`_from_the_start`), otherwise waiting for the order's first event."""
        decision = self._from_the_start(entry.order_id, entry.action, entry.facts)
        if decision is None:
            return {"state": EntryState.PENDING, "reason": "waiting for the order's first event", "due": None}
        return {
            "state": EntryState.READY,
            "status": self._initial,
            "reason": f"VTEX does not have the order yet: {decision.reason}",
            "due": _READY_DUE,
            "drop": None,
        }

    def _from_the_start(self, order_id: str, action: str, facts: frozenset[str]) -> Decision | None:
        """The decision for an order no event named yet, where the flow starts (VTEX does not
        have the order): only a send is taken, the update that brings the order into VTEX
        (create; if VTEX has it after all, it answers so: EOI007, done). None (wait for the
        order's first event) for anything else, and for an order VTEX has given an id to."""
        if self.store.load_marketplace_id(order_id) is not None:
            return None
        try:
            decision = self.model.decide(self._initial, action, self.flow, facts)
        except (ContradictoryFactsError, UnknownNameError):
            return None
        return decision if decision.verdict is Verdict.SEND else None

    def _decided(self, entry: Entry, status: str, order_facts: frozenset[str], now: float) -> Entry:
        """The entry as the model decides it in `status`: ready, pending or dropped."""
        return replace(entry, **self._verdict(entry, status, order_facts, now))

    def _decided_now(self, entry: Entry, now: float) -> Entry:
        """The entry as the model decides it from the order's recorded status and facts."""
        return replace(entry, **self._verdict_now(entry, now))

    def _save(self, entry: Entry, now: float, **changes: Any) -> Entry:
        stamped = entry.evolve(seq=self.store.next_seqs(1)[0], updated_at=now, **changes)
        self.store.save_entry(stamped)
        if stamped.state is EntryState.READY:
            self.wake()
        return stamped

    def _redecide(
        self, order_id: str, now: float, status: str | None = None, facts: frozenset[str] | None = None
    ) -> tuple[tuple[Entry, ...], tuple[Entry, ...], tuple[Entry, ...]]:
        """Decide the order's open entries again after its status or facts changed (the caller
        passes what it just wrote of them, or they are read)."""
        entries = self.store.open_entries(order_id)
        if not entries:
            return _NOTHING
        ready: list[Entry] = []
        dropped: list[Entry] = []
        done: list[Entry] = []
        if status is None:
            held = self.store.load_record(order_id)
            if held is None:
                return _NOTHING
            status = held[0]
        if facts is None:
            facts = self.store.load_facts(order_id)
        for entry in entries:
            if entry.state is EntryState.CLAIMED:
                continue  # a worker is sending it; its answer (or its lease expiring) decides
            decided = self._decided(entry, status, facts, now)
            if entry.state is EntryState.SENT:
                # Awaiting VTEX's answer, which decides, unless the order shows it was applied.
                if decided.drop is not DropClass.ALREADY_DONE:
                    continue
                decided = replace(
                    entry,
                    state=EntryState.DONE,
                    status=status,
                    reason=f"the order reached {status}: VTEX applied it",
                )
            elif entry.state is EntryState.RETRY and decided.state is not EntryState.DROPPED:
                continue  # waits for its retry time (decided again when claimed)
            if decided == entry:
                continue
            saved = self._save(decided, now)
            if saved.state is EntryState.READY and entry.state is not EntryState.READY:
                ready.append(saved)
            elif saved.state is EntryState.DROPPED:
                dropped.append(saved)
            elif saved.state is EntryState.DONE:
                done.append(saved)
        return tuple(ready), tuple(dropped), tuple(done)

    # -- the outbox ------------------------------------------------------------------------------

    def register(
        self,
        order_id: str,
        action: str,
        facts: Facts = None,
        *,
        key: str | None = None,
        payload: Any = None,
        replaces: str | None = None,
    ) -> Entry:
        """Put an update in the outbox; it is decided now (when the order is known) and again at
        every change of its order, and goes out through `claim`.

        `key` is the caller's idempotency key (default ``"{order_id}:{action}"``, and for an
        action an order may need several times ``"{order_id}:{action}:{payload digest}"``):
        registering it again returns the same entry, updated with new `facts` or `payload`
        while it has not gone out yet. Use the returned entry's `key` from then on: it may be
        another key's (below).

        An update that repeats an open entry of the order is that entry, whatever its key:
        while one is claimed or sent, asking again answers with it (on its way), not with a
        second send. An update repeats an entry of the same action, except for actions an order
        may need several times (in the seller flow ``invoice`` and ``tracking``: VTEX accepts
        them again after their goal; `ModelData.repeatable`), where it must also have the same
        payload.
        `replaces` names an entry this one supersedes (dropped as superseded unless it is
        already on its way).
        """
        expect_id(order_id)
        action_id = self.model.action(action).name
        names = self.model.normalize_facts(facts)
        if key is not None:
            expect_id(key, "an entry's key")
        if replaces is not None:
            expect_id(replaces, "replaces")
        data = _json_copy(payload)
        name = key if key is not None else self._default_key(order_id, action_id, data)
        with self._lock, self.store.transaction():
            now = self._now()
            self.store.lock_key(name)  # two orders registering one key: one of them is refused
            order_id = self._lock_resolved(order_id)
            existing = self.store.get_entry(name)
            if existing is not None and (existing.order_id, existing.action) != (order_id, action_id):
                raise InvalidArgumentError(
                    f"key {name!r} already names the {existing.action} of order {existing.order_id!r}, "
                    f"not the {action_id} of {order_id!r}; use a key per update"
                )
            if existing is None:
                replaced = self.store.get_entry(replaces) if replaces is not None else None
                supersedable = replaced is not None and replaced.state in _REOPENABLE
                existing = self._same_update(
                    order_id, action_id, data, ignore=replaces if supersedable else None
                )
            if existing is not None:
                if existing.state not in _REOPENABLE or (existing.facts, existing.payload) == (names, data):
                    return existing  # no change: nor to what `replaces` names
                if replaces is not None and replaces != existing.key:
                    self._supersede(replaces, existing.key, now)
                return self._save(self._reopened(existing, names, data, now), now)
            if replaces is not None and replaces != name:
                self._supersede(replaces, name, now)
            entry = Entry(
                key=name,
                order_id=order_id,
                action=action_id,
                state=EntryState.PENDING,
                payload=data,
                facts=names,
                registered_at=now,
            )
            return self._save(self._decided_now(entry, now), now)

    def _default_key(self, order_id: str, action: str, payload: Any) -> str:
        """``order:action``; for an action an order may need several times, with a digest of
        the payload (two partial invoices are two entries, the same one twice is one)."""
        if action not in self._repeatable or payload is None:
            return f"{order_id}:{action}"
        digest = hashlib.sha256(
            json.dumps(payload, sort_keys=True, separators=(",", ":")).encode()
        ).hexdigest()
        return f"{order_id}:{action}:{digest[:16]}"

    def _same_update(self, order_id: str, action: str, payload: Any, ignore: str | None) -> Entry | None:
        """The order's open entry this update would repeat: any of the action's (one per order),
        or, for an action an order may need several times, the one with the same payload (the
        entry being replaced excepted)."""
        for entry in self.store.open_entries(order_id):
            if entry.key == ignore or entry.action != action:
                continue
            if action not in self._repeatable or entry.payload == payload:
                return entry
        return None

    def _reopened(self, entry: Entry, facts: frozenset[str], payload: Any, now: float) -> Entry:
        """An entry not yet gone out, with new facts or payload, decided again; a retry keeps
        its backoff unless it can no longer succeed."""
        decided = self._decided_now(replace(entry, facts=facts, payload=payload), now)
        if entry.state is EntryState.RETRY and decided.state is not EntryState.DROPPED:
            return replace(entry, facts=facts, payload=payload)
        return decided

    def _supersede(self, key: str, by: str, now: float) -> None:
        old = self.store.get_entry(key)
        if old is not None and old.state in _REOPENABLE:
            self._save(
                replace(
                    old,
                    state=EntryState.DROPPED,
                    drop=DropClass.SUPERSEDED,
                    reason=f"superseded by {by!r}",
                    due=None,
                ),
                now,
            )

    def claim(self, limit: int = 100, lease: float = 60.0, owner: str | None = None) -> list[Entry]:
        """Take up to `limit` entries to send now, each leased to `owner` for `lease` seconds.

        Looks at entries ready, retries that have come due, and claims whose lease expired
        (a worker that died or hung); decides each again from the order's current status and
        facts (one no longer sendable goes back to pending, or is dropped, and is not
        returned). Atomic across threads and processes: no two workers get one entry while its
        lease holds. Call `sent` (or `result`) for each, or `release` to hand it back.
        """
        if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= 10_000:
            raise InvalidArgumentError(f"claim's limit must be an integer from 1 to 10000, not {limit!r}")
        seconds = _seconds(lease, "claim's lease", positive=True)
        if seconds < 0.001:
            raise InvalidArgumentError(f"claim's lease must be at least 0.001 s, not {lease!r}")
        holder = self.owner if owner is None else owner
        expect_id(holder, "claim's owner")
        claimed: list[Entry] = []
        waiting: set[str] = set()  # sendable, but another of its kind is on its way first
        with self._lock, self.store.transaction():
            now = self._now()
            while len(claimed) < limit:
                found = self.store.claimable(now, limit - len(claimed) + len(waiting))
                batch = [entry for entry in found if entry.key not in waiting]
                if not batch:
                    break
                claimed += self._claim_batch(batch, holder, (now, now + seconds), waiting)
        return claimed

    def _on_its_way(self, batch: list[Entry]) -> dict[str, list[Entry]]:
        """The entries of the batch's orders already on their way (claimed or sent), by order,
        in one read that never waits for a lock."""
        going: dict[str, list[Entry]] = {}
        for other in self.store.in_flight({entry.order_id for entry in batch}):
            going.setdefault(other.order_id, []).append(other)
        return going

    def _commutes(self, entry: Entry, other: Entry, held: tuple[str, int, frozenset[str]] | None) -> bool:
        """Whether `entry` may go while `other`, of the same order, is on its way: VTEX accepts
        each whatever becomes of the other (each still sendable where the other moves the
        order). A cancel never goes while an approval is queued (the approval would be refused),
        nor a second partial invoice while the first is verified; two that commute both go."""
        if held is None or entry.action == other.action:
            return False
        status = held[0]
        facts = self._visible(held[2], status)
        try:
            mine = self.model.decide(status, entry.action, self.flow, facts | entry.facts)
            theirs = self.model.decide(status, other.action, self.flow, facts | other.facts)
            if mine.verdict is not Verdict.SEND or theirs.verdict is not Verdict.SEND:
                return mine.verdict is not Verdict.SEND  # (not sendable: decided below)
            after_mine = mine.moves_to or status
            after_theirs = theirs.moves_to or status
            return (
                self.model.decide(after_mine, other.action, self.flow, facts | other.facts).verdict
                is Verdict.SEND
                and self.model.decide(after_theirs, entry.action, self.flow, facts | entry.facts).verdict
                is Verdict.SEND
            )
        except (ContradictoryFactsError, UnknownNameError):
            return False

    def _claim_batch(
        self, batch: list[Entry], holder: str, times: tuple[float, float], waiting: set[str]
    ) -> list[Entry]:
        """Decide a batch of claimable entries again and lease what is still sendable, with one
        read of their orders and one write (what a networked store needs to be fast). Of an
        action an order may need several times, one goes at a time (a second partial invoice
        waits for the first: VTEX refuses it until the first is verified); the others wait,
        still ready, in `waiting`."""
        now, until = times
        # The orders' locks, without waiting: an order another transaction works on (an event,
        # another worker's claim of its other updates) waits for the next claim, so that what
        # is on its way is always seen (one partial invoice at a time, updates that commute).
        locked = self.store.try_lock_orders({entry.order_id for entry in batch})
        for entry in batch:
            if entry.order_id not in locked:
                waiting.add(entry.key)
        batch = [entry for entry in batch if entry.order_id in locked]
        if not batch:
            return []
        going = self._on_its_way(batch)
        orders = self.store.load_orders({entry.order_id for entry in batch})
        seqs = self.store.next_seqs(len(batch))
        updated: list[Entry] = []
        claimed: list[Entry] = []
        for offset, entry in enumerate(batch):
            held = orders.get(entry.order_id)
            ahead = [other for other in going.get(entry.order_id, ()) if other.key != entry.key]
            if (
                ahead
                and entry.state in (EntryState.READY, EntryState.RETRY)
                and not all(self._commutes(entry, other, held) for other in ahead)
            ):
                # (a claim whose lease expired may have been sent by the worker that died: it
                # goes again, first, before anything that does not commute with it)
                waiting.add(entry.key)
                continue
            if held is None:
                changes: dict[str, Any] = self._verdict_unknown(entry, now)
            else:
                changes = self._verdict(entry, held[0], held[2], now)
            if entry.state is EntryState.SENT and changes.get("drop") is DropClass.ALREADY_DONE:
                changes.update(
                    state=EntryState.DONE, drop=None, reason=f"the order reached {changes['status']}"
                )
            if changes["state"] is EntryState.READY:
                if entry.state is EntryState.CLAIMED:
                    changes["reason"] = f"claimed again after {entry.owner}'s lease expired"
                elif entry.state is EntryState.SENT:
                    changes["reason"] = f"sent again: no answer from VTEX within {self.answer_timeout:g} s"
                changes.update(state=EntryState.CLAIMED, owner=holder, due=until, claims=entry.claims + 1)
            new = entry.evolve(seq=seqs[offset], updated_at=now, **changes)
            updated.append(new)
            if new.state is EntryState.CLAIMED:
                claimed.append(new)
                going.setdefault(new.order_id, []).append(new)
        self.store.save_entries(updated)
        return claimed

    def _held(self, key: str, owner: str | None, what: str) -> Entry:
        entry = self._existing(key)
        if entry.state is not EntryState.CLAIMED or (owner is not None and entry.owner != owner):
            raise LeaseLostError(
                f"{what}: entry {key!r} is {entry.state}"
                + (f" (held by {entry.owner})" if entry.state is EntryState.CLAIMED else "")
                + f", not claimed by {owner or 'a worker'}"
            )
        return entry

    def sent(self, key: str, owner: str | None = None) -> Entry:
        """A claimed entry was put on the wire: it awaits VTEX's answer (`result`), or the order
        reaching the action's goal. With `owner`, raises `LeaseLostError` unless that worker
        still holds the claim. Saying it twice is harmless."""
        expect_id(key, "an entry's key")
        with self._lock, self.store.transaction():
            now = self._now()
            current = self._existing(key)
            if current.state is EntryState.SENT and (owner is None or current.owner == owner):
                return current
            held = self._held(key, owner, "sent")
            waited = None if self.answer_timeout is None else now + self.answer_timeout
            return self._save(
                replace(held, state=EntryState.SENT, due=waited, reason="sent; awaiting VTEX's answer"), now
            )

    def release(self, key: str, owner: str | None = None) -> Entry:
        """Hand a claimed entry back unsent (a graceful stop): it is claimable again at once."""
        expect_id(key, "an entry's key")
        with self._lock, self.store.transaction():
            now = self._now()
            held = self._held(key, owner, "release")
            return self._save(
                replace(held, state=EntryState.READY, due=_READY_DUE, reason="released unsent"), now
            )

    def withdraw(self, key: str, reason: str = "withdrawn by the connector") -> Entry:
        """Retract an entry the marketplace no longer wants. One a worker holds (claimed), sent
        or finished cannot be recalled: it is returned unchanged (check its state)."""
        expect_id(key, "an entry's key")
        expect_id(reason, "withdraw's reason")
        with self._lock, self.store.transaction():
            now = self._now()
            current = self._existing(key)
            if current.state in (EntryState.CLAIMED, EntryState.SENT, EntryState.DONE, EntryState.DROPPED):
                return current
            return self._save(
                replace(current, state=EntryState.DROPPED, drop=DropClass.WITHDRAWN, reason=reason, due=None),
                now,
            )

    def result(self, key: str, advice: Advice, owner: str | None = None) -> Entry:
        """What VTEX answered to a sent entry (`interpret_notification`, or the client's answer):
        done; sent and awaiting the notification; retry later with backoff; decided again from
        the order's known status; or given up. An answer to an entry already done or dropped
        changes nothing; "done" is taken from anyone. With `owner` (the worker that sent it),
        any other answer raises `LeaseLostError` when another worker holds the entry now: a
        late answer never moves a live claim."""

        expect_id(key, "an entry's key")
        expect(advice, Advice, "result's advice")
        if owner is not None:
            expect_id(owner, "result's owner")
        with self._lock, self.store.transaction():
            now = self._now()
            # SOI001's mainOrderId first: its locks (the marketplace id, then VTEX's) before the
            # entry's order's, the order every path takes them in.
            self._link_from(advice, now)
            current = self._answerable(key)
            return self._result(current, advice, owner, now)

    def _link_from(self, advice: Advice, now: float) -> None:
        """Fill the id map from a consistent success that names both ids; ids no store can
        hold, or a pair that contradicts the map, are left out (logged)."""
        marketplace_id, order_id = advice.marketplace_order_id, advice.order_id
        if not (advice.success and advice.consistent and marketplace_id and order_id):
            return
        try:
            expect_id(marketplace_id, "marketplaceOrderId")
            expect_id(order_id, "mainOrderId")
            self._link(marketplace_id, order_id, now)
        except InvalidArgumentError as error:
            log.warning("not linking %r to %r: %s", marketplace_id, order_id, error)

    def _result(self, current: Entry, advice: Advice, owner: str | None, now: float) -> Entry:
        """`result` once the entry's order is locked."""
        if current.state in (EntryState.DONE, EntryState.DROPPED):
            return current  # a late or repeated answer
        said = f"{advice.code}: {advice.meaning}"
        if advice.follow_up is FollowUp.DONE and advice.consistent:
            return self._done(current, said, now)
        if current.state not in IN_FLIGHT:
            return current  # a late or repeated answer: the entry has moved on
        if owner is not None and current.owner != owner:
            raise LeaseLostError(
                f"result: entry {current.key!r} is {current.state} by {current.owner} now, not by {owner}"
            )
        return self._save(self._answered(current, advice, said, now), now)

    def notify(self, advice: Advice) -> Entry | None:
        """Route a Channel Order API answer or notification (`interpret_notification`) to the
        entry it answers: the order's entry whose action has the notification's operation
        (``flow``), found by ``marketplaceOrderId`` (or VTEX's id, once linked), and that went
        out: on its way, or waiting to go again. A success that carries VTEX's order id (SOI001's
        ``mainOrderId``) fills the id map (`link`), also when the entry has finished since
        (VTEX answered EOI007 to a second send first). None when nothing is left to answer;
        nothing changes when nothing of ours went out for it: VTEX signs nothing it posts, and
        an update never sent is never closed, nor an id linked, by a notification."""
        expect(advice, Advice, "notify's advice")
        marketplace_id = advice.marketplace_order_id or advice.order_id
        action = self._operations.get(advice.operation)
        if marketplace_id is None or action is None:
            return None
        expect_id(marketplace_id, "the notification's marketplaceOrderId")
        with self._lock, self.store.transaction():
            now = self._now()
            order_id = self._lock_resolved(marketplace_id)
            ours = [e for e in self.store.open_entries(order_id) if e.action == action]
            # On its way first; then one that went out and waits to go again (a 5xx after VTEX
            # applied it); then one that went out and is finished (VTEX said EOI007 first).
            went = [e for e in ours if e.state in IN_FLIGHT] or [e for e in ours if e.claims > 0]
            if not went:
                for key in {f"{marketplace_id}:{action}", f"{order_id}:{action}"}:
                    finished = self.store.get_entry(key)
                    if finished is not None and finished.action == action and finished.claims > 0:
                        self._link_from(advice, now)  # the ids are still worth having
                return None  # nothing left to answer (or nothing of ours went out: a forgery)
            self._link_from(advice, now)  # (the marketplace id's lock is held: the same order)
            return self._result(self._existing(went[0].key), advice, None, now)

    def link(self, marketplace_id: str, order_id: str) -> list[Entry]:
        """VTEX's orderId for a marketplace order (SOI001's ``mainOrderId``; `result` and
        `notify` call it for you). The updates registered under the marketplace id move to
        VTEX's id, with the facts recorded there, and are decided again (returned). From now
        on either id names the order in `register`, `decide`, `record_facts` and the readers.
        Linking a pair again changes nothing; another pair with either id raises
        `InvalidArgumentError`."""
        expect_id(marketplace_id, "the marketplace order id")
        expect_id(order_id, "VTEX's order id")
        with self._lock, self.store.transaction():
            return self._link(marketplace_id, order_id, self._now())

    def _link(self, marketplace_id: str, order_id: str, now: float) -> list[Entry]:
        if marketplace_id == order_id:
            return []
        # Locks in one order everywhere (the marketplace id, then VTEX's): no deadlock.
        self.store.lock_order(marketplace_id)
        self.store.lock_order(order_id)
        if self.store.load_link(marketplace_id) == order_id:
            return []
        self.store.save_link(marketplace_id, order_id)  # refuses a second pair with either id
        moved = self.store.open_entries(marketplace_id)
        kept: list[Entry] = []
        for entry in moved:
            same = self._same_update(order_id, entry.action, entry.payload, ignore=None)
            if same is not None and entry.state not in IN_FLIGHT:
                self._save(
                    replace(
                        entry,
                        order_id=order_id,
                        state=EntryState.DROPPED,
                        drop=DropClass.SUPERSEDED,
                        reason=f"the same update as {same.key!r} of VTEX order {order_id!r}",
                        due=None,
                    ),
                    now,
                )
                continue
            kept.append(self._save(replace(entry, order_id=order_id), now))
        facts = self.store.load_facts(marketplace_id)
        if facts:
            self.store.save_facts(order_id, self.store.load_facts(order_id) | facts)
            self.store.save_facts(marketplace_id, frozenset())
        ready, dropped, done = self._redecide(order_id, now)
        changed = {e.key: e for e in (*ready, *dropped, *done)}
        return [changed.get(e.key, e) for e in kept]

    def order_id(self, marketplace_id: str) -> str | None:
        """VTEX's orderId for a marketplace order id, when known (`link`)."""
        expect_id(marketplace_id, "the marketplace order id")
        with self._reading():
            return self.store.load_link(marketplace_id)

    def marketplace_id(self, order_id: str) -> str | None:
        """The marketplace order id VTEX's orderId was linked from, when known (`link`)."""
        expect_id(order_id, "VTEX's order id")
        with self._reading():
            return self.store.load_marketplace_id(order_id)

    def _resolved(self, order_id: str) -> str:
        """VTEX's id for a linked marketplace id; any other id as it is."""
        return self.store.load_link(order_id) or order_id

    def _lock_resolved(self, order_id: str) -> str:
        """Lock the order (the marketplace id, then VTEX's when linked: `_link`'s order) and
        return the id it is kept under. Read after the lock: a link made meanwhile is seen."""
        self.store.lock_order(order_id)
        resolved = self.store.load_link(order_id)
        if resolved is None:
            return order_id
        self.store.lock_order(resolved)
        return resolved

    def done(self, key: str, reason: str = "VTEX accepted it") -> Entry:
        """VTEX accepted an update whose answer is not a Channel Order notification: an Orders
        API call (invoice, tracking, cancel, start handling, return invoice) answered 2xx. The
        entry is done, and a self-loop's facts are recorded (a return invoice). An entry
        already done or dropped is returned unchanged."""
        expect_id(key, "an entry's key")
        expect_id(reason, "done's reason")
        with self._lock, self.store.transaction():
            now = self._now()
            current = self._answerable(key)
            if current.state in (EntryState.DONE, EntryState.DROPPED):
                return current
            return self._done(current, reason, now)

    def _answerable(self, key: str) -> Entry:
        """The entry an answer is for, read after its order's lock is held (the order's lock
        before the entry's row, as everywhere: no deadlock)."""
        self.store.lock_order(self._existing(key, lock=False).order_id)
        return self._existing(key)

    def _answered(self, current: Entry, advice: Advice, said: str, now: float) -> Entry:
        """An in-flight entry after VTEX's answer (anything but done)."""
        from .. import FollowUp

        follow_up = advice.follow_up
        attempts = current.attempts + 1
        if advice.http_status in _CREDENTIALS:
            # VTEX refused the credentials, not the update: every update would fail alike until
            # a person fixes them; none is dropped for it, and no attempt is counted.
            wait = max(_CREDENTIALS_WAIT, advice.retry_after or 0.0)
            updated = replace(
                current, state=EntryState.RETRY, due=now + wait, reason=f"{said}; held until they are fixed"
            )
        elif follow_up is FollowUp.WAIT_FOR_NOTIFICATION:
            # An answer that may never come (a lost one: the client says how long to wait)
            # waits at most `answer_timeout`; then it is decided again.
            patience = [t for t in (self.answer_timeout, advice.retry_after) if t is not None and t > 0]
            waited = now + min(patience) if patience else None
            updated = replace(current, state=EntryState.SENT, due=waited, reason=said)
        elif follow_up in (FollowUp.GIVE_UP, FollowUp.NEEDS_PERSON) or not advice.known:
            updated = self._gave_up(current, said)
        elif attempts > self.retry.max_attempts:
            updated = self._gave_up(
                replace(current, attempts=attempts),
                f"gave up after {current.attempts} attempts ({advice.code})",
            )
        elif follow_up is FollowUp.RETRY_WITH_BACKOFF:
            updated = replace(
                current,
                state=EntryState.RETRY,
                attempts=attempts,
                due=now + self._backoff(attempts, advice),
                reason=said,
            )
        else:
            # Not now (EOI011), not in this status (OMS003, 400): decide again from the known
            # status. If the model still says send, VTEX has not caught up: retry with backoff.
            decided = self._decided_now(replace(current, attempts=attempts), now)
            if decided.state is EntryState.READY:
                decided = replace(decided, state=EntryState.RETRY, due=now + self._backoff(attempts, advice))
            updated = replace(decided, reason=f"{said}; {decided.reason}")
        return updated

    def _backoff(self, attempts: int, advice: Advice) -> float:
        """The retry policy's delay, or longer when VTEX asked for it (a 429's Retry-After)."""
        asked = advice.retry_after
        if asked is None or not math.isfinite(asked) or asked <= 0:
            return self.retry.delay(attempts)
        return max(self.retry.delay(attempts), min(asked, 86_400.0))

    @staticmethod
    def _gave_up(entry: Entry, reason: str) -> Entry:
        return replace(entry, state=EntryState.DROPPED, drop=DropClass.GAVE_UP, reason=reason, due=None)

    def _done(self, entry: Entry, reason: str, now: float) -> Entry:
        done = self._save(replace(entry, state=EntryState.DONE, due=None, reason=reason), now)
        held = self.store.load_record(entry.order_id)
        if held is None:
            return done
        status, changed_at = held
        sent_at = entry.updated_at if entry.state is EntryState.SENT else now
        sent_ticks = int(max(sent_at, 0.0) * TICKS_PER_SECOND)
        if (entry.status is not None and status != entry.status) or changed_at >= sent_ticks:
            return done  # VTEX's events since it was sent say where the order is: theirs win
        facts = self.store.load_facts(entry.order_id)
        taken = next(
            (
                t
                for t in self.model.ways_out(status, self.flow)
                if t.trigger == entry.action and t.holds(self._visible(facts, status) | entry.facts)
            ),
            None,
        )
        if taken is None:
            return done
        if taken.is_self_loop:
            # A self-loop of the action (a return invoice) changes no status: record its facts.
            sets = self.model.fact_closure(taken.sets)
            if sets:
                self._change_facts(entry.order_id, frozenset(sets), frozenset(), now)
            return done
        # VTEX applied it: the order is where the action takes it, a tick after the status it
        # left, so that its other updates are decided from where it is now. Any event VTEX
        # dates later wins; a late copy of the old one is stale. (Not stamped with our clock:
        # a clock ahead of VTEX's would make VTEX's next event look stale and hide it.)
        if changed_at + 1 >= _MAX_TICKS:
            return done
        self.store.save_record(entry.order_id, taken.dest, changed_at + 1)
        move = self._moves.get((status, taken.dest))
        if move is not None:
            changed = (facts - move[1]) | move[0]
            if changed != facts:
                self.store.save_facts(entry.order_id, changed)
                facts = changed
        self._redecide(entry.order_id, now, taken.dest, facts)
        return done

    def record_facts(self, order_id: str, facts: Facts) -> list[Entry]:
        """Record facts the order now carries (true) or no longer does (false), e.g. an invoice
        the connector registered; the order's open entries are decided again. Returns the
        entries that changed."""
        expect_id(order_id)
        true = self.model.normalize_facts(facts)  # names, values and contradictions checked
        false = (
            frozenset(k for k, v in facts.items() if v is False)
            if isinstance(facts, Mapping)
            else frozenset()
        )
        with self._lock, self.store.transaction():
            now = self._now()
            return self._change_facts(self._lock_resolved(order_id), true, false, now)

    def _change_facts(
        self, order_id: str, true: frozenset[str], false: frozenset[str], now: float
    ) -> list[Entry]:
        held = self.store.load_facts(order_id)
        # A fact no longer held takes with it every fact that implies it.
        gone = frozenset(f for f in held if self.model.fact_closure((f,)) & false)
        changed = (held - gone) | true
        if changed == held:
            return []
        self.store.save_facts(order_id, changed)
        ready, dropped, done = self._redecide(order_id, now)
        return [*ready, *dropped, *done]

    def expire(self, now: float | None = None, limit: int = 10_000) -> list[Entry]:
        """Drop (as expired) up to `limit` pending or retrying entries registered more than
        `max_age` seconds ago, oldest first (none when `max_age` is None)."""
        if isinstance(limit, bool) or not isinstance(limit, int) or limit < 1:
            raise InvalidArgumentError(f"expire's limit must be an integer >= 1, not {limit!r}")
        if now is not None:
            _seconds(now, "expire's now")
        if self.max_age is None:
            return []
        limit_age = self.max_age
        with self._lock, self.store.transaction():
            moment = self._now() if now is None else now
            return [
                self._save(
                    entry,
                    moment,
                    state=EntryState.DROPPED,
                    drop=DropClass.EXPIRED,
                    reason=f"still not sendable after {limit_age:g} s; gave up",
                    due=None,
                )
                for entry in self.store.stale_entries(moment - limit_age, limit)
            ]

    def prune(self, older_than: float) -> int:
        """Delete entries done or dropped more than `older_than` seconds ago, and anomalies of
        events dated before then; how many entries. A pruned key is forgotten: registering it
        again makes a new entry (keep `older_than` longer than any retry of a registration)."""
        seconds = _seconds(older_than, "prune's older_than")
        with self._lock, self.store.transaction():
            return self.store.prune(self._now() - seconds)

    def wait(self, timeout: float) -> bool:
        """Block until an entry becomes ready (or `timeout` seconds pass); whether one did. A
        dispatcher sleeps on it between claims. In-process readiness always wakes it; a store
        that can hear other processes (PostgreSQL's LISTEN/NOTIFY) wakes it for theirs too;
        otherwise their entries are found by the next claim."""
        seconds = _seconds(timeout, "wait's timeout")
        listen = getattr(self.store, "wait_ready", None)
        with self._wake:
            seen = self._woken
        if callable(listen):
            deadline = time.monotonic() + seconds
            while self._woken == seen:
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                if listen(min(left, 0.25)):  # short slices: an in-process wake is seen soon
                    return True
            return True
        with self._wake:
            return self._wake.wait_for(lambda: self._woken != seen, seconds)

    @contextlib.contextmanager
    def _reading(self) -> Iterator[None]:
        with self._lock:
            if getattr(self.store, "closed", False):
                raise StoreError(f"the tracker's store ({type(self.store).__name__}) is closed")
            yield

    def _now(self) -> float:
        now = self.clock()
        if isinstance(now, bool) or not isinstance(now, int | float) or not math.isfinite(now):
            raise InvalidArgumentError(f"Tracker's clock must return finite seconds, not {now!r}")
        return float(now)

    def wake(self) -> None:
        """Wake every thread in `wait` now."""
        with self._wake:
            self._woken += 1
            self._wake.notify_all()

    def _existing(self, key: str, *, lock: bool = True) -> Entry:
        found = self.store.get_entry(key, lock=lock)
        if found is None:
            raise UnknownUpdateError(f"no outbox entry with key {key!r}")
        return found

    # -- reading ---------------------------------------------------------------------------------

    def decide(self, order_id: str, action: str, facts: Facts = None) -> Decision | None:
        """The decision for `action` on this order as the tracker knows it: its recorded status,
        the facts it carries there, and `facts`; None when no event named the order yet (except
        for the update that brings it into VTEX, decided where the flow starts). While
        an entry of the action is claimed or sent (for an action an order needs once), a SEND
        becomes a DEFER that says it is already on its way."""
        expect_id(order_id)
        action = self.model.action(action).name  # (an unknown one: UnknownActionError, always)
        names = self.model.normalize_facts(facts)
        with self._reading():
            order_id = self._resolved(order_id)
            held = self.store.load_record(order_id)
            carried = self.store.load_facts(order_id) if held is not None else frozenset()
            # (no event yet: as the outbox decides it, where the flow starts)
            start = self._from_the_start(order_id, action, names) if held is None else None
        if held is None:
            if start is None:
                return None
            decision = start
        else:
            decision = self.model.decide(held[0], action, self.flow, self._visible(carried, held[0]) | names)
        if decision.verdict is Verdict.SEND:
            with self._reading():
                going = next(
                    (
                        e
                        for e in self.store.open_entries(order_id)
                        if e.action == decision.action and e.in_flight
                    ),
                    None,
                )
            if going is not None and decision.action not in self._repeatable:
                return replace(
                    decision,
                    verdict=Verdict.DEFER,
                    reason=(
                        f"{decision.action} is already on its way to VTEX "
                        f"(entry {going.key!r} is {going.state})"
                    ),
                    path=(),
                    next_actor="platform",
                    remedy=(),
                    moves_to=None,
                    follow_up=FollowUp.WAIT_FOR_NOTIFICATION,
                )
        return decision

    def entry(self, key: str) -> Entry | None:
        """The entry with this key, or None."""
        expect_id(key, "an entry's key")
        with self._reading():
            return self.store.get_entry(key)

    def entries(self, *states: EntryState) -> list[Entry]:
        """The entries in these states (every one when none is given), in the order they changed.

        A state is an `EntryState` or its name (``"ready"``); anything else is an
        `InvalidArgumentError` naming the valid states."""
        chosen = tuple(_entry_state(state) for state in states)
        with self._reading():
            return self.store.entries(*chosen)

    def in_flight(self, order_id: str) -> list[Entry]:
        """The order's entries on their way to VTEX (claimed or sent)."""
        expect_id(order_id)
        with self._reading():
            return [e for e in self.store.open_entries(self._resolved(order_id)) if e.state in IN_FLIGHT]

    def counts(self) -> dict[str, int]:
        """How many entries are in each state (every state listed)."""
        with self._reading():
            held = self.store.counts()
        return {str(state): held.get(state, 0) for state in EntryState}

    def status(self) -> dict[str, Any]:
        """For operators (the app's ``/status``): entries by state, the entry waiting longest
        (pending or retrying: its key, action, order and age in seconds), and how many events
        were applied and anomalies recorded since the store was made."""
        with self._reading():
            counts = self.store.counts()
            oldest = self.store.stale_entries(math.inf, 1)
            applied, anomalies = self.store.counter("applied"), self.store.counter("anomalies")
            now = self._now()
        waiting = None
        if oldest:
            entry = oldest[0]
            waiting = {
                "key": entry.key,
                "action": entry.action,
                "order_id": entry.order_id,
                "state": str(entry.state),
                "age": round(max(now - entry.registered_at, 0.0), 3),
                "reason": entry.reason,
            }
        return {
            "entries": {str(state): counts.get(state, 0) for state in EntryState},
            "oldest_waiting": waiting,
            "events_applied": applied,
            "anomalies": anomalies,
        }

    def facts(self, order_id: str) -> frozenset[str]:
        """The facts the order carries (set by its moves and recorded by the connector)."""
        expect_id(order_id)
        with self._reading():
            return self.store.load_facts(self._resolved(order_id))

    def record(self, order_id: str) -> OrderRecord | None:
        """The order's current record, or None when no event named it yet."""
        expect_id(order_id)
        with self._reading():
            order_id = self._resolved(order_id)
            held = self.store.load_record(order_id)
        return None if held is None else OrderRecord(order_id, held[0], held[1])

    def records(self) -> list[OrderRecord]:
        """Every order's record."""
        with self._reading():
            return list(self.store.records())

    def anomalies(self) -> list[Anomaly]:
        """Every anomaly recorded, oldest first."""
        with self._reading():
            return self.store.anomalies()

    @property
    def applied(self) -> int:
        """How many events changed a record (duplicates and stale events excluded)."""
        with self._reading():
            return self.store.counter("applied")


def _entry_state(state: object) -> EntryState:
    """`state` as an `EntryState`, or an `InvalidArgumentError` naming the valid ones."""
    if isinstance(state, EntryState):
        return state
    if isinstance(state, str) and state in _STATE_NAMES:
        return EntryState(state)
    raise InvalidArgumentError(
        f"Tracker.entries's states must be entry states, not {shown(state)}; valid: {', '.join(_STATE_NAMES)}"
    )


_STATE_NAMES = tuple(state.value for state in EntryState)
