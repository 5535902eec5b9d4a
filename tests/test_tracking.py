"""The tracker: events applied once and never backwards, anomalies recorded, deferred updates
re-decided on every status change; the same behaviour in memory and in SQLite."""

from __future__ import annotations

import json
import random
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from vtex_order_flow import (
    Advice,
    ContradictoryFactsError,
    FollowUp,
    Verdict,
    bundled_model,
    decide,
    interpret_notification,
)
from vtex_order_flow import testing as vof_testing
from vtex_order_flow.tracking import (
    DeferredState,
    EventError,
    HookEndpoint,
    MemoryStore,
    OrderEvent,
    Ping,
    RetryPolicy,
    SQLiteStore,
    Store,
    Tracker,
    format_ticks,
    parse_event,
    parse_ticks,
)

VTEX = bundled_model()
T0 = parse_ticks("2026-11-27T10:00:00Z")
SECOND = 10_000_000

HOOK: dict[str, Any] = {
    "Domain": "Fulfillment",
    "OrderId": "v52277740atmc-01",
    "State": "ready-for-handling",
    "LastState": "window-to-cancel",
    "LastChange": "2019-08-14T17:11:39.2550122Z",
    "CurrentChange": "2019-08-14T17:12:48.0965893Z",
    "Origin": {"Account": "automacaoqa", "Key": "vtexappkey-appvtex"},
}
FEED: dict[str, Any] = {
    "eventId": "ED423DDED4C1AE580CADAC14F6BF8DC3",
    "handle": "AQEBh6ezSe4DNSDAMYkNYAXcBRCE0cr3DgHP",
    "domain": "Fulfillment",
    "state": "ready-for-handling",
    "lastState": "window-to-cancel",
    "orderId": "953712004126-01",
    "lastChange": "2019-08-12T20:54:01.134057Z",
    "currentChange": "2019-08-12T20:54:23.7153839Z",
}
BROADCAST: dict[str, Any] = {
    "domain": "Fulfillment",
    "orderId": "MKP-1-01",
    "currentState": "waiting-ffmt-authorization",
    "lastState": "order-accepted",
    "currentChangeDate": "2026-11-27T10:00:00.000Z",
    "lastChangeDate": "2026-11-27T09:59:00.000Z",
}


def ev(order: str, state: str, at: int) -> OrderEvent:
    return OrderEvent(order, state, T0 + at * SECOND)


# -- payloads ------------------------------------------------------------------------------------


def test_hook_notification_keeps_vtex_precision() -> None:
    event = parse_event(json.dumps(HOOK))
    assert isinstance(event, OrderEvent)
    assert (event.order_id, event.state, event.last_state, event.source) == (
        "v52277740atmc-01",
        "ready-for-handling",
        "window-to-cancel",
        "hook",
    )
    assert event.changed_at_iso == "2019-08-14T17:12:48.0965893Z"
    assert format_ticks(parse_ticks(HOOK["CurrentChange"])) == HOOK["CurrentChange"]


def test_hook_without_the_fields_the_guide_leaves_out() -> None:
    # The guide's example has no LastState or CurrentChange (domain A11): LastChange dates it.
    body = {k: v for k, v in HOOK.items() if k not in {"LastState", "CurrentChange"}}
    event = parse_event(body)
    assert isinstance(event, OrderEvent)
    assert event.changed_at == parse_ticks(HOOK["LastChange"])
    assert event.last_state is None


@pytest.mark.parametrize(
    ("body", "fragment"),
    [
        ({k: v for k, v in HOOK.items() if k != "Origin"}, "Origin: Field required"),
        ({**HOOK, "Extra": 1}, "Extra: Extra inputs are not permitted"),
        ({**HOOK, "LastChange": "yesterday"}, "LastChange"),
        ({**HOOK, "OrderId": ""}, "OrderId"),
        ({k: v for k, v in FEED.items() if k != "currentChange"}, "currentChange: Field required"),
        ({**BROADCAST, "currentState": 5}, "currentState"),
        ({"hookConfig": "pong"}, "hookConfig"),
        ({"orderId": "x"}, "not an order event"),
        ([1, 2], "JSON object"),
    ],
)
def test_strict_everywhere_else(body: Any, fragment: str) -> None:
    with pytest.raises(EventError) as caught:
        parse_event(json.dumps(body))
    assert fragment in str(caught.value)


def test_feed_broadcast_and_ping() -> None:
    feed = parse_event(FEED)
    assert isinstance(feed, OrderEvent)
    assert (feed.source, feed.handle) == ("feed", FEED["handle"])
    broadcast = parse_event(json.dumps(BROADCAST).encode())
    assert isinstance(broadcast, OrderEvent)
    assert (broadcast.source, broadcast.state) == ("broadcast", "waiting-ffmt-authorization")
    assert isinstance(parse_event(b'{"hookConfig":"ping"}'), Ping)
    with pytest.raises(EventError):
        parse_event(b"{not json")


def test_time_zones() -> None:
    assert parse_ticks("2026-11-27T12:00:00+02:00") == parse_ticks("2026-11-27T10:00:00Z")
    assert parse_ticks("2026-11-27T10:00:00.5Z") == parse_ticks("2026-11-27T10:00:00Z") + SECOND // 2


# -- the same behaviour tests against both stores ------------------------------------------------


@pytest.fixture(params=["memory", "sqlite"])
def make_store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Callable[[], Store]]:
    made: list[Store] = []

    def factory() -> Store:
        store: Store = (
            MemoryStore() if request.param == "memory" else SQLiteStore(tmp_path / f"t{len(made)}.db")
        )
        made.append(store)
        return store

    yield factory
    for store in made:
        store.close()


def test_duplicates_are_applied_once(make_store: Callable[[], Store]) -> None:
    tracker = Tracker(store=make_store())
    first = tracker.apply(ev("A", "window-to-cancel", 0))
    again = tracker.apply(ev("A", "window-to-cancel", 0))
    assert (first.outcome, again.outcome) == ("first", "duplicate")
    assert tracker.applied == 1


def test_an_older_event_never_moves_the_order_back(make_store: Callable[[], Store]) -> None:
    tracker = Tracker(store=make_store())
    tracker.apply(ev("A", "ready-for-handling", 10))
    late = tracker.apply(ev("A", "window-to-cancel", 5))
    assert late.outcome == "stale"
    record = tracker.record("A")
    assert record is not None
    assert (record.status, record.changed_at) == ("ready-for-handling", T0 + 10 * SECOND)


def test_anomalies_are_applied_and_recorded(make_store: Callable[[], Store]) -> None:
    tracker = Tracker(store=make_store())
    tracker.apply(ev("K9", "canceled", 0))
    flip = tracker.apply(ev("K9", "cancel", 1))  # VTEX's known canceled -> cancel flip
    assert flip.anomaly is not None
    assert flip.anomaly.kind == "from-terminal"
    assert tracker.record("K9").status == "cancel"  # type: ignore[union-attr]
    tracker.apply(ev("B", "handling", 0))
    assert tracker.apply(ev("B", "waiting-ffmt-authorization", 1)).anomaly.kind == "unreachable"  # type: ignore[union-attr]
    assert tracker.apply(ev("C", "brand-new-status", 0)).anomaly.kind == "unknown-status"  # type: ignore[union-attr]
    assert tracker.apply(ev("D", "payment-pending", 0)).anomaly.kind == "not-in-flow"  # type: ignore[union-attr]
    tracker.apply(ev("E", "ready-for-handling", 0))
    assert tracker.apply(ev("E", "handling", 1)).anomaly is None  # skipped start-handling: a filtered hook
    kinds = [(a.order_id, a.kind) for a in tracker.anomalies()]
    assert kinds == [
        ("K9", "from-terminal"),
        ("B", "unreachable"),
        ("C", "unknown-status"),
        ("D", "not-in-flow"),
    ]


def test_deferred_update_becomes_ready_when_the_status_allows_it(make_store: Callable[[], Store]) -> None:
    tracker = Tracker(store=make_store())
    pending = tracker.defer("A", "approve")
    assert (pending.state, pending.reason) == (DeferredState.PENDING, "waiting for the order's first event")
    first = tracker.apply(ev("A", "waiting-for-manual-authorization", 0))
    assert first.ready == ()
    assert tracker.updates(DeferredState.PENDING)[0].status == "waiting-for-manual-authorization"
    moved = tracker.apply(ev("A", "waiting-ffmt-authorization", 1))
    assert [(d.order_id, d.action, d.state) for d in moved.ready] == [("A", "approve", DeferredState.READY)]
    sent = tracker.mark_sent("A", "approve")
    assert sent.state is DeferredState.SENT


def test_deferred_update_is_dropped_with_the_reject_reason(make_store: Callable[[], Store]) -> None:
    tracker = Tracker(store=make_store())
    tracker.apply(ev("A", "waiting-for-manual-authorization", 0))
    tracker.defer("A", "approve")
    moved = tracker.apply(ev("A", "cancel", 1))
    (dropped,) = moved.dropped
    assert dropped.state is DeferredState.DROPPED
    assert dropped.reason == decide("cancel", "approve").reason


def test_registering_on_a_known_order_decides_at_once(make_store: Callable[[], Store]) -> None:
    tracker = Tracker(store=make_store())
    tracker.apply(ev("A", "ready-for-handling", 0))
    assert tracker.defer("A", "start-handling").state is DeferredState.READY
    assert tracker.defer("B", "invoice", {"partial-invoice": True}).state is DeferredState.PENDING


def test_registration_is_idempotent(make_store: Callable[[], Store]) -> None:
    tracker = Tracker(store=make_store())
    tracker.apply(ev("A", "canceled", 0))
    dropped = tracker.defer("A", "invoice")
    assert dropped.state is DeferredState.DROPPED
    assert tracker.defer("A", "invoice") == dropped  # not resurrected
    tracker.apply(ev("B", "handling", 0))
    first = tracker.defer("B", "cancel", {"partial-invoice": True})
    assert first.state is DeferredState.DROPPED
    pending = tracker.defer("C", "cancel")
    changed = tracker.defer("C", "cancel", {"return-invoice-registered": True})
    assert changed.facts == {"return-invoice-registered", "invoice-exists"}  # with what it implies
    assert changed.registered_at == pending.registered_at


def test_unknown_action_or_fact_is_refused(make_store: Callable[[], Store]) -> None:
    tracker = Tracker(store=make_store())
    with pytest.raises(LookupError, match="did you mean 'approve'"):
        tracker.defer("A", "aprove")
    with pytest.raises(LookupError, match="partial-invoice"):
        tracker.defer("A", "cancel", {"partal-invoice": True})


def test_pending_updates_expire(make_store: Callable[[], Store]) -> None:
    now = [1000.0]
    tracker = Tracker(store=make_store(), max_age=3600, clock=lambda: now[0])
    tracker.defer("A", "approve")
    assert tracker.expire() == []
    now[0] += 3601
    (expired,) = tracker.expire()
    assert expired.state is DeferredState.DROPPED
    assert "after 3600 s" in expired.reason


def test_retry_later_answers_get_exponential_backoff_with_jitter(make_store: Callable[[], Store]) -> None:
    now = [0.0]
    policy = RetryPolicy(base=10, factor=2, max_delay=60, max_attempts=3, rng=random.Random(7))
    tracker = Tracker(store=make_store(), retry=policy, clock=lambda: now[0])
    tracker.apply(ev("A", "waiting-ffmt-authorization", 0))
    assert tracker.defer("A", "approve").state is DeferredState.READY
    eoi006 = interpret_notification({"code": "EOI006", "flow": "ApproveOrder", "success": False})
    assert eoi006.follow_up is FollowUp.RETRY_WITH_BACKOFF
    delays = []
    for attempt in (1, 2, 3):
        retry = tracker.result("A", "approve", eoi006)
        assert (retry.state, retry.attempts) == (DeferredState.RETRY, attempt)
        assert retry.retry_at is not None
        delay = retry.retry_at - now[0]
        ceiling = min(60, 10 * 2 ** (attempt - 1))
        assert ceiling / 2 <= delay <= ceiling
        delays.append(delay)
        assert tracker.due() == []
        now[0] = retry.retry_at
        (due,) = tracker.due()
        assert due.state is DeferredState.READY
    gave_up = tracker.result("A", "approve", eoi006)
    assert gave_up.state is DeferredState.DROPPED
    assert "gave up after 3 retries" in gave_up.reason
    assert delays == sorted(delays)


def test_results_route_the_update(make_store: Callable[[], Store]) -> None:
    tracker = Tracker(store=make_store())
    tracker.apply(ev("A", "waiting-ffmt-authorization", 0))
    tracker.defer("A", "approve")
    eoi011 = interpret_notification({"code": "EOI011", "flow": "ApproveOrder", "success": False})
    assert tracker.result("A", "approve", eoi011).state is DeferredState.PENDING
    soi002 = interpret_notification({"code": "SOI002", "flow": "ApproveOrder", "success": True})
    assert tracker.result("A", "approve", soi002).state is DeferredState.SENT
    eoi009 = interpret_notification({"code": "EOI009", "flow": "ApproveOrder", "success": False})
    assert tracker.result("A", "approve", eoi009).state is DeferredState.DROPPED
    with pytest.raises(KeyError):
        tracker.result("nope", "approve", eoi009)


def _orders_api(code: str) -> Advice:
    """An Orders API answer (no Channel Order envelope), as a connector would build its Advice."""
    known = VTEX.codes[code]
    return Advice(
        code=code,
        follow_up=known.follow_up,
        next_step="",
        meaning=known.meaning,
        known=True,
        consistent=True,
        operation="",
        success=False,
        marketplace_order_id=None,
        order_id=None,
        operation_id=None,
        errors=(),
        confidence=known.confidence,
    )


def test_decide_again_waits_or_drops_as_the_known_status_says(make_store: Callable[[], Store]) -> None:
    # OMS003 means "not in this status": where the model still expects start-handling to go
    # through, the update waits for the next status; past it, it is dropped.
    tracker = Tracker(store=make_store())
    assert VTEX.codes["OMS003"].follow_up is FollowUp.DECIDE_AGAIN
    tracker.apply(ev("A", "ready-for-handling", 0))
    assert tracker.defer("A", "start-handling").state is DeferredState.READY
    tracker.mark_sent("A", "start-handling")
    waiting = tracker.result("A", "start-handling", _orders_api("OMS003"))
    assert waiting.state is DeferredState.PENDING
    assert waiting.reason.startswith("OMS003: ")
    tracker.apply(ev("B", "waiting-ffmt-authorization", 0))
    tracker.defer("B", "start-handling")
    tracker.apply(ev("B", "handling", SECOND))  # the order moved past it meanwhile
    assert tracker.result("B", "start-handling", _orders_api("OMS003")).state is DeferredState.DROPPED


# -- properties ----------------------------------------------------------------------------------

SELLER = [s.id for s in VTEX.statuses_in("seller")]


@st.composite
def histories(draw: st.DrawFn) -> list[OrderEvent]:
    """A few orders' events, some at the same time, then duplicated and shuffled."""
    events = []
    for order in draw(st.lists(st.sampled_from(["A", "B", "C"]), min_size=1, max_size=3, unique=True)):
        times = draw(st.lists(st.integers(0, 20), min_size=1, max_size=6))
        states = draw(
            st.lists(st.sampled_from([*SELLER, "mystery"]), min_size=len(times), max_size=len(times))
        )
        events += [ev(order, state, at) for state, at in zip(states, times, strict=True)]
    duplicated = events + draw(st.lists(st.sampled_from(events), max_size=len(events)))
    return draw(st.permutations(duplicated))


def final(tracker: Tracker) -> dict[str, tuple[str, int]]:
    return {r.order_id: (r.status, r.changed_at) for r in tracker.records()}


@given(histories(), st.randoms(use_true_random=False))
def test_any_permutation_and_duplication_leaves_the_same_final_record(
    events: list[OrderEvent], rng: random.Random
) -> None:
    reference = Tracker()
    reference.apply_many(sorted(set(events), key=lambda e: (e.changed_at, e.state)))
    shuffled = list(events)
    rng.shuffle(shuffled)
    other = Tracker()
    other.apply_many(shuffled)
    assert final(other) == final(reference)
    assert other.applied <= len(set(events))


@settings(suppress_health_check=[HealthCheck.function_scoped_fixture], max_examples=50)
@given(
    histories(), st.lists(st.tuples(st.sampled_from(["A", "B", "C"]), st.sampled_from(sorted(VTEX.actions))))
)
def test_memory_and_sqlite_agree_on_every_sequence(
    tmp_path: Path, events: list[OrderEvent], defers: list[tuple[str, str]]
) -> None:
    path = tmp_path / f"agree-{time.monotonic_ns()}.db"
    memory = Tracker(store=MemoryStore(), clock=lambda: 0.0)
    durable_store = SQLiteStore(path)
    durable = Tracker(store=durable_store, clock=lambda: 0.0)
    try:
        for tracker in (memory, durable):
            for order, action in defers[: len(defers) // 2]:
                tracker.defer(order, action)
            tracker.apply_many(events[: len(events) // 2], batch=3)
            for order, action in defers[len(defers) // 2 :]:
                tracker.defer(order, action)
            for event in events[len(events) // 2 :]:
                tracker.apply(event)
        assert memory.records() == durable.records()
        assert memory.updates() == durable.updates()
        assert memory.anomalies() == durable.anomalies()
        assert memory.applied == durable.applied
    finally:
        durable_store.close()


@st.composite
def situations(draw: st.DrawFn) -> tuple[str, str, str, dict[str, bool]]:
    before = draw(st.sampled_from(SELLER))
    facts = draw(vof_testing.facts(VTEX, status=before))
    after = draw(st.sampled_from([s for s in SELLER if _can_carry(s, facts)]))
    return before, after, draw(st.sampled_from(sorted(VTEX.actions))), facts


def _can_carry(status: str, facts: dict[str, bool]) -> bool:
    try:
        decide(status, "create", facts=facts)
    except ContradictoryFactsError:
        return False
    return True


@given(situations())
def test_a_deferred_update_becomes_ready_exactly_when_decide_says_send(
    situation: tuple[str, str, str, dict[str, bool]],
) -> None:
    before, after, action, facts = situation
    tracker = Tracker()
    tracker.apply(ev("A", before, 0))
    registered = tracker.defer("A", action, facts)
    expected_now = decide(before, action, facts=facts).verdict
    assert (registered.state is DeferredState.READY) == (expected_now is Verdict.SEND)
    if registered.state is not DeferredState.PENDING:
        return
    moved = tracker.apply(ev("A", after, 1))
    verdict = decide(after, action, facts=facts).verdict if after != before else Verdict.DEFER
    assert (len(moved.ready) == 1) == (verdict is Verdict.SEND)
    assert (len(moved.dropped) == 1) == (verdict is Verdict.REJECT)


# -- the hook endpoint ---------------------------------------------------------------------------


def test_hook_answers_ping_events_and_bad_bodies() -> None:
    ready: list[list[Any]] = []
    done = threading.Event()

    def on_ready(items: list[Any]) -> None:
        ready.append(items)
        done.set()

    tracker = Tracker()
    tracker.defer(HOOK["OrderId"], "start-handling")
    endpoint = HookEndpoint(tracker, on_ready=on_ready)
    try:
        ping = endpoint.handle(b'{"hookConfig":"ping"}')
        assert (ping.status, json.loads(ping.body)) == (200, {"ok": True, "ping": True})
        response = endpoint.handle(json.dumps(HOOK).encode())
        assert response.status == 200
        assert json.loads(response.body)["outcome"] == "first"
        assert done.wait(5)
        assert [(d.order_id, d.action) for d in ready[0]] == [(HOOK["OrderId"], "start-handling")]
        bad = endpoint.handle(b'{"OrderId": 1}')
        assert bad.status == 400
        assert "State: Field required" in json.loads(bad.body)["error"]
        assert endpoint.handle(json.dumps(HOOK)).status == 200  # a duplicate is fine
    finally:
        endpoint.close()


class SlowStore(MemoryStore):
    def __init__(self, delay: float) -> None:
        super().__init__()
        self.delay = delay

    def save_record(self, order_id: str, status: str, changed_at: int) -> None:
        time.sleep(self.delay)
        super().save_record(order_id, status, changed_at)


def test_hook_answers_in_time_even_when_the_store_is_slow() -> None:
    tracker = Tracker(store=SlowStore(delay=1.0))
    endpoint = HookEndpoint(tracker, timeout=0.2)
    try:
        started = time.monotonic()
        response = endpoint.handle(json.dumps(HOOK))
        elapsed = time.monotonic() - started
        assert response.status == 503  # VTEX will deliver it again; a duplicate is harmless
        assert elapsed < 1.0
    finally:
        endpoint.close()
    assert tracker.record(HOOK["OrderId"]) is not None  # the work was handed off, not lost


def test_hook_timeout_must_leave_room_under_vtex_limit() -> None:
    with pytest.raises(ValueError, match="timeout"):
        HookEndpoint(Tracker(), timeout=5)
