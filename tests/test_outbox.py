"""The outbox's behaviour suite: every store (the `make_store` fixture: memory, SQLite, and
PostgreSQL when configured) must pass every test here, unchanged.

Each test names the reproduction it guards (the durable-outbox issue): stranded entries, lost
results, stale decisions, double sends, bad events, slow listings, faults half-applied.
"""

from __future__ import annotations

import random
import runpy
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conftest import orders_api_advice
from vtex_order_flow import Advice, FollowUp, bundled_model, interpret_notification
from vtex_order_flow.errors import (
    InvalidArgumentError,
    LeaseLostError,
    UnknownUpdateError,
    VtexOrderFlowError,
)
from vtex_order_flow.tracking import (
    SCHEMA_VERSION,
    DropClass,
    Entry,
    EntryState,
    MemoryStore,
    OrderEvent,
    PostgresStore,
    RetryPolicy,
    SQLiteStore,
    Store,
    Tracker,
    parse_ticks,
)
from vtex_order_flow.tracking.stores import Changes
from vtex_order_flow.tracking.stores._protocol import RowStore

VTEX = bundled_model()
KIT: dict[str, Any] = runpy.run_path(str(Path(__file__).with_name("outbox_worker.py")))
T0 = parse_ticks("2026-01-05T10:00:00Z")
SECOND = 10_000_000
MakeStore = Callable[[], RowStore]  # (every store: the tests also reach its row members)


def ev(order: str, state: str, at: int) -> OrderEvent:
    return OrderEvent(order, state, T0 + at * SECOND)


@dataclass
class Clock:
    """A clock the test moves: seconds since the epoch, starting just after T0."""

    now: float = T0 / SECOND + 3600

    def __call__(self) -> float:
        return self.now


def _behind_its_back(tracker: Tracker, order_id: str, status: str, changed_at: int) -> None:
    """Record a status without the tracker (another process did): a write of the store's own."""
    with tracker.store.transaction():
        tracker.store.write(Changes(records={order_id: (status, changed_at)}))


def tracker_on(store: Store, clock: Clock | None = None, **options: Any) -> Tracker:
    return Tracker(store=store, clock=clock or Clock(), **options)


def advice(code: str, flow: str = "ApproveOrder", success: bool = False) -> Advice:
    return interpret_notification({"code": code, "flow": flow, "success": success})


def orders_api(code: str) -> Advice:
    """An Orders API answer (no Channel Order envelope), as the client builds its Advice."""
    return orders_api_advice(code)  # type: ignore[no-any-return]


# -- events ----------------------------------------------------------------------------------------


def test_duplicates_are_applied_once_and_older_events_never_move_back(make_store: MakeStore) -> None:
    tracker = tracker_on(make_store())
    assert tracker.apply(ev("A", "window-to-cancel", 0)).outcome == "first"
    assert tracker.apply(ev("A", "window-to-cancel", 0)).outcome == "duplicate"
    assert tracker.apply(ev("A", "ready-for-handling", 10)).outcome == "moved"
    assert tracker.apply(ev("A", "window-to-cancel", 5)).outcome == "stale"
    assert tracker.record("A").status == "ready-for-handling"  # type: ignore[union-attr]
    assert tracker.applied == 2


def test_anomalies_are_applied_and_recorded(make_store: MakeStore) -> None:
    tracker = tracker_on(make_store())
    tracker.apply(ev("K9", "canceled", 0))
    assert tracker.apply(ev("K9", "cancel", 1)).anomaly.kind == "from-terminal"  # type: ignore[union-attr]
    tracker.apply(ev("B", "handling", 0))
    assert tracker.apply(ev("B", "waiting-ffmt-authorization", 1)).anomaly.kind == "unreachable"  # type: ignore[union-attr]
    assert tracker.apply(ev("C", "brand-new-status", 0)).anomaly.kind == "unknown-status"  # type: ignore[union-attr]
    assert tracker.apply(ev("D", "payment-pending", 0)).anomaly.kind == "not-in-flow"  # type: ignore[union-attr]
    assert [(a.order_id, a.kind) for a in tracker.anomalies()] == [
        ("K9", "from-terminal"),
        ("B", "unreachable"),
        ("C", "unknown-status"),
        ("D", "not-in-flow"),
    ]


def test_aliases_are_recorded_as_the_canonical_status(make_store: MakeStore) -> None:
    tracker = tracker_on(make_store())
    tracker.apply(ev("A", "handling", 0))
    applied = tracker.apply(ev("A", "cancelation-request", 1))  # VTEX's other spelling
    assert applied.anomaly is None
    assert tracker.record("A").status == "cancellation-requested"  # type: ignore[union-attr]


def test_a_far_future_event_is_an_anomaly_and_never_freezes_the_order(make_store: MakeStore) -> None:
    clock = Clock()
    tracker = tracker_on(make_store(), clock)
    tracker.apply(ev("A", "window-to-cancel", 0))
    year_2099 = OrderEvent("A", "canceled", parse_ticks("2099-01-01T00:00:00Z"))
    refused = tracker.apply(year_2099)
    assert (refused.outcome, refused.anomaly.kind) == ("future", "future-time")  # type: ignore[union-attr]
    assert tracker.record("A").status == "window-to-cancel"  # type: ignore[union-attr]
    assert tracker.apply(ev("A", "ready-for-handling", 60)).outcome == "moved"  # later real events apply


def test_moves_record_the_facts_their_transition_sets(make_store: MakeStore) -> None:
    # invoice -> handling is a partial invoice: the order carries partial-invoice, so a later
    # cancel is never judged sendable (VTEX would answer 400).
    tracker = tracker_on(make_store())
    tracker.apply(ev("A", "handling", 0))
    tracker.apply(ev("A", "invoice", 1))
    tracker.apply(ev("A", "handling", 2))
    assert {"partial-invoice", "invoice-exists"} <= tracker.facts("A")
    cancel = tracker.register("A", "cancel")
    assert (cancel.state, cancel.drop) == (EntryState.DROPPED, DropClass.IMPOSSIBLE)
    tracker.apply(ev("A", "invoice", 3))
    tracker.apply(ev("A", "invoiced", 4))  # the full invoice clears partial-invoice
    assert "partial-invoice" not in tracker.facts("A")


# -- registration -----------------------------------------------------------------------------------


def test_an_entry_per_update_with_the_callers_key(make_store: MakeStore) -> None:
    tracker = tracker_on(make_store())
    tracker.apply(ev("A", "handling", 0))
    first = tracker.register("A", "invoice", key="inv-1", payload={"invoiceNumber": "1", "invoiceValue": 500})
    second = tracker.register(
        "A", "invoice", key="inv-2", payload={"invoiceNumber": "2", "invoiceValue": 700}
    )
    assert (first.key, second.key) == ("inv-1", "inv-2")
    again = tracker.register("A", "invoice", key="inv-1", payload={"invoiceNumber": "1", "invoiceValue": 500})
    assert again == first  # the same key is the same entry
    assert len(tracker.entries()) == 2
    assert tracker.entry("inv-2").payload == {"invoiceNumber": "2", "invoiceValue": 700}  # type: ignore[union-attr]
    with pytest.raises(InvalidArgumentError, match="inv-1"):
        tracker.register("B", "invoice", key="inv-1")
    with pytest.raises(InvalidArgumentError, match="JSON"):
        tracker.register("A", "invoice", key="inv-3", payload={"value": float("nan")})


def test_the_payload_is_a_copy(make_store: MakeStore) -> None:
    tracker = tracker_on(make_store())
    payload: dict[str, Any] = {"items": [1]}
    registered = tracker.register("A", "invoice", payload=payload)
    payload["items"].append(2)
    assert tracker.entry(registered.key).payload == {"items": [1]}  # type: ignore[union-attr]


def test_reregistering_with_new_facts_decides_again(make_store: MakeStore) -> None:
    # Stale decisions: a ready cancel re-registered with a partial invoice must not stay ready.
    tracker = tracker_on(make_store())
    tracker.apply(ev("A", "handling", 0))
    assert tracker.register("A", "cancel").state is EntryState.READY
    again = tracker.register("A", "cancel", {"partial-invoice": True})
    assert (again.state, again.drop) == (EntryState.DROPPED, DropClass.IMPOSSIBLE)


def test_asking_again_while_in_flight_answers_on_its_way(make_store: MakeStore) -> None:
    # The marketplace repeats "paid"; VTEX queued the approve (SOI003) and the status has not
    # changed yet: asking again must not say send again.
    tracker = tracker_on(make_store())
    tracker.apply(ev("A", "waiting-ffmt-authorization", 0))
    tracker.register("A", "approve", key="paid-event-1")
    (claimed,) = tracker.claim(10, 30, owner="w1")
    tracker.result(claimed.key, advice("SOI003", success=True))
    for repeat in ("paid-event-2", "paid-event-3"):
        answer = tracker.register("A", "approve", key=repeat)
        assert (answer.key, answer.state) == ("paid-event-1", EntryState.SENT)
    assert tracker.claim(10, 30) == []
    assert [e.key for e in tracker.in_flight("A")] == ["paid-event-1"]
    done = tracker.apply(ev("A", "ready-for-handling", 1))  # VTEX processed it
    assert [(e.key, e.state) for e in done.done] == [("paid-event-1", EntryState.DONE)]
    after = tracker.register("A", "approve", key="paid-event-4")  # once done, a repeat is already done
    assert (after.state, after.drop) == (EntryState.DROPPED, DropClass.ALREADY_DONE)


def test_withdraw_and_supersede(make_store: MakeStore) -> None:
    tracker = tracker_on(make_store())
    tracker.apply(ev("A", "invoiced", 0))
    old = tracker.register("A", "tracking", key="trk-1", payload={"trackingNumber": "X1"})
    new = tracker.register("A", "tracking", key="trk-2", payload={"trackingNumber": "X2"}, replaces="trk-1")
    assert new.state is EntryState.READY
    replaced = tracker.entry(old.key)
    assert (replaced.state, replaced.drop) == (EntryState.DROPPED, DropClass.SUPERSEDED)  # type: ignore[union-attr]
    withdrawn = tracker.withdraw("trk-2")
    assert (withdrawn.state, withdrawn.drop) == (EntryState.DROPPED, DropClass.WITHDRAWN)
    assert tracker.claim(10, 30) == []
    with pytest.raises(UnknownUpdateError, match="nope"):
        tracker.withdraw("nope")


def test_bad_arguments_are_typed_errors(make_store: MakeStore) -> None:
    tracker = tracker_on(make_store())
    for call in (
        lambda: tracker.claim(0, 30),
        lambda: tracker.claim(True, 30),
        lambda: tracker.claim(10, 0),
        lambda: tracker.claim(10, float("nan")),
        lambda: tracker.claim(10, 1e-9),
        lambda: tracker.claim(10, 30, owner=""),
        lambda: tracker.register("", "approve"),
        lambda: tracker.register("A", "approve", key=""),
        lambda: tracker.prune(-1),
        lambda: tracker.sent(None),  # type: ignore[arg-type]
    ):
        with pytest.raises(InvalidArgumentError):
            call()


# -- claims -----------------------------------------------------------------------------------------


def test_the_life_of_an_entry(make_store: MakeStore) -> None:
    tracker = tracker_on(make_store())
    pending = tracker.register("A", "approve")
    assert (pending.state, pending.reason) == (EntryState.PENDING, "waiting for the order's first event")
    assert tracker.claim(10, 30) == []
    tracker.apply(ev("A", "waiting-for-manual-authorization", 0))
    assert tracker.entry("A:approve").state is EntryState.PENDING  # type: ignore[union-attr]
    moved = tracker.apply(ev("A", "waiting-ffmt-authorization", 1))
    assert [(e.key, e.state) for e in moved.ready] == [("A:approve", EntryState.READY)]
    (claimed,) = tracker.claim(10, 30, owner="w1")
    assert (claimed.state, claimed.owner, claimed.claims) == (EntryState.CLAIMED, "w1", 1)
    assert tracker.sent(claimed.key, owner="w1").state is EntryState.SENT
    assert tracker.sent(claimed.key, owner="w1").state is EntryState.SENT  # twice is harmless
    done = tracker.result(claimed.key, advice("SOI002", success=True))
    assert done.state is EntryState.DONE
    assert tracker.counts()["done"] == 1


def test_no_two_workers_get_one_entry_while_its_lease_holds(make_store: MakeStore) -> None:
    clock = Clock()
    store = make_store()
    tracker = tracker_on(store, clock)
    for n in range(30):
        tracker.apply(ev(f"O{n}", "ready-for-handling", 0))
        tracker.register(f"O{n}", "start-handling")
    first = tracker.claim(20, 60, owner="w1")
    second = tracker.claim(20, 60, owner="w2")
    assert len(first) == 20
    assert len(second) == 10
    assert not {e.key for e in first} & {e.key for e in second}
    assert tracker.claim(20, 60, owner="w3") == []
    clock.now += 61  # w1 and w2 died: their leases expire
    third = tracker.claim(100, 60, owner="w3")
    assert sorted(e.key for e in third) == sorted(e.key for e in first + second)
    assert all(e.claims == 2 for e in third)
    with pytest.raises(LeaseLostError, match="w3"):
        tracker.sent(first[0].key, owner="w1")  # w1 woke up: it no longer holds it
    assert tracker.sent(first[0].key, owner="w3").state is EntryState.SENT


def test_release_hands_a_claim_back(make_store: MakeStore) -> None:
    tracker = tracker_on(make_store())
    tracker.apply(ev("A", "ready-for-handling", 0))
    tracker.register("A", "start-handling")
    (claimed,) = tracker.claim(1, 30, owner="w1")
    with pytest.raises(LeaseLostError):
        tracker.release(claimed.key, owner="w2")
    assert tracker.release(claimed.key, owner="w1").state is EntryState.READY
    assert [e.key for e in tracker.claim(1, 30, owner="w2")] == [claimed.key]


def test_every_claim_decides_again(make_store: MakeStore) -> None:
    # A retry that comes due after the order was canceled is dropped, not released.
    clock = Clock()
    tracker = tracker_on(make_store(), clock, retry=RetryPolicy(base=10, rng=random.Random(1)))
    tracker.apply(ev("A", "waiting-ffmt-authorization", 0))
    tracker.register("A", "approve")
    (claimed,) = tracker.claim(1, 30)
    retry = tracker.result(claimed.key, advice("EOI006"))
    assert retry.state is EntryState.RETRY
    assert retry.retry_at is not None
    tracker.apply(ev("A", "canceled", 1))  # an event drops a retry that can never succeed
    assert tracker.entry("A:approve").state is EntryState.DROPPED  # type: ignore[union-attr]
    # ... and so does a claim, when the store learned it in a way no event re-decided
    tracker.apply(ev("B", "waiting-ffmt-authorization", 0))
    tracker.register("B", "approve")
    (b,) = tracker.claim(1, 30)
    tracker.result(b.key, advice("EOI006"))
    _behind_its_back(tracker, "B", "canceled", T0 + 5 * SECOND)  # (a second process, say)
    clock.now += 3600
    assert tracker.claim(10, 30) == []
    dropped = tracker.entry("B:approve")
    assert (dropped.state, dropped.drop) == (EntryState.DROPPED, DropClass.IMPOSSIBLE)  # type: ignore[union-attr]


def test_retries_back_off_then_give_up(make_store: MakeStore) -> None:
    clock = Clock()
    policy = RetryPolicy(base=10, factor=2, max_delay=100, max_attempts=3, rng=random.Random(7))
    tracker = tracker_on(make_store(), clock, retry=policy)
    tracker.apply(ev("A", "waiting-ffmt-authorization", 0))
    tracker.register("A", "approve")
    for attempt in (1, 2, 3):
        (claimed,) = tracker.claim(1, 30)
        retry = tracker.result(claimed.key, advice("EOI006"))
        assert (retry.state, retry.attempts) == (EntryState.RETRY, attempt)
        wait = retry.retry_at - clock.now  # type: ignore[operator]
        ceiling = min(100, 10 * 2 ** (attempt - 1))
        assert ceiling / 2 <= wait <= ceiling
        assert tracker.claim(1, 30) == []  # not yet
        clock.now += wait
    (claimed,) = tracker.claim(1, 30)
    gave_up = tracker.result(claimed.key, advice("EOI006"))
    assert (gave_up.state, gave_up.drop) == (EntryState.DROPPED, DropClass.GAVE_UP)


def test_a_late_not_now_answer_when_the_order_already_accepts_is_retried(make_store: MakeStore) -> None:
    # EOI011 ("not in this status") arrives after the order reached a status that accepts the
    # approve: the entry must come back (with backoff), not wait for a change that came already.
    clock = Clock()
    tracker = tracker_on(make_store(), clock, retry=RetryPolicy(base=10, rng=random.Random(2)))
    tracker.apply(ev("A", "waiting-ffmt-authorization", 0))
    tracker.register("A", "approve")
    (claimed,) = tracker.claim(1, 30)
    tracker.sent(claimed.key)
    late = tracker.result(claimed.key, advice("EOI011"))
    assert late.state is EntryState.RETRY
    clock.now += 3600
    assert [e.key for e in tracker.claim(1, 30)] == ["A:approve"]


def test_not_in_this_status_waits_or_drops_as_the_known_status_says(make_store: MakeStore) -> None:
    tracker = tracker_on(make_store())
    tracker.apply(ev("B", "waiting-ffmt-authorization", 0))
    tracker.apply(ev("C", "waiting-for-manual-authorization", 0))
    tracker.register("C", "approve")
    tracker.apply(ev("C", "waiting-ffmt-authorization", 1))
    (c,) = tracker.claim(1, 30)
    _behind_its_back(tracker, "C", "waiting-for-manual-authorization", T0 + 2 * SECOND)
    waiting = tracker.result(c.key, orders_api("OMS003"))
    assert waiting.state is EntryState.PENDING
    assert waiting.reason.startswith("OMS003: ")
    tracker.apply(ev("D", "ready-for-handling", 0))
    tracker.register("D", "start-handling")
    (d,) = tracker.claim(1, 30)
    tracker.apply(ev("D", "canceled", 1))  # the order moved past it meanwhile
    assert tracker.result(d.key, orders_api("OMS003")).state is EntryState.DROPPED


def test_answers_that_need_a_person_or_refuse_for_good_are_given_up(make_store: MakeStore) -> None:
    tracker = tracker_on(make_store())
    tracker.apply(ev("A", "waiting-ffmt-authorization", 0))
    tracker.register("A", "approve")
    (a,) = tracker.claim(1, 30)
    gave_up = tracker.result(a.key, advice("EOI009"))
    assert (gave_up.state, gave_up.drop) == (EntryState.DROPPED, DropClass.GAVE_UP)
    assert (
        tracker.result(a.key, advice("SOI002", success=True)).state is EntryState.DROPPED
    )  # late: no change
    with pytest.raises(UnknownUpdateError):
        tracker.result("nope", advice("SOI002", success=True))


def test_a_return_invoice_done_readies_the_cancel_waiting_for_it(make_store: MakeStore) -> None:
    # A return invoice is a self-loop: no status changes, but the order now carries
    # return-invoice-registered, and the deferred cancel is decided again.
    tracker = tracker_on(make_store())
    tracker.apply(ev("A", "invoiced", 0))
    assert tracker.register("A", "cancel").state is EntryState.PENDING
    tracker.register("A", "return-invoice", payload={"type": "Input", "invoiceNumber": "R1"})
    (returned,) = tracker.claim(10, 30)
    assert returned.action == "return-invoice"
    tracker.result(returned.key, _done_advice())
    assert "return-invoice-registered" in tracker.facts("A")
    assert tracker.entry("A:cancel").state is EntryState.READY  # type: ignore[union-attr]


def _done_advice() -> Advice:
    return orders_api_advice()  # type: ignore[no-any-return]


def test_recorded_facts_decide_the_orders_entries_again(make_store: MakeStore) -> None:
    tracker = tracker_on(make_store())
    tracker.apply(ev("A", "invoiced", 0))
    tracker.register("A", "cancel")
    (changed,) = tracker.record_facts("A", {"return-invoice-registered": True})
    assert (changed.key, changed.state) == ("A:cancel", EntryState.READY)
    assert tracker.record_facts("A", {"return-invoice-registered": True}) == []  # no change, no work
    tracker.record_facts("A", {"return-invoice-registered": False})
    assert tracker.entry("A:cancel").state is EntryState.PENDING  # type: ignore[union-attr]


# -- housekeeping -----------------------------------------------------------------------------------


def test_expire_and_prune(make_store: MakeStore) -> None:
    clock = Clock()
    tracker = tracker_on(make_store(), clock, max_age=100)
    tracker.apply(ev("A", "ready-for-handling", 0))
    tracker.register("A", "start-handling")
    (a,) = tracker.claim(1, 30)
    tracker.result(a.key, _done_advice())
    tracker.register("B", "approve")  # never an event
    clock.now += 50
    assert tracker.expire() == []
    clock.now += 51
    (expired,) = tracker.expire()
    assert (expired.key, expired.state, expired.drop) == ("B:approve", EntryState.DROPPED, DropClass.EXPIRED)
    tracker.register("C", "approve")  # open: never pruned
    assert tracker.prune(older_than=1000) == 0
    clock.now += 2000
    assert tracker.prune(older_than=1000) == 2
    assert [e.key for e in tracker.entries()] == ["C:approve"]


def test_stores_and_trackers_are_context_managers(make_store: MakeStore) -> None:
    store = make_store()
    with store as inside:  # type: ignore[attr-defined]
        assert inside is store
    with Tracker(store=MemoryStore()) as tracker:
        tracker.register("A", "approve")


# -- faults -----------------------------------------------------------------------------------------


class Faulty:
    """Wraps a store; the `fail_at`-th call of `method` raises (the middle of an event).

    `write` and `claim_snapshot` fail after the store did the work (the writes made, the rows
    and locks taken), before the commit. Any other method is a step inside the store's own
    domain operations (the memory and SQLite stores build them from their row members): it is
    replaced on the store object itself while the wrapper is in use (`with`), so that the
    store's own `write` meets the failure half way."""

    def __init__(self, inner: Store, method: str, fail_at: int) -> None:
        self.inner, self.method, self.fail_at, self.calls = inner, method, fail_at, 0

    def _failing(self, found: Callable[..., Any], *, after: bool) -> Callable[..., Any]:
        def wrapped(*args: Any, **kwargs: Any) -> Any:
            self.calls += 1
            if self.calls != self.fail_at:
                return found(*args, **kwargs)
            if after:
                found(*args, **kwargs)
            raise OSError(f"injected failure in {self.method}")

        return wrapped

    def __enter__(self) -> Faulty:
        if self.method not in _OPERATIONS:
            setattr(self.inner, self.method, self._failing(getattr(self.inner, self.method), after=False))
        return self

    def __exit__(self, *exc: object) -> None:
        self.inner.__dict__.pop(self.method, None)

    def __getattr__(self, name: str) -> Any:
        found = getattr(self.inner, name)
        return self._failing(found, after=True) if name == self.method and name in _OPERATIONS else found


_OPERATIONS = ("write", "claim_snapshot", "snapshot")
_PIPELINED = (PostgresStore,)
_ROW_STEPS = ("save_entries", "save_facts", "add_anomaly", "save_record", "load_orders", "claimable")


def _reaches(store: Store, method: str) -> None:
    """Skip a row step on a store whose operations do not run through its row members (PostgreSQL:
    one pipeline each, failed as a whole by `write`/`claim_snapshot`)."""
    if method in _ROW_STEPS and isinstance(store, _PIPELINED):
        pytest.skip(f"{type(store).__name__} writes in one pipeline: no {method} step to fail")


def snapshot(tracker: Tracker) -> tuple[Any, ...]:
    return (
        tracker.records(),
        tracker.entries(),
        tracker.anomalies(),
        tracker.applied,
        {o: tracker.facts(o) for o in ("A", "B")},
    )


@pytest.mark.parametrize(
    ("method", "fail_at"),
    [
        ("save_entries", 1),
        ("save_facts", 1),
        ("add_anomaly", 1),
        ("save_record", 1),
        ("write", 1),
        ("snapshot", 1),
    ],
)
def test_a_store_failing_in_the_middle_of_an_event_leaves_nothing_of_it(
    make_store: MakeStore, method: str, fail_at: int
) -> None:
    clock = Clock()
    store = make_store()
    _reaches(store, method)
    tracker = tracker_on(store, clock)
    tracker.apply(ev("A", "handling", 0))
    tracker.apply(ev("A", "invoice", 1))
    tracker.register("A", "tracking", key="t1")
    tracker.register("A", "cancel", key="c1")
    tracker.register("A", "invoice", {"partial-invoice": True}, key="i1")
    before = snapshot(tracker)
    # invoice -> handling: a move that sets facts and decides three entries again; plus an
    # unreachable move for an anomaly.
    event = ev("A", "handling", 2) if method != "add_anomaly" else ev("A", "waiting-ffmt-authorization", 2)
    with Faulty(store, method, fail_at) as failing, pytest.raises(OSError, match="injected"):
        Tracker(store=failing, clock=clock).apply(event)
    assert snapshot(tracker) == before
    assert tracker.apply(event).outcome in {"first", "moved"}  # and the event applies cleanly afterwards


@pytest.mark.parametrize("method", ["save_entries", "load_orders", "claimable", "write", "claim_snapshot"])
def test_a_store_failing_in_the_middle_of_a_claim_claims_nothing(make_store: MakeStore, method: str) -> None:
    store = make_store()
    _reaches(store, method)
    tracker = tracker_on(store)
    for n in range(5):
        tracker.apply(ev(f"O{n}", "ready-for-handling", 0))
        tracker.register(f"O{n}", "start-handling")
    before = tracker.entries(), tracker.store.counter("seq")
    with Faulty(store, method, 1) as failing, pytest.raises(OSError, match="injected"):
        Tracker(store=failing, clock=tracker.clock).claim(5, 30)
    assert (tracker.entries(), tracker.store.counter("seq")) == before
    assert len(tracker.claim(5, 30)) == 5


# -- concurrency: threads (every store) ---------------------------------------------------------------


def _walks(orders: int, seed: int) -> tuple[list[OrderEvent], list[tuple[str, str]]]:
    """Each order's walk as events, duplicated and shuffled; and the updates wanted (the
    multi-process workers' history: tests/outbox_worker.py)."""
    history: Callable[[int, int], tuple[list[OrderEvent], list[tuple[str, str]]]] = KIT["history"]
    return history(orders, seed)


def run_workers(trackers: list[Tracker], orders: int, seed: int) -> dict[str, int]:
    """Each tracker in its own thread registers a share of the updates, applies a share of the
    events and claims (then marks sent) what is ready, all at once; how many times each key was
    claimed."""
    events, wanted = _walks(orders, seed)
    claimed: dict[str, int] = {}
    lock = threading.Lock()
    errors: list[BaseException] = []

    def work(index: int, tracker: Tracker) -> None:
        try:
            mine_events = events[index :: len(trackers)]
            mine_wanted = wanted[index :: len(trackers)]
            for step in range(max(len(mine_events), len(mine_wanted))):
                if step < len(mine_wanted):
                    tracker.register(*mine_wanted[step])
                if step < len(mine_events):
                    tracker.apply(mine_events[step])
                if step % 5 == 0:
                    take(tracker)
            take(tracker)
        except BaseException as error:  # pragma: no cover - reported below
            errors.append(error)

    def take(tracker: Tracker) -> None:
        for entry in tracker.claim(50, 3600, owner=threading.current_thread().name):
            with lock:
                claimed[entry.key] = claimed.get(entry.key, 0) + 1
            tracker.sent(entry.key, owner=entry.owner)

    threads = [threading.Thread(target=work, args=(i, t), name=f"w{i}") for i, t in enumerate(trackers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not errors, errors
    for tracker in trackers:  # the last claims, once every event is in
        take(tracker)
    return claimed


def check_outcome(tracker: Tracker, claimed: dict[str, int], orders: int, seed: int) -> None:
    events, _ = _walks(orders, seed)
    reference = Tracker(clock=tracker.clock)
    reference.apply_many(sorted(set(events), key=lambda e: (e.changed_at, e.state)))
    assert [(r.order_id, r.status) for r in tracker.records()] == [
        (r.order_id, r.status) for r in reference.records()
    ]
    assert all(count == 1 for count in claimed.values()), {k: v for k, v in claimed.items() if v > 1}
    unclaimed = set()
    for entry in tracker.entries():
        assert entry.state is not EntryState.CLAIMED, entry
        if entry.state is EntryState.READY and not tracker.in_flight(entry.order_id):
            # not held back behind another update of its order on its way (the workers never
            # answer): readied after the workers' last claim, so the next claim takes it
            unclaimed.add(entry.key)
        if entry.state is EntryState.PENDING:  # left pending only where the model says wait
            status = tracker.record(entry.order_id).status  # type: ignore[union-attr]
            assert (
                VTEX.decide(status, entry.action, facts=tracker.facts(entry.order_id)).verdict.value
                == "defer"
            )
    # every claim was sent; those whose goal the order reached since are done
    assert set(claimed) == {e.key for e in tracker.entries(EntryState.SENT, EntryState.DONE)}
    if unclaimed:
        assert unclaimed <= {e.key for e in tracker.claim(10_000, 60)}  # never stranded


def test_threads_each_with_their_own_tracker_on_one_store(make_store: MakeStore) -> None:
    store = make_store()
    clock = Clock()
    if isinstance(store, SQLiteStore):  # a tracker and a connection per thread, one file
        path = store.path
        trackers = [Tracker(store=SQLiteStore(path), clock=clock) for _ in range(4)]
    else:  # one store object shared: its trackers share its lock through one tracker
        shared = Tracker(store=store, clock=clock)
        trackers = [shared] * 4
    try:
        claimed = run_workers(trackers, orders=120, seed=11)
        check_outcome(trackers[0], claimed, orders=120, seed=11)
    finally:
        for tracker in trackers:
            if tracker.store is not store:
                tracker.close()


@pytest.fixture
def sqlite_path(tmp_path: Any) -> str:
    return str(tmp_path / "shared.db")


def test_an_entry_registered_through_one_store_is_decided_by_the_other(sqlite_path: str) -> None:
    # Stranded across processes: the other store's events must see entries it did not register.
    with SQLiteStore(sqlite_path) as one, SQLiteStore(sqlite_path) as other:
        registering, applying = Tracker(store=one, clock=Clock()), Tracker(store=other, clock=Clock())
        for n in range(200):
            registering.register(f"O{n}", "start-handling")
        for n in range(200):
            applying.apply(ev(f"O{n}", "ready-for-handling", 0))
        assert len(registering.claim(500, 30)) == 200


def test_an_old_schema_is_upgraded(sqlite_path: str) -> None:
    import sqlite3

    with sqlite3.connect(sqlite_path) as con:
        con.executescript(
            """
            CREATE TABLE records (order_id TEXT PRIMARY KEY, status TEXT NOT NULL,
                changed_at INTEGER NOT NULL);
            CREATE TABLE deferred (order_id TEXT NOT NULL, action TEXT NOT NULL, facts TEXT NOT NULL,
                state TEXT NOT NULL, registered_at REAL, reason TEXT NOT NULL, status TEXT,
                attempts INTEGER NOT NULL, retry_at REAL, seq INTEGER NOT NULL,
                PRIMARY KEY (order_id, action));
            INSERT INTO records VALUES ('A', 'ready-for-handling', 0);
            INSERT INTO deferred VALUES
                ('A', 'start-handling', '[]', 'ready', 5.0, 'r', 'ready-for-handling', 0, NULL, 1),
                ('A', 'approve', '[]', 'sent', 5.0, 'sent', 'ready-for-handling', 0, NULL, 2);
            """
        )
    with SQLiteStore(sqlite_path) as store:
        assert store.schema_version == SCHEMA_VERSION == 3
        tracker = Tracker(store=store, clock=Clock())
        assert tracker.entry("A:approve").state is EntryState.DONE  # type: ignore[union-attr]
        assert [e.key for e in tracker.claim(10, 30)] == ["A:start-handling"]
        tracker.register("B", "approve")  # the sequence goes on from the old file's
        assert [e.key for e in tracker.entries()][-1] == "B:approve"
    with SQLiteStore(sqlite_path) as again:  # opening an upgraded file again changes nothing
        assert again.schema_version == SCHEMA_VERSION
    import sqlite3

    with sqlite3.connect(sqlite_path) as con:
        con.execute("UPDATE meta SET value = 'abc' WHERE name = 'schema_version'")
    from vtex_order_flow.errors import StoreError

    with pytest.raises(StoreError, match="abc"):
        SQLiteStore(sqlite_path)


# -- regressions from the adversarial review ----------------------------------------------------------


def test_a_late_answer_from_an_expired_worker_never_moves_the_new_claim(make_store: MakeStore) -> None:
    clock = Clock()
    tracker = tracker_on(make_store(), clock, retry=RetryPolicy(base=0))
    tracker.apply(ev("A", "ready-for-handling", 0))
    tracker.register("A", "start-handling")
    (a,) = tracker.claim(1, 10, owner="A")
    clock.now += 11
    (b,) = tracker.claim(1, 10, owner="B")
    with pytest.raises(LeaseLostError, match="by B"):
        tracker.result(a.key, advice("EOI006"), owner="A")
    assert tracker.claim(1, 10, owner="C") == []  # B's lease holds
    assert tracker.sent(b.key, owner="B").state is EntryState.SENT


def test_trackers_sharing_one_store_object_claim_each_entry_once(make_store: MakeStore) -> None:
    store = make_store()
    trackers = [Tracker(store=store, clock=Clock()) for _ in range(4)]
    claimed = run_workers(trackers, orders=120, seed=5)
    check_outcome(trackers[0], claimed, orders=120, seed=5)


def test_replacing_an_equal_update_keeps_the_new_one(make_store: MakeStore) -> None:
    tracker = tracker_on(make_store())
    tracker.apply(ev("A", "ready-for-handling", 0))
    tracker.register("A", "start-handling", key="k1")
    new = tracker.register("A", "start-handling", key="k2", replaces="k1")
    assert (new.key, new.state) == ("k2", EntryState.READY)
    assert tracker.entry("k1").drop is DropClass.SUPERSEDED  # type: ignore[union-attr]
    assert [e.key for e in tracker.claim(10, 30)] == ["k2"]


def test_an_action_needed_once_is_one_entry_whatever_its_payload(make_store: MakeStore) -> None:
    tracker = tracker_on(make_store())
    tracker.apply(ev("A", "ready-for-handling", 0))
    tracker.register("A", "start-handling", key="first")
    (claimed,) = tracker.claim(1, 30, owner="w1")
    again = tracker.register("A", "start-handling", key="second", payload={"note": "again"})
    assert (again.key, again.state) == ("first", EntryState.CLAIMED)  # on its way
    on_its_way = tracker.decide("A", "start-handling")
    assert on_its_way is not None
    assert on_its_way.verdict.value == "defer"
    assert "already on its way" in on_its_way.reason
    assert tracker.withdraw(claimed.key).state is EntryState.CLAIMED  # a worker holds it: not recalled
    # an action an order needs several times (partial invoices) differs by payload
    tracker.apply(ev("B", "handling", 0))
    one = tracker.register("B", "invoice", payload={"invoiceNumber": "1"})
    two = tracker.register("B", "invoice", key="B:invoice:2", payload={"invoiceNumber": "2"})
    assert one.key != two.key


def test_a_send_never_answered_is_decided_again_after_the_answer_timeout(make_store: MakeStore) -> None:
    clock = Clock()
    tracker = tracker_on(make_store(), clock, answer_timeout=600)
    for order in ("A", "B"):
        tracker.apply(ev(order, "waiting-ffmt-authorization", 0))
        tracker.register(order, "approve")
    for entry in tracker.claim(10, 30):
        tracker.sent(entry.key)
        tracker.result(entry.key, advice("SOI003", success=True))  # queued: the notification is awaited
    assert tracker.claim(10, 30) == []
    _behind_its_back(tracker, "B", "ready-for-handling", T0 + SECOND)  # VTEX applied B's (no event seen)
    clock.now += 601
    (again,) = tracker.claim(10, 30)
    assert again.key == "A:approve"
    assert "no answer" in again.reason
    assert tracker.entry("B:approve").state is EntryState.DONE  # type: ignore[union-attr]


def test_expire_drops_the_oldest_registrations_first_in_every_store(make_store: MakeStore) -> None:
    clock = Clock()
    tracker = tracker_on(make_store(), clock, max_age=10)
    tracker.register("O1", "approve", payload={"n": 1})
    clock.now += 1
    tracker.register("O2", "approve")
    tracker.register("O1", "approve", payload={"n": 2})  # changed later, registered first
    clock.now += 20
    assert [e.key for e in tracker.expire(limit=1)] == ["O1:approve"]
    for bad in (0, -1, 1.5, True):
        with pytest.raises(InvalidArgumentError):
            tracker.expire(limit=bad)  # type: ignore[arg-type]
    with pytest.raises(InvalidArgumentError):
        tracker.expire(now="x")  # type: ignore[arg-type]


def test_ids_that_no_store_can_hold_are_refused(make_store: MakeStore) -> None:
    tracker = tracker_on(make_store())
    for bad in ("A" + chr(0xD800), chr(0xDFFF)):
        with pytest.raises(InvalidArgumentError, match="Unicode"):
            tracker.register(bad, "approve")
        with pytest.raises(InvalidArgumentError, match="Unicode"):
            tracker.register("A", "approve", key=bad)


def test_a_closed_store_is_a_store_error(make_store: MakeStore) -> None:
    from vtex_order_flow.errors import StoreError

    store = make_store()
    tracker = tracker_on(store)
    tracker.register("A", "approve")
    tracker.close()
    for call in (
        lambda: tracker.entry("A:approve"),
        tracker.counts,
        tracker.records,
        lambda: tracker.register("B", "approve"),
        lambda: tracker.claim(1, 30),
    ):
        with pytest.raises(StoreError, match="closed"):
            call()


def test_claims_expiry_and_pruning_do_not_read_the_history(make_store: MakeStore) -> None:
    """With thousands of finished entries and retries not yet due, claim, expire and prune
    touch only what they return: SQLite's plans use the partial indexes (no scan, no sort);
    the memory store visits only the items it returns."""
    clock = Clock()
    store = make_store()
    tracker = tracker_on(store, clock, max_age=10**6)
    with store.transaction():
        for n in range(3000):
            for key, state, due in (
                (f"done-{n}", EntryState.DONE, None),
                (f"later-{n}", EntryState.RETRY, 10**12),
            ):
                store.save_entry(
                    Entry(
                        key=key,
                        order_id=f"H{n}",
                        action="approve",
                        state=state,
                        due=due,
                        seq=n,
                        registered_at=clock.now,
                        updated_at=clock.now,
                    )
                )
    tracker.apply(ev("A", "ready-for-handling", 0))
    tracker.register("A", "start-handling")
    seen = _watch(store)
    assert [e.key for e in tracker.claim(10, 30)] == ["A:start-handling"]
    assert tracker.expire() == []
    assert tracker.prune(older_than=10**6) == 0
    assert seen() <= 50, seen()


def _watch(store: Store) -> Callable[[], int]:
    """How much of the history the store reads from now on: rows SQLite would scan or sort
    (each statement's plan), or entries the memory store looks up."""
    if isinstance(store, SQLiteStore):
        import sqlite3

        statements: list[str] = []
        store._db.set_trace_callback(statements.append)

        def bad_plans() -> int:
            store._db.set_trace_callback(None)
            probe = sqlite3.connect(store.path)
            count = 0
            for sql in statements:
                if sql.startswith(("SELECT", "DELETE")) and "entries" in sql:
                    plan = " | ".join(row[3] for row in probe.execute("EXPLAIN QUERY PLAN " + sql))
                    count += 1000 * ("SCAN entries" in plan or "TEMP B-TREE" in plan)
            probe.close()
            return count

        return bad_plans
    if type(store).__name__ == "PostgresStore":
        import psycopg

        from conftest import POSTGRES_DSN

        seen: list[tuple[str, Any]] = []
        run = store._run  # type: ignore[attr-defined]

        def traced(sql: str, params: Any = ()) -> Any:
            seen.append((sql, params))
            return run(sql, params)

        store._run = traced  # type: ignore[attr-defined]

        def seq_scans() -> int:
            count = 0
            examined = 0
            with psycopg.connect(POSTGRES_DSN, autocommit=True) as conn:
                conn.execute(f'ANALYZE "{store.schema}".entries')  # type: ignore[attr-defined]
                for sql, params in seen:
                    if sql.startswith(("SELECT", "WITH")) and ".entries" in sql:
                        examined += 1
                        plan = " | ".join(row[0] for row in conn.execute("EXPLAIN " + sql, params))
                        count += 1000 * ("Seq Scan on entries" in plan)
            assert examined >= 3, seen  # the claim's, expiry's and pruning's statements
            return count

        return seq_scans
    assert isinstance(store, MemoryStore)
    looked: list[str] = []
    entries = store._entries

    class Counting(dict[str, Any]):
        def get(self, key: str, default: Any = None) -> Any:
            looked.append(key)
            return super().get(key, default)

    store._entries = Counting(entries)
    return lambda: len(looked)


# -- the stores agree on every sequence of operations ---------------------------------------------

SELLER = [s.id for s in VTEX.statuses_in("seller")]
ANSWERS = ["SOI002", "SOI003", "EOI006", "EOI011", "EOI009"]


@st.composite
def operations(draw: st.DrawFn) -> list[tuple[Any, ...]]:
    """Registrations, events (some at one time, duplicated, reordered), claims, sends, VTEX's
    answers and the clock moving, interleaved."""
    orders = st.sampled_from(["A", "B", "C"])
    one = st.one_of(
        st.tuples(
            st.just("register"),
            orders,
            st.sampled_from(sorted(VTEX.actions)),
            st.sampled_from([None, "k1", "k2"]),
        ),
        st.tuples(
            st.just("event"),
            orders,
            st.sampled_from([*SELLER, "mystery", "cancelation-request"]),
            st.integers(0, 20),
        ),
        st.tuples(st.just("claim"), st.integers(1, 4), st.sampled_from(["w1", "w2"])),
        st.tuples(st.just("sent"), st.integers(0, 9)),
        st.tuples(st.just("answer"), st.integers(0, 9), st.sampled_from(ANSWERS)),
        st.tuples(st.just("tick"), st.sampled_from([1, 30, 90, 4000])),
        st.tuples(st.just("fact"), orders, st.booleans()),
    )
    return draw(st.lists(one, max_size=40))


def play(tracker: Tracker, clock: Clock, ops: list[tuple[Any, ...]]) -> list[str]:
    """Run the operations; what each answered (errors included, by type)."""
    out: list[str] = []
    for op in ops:
        try:
            kind = op[0]
            if kind == "register":
                key = None if op[3] is None else f"{op[1]}-{op[3]}"
                out.append(repr(tracker.register(op[1], op[2], key=key).state))
            elif kind == "event":
                out.append(tracker.apply(ev(op[1], op[2], op[3])).outcome)
            elif kind == "claim":
                out.append(repr([e.key for e in tracker.claim(op[1], 60, owner=op[2])]))
            elif kind in ("sent", "answer"):
                keys = [e.key for e in tracker.entries()]
                if keys:
                    key = keys[op[1] % len(keys)]
                    if kind == "sent":
                        out.append(repr(tracker.sent(key).state))
                    else:
                        out.append(
                            repr(tracker.result(key, advice(op[2], success=op[2].startswith("SOI"))).state)
                        )
            elif kind == "tick":
                clock.now += op[1]
            else:
                out.append(repr(tracker.record_facts(op[1], {"return-invoice-registered": op[2]})))
        except VtexOrderFlowError as error:
            out.append(type(error).__name__)
    return out


@settings(suppress_health_check=[HealthCheck.function_scoped_fixture], max_examples=60, deadline=None)
@given(ops=operations())
def test_memory_and_sqlite_agree_on_every_sequence(tmp_path: Any, ops: list[tuple[Any, ...]]) -> None:
    path = tmp_path / f"agree-{time.monotonic_ns()}.db"
    policy = RetryPolicy(base=10, rng=random.Random(3))
    clocks = Clock(), Clock()
    memory = Tracker(store=MemoryStore(), clock=clocks[0], retry=policy, owner="w")
    with Tracker(
        store=SQLiteStore(path), clock=clocks[1], retry=RetryPolicy(base=10, rng=random.Random(3)), owner="w"
    ) as durable:
        assert play(memory, clocks[0], ops) == play(durable, clocks[1], ops)
        assert memory.records() == durable.records()
        assert memory.entries() == durable.entries()
        assert memory.anomalies() == durable.anomalies()
        assert memory.applied == durable.applied
        assert memory.counts() == durable.counts()


def test_which_actions_an_order_may_need_more_than_once_is_derived_from_the_model() -> None:
    needed_again = {flow: {a for a in VTEX.actions if VTEX.repeatable(flow, a)} for flow in VTEX.flows}
    assert needed_again["seller"] == {"invoice", "tracking"}  # partial invoices; tracking per invoice
    assert "return-invoice" not in needed_again["seller"]  # once registered, a second is refused
    assert "cancel" in needed_again["complete"]  # requested, then confirmed after the seller's decision


# -- regressions from the second review -------------------------------------------------------------


def test_partial_invoices_without_keys_are_separate_entries(make_store: MakeStore) -> None:
    tracker = tracker_on(make_store())
    tracker.apply(ev("A", "handling", 0))
    one = tracker.register("A", "invoice", payload={"invoiceNumber": "INV1"})
    two = tracker.register("A", "invoice", payload={"invoiceNumber": "INV2"})
    again = tracker.register("A", "invoice", payload={"invoiceNumber": "INV1"})
    assert one.key != two.key
    assert again.key == one.key
    assert {e.payload["invoiceNumber"] for e in tracker.entries()} == {"INV1", "INV2"}


def test_another_domains_events_are_not_this_flows(make_store: MakeStore) -> None:
    tracker = tracker_on(make_store())  # the seller flow: Fulfillment
    tracker.apply(OrderEvent("A", "handling", T0, domain="Fulfillment"))
    tracker.register("A", "invoice")
    other = tracker.apply(OrderEvent("A", "payment-approved", T0 + SECOND, domain="Marketplace"))
    assert other.outcome == "other-domain"
    assert tracker.record("A").status == "handling"  # type: ignore[union-attr]
    assert [e.key for e in tracker.claim(10, 30)] == ["A:invoice"]


def test_replaces_changes_nothing_when_the_registration_changes_nothing(make_store: MakeStore) -> None:
    tracker = tracker_on(make_store())
    tracker.apply(ev("A", "invoiced", 0))
    tracker.register("A", "tracking", key="t1", payload={"n": 1})
    tracker.register("A", "tracking", key="t2", payload={"n": 2}, replaces="t1")
    tracker.register("A", "tracking", key="t1", payload={"n": 1}, replaces="t2")  # t1 is dropped: a no-op
    assert tracker.entry("t2").state is EntryState.READY  # type: ignore[union-attr]


def test_a_clock_stepped_back_holds_up_no_ready_entry(make_store: MakeStore) -> None:
    clock = Clock()
    tracker = tracker_on(make_store(), clock)
    tracker.apply(ev("A", "ready-for-handling", 0))
    tracker.register("A", "start-handling")
    clock.now -= 600  # NTP
    assert [e.key for e in tracker.claim(10, 30)] == ["A:start-handling"]


def test_a_clock_that_returns_nonsense_is_a_typed_error(make_store: MakeStore) -> None:
    for bad in (float("nan"), float("inf"), "now", None):
        tracker = Tracker(store=make_store(), clock=lambda bad=bad: bad)  # type: ignore[misc]
        with pytest.raises(InvalidArgumentError, match="clock"):
            tracker.register("A", "approve")


def test_a_retry_registered_again_keeps_its_backoff(make_store: MakeStore) -> None:
    clock = Clock()
    tracker = tracker_on(make_store(), clock, retry=RetryPolicy(base=100, rng=random.Random(1)))
    tracker.apply(ev("A", "handling", 0))
    tracker.register("A", "invoice", key="i", payload={"n": 1})
    (claimed,) = tracker.claim(1, 30)
    tracker.result(claimed.key, orders_api("HTTP500") if "HTTP500" in VTEX.codes else advice("EOI006"))
    again = tracker.register("A", "invoice", key="i", payload={"n": 1, "fixed": True})
    assert again.state is EntryState.RETRY
    assert again.payload == {"n": 1, "fixed": True}
    assert tracker.claim(1, 30) == []  # still backing off


def test_backoff_never_overflows() -> None:
    assert RetryPolicy(factor=10, max_delay=60).delay(400) <= 60
    assert RetryPolicy(max_delay=60).delay(5000) <= 60


def test_events_with_ids_no_store_can_hold_are_refused(make_store: MakeStore) -> None:
    tracker = tracker_on(make_store())
    with pytest.raises(InvalidArgumentError, match="Unicode"):
        tracker.apply(OrderEvent("A" + chr(0xD800), "handling", T0))


def test_partial_invoices_go_one_at_a_time(make_store: MakeStore) -> None:
    # VTEX refuses a second invoice until the first is verified: of an action an order may need
    # several times, a claim hands out one per order; the next waits, ready, until it is done.
    tracker = tracker_on(make_store())
    tracker.apply(ev("A", "handling", 0))
    tracker.apply(ev("B", "handling", 0))
    one = tracker.register("A", "invoice", payload={"invoiceNumber": "1"})
    two = tracker.register("A", "invoice", payload={"invoiceNumber": "2"})
    other = tracker.register("B", "invoice", payload={"invoiceNumber": "9"})
    first = tracker.claim(10, 30)
    assert sorted(e.key for e in first) == sorted([one.key, other.key])
    assert tracker.entry(two.key).state is EntryState.READY  # type: ignore[union-attr]
    tracker.sent(one.key)
    assert tracker.claim(10, 30) == []  # the first is still on its way
    tracker.done(one.key)
    # VTEX applied it: the order is verifying the invoice (as the tracker now knows without
    # waiting for the hook), and the next one waits for the verification.
    assert tracker.record("A").status == "invoice"  # type: ignore[union-attr]
    assert tracker.claim(10, 30) == []
    tracker.apply(ev("A", "handling", 3605))  # the platform found it partial
    assert [e.key for e in tracker.claim(10, 30)] == [two.key]


def test_done_closes_an_orders_api_update(make_store: MakeStore) -> None:
    tracker = tracker_on(make_store())
    tracker.apply(ev("A", "invoiced", 0))
    entry = tracker.register("A", "return-invoice", payload={"type": "Input"})
    (claimed,) = tracker.claim(1, 30)
    tracker.sent(claimed.key)
    done = tracker.done(entry.key)
    assert done.state is EntryState.DONE
    assert "return-invoice-registered" in tracker.facts("A")
    assert tracker.done(entry.key) == done  # twice: unchanged


# -- regressions from the final review ----------------------------------------------------------------


def test_a_dead_workers_partial_invoice_goes_again_before_the_next(make_store: MakeStore) -> None:
    clock = Clock()
    tracker = tracker_on(make_store(), clock)
    tracker.apply(ev("A", "handling", 0))
    one = tracker.register("A", "invoice", payload={"invoiceNumber": "1"})
    two = tracker.register("A", "invoice", payload={"invoiceNumber": "2"})
    assert [e.key for e in tracker.claim(10, 10, owner="w1")] == [one.key]
    clock.now += 11  # w1 died holding #1
    assert [e.key for e in tracker.claim(10, 10, owner="w2")] == [one.key]  # #1 again; #2 waits
    assert tracker.entry(two.key).state is EntryState.READY  # type: ignore[union-attr]


def test_replacing_an_update_already_on_its_way_is_that_update(make_store: MakeStore) -> None:
    tracker = tracker_on(make_store())
    tracker.apply(ev("A", "handling", 0))
    tracker.register("A", "cancel", key="c1")
    tracker.claim(1, 30)
    again = tracker.register("A", "cancel", key="c2", replaces="c1")
    assert (again.key, again.state) == ("c1", EntryState.CLAIMED)
    assert tracker.claim(10, 30) == []
    assert [e.key for e in tracker.in_flight("A")] == ["c1"]


def test_prune_forgets_old_anomalies_too(make_store: MakeStore) -> None:
    clock = Clock()
    tracker = tracker_on(make_store(), clock)
    tracker.apply(ev("A", "canceled", 0))
    tracker.apply(ev("A", "cancel", 1))  # an anomaly, dated T0 + 1 s
    assert len(tracker.anomalies()) == 1
    tracker.prune(older_than=10**6)
    assert len(tracker.anomalies()) == 1  # newer than the cut
    clock.now += 2 * 10**6
    tracker.prune(older_than=10**6)
    assert tracker.anomalies() == []


def test_a_foreign_sqlite_file_is_refused_and_left_alone(tmp_path: Any) -> None:
    import sqlite3

    from vtex_order_flow.errors import StoreError

    path = tmp_path / "shop.db"
    with sqlite3.connect(path) as con:
        con.execute("CREATE TABLE customers (id INTEGER PRIMARY KEY)")
    before = path.read_bytes()
    with pytest.raises(StoreError, match="customers"):
        SQLiteStore(path)
    assert path.read_bytes() == before
    assert not (tmp_path / "shop.db-wal").exists()


# -- updates of one order that interfere; the record after a done update; two ids ------------------


def test_an_update_waits_for_one_of_its_order_it_does_not_commute_with(make_store: MakeStore) -> None:
    tracker = tracker_on(make_store())
    tracker.apply(ev("A", "waiting-ffmt-authorization", 0))
    approve = tracker.register("A", "approve")
    cancel = tracker.register("A", "cancel")
    # Both sendable; but a cancel applied while the approval is queued makes VTEX refuse the
    # approval (EOI009): the cancel waits, still ready, for the approval's answer.
    assert [e.key for e in tracker.claim(10, 30)] == [approve.key]
    tracker.sent(approve.key)
    assert tracker.claim(10, 30) == []
    assert tracker.entry(cancel.key).state is EntryState.READY  # type: ignore[union-attr]
    approved = {"code": "SOI002", "flow": "ApproveOrder", "success": True, "marketplaceOrderId": "A"}
    tracker.notify(interpret_notification(approved))
    assert tracker.entry(approve.key).state is EntryState.DONE  # type: ignore[union-attr]
    assert tracker.record("A").status == "authorize-fulfillment"  # type: ignore[union-attr]
    assert [e.key for e in tracker.claim(10, 30)] == [cancel.key]


def test_updates_that_commute_go_together(make_store: MakeStore) -> None:
    tracker = tracker_on(make_store())
    tracker.apply(ev("A", "invoiced", 0))
    tracking = tracker.register("A", "tracking", payload={"invoiceNumber": "1"})
    refund = tracker.register("A", "return-invoice")
    assert {e.key for e in tracker.claim(10, 30)} == {tracking.key, refund.key}


def test_a_done_update_moves_the_record_until_an_event_says_otherwise(make_store: MakeStore) -> None:
    clock = Clock()
    tracker = tracker_on(make_store(), clock)
    tracker.apply(ev("A", "handling", 10))
    invoice = tracker.register("A", "invoice", payload={"invoiceNumber": "1"})
    (claimed,) = tracker.claim(1, 30)
    tracker.sent(claimed.key)
    clock.now += 2
    tracker.done(invoice.key)
    record = tracker.record("A")
    assert record is not None
    assert (record.status, record.changed_at) == ("invoice", T0 + 10 * SECOND + 1)  # a tick later
    assert tracker.apply(ev("A", "handling", 10)).outcome == "stale"  # a late copy of the old one
    assert tracker.apply(ev("A", "invoiced", 3601)).outcome == "moved"  # VTEX's next word wins
    assert tracker.record("A").status == "invoiced"  # type: ignore[union-attr]
    assert tracker.anomalies() == []


def test_a_done_update_moves_nothing_when_the_order_moved_since_it_was_decided(make_store: MakeStore) -> None:
    tracker = tracker_on(make_store())
    tracker.apply(ev("A", "handling", 10))
    one = tracker.register("A", "invoice", payload={"invoiceNumber": "1"})
    two = tracker.register("A", "invoice", payload={"invoiceNumber": "2"})
    (claimed,) = tracker.claim(1, 30)
    tracker.sent(claimed.key)
    tracker.apply(ev("A", "invoice", 3601))  # VTEX's events first: verifying, found partial
    tracker.apply(ev("A", "handling", 3602))
    tracker.done(one.key)  # then the 2xx: the order is not moved back to invoice
    assert tracker.record("A").status == "handling"  # type: ignore[union-attr]
    assert [e.key for e in tracker.claim(10, 30)] == [two.key]


def test_before_any_event_only_the_update_that_brings_the_order_into_vtex_goes(make_store: MakeStore) -> None:
    tracker = tracker_on(make_store())
    create = tracker.register("MKP-1", "create", payload={"marketplaceOrderId": "MKP-1"})
    cancel = tracker.register("MKP-1", "cancel")
    approve = tracker.register("MKP-1", "approve")
    assert create.state is EntryState.READY
    # Not dropped as done or impossible: the order may well be in VTEX, its events not here yet.
    assert (cancel.state, approve.state) == (EntryState.PENDING, EntryState.PENDING)
    assert [e.key for e in tracker.claim(10, 30)] == [create.key]
    # Once VTEX named the order, nothing goes from the flow's start any more.
    tracker.link("MKP-2", "2-01")
    assert tracker.register("MKP-2", "create").state is EntryState.PENDING


def test_notify_routes_by_marketplace_id_and_operation_and_fills_the_id_map(make_store: MakeStore) -> None:
    tracker = tracker_on(make_store())
    create = tracker.register("MKP-1", "create", payload={"marketplaceOrderId": "MKP-1"})
    approve = tracker.register("MKP-1", "approve")
    (claimed,) = tracker.claim(10, 30)
    tracker.sent(claimed.key)
    soi001 = {
        "code": "SOI001",
        "flow": "PlaceOrder",
        "success": True,
        "marketplaceOrderId": "MKP-1",
        "fields": {"mainOrderId": "1-01"},
    }
    done = tracker.notify(interpret_notification(soi001))
    assert done is not None
    assert (done.key, done.state, done.order_id) == (create.key, EntryState.DONE, "1-01")
    assert tracker.notify(interpret_notification(soi001)) is None  # again: nothing left to answer
    assert tracker.entry(approve.key).order_id == "1-01"  # type: ignore[union-attr]
    assert tracker.order_id("MKP-1") == "1-01"
    unknown = dict(soi001, marketplaceOrderId="MKP-404", fields={"mainOrderId": "404-01"})
    assert tracker.notify(interpret_notification(unknown)) is None
    assert tracker.order_id("MKP-404") is None  # nothing of ours on its way: a forgery links nothing
    # An approval refused as not yet integrated (EOI008) is decided again and waits.
    tracker.apply(ev("1-01", "waiting-ffmt-authorization", 1))
    (claimed,) = tracker.claim(10, 30)
    tracker.sent(claimed.key)
    refused = {"code": "EOI008", "flow": "ApproveOrder", "success": False, "marketplaceOrderId": "MKP-1"}
    after = tracker.notify(interpret_notification(refused))
    assert after is not None
    assert after.state is EntryState.RETRY
    assert after.reason.startswith("EOI008")


def test_in_flight_reads_the_orders_claimed_and_sent_entries(make_store: MakeStore) -> None:
    store = make_store()
    tracker = tracker_on(store)
    for order in ("A", "B"):
        tracker.apply(ev(order, "invoiced", 0))
        tracker.register(order, "tracking", payload={"n": order})
        tracker.register(order, "return-invoice")
    claimed = tracker.claim(1, 30)
    assert [e.key for e in store.in_flight({"A", "B", "C"})] == [e.key for e in claimed]
    assert store.in_flight(set()) == []


def test_a_notification_for_an_update_that_must_go_again_still_closes_it_and_links(
    make_store: MakeStore,
) -> None:
    # Final review: VTEX applied the create, the gateway answered 5xx (retry); SOI001 arrives.
    tracker = tracker_on(make_store())
    create = tracker.register("MKP-1", "create", payload={"marketplaceOrderId": "MKP-1"})
    approve = tracker.register("MKP-1", "approve")
    (claimed,) = tracker.claim(1, 30)
    tracker.sent(claimed.key)
    tracker.result(create.key, orders_api("HTTP5XX"))
    assert tracker.entry(create.key).state is EntryState.RETRY  # type: ignore[union-attr]
    soi001 = {
        "code": "SOI001",
        "flow": "PlaceOrder",
        "success": True,
        "marketplaceOrderId": "MKP-1",
        "fields": {"mainOrderId": "1-01"},
    }
    done = tracker.notify(interpret_notification(soi001))
    assert done is not None
    assert done.state is EntryState.DONE
    assert tracker.order_id("MKP-1") == "1-01"
    assert tracker.entry(approve.key).order_id == "1-01"  # type: ignore[union-attr]
    # EOI007 first (a second send), SOI001 after: the id map is still filled.
    other = tracker_on(make_store())
    first = other.register("MKP-2", "create", payload={"marketplaceOrderId": "MKP-2"})
    (claimed,) = other.claim(1, 30)
    other.sent(claimed.key)
    other.notify(
        interpret_notification(
            {**soi001, "code": "EOI007", "success": False, "marketplaceOrderId": "MKP-2", "fields": None}
        )
    )
    assert other.entry(first.key).state is EntryState.DONE  # type: ignore[union-attr]
    assert other.notify(interpret_notification({**soi001, "marketplaceOrderId": "MKP-2"})) is None
    assert other.order_id("MKP-2") == "1-01"


# -- batch calls (one transaction per claimed batch and step, for the dispatcher) ------------------


def test_sent_many_marks_a_claimed_batch_and_names_each_lost_lease(make_store: MakeStore) -> None:
    clock = Clock()
    tracker = tracker_on(make_store(), clock)
    for order in ("A", "B", "C"):
        tracker.apply(ev(order, "ready-for-handling", 0))
        tracker.register(order, "start-handling")
    claimed = tracker.claim(limit=3, lease=30, owner="w1")
    assert len(claimed) == 3
    tracker.release("C:start-handling", owner="w1")  # C is no longer w1's
    marked = tracker.sent_many(["A:start-handling", "B:start-handling", "C:start-handling"], owner="w1")
    assert [type(m).__name__ for m in marked] == ["Entry", "Entry", "LeaseLostError"]
    assert all(isinstance(m, Entry) and m.state is EntryState.SENT for m in marked[:2])
    assert tracker.entry("C:start-handling").state is EntryState.READY  # type: ignore[union-attr]
    # Saying it twice is harmless, as for `sent`.
    again = tracker.sent_many(["A:start-handling"], owner="w1")
    assert isinstance(again[0], Entry)
    assert again[0].state is EntryState.SENT
    with pytest.raises(InvalidArgumentError):
        tracker.sent_many("A:start-handling")  # a string is not a batch of keys


def test_release_many_hands_a_batch_back(make_store: MakeStore) -> None:
    tracker = tracker_on(make_store())
    for order in ("A", "B"):
        tracker.apply(ev(order, "ready-for-handling", 0))
        tracker.register(order, "start-handling")
    tracker.claim(limit=2, lease=30, owner="w1")
    released = tracker.release_many(["A:start-handling", "B:start-handling"], owner="w2")
    assert [type(r).__name__ for r in released] == ["LeaseLostError", "LeaseLostError"]
    released = tracker.release_many(["A:start-handling", "B:start-handling"], owner="w1")
    assert [r.state for r in released if isinstance(r, Entry)] == [EntryState.READY, EntryState.READY]
    assert len(tracker.claim(limit=5, lease=30, owner="w2")) == 2


def test_results_records_a_batch_of_answers_each_on_its_own(make_store: MakeStore) -> None:
    tracker = tracker_on(make_store())
    for order in ("A", "B"):
        tracker.apply(ev(order, "ready-for-handling", 0))
        tracker.register(order, "start-handling")
    tracker.claim(limit=2, lease=30, owner="w1")
    tracker.sent_many(["A:start-handling", "B:start-handling"], owner="w1")
    recorded = tracker.results(
        [
            ("A:start-handling", orders_api("HTTP2XX")),
            ("B:start-handling", orders_api("HTTP429")),
            ("nobody", orders_api("HTTP2XX")),
        ],
        owner="w1",
    )
    assert isinstance(recorded[0], Entry)
    assert recorded[0].state is EntryState.DONE
    assert isinstance(recorded[1], Entry)
    assert recorded[1].state is EntryState.RETRY
    assert type(recorded[2]).__name__ == "UnknownUpdateError"
    assert tracker.record("A").status == "start-handling"  # type: ignore[union-attr]  # VTEX applied it


def test_marketplace_ids_reads_a_batch_of_links(make_store: MakeStore) -> None:
    tracker = tracker_on(make_store())
    tracker.link("MKP-1", "V-1")
    tracker.link("MKP-2", "V-2")
    assert tracker.marketplace_ids(["V-1", "V-2", "V-3"]) == {"V-1": "MKP-1", "V-2": "MKP-2"}
    assert tracker.marketplace_ids([]) == {}
    with pytest.raises(InvalidArgumentError):
        tracker.marketplace_ids("V-1")


def test_two_batches_of_answers_in_opposite_orders_never_deadlock(
    make_store: MakeStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`results` takes its orders' locks by order id whatever the order of its answers: two
    workers recording the same orders' answers in opposite orders both finish (on PostgreSQL each
    answer locks its order; in key order, the second waited for the first's and the first for
    the second's: a deadlock)."""
    from vtex_order_flow.tracking import _results

    store = make_store()
    tracker = tracker_on(store)
    for order in ("X", "Y"):
        tracker.apply(ev(order, "ready-for-handling", 0))
        tracker.register(order, "start-handling")
    keys = [e.key for e in tracker.claim(10, 30)]
    tracker.sent_many(keys)
    recording = _results.result

    def slowly(*args: Any) -> Any:
        answered = recording(*args)
        time.sleep(0.3)  # (each batch holds its first order's lock while the other starts)
        return answered

    monkeypatch.setattr(_results, "result", slowly)
    outcomes: dict[str, Any] = {}

    def record(name: str, order: list[str]) -> None:
        try:
            outcomes[name] = tracker.results([(key, orders_api("HTTP5XX")) for key in order])
        except Exception as error:  # (a deadlock is the store's error)
            outcomes[name] = error

    threads = [
        threading.Thread(target=record, args=("forward", keys)),
        threading.Thread(target=record, args=("backward", keys[::-1])),
    ]
    for thread in threads:
        thread.start()
        time.sleep(0.1)
    for thread in threads:
        thread.join(timeout=60)
    assert set(outcomes) == {"forward", "backward"}
    assert not any(isinstance(o, Exception) for o in outcomes.values()), outcomes
    assert [type(e).__name__ for e in outcomes["backward"]] == ["Entry", "Entry"]


def test_a_reader_on_sqlite_neither_waits_for_a_writer_nor_holds_one_up(tmp_path: Path) -> None:
    """The readers (decide, record, facts, in_flight, order_id, ...) read in autocommit, as they
    always did: another process holding the write lock does not make them wait (found by the
    adversarial review: a reader's snapshot opened BEGIN IMMEDIATE and waited out the timeout)."""
    import sqlite3

    path = str(tmp_path / "outbox.db")
    writer = Tracker(store=SQLiteStore(path), clock=Clock())
    writer.apply(ev("A", "window-to-cancel", 0))
    writer.register("A", "cancel")
    writer.link("M", "A")
    reader = Tracker(store=SQLiteStore(path, timeout=1.0), clock=Clock())
    other = sqlite3.connect(path, isolation_level=None)
    other.execute("BEGIN IMMEDIATE")  # another process is writing
    try:
        started = time.monotonic()
        assert reader.record("M") is not None
        assert reader.facts("A") == frozenset()
        assert [e.key for e in reader.in_flight("A")] == []
        assert (reader.order_id("M"), reader.marketplace_id("A")) == ("A", "M")
        assert reader.marketplace_ids(["A"]) == {"A": "M"}
        assert reader.decide("A", "cancel") is not None
        assert time.monotonic() - started < 0.9  # (the timeout is 1 s: nothing waited it out)
    finally:
        other.execute("ROLLBACK")
        other.close()
        reader.close()
        writer.close()


def test_an_answer_refused_in_a_batch_links_nothing(make_store: MakeStore) -> None:
    """In `results`, an answer for no entry, or for an entry another worker holds, is refused
    before its ids are linked (the others' answers are kept; found by the adversarial review)."""
    tracker = tracker_on(make_store(), owner="w1")
    soi001 = replace(
        interpret_notification(
            {"code": "SOI001", "flow": "PlaceOrder", "success": True, "marketplaceOrderId": "A"}
        ),
        order_id="V1",
    )
    assert [type(r).__name__ for r in tracker.results([("no-such-key", soi001)])] == ["UnknownUpdateError"]
    assert tracker.order_id("A") is None
    tracker.register("B", "create")
    (claimed,) = tracker.claim(10, 60)
    soi001_b = replace(soi001, marketplace_order_id="B", order_id="V9")
    refused = tracker.results(
        [(claimed.key, replace(soi001_b, follow_up=FollowUp.RETRY_WITH_BACKOFF))], owner="w0"
    )
    assert [type(r).__name__ for r in refused] == ["LeaseLostError"]
    assert tracker.order_id("B") is None
    assert tracker.entry(claimed.key).order_id == "B"  # type: ignore[union-attr]


def test_an_unknown_key_in_a_batch_is_its_own_answer(make_store: MakeStore) -> None:
    tracker = tracker_on(make_store())
    tracker.apply(ev("A", "ready-for-handling", 0))
    tracker.register("A", "start-handling")
    (claimed,) = tracker.claim(10, 30)
    marked = tracker.sent_many([claimed.key, "gone"])
    assert [type(m).__name__ for m in marked] == ["Entry", "UnknownUpdateError"]
    assert tracker.entry(claimed.key).state is EntryState.SENT  # type: ignore[union-attr]
    assert [type(m).__name__ for m in tracker.release_many(["gone"])] == ["UnknownUpdateError"]
