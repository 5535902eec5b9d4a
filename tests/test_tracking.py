"""The tracker: events applied once and never backwards, anomalies recorded, deferred updates
re-decided on every status change; the same behaviour in memory and in SQLite."""

from __future__ import annotations

import json
import random
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from vtex_order_flow import Verdict, bundled_model, decide
from vtex_order_flow import testing as vof_testing
from vtex_order_flow.errors import ContradictoryFactsError, EventError
from vtex_order_flow.tracking import (
    DropClass,
    Entry,
    EntryState,
    HookEndpoint,
    MemoryStore,
    OrderEvent,
    Ping,
    SQLiteStore,
    Tracker,
    format_ticks,
    parse_event,
    parse_ticks,
)

VTEX = bundled_model()
T0 = parse_ticks("2026-01-05T10:00:00Z")
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
    registered = tracker.register("A", action, facts)
    expected_now = decide(before, action, facts=facts).verdict
    assert (registered.state is EntryState.READY) == (expected_now is Verdict.SEND)
    if registered.state is not EntryState.PENDING:
        return
    moved = tracker.apply(ev("A", after, 1))
    # The move's transition sets facts (invoice -> handling: a partial invoice) and clears others.
    ways = [t for t in VTEX.ways_out(before, "seller") if t.dest == after and not t.is_self_loop]
    held = {name for name, value in facts.items() if value}
    if ways:
        held -= set().union(*(t.clears for t in ways))
        held |= set.intersection(*(set(VTEX.fact_closure(t.sets)) for t in ways))
    places = VTEX.fact_places("seller")
    held = {f for f in held if f not in places or after in places[f]} | {
        name for name, value in facts.items() if value
    }
    verdict = decide(after, action, facts=held).verdict if after != before else Verdict.DEFER
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
    tracker.register(HOOK["OrderId"], "start-handling")
    endpoint = HookEndpoint(tracker, on_ready=on_ready)
    try:
        ping = endpoint.handle(b'{"hookConfig":"ping"}')
        assert (ping.status, json.loads(ping.body)) == (200, {"ok": True, "ping": True})
        response = endpoint.handle(json.dumps(HOOK).encode())
        assert response.status == 200
        assert json.loads(response.body)["outcome"] == "first"
        assert done.wait(5)
        assert [(e.order_id, e.action, e.state) for e in ready[0]] == [
            (HOOK["OrderId"], "start-handling", EntryState.CLAIMED)
        ]
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


def test_work_finished_after_a_503_is_still_delivered() -> None:
    # The hook answers 503 (the store is slow); the worker still applies the event and the
    # entry it readies still reaches on_ready, claimed: VTEX's redelivery is only a duplicate.
    handed: list[Entry] = []
    done = threading.Event()

    def on_ready(entries: list[Entry]) -> None:
        handed.extend(entries)
        done.set()

    tracker = Tracker(store=SlowStore(delay=0.5))
    tracker.register(HOOK["OrderId"], "start-handling")
    with HookEndpoint(tracker, on_ready=on_ready, timeout=0.1, sweep=None) as endpoint:
        assert endpoint.handle(json.dumps(HOOK)).status == 503
        assert done.wait(10)
        assert json.loads(endpoint.handle(json.dumps(HOOK)).body)["outcome"] == "duplicate"
    assert [(e.key, e.state) for e in handed] == [(f"{HOOK['OrderId']}:start-handling", EntryState.CLAIMED)]


def test_an_on_ready_error_is_logged_and_the_entry_claimable_again_after_its_lease(
    caplog: pytest.LogCaptureFixture,
) -> None:
    now = [time.time()]
    tracker = Tracker(clock=lambda: now[0])
    tracker.register(HOOK["OrderId"], "start-handling")
    calls: list[list[Entry]] = []

    def broken(entries: list[Entry]) -> None:
        calls.append(entries)
        raise RuntimeError("VTEX client exploded")

    endpoint = HookEndpoint(tracker, on_ready=broken, lease=30, sweep=None)
    try:
        assert endpoint.handle(json.dumps(HOOK)).status == 200
        endpoint.close()  # waits for the dispatcher: on_ready has run
        assert len(calls) == 1
        assert "on_ready failed" in caplog.text
        assert "VTEX client exploded" in caplog.text
        assert tracker.claim(10, 30) == []  # its lease holds
        now[0] += 31
        (again,) = tracker.claim(10, 30)
        assert (again.key, again.claims) == (calls[0][0].key, 2)
    finally:
        endpoint.close()


def test_entries_readied_outside_events_reach_on_ready_by_the_sweep() -> None:
    # register() on a known order, a retry coming due, a restart: no event comes, yet the
    # endpoint's sweep claims them and hands them over.
    tracker = Tracker()
    tracker.apply(ev("A", "ready-for-handling", 0))
    handed: list[Entry] = []
    got = threading.Event()

    def on_ready(entries: list[Entry]) -> None:
        handed.extend(entries)
        got.set()

    with HookEndpoint(tracker, on_ready=on_ready, sweep=0.05):
        tracker.register("A", "start-handling")
        assert got.wait(10)
    assert [e.key for e in handed] == ["A:start-handling"]


def test_close_answers_503_and_leaves_the_callers_executors_running() -> None:
    from concurrent.futures import ThreadPoolExecutor

    worker = ThreadPoolExecutor(max_workers=1)
    dispatcher = ThreadPoolExecutor(max_workers=1)
    endpoint = HookEndpoint(Tracker(), worker=worker, dispatcher=dispatcher)
    endpoint.close()
    assert endpoint.handle(json.dumps(HOOK)).status == 503
    assert worker.submit(lambda: 41 + 1).result(timeout=5) == 42  # not shut down
    assert dispatcher.submit(lambda: "still here").result(timeout=5) == "still here"
    worker.shutdown()
    dispatcher.shutdown()


def test_a_store_failure_answers_503_and_applies_nothing() -> None:
    class Broken(MemoryStore):
        def save_record(self, order_id: str, status: str, changed_at: int) -> None:
            raise OSError("disk on fire")

    tracker = Tracker(store=Broken())
    with HookEndpoint(tracker) as endpoint:
        response = endpoint.handle(json.dumps(HOOK))
    assert response.status == 503
    assert b"OSError" in response.body
    assert tracker.records() == []


@pytest.mark.parametrize(
    "body",
    [
        {**HOOK, "CurrentChange": "2026-13-01T00:00:00Z"},
        {**HOOK, "CurrentChange": "2026-02-30T00:00:00Z"},
        {**HOOK, "CurrentChange": "2026-01-00T00:00:00Z"},
        {**HOOK, "CurrentChange": "2026-01-01T99:99:99Z"},
        {**HOOK, "CurrentChange": "2026-01-01T00:00:00+99:99"},
        {**HOOK, "CurrentChange": "0001-01-01T00:00:00Z"},
        {**HOOK, "CurrentChange": "1969-12-31T23:59:59Z"},
        {**HOOK, "CurrentChange": "9999-12-31T23:59:59-23:59"},
    ],
)
def test_impossible_times_are_400(body: dict[str, Any]) -> None:
    with HookEndpoint(Tracker()) as endpoint:
        response = endpoint.handle(json.dumps(body))
    assert response.status == 400
    assert body["CurrentChange"] in json.loads(response.body)["error"]


def test_unknown_fields_are_kept_not_refused() -> None:
    # VTEX IO's broadcast example carries `recorder`; any field VTEX adds must not stall orders.
    body = {**BROADCAST, "recorder": {"_record": {"x-vtex-meta": {}}}, "hostname": "store"}
    event = parse_event(json.dumps(body))
    assert isinstance(event, OrderEvent)
    assert event.extra == {"recorder": {"_record": {"x-vtex-meta": {}}}, "hostname": "store"}
    hook = parse_event(json.dumps({**HOOK, "NewVtexField": 1}))
    assert isinstance(hook, OrderEvent)
    assert hook.extra == {"NewVtexField": 1}
    assert parse_event(FEED).extra == {}  # type: ignore[union-attr]


def test_a_lone_surrogate_is_an_event_error() -> None:
    with pytest.raises(EventError, match="not JSON"):
        parse_event('{"OrderId": "' + chr(0xD800) + '"}')


def test_a_store_failure_after_the_503_is_logged(caplog: pytest.LogCaptureFixture) -> None:
    class SlowThenBroken(MemoryStore):
        def save_record(self, order_id: str, status: str, changed_at: int) -> None:
            time.sleep(0.3)
            raise OSError("disk gone")

    tracker = Tracker(store=SlowThenBroken())
    endpoint = HookEndpoint(tracker, timeout=0.05)
    assert endpoint.handle(json.dumps(HOOK)).status == 503
    endpoint.close()  # waits for the worker
    assert "nothing of it was applied" in caplog.text
    assert "disk gone" in caplog.text
    assert tracker.records() == []


def test_entries_ready_before_a_restart_reach_on_ready(tmp_path: Path) -> None:
    db = tmp_path / "restart.db"
    with Tracker(store=SQLiteStore(db)) as before:
        before.apply(ev("A", "ready-for-handling", 0))
        before.register("A", "start-handling")  # ready; then the process stops
    handed: list[Entry] = []
    got = threading.Event()

    def on_ready(entries: list[Entry]) -> None:
        handed.extend(entries)
        got.set()

    with Tracker(store=SQLiteStore(db)) as after, HookEndpoint(after, on_ready=on_ready, sweep=0.05):
        assert got.wait(10)
    assert [e.key for e in handed] == ["A:start-handling"]


def test_a_stuck_store_gets_503_at_once_past_max_pending() -> None:
    release = threading.Event()

    class Stuck(MemoryStore):
        def save_record(self, order_id: str, status: str, changed_at: int) -> None:
            release.wait(30)
            super().save_record(order_id, status, changed_at)

    endpoint = HookEndpoint(Tracker(store=Stuck()), timeout=0.05, max_pending=2)
    try:
        answers = [endpoint.handle(json.dumps({**HOOK, "OrderId": f"O{n}"})).status for n in range(6)]
        assert answers == [503] * 6
        started = time.monotonic()
        assert b"busy" in endpoint.handle(json.dumps(HOOK)).body
        assert time.monotonic() - started < 0.05  # not queued: answered at once
    finally:
        release.set()
        endpoint.close()


def test_on_ready_runs_one_delivery_at_a_time() -> None:
    tracker = Tracker()
    running = [0]
    most = [0]
    lock = threading.Lock()

    def slow(entries: list[Entry]) -> None:
        with lock:
            running[0] += 1
            most[0] = max(most[0], running[0])
        time.sleep(0.02)
        for entry in entries:
            tracker.sent(entry.key)
        with lock:
            running[0] -= 1

    with HookEndpoint(tracker, on_ready=slow, sweep=0.001) as endpoint:
        for n in range(30):
            tracker.register(f"O{n}", "start-handling")
            endpoint.handle(json.dumps({**HOOK, "OrderId": f"O{n}"}))
        deadline = time.monotonic() + 10
        while tracker.counts()["sent"] < 30 and time.monotonic() < deadline:
            time.sleep(0.01)
    assert tracker.counts()["sent"] == 30
    assert most[0] == 1


def test_close_from_on_ready_does_not_deadlock() -> None:
    tracker = Tracker()
    closed = threading.Event()
    endpoint: HookEndpoint

    def closing(entries: list[Entry]) -> None:
        endpoint.close()
        closed.set()

    endpoint = HookEndpoint(tracker, on_ready=closing, sweep=None)
    tracker.register(HOOK["OrderId"], "start-handling")
    endpoint.handle(json.dumps(HOOK))
    assert closed.wait(10)
    assert endpoint.handle(json.dumps(HOOK)).status == 503


def test_sqlite_read_errors_are_store_errors(tmp_path: Path) -> None:
    import sqlite3

    from vtex_order_flow.errors import StoreError

    db = tmp_path / "t.db"
    with Tracker(store=SQLiteStore(db)) as tracker:
        with sqlite3.connect(db) as con:
            con.execute("DROP TABLE entries")
        for read in (tracker.counts, lambda: tracker.entry("A:approve"), lambda: tracker.in_flight("A")):
            with pytest.raises(StoreError, match="entries"):
                read()


def test_postgres_is_an_optional_extra() -> None:
    import subprocess
    import sys

    script = (
        "import sys\n"
        "from vtex_order_flow.tracking import SQLiteStore, Tracker, PostgresStore\n"
        "Tracker(store=SQLiteStore(':memory:')).register('A', 'approve')\n"
        "print('psycopg' in sys.modules, 'psycopg_pool' in sys.modules)\n"
        "sys.modules['psycopg'] = None  # as if the extra were not installed\n"
        "try:\n"
        "    PostgresStore('postgresql://x@127.0.0.1:1/x')\n"
        "except Exception as error:\n"
        "    print(type(error).__name__, 'vtex-order-flow[postgres]' in str(error))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=60, check=True
    )
    assert out.stdout.split("\n")[:2] == ["False False", "MissingExtraError True"]


def test_the_sweep_expires_old_entries() -> None:
    now = [time.time()]
    tracker = Tracker(clock=lambda: now[0], max_age=60)
    tracker.register("A", "approve")  # never an event
    now[0] += 61
    with HookEndpoint(tracker, on_ready=lambda entries: None, sweep=0.02):
        deadline = time.monotonic() + 10
        while tracker.counts()["dropped"] == 0 and time.monotonic() < deadline:
            time.sleep(0.01)
    assert tracker.entry("A:approve").drop is DropClass.EXPIRED  # type: ignore[union-attr]


def test_ids_no_store_can_hold_are_a_400() -> None:
    with HookEndpoint(Tracker()) as endpoint:
        response = endpoint.handle(json.dumps({**HOOK, "OrderId": "A\u0000"}))
    assert response.status == 400
    assert "NUL" in json.loads(response.body)["error"]
