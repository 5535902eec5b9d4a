"""The tracker: VTEX's order events in, each order's status and facts kept, an outbox of updates
released through one claim API the moment the model says VTEX will accept them.

`Tracker` is the facade: it checks arguments and runs each call as one unit (its lock, one store
transaction, one clock reading) over the job modules: `_ledger` (events and facts in),
`_outbox` (registration, withdrawal, expiry), `_claims` (claims and leases), `_results` (VTEX's
answers), `_links` (id links); `_readers` holds the read-only calls."""

from __future__ import annotations

import contextlib
import math
import os
import socket
import time
import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from typing import Any

from .. import Advice, Facts, FlowModel
from .._guards import expect, expect_id, expect_int, expect_seconds
from ..errors import InvalidArgumentError, LeaseLostError, UnknownUpdateError
from . import _claims, _ledger, _links, _outbox, _results
from ._events import OrderEvent
from ._readers import Readers
from ._types import Applied, Entry, EntryState, RetryPolicy
from ._unit import Core
from ._verdicts import FlowTables
from ._waking import Waking
from .stores import MemoryStore, Store

__all__ = ["Tracker"]


class Tracker(Readers, Waking):
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
            expect_seconds(max_age, "Tracker's max_age")
        if max_skew is not None:
            expect_seconds(max_skew, "Tracker's max_skew")
        if answer_timeout is not None:
            expect_seconds(answer_timeout, "Tracker's answer_timeout", positive=True)
        if not callable(clock):
            raise InvalidArgumentError(f"Tracker's clock must be a callable returning seconds, not {clock!r}")
        if retry is not None:
            expect(retry, RetryPolicy, "Tracker's retry")
        if owner is not None:
            expect_id(owner, "Tracker's owner")
        if store is not None and not isinstance(store, Store):
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
        self._lock: Any = self.store.lock
        Waking.__init__(self)
        self._tables = FlowTables(self.model, self.flow)
        self._core = Core(self._tables, self.store, self.retry, answer_timeout, max_skew, self.wake)

    @contextlib.contextmanager
    def _unit(self) -> Iterator[float]:
        """One call: the tracker's lock, one store transaction, one clock reading."""
        with self._lock, self.store.transaction():
            yield self._now()

    def close(self) -> None:
        """Close the tracker's store."""
        with self._lock:
            self.store.close()

    # -- events and facts ------------------------------------------------------------------------

    def apply(self, event: OrderEvent) -> Applied:
        """Apply one event; it and everything it causes are stored in one transaction."""
        _ledger.check_event(event)
        with self._unit() as now:
            return _ledger.apply_event(self._core, event, now)

    def apply_many(self, events: Iterable[OrderEvent], batch: int = 500) -> list[Applied]:
        """Apply events in order, `batch` per transaction (fewer commits, same atomicity: a
        transaction holds whole events, each with everything it causes)."""
        expect_int(batch, "batch", minimum=1)
        expect(events, Iterable, "apply_many's events")
        results: list[Applied] = []
        chunk: list[OrderEvent] = []
        for event in events:
            _ledger.check_event(event)
            chunk.append(event)
            if len(chunk) >= batch:
                results += self._apply_chunk(chunk)
                chunk = []
        if chunk:
            results += self._apply_chunk(chunk)
        return results

    def _apply_chunk(self, chunk: list[OrderEvent]) -> list[Applied]:
        with self._unit() as now:
            return [_ledger.apply_event(self._core, event, now) for event in chunk]

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
        with self._unit() as now:
            resolved, _ = self._core.resolve(order_id)
            return _ledger.change_facts(self._core, resolved, true, false, now)

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
        data = _outbox.json_copy(payload)
        name = key if key is not None else _outbox.default_key(self._tables, order_id, action_id, data)
        with self._unit() as now:
            return _outbox.register(self._core, (order_id, action_id, names, data), name, replaces, now)

    def withdraw(self, key: str, reason: str = "withdrawn by the connector") -> Entry:
        """Retract an entry the marketplace no longer wants. One a worker holds (claimed), sent
        or finished cannot be recalled: it is returned unchanged (check its state)."""
        expect_id(key, "an entry's key")
        expect_id(reason, "withdraw's reason")
        with self._unit() as now:
            return _outbox.withdraw(self._core, key, reason, now)

    def expire(self, now: float | None = None, limit: int = 10_000) -> list[Entry]:
        """Drop (as expired) up to `limit` pending or retrying entries registered more than
        `max_age` seconds ago, oldest first (none when `max_age` is None)."""
        expect_int(limit, "expire's limit", minimum=1)
        if now is not None:
            expect_seconds(now, "expire's now")
        if self.max_age is None:
            return []
        with self._unit() as clock:
            return _outbox.expire(self._core, self.max_age, clock if now is None else now, limit)

    def prune(self, older_than: float) -> int:
        """Delete entries done or dropped more than `older_than` seconds ago, and anomalies of
        events dated before then; how many entries. A pruned key is forgotten: registering it
        again makes a new entry (keep `older_than` longer than any retry of a registration)."""
        seconds = expect_seconds(older_than, "prune's older_than")
        with self._unit() as now:
            return self.store.prune(now - seconds)

    # -- claims and leases -----------------------------------------------------------------------

    def claim(self, limit: int = 100, lease: float = 60.0, owner: str | None = None) -> list[Entry]:
        """Take up to `limit` entries to send now, each leased to `owner` for `lease` seconds.

        Looks at entries ready, retries that have come due, and claims whose lease expired
        (a worker that died or hung); decides each again from the order's current status and
        facts (one no longer sendable goes back to pending, or is dropped, and is not
        returned). Atomic across threads and processes: no two workers get one entry while its
        lease holds. Call `sent` (or `result`) for each, or `release` to hand it back.
        """
        expect_int(limit, "claim's limit", minimum=1, maximum=10_000)
        seconds = expect_seconds(lease, "claim's lease", positive=True)
        if seconds < 0.001:
            raise InvalidArgumentError(f"claim's lease must be at least 0.001 s, not {lease!r}")
        holder = self.owner if owner is None else owner
        expect_id(holder, "claim's owner")
        with self._unit() as now:
            return _claims.claim(self._core, limit, holder, now, now + seconds)

    def sent(self, key: str, owner: str | None = None) -> Entry:
        """A claimed entry was put on the wire: it awaits VTEX's answer (`result`), or the order
        reaching the action's goal. With `owner`, raises `LeaseLostError` unless that worker
        still holds the claim. Saying it twice is harmless."""
        expect_id(key, "an entry's key")
        with self._unit() as now:
            return _claims.sent(self._core, key, owner, now)

    def release(self, key: str, owner: str | None = None) -> Entry:
        """Hand a claimed entry back unsent (a graceful stop): it is claimable again at once."""
        expect_id(key, "an entry's key")
        with self._unit() as now:
            return _claims.release(self._core, key, owner, now)

    def sent_many(
        self, keys: Sequence[str], owner: str | None = None
    ) -> list[Entry | LeaseLostError | UnknownUpdateError]:
        """`sent` for a batch of claimed entries in one transaction and one write (a dispatcher
        marks a claimed batch sent before its requests go out): each entry as it is now, or the
        `LeaseLostError` or `UnknownUpdateError` its key met, in the order given (the others are
        marked all the same)."""
        names = self._keys(keys, "sent_many")
        with self._unit() as now:
            return _claims.sent_many(self._core, names, owner, now)

    def release_many(
        self, keys: Sequence[str], owner: str | None = None
    ) -> list[Entry | LeaseLostError | UnknownUpdateError]:
        """`release` for a batch of claimed entries in one transaction (as `sent_many`)."""
        names = self._keys(keys, "release_many")
        with self._unit() as now:
            return _claims.release_many(self._core, names, owner, now)

    @staticmethod
    def _keys(keys: object, what: str) -> list[str]:
        if isinstance(keys, str) or not isinstance(keys, Sequence):
            raise InvalidArgumentError(f"{what}'s keys must be a sequence of entry keys, not {keys!r}")
        for key in keys:
            expect_id(key, "an entry's key")
        return list(keys)

    # -- VTEX's answers and id links -------------------------------------------------------------

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
        with self._unit() as now:
            return _results.result(self._core, key, advice, owner, now)

    def results(
        self, answers: Sequence[tuple[str, Advice]], owner: str | None = None
    ) -> list[Entry | LeaseLostError | UnknownUpdateError]:
        """`result` for several answers in one transaction (a dispatcher records the answers of a
        batch together): each entry as it is now, or the `LeaseLostError` (another worker holds
        it) or `UnknownUpdateError` its answer met, in the order given; the others are recorded
        all the same. Any other error (the store's) rolls the whole batch back."""
        if isinstance(answers, str) or not isinstance(answers, Sequence):
            raise InvalidArgumentError(
                f"results's answers must be a sequence of (key, Advice), not {answers!r}"
            )
        for pair in answers:
            if not (isinstance(pair, tuple) and len(pair) == 2):
                raise InvalidArgumentError(f"results's answers are (key, Advice) pairs, not {pair!r}")
            expect_id(pair[0], "an entry's key")
            expect(pair[1], Advice, "results's advice")
        if owner is not None:
            expect_id(owner, "results's owner")
        recorded: dict[int, Entry | LeaseLostError | UnknownUpdateError] = {}
        with self._unit() as now:
            # Each answer locks its order: taken in one order (by order id) by every batch, so
            # that two batches of the same orders never wait for each other (no deadlock).
            for index in _results.lock_order(self._core, [key for key, _ in answers]):
                key, advice = answers[index]
                try:
                    recorded[index] = _results.result(self._core, key, advice, owner, now)
                except (LeaseLostError, UnknownUpdateError) as error:
                    recorded[index] = error
        return [recorded[index] for index in range(len(answers))]

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
        action = self._tables.operations.get(advice.operation)
        if marketplace_id is None or action is None:
            return None
        expect_id(marketplace_id, "the notification's marketplaceOrderId")
        with self._unit() as now:
            return _results.notify(self._core, advice, marketplace_id, action, now)

    def done(self, key: str, reason: str = "VTEX accepted it") -> Entry:
        """VTEX accepted an update whose answer is not a Channel Order notification: an Orders
        API call (invoice, tracking, cancel, start handling, return invoice) answered 2xx. The
        entry is done, and a self-loop's facts are recorded (a return invoice). An entry
        already done or dropped is returned unchanged."""
        expect_id(key, "an entry's key")
        expect_id(reason, "done's reason")
        with self._unit() as now:
            current, snapshot = _results.answerable(self._core, key)
            if current.state in (EntryState.DONE, EntryState.DROPPED):
                return current
            return _results.done(self._core, current, snapshot, reason, now)

    def link(self, marketplace_id: str, order_id: str) -> list[Entry]:
        """VTEX's orderId for a marketplace order (SOI001's ``mainOrderId``; `result` and
        `notify` call it for you). The updates registered under the marketplace id move to
        VTEX's id, with the facts recorded there, and are decided again (returned). From now
        on either id names the order in `register`, `decide`, `record_facts` and the readers.
        Linking a pair again changes nothing; another pair with either id raises
        `InvalidArgumentError`."""
        expect_id(marketplace_id, "the marketplace order id")
        expect_id(order_id, "VTEX's order id")
        with self._unit() as now:
            return _links.link(self._core, marketplace_id, order_id, now)

    def _now(self) -> float:
        now = self.clock()
        if isinstance(now, bool) or not isinstance(now, int | float) or not math.isfinite(now):
            raise InvalidArgumentError(f"Tracker's clock must return finite seconds, not {now!r}")
        return float(now)
