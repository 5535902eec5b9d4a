"""What only the PostgreSQL store has: its schema (configurable, versioned, upgraded), waking
dispatchers in other processes (LISTEN/NOTIFY), the same event delivered to two workers at once,
and connections lost when the server restarts. The behaviour suite (test_outbox.py) and the
multi-process tests (test_outbox_processes.py) run on it as well."""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest

from conftest import drop_postgres_schema, fresh_postgres_store, postgres_dsn
from vtex_order_flow.errors import InvalidArgumentError, StoreError
from vtex_order_flow.tracking import (
    POSTGRES_SCHEMA_VERSION,
    EntryState,
    OrderEvent,
    PostgresStore,
    Tracker,
    parse_ticks,
)
from vtex_order_flow.tracking.stores._sql import migrations

T0 = parse_ticks("2026-01-05T10:00:00Z")
SECOND = 10_000_000
WORKER = Path(__file__).with_name("outbox_worker.py")


@pytest.fixture
def store() -> Iterator[PostgresStore]:
    made = fresh_postgres_store()
    yield made
    made.close()
    drop_postgres_schema(made.schema)


def test_the_schema_is_configurable_and_checked() -> None:
    dsn = postgres_dsn()
    for bad in ("", "Upper", "has space", 'x"; DROP TABLE t; --', "a" * 64, 5):
        with pytest.raises(InvalidArgumentError, match="schema"):
            PostgresStore(dsn, schema=bad)  # type: ignore[arg-type]
    with pytest.raises(InvalidArgumentError):
        PostgresStore(dsn, min_size=3, max_size=2)


def test_two_schemas_are_two_outboxes(store: PostgresStore) -> None:
    other = fresh_postgres_store()
    try:
        Tracker(store=store).register("A", "approve")
        assert Tracker(store=other).entries() == []
        assert store.schema_version == other.schema_version == POSTGRES_SCHEMA_VERSION
    finally:
        other.close()
        drop_postgres_schema(other.schema)


def test_an_older_schema_is_upgraded_and_a_newer_one_refused() -> None:
    dsn = postgres_dsn()
    schema = "t_upgrade_" + str(os.getpid())
    drop_postgres_schema(schema)
    with psycopg.connect(dsn, autocommit=True) as conn:
        for statement in migrations("postgres", schema)[0].statements:  # version 1
            conn.execute(statement)
        conn.execute(f'INSERT INTO "{schema}".meta VALUES (%s, %s)', ("schema_version", "1"))
        conn.execute(
            f'INSERT INTO "{schema}".entries VALUES '
            "('A:approve', 'A', 'approve', 'sent', NULL, '[]', 'sent', NULL, 'x', "
            "0, 1, 1.0, 5.0, 'w', 1.0, 1)"
        )
    try:
        with PostgresStore(postgres_dsn(), schema=schema) as upgraded:
            assert upgraded.schema_version == POSTGRES_SCHEMA_VERSION == 3
            with psycopg.connect(postgres_dsn()) as conn:
                (index,) = conn.execute(
                    "SELECT indexdef FROM pg_indexes WHERE schemaname = %s AND indexname = 'entries_due'",
                    (schema,),
                ).fetchone()  # type: ignore[misc]
            assert "'sent'" in index  # v2: sends awaiting an answer are due at their timeout
            tracker = Tracker(store=upgraded, clock=lambda: 10.0)
            assert tracker.entry("A:approve").state is EntryState.SENT  # type: ignore[union-attr]
            assert [e.key for e in tracker.claim(10, 30)] == []  # (no record: decided pending)
            tracker.link("MKP-A", "A")  # v3: the id map
            assert (tracker.order_id("MKP-A"), tracker.marketplace_id("A")) == ("A", "MKP-A")
        with psycopg.connect(postgres_dsn(), autocommit=True) as conn:
            conn.execute(f"UPDATE \"{schema}\".meta SET value = '99' WHERE name = 'schema_version'")
        with pytest.raises(StoreError, match="newer"):
            PostgresStore(postgres_dsn(), schema=schema)
    finally:
        drop_postgres_schema(schema)


def test_the_same_event_delivered_to_many_workers_at_once_is_applied_once(store: PostgresStore) -> None:
    # VTEX delivers at least once, to any replica: eight threads apply the same events together.
    tracker = Tracker(store=store, clock=lambda: T0 / SECOND + 3600)
    for n in range(20):
        tracker.register(f"O{n}", "start-handling")
    events = [OrderEvent(f"O{n}", "ready-for-handling", T0 + SECOND) for n in range(20)]
    outcomes: list[str] = []
    lock = threading.Lock()
    start = threading.Barrier(8)

    def deliver() -> None:
        start.wait()
        for event in events:
            outcome = tracker.apply(event).outcome
            with lock:
                outcomes.append(outcome)

    threads = [threading.Thread(target=deliver) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert Counter(outcomes) == {"first": 20, "duplicate": 140}
    assert tracker.applied == 20
    assert len(tracker.claim(100, 30)) == 20


def test_a_dispatcher_in_another_process_is_woken_when_entries_become_ready(store: PostgresStore) -> None:
    waiter = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys, time; from vtex_order_flow.tracking import PostgresStore, Tracker;"
            f"t = Tracker(store=PostgresStore({postgres_dsn()!r}, schema={store.schema!r}));"
            "t.store.wait_ready(0.01); print('listening', flush=True); began = time.monotonic();"
            "woken = t.wait(20); print(woken, round(time.monotonic() - began, 3), flush=True)",
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert waiter.stdout is not None
    assert waiter.stdout.readline().strip() == "listening"
    time.sleep(0.3)
    tracker = Tracker(store=store)
    tracker.apply(OrderEvent("A", "ready-for-handling", T0))
    tracker.register("A", "start-handling")  # ready: NOTIFY at commit
    out, _ = waiter.communicate(timeout=30)
    woken, waited = out.split()
    assert woken == "True"
    assert float(waited) < 10  # woken by the notification, not by the 20 s timeout


def _restart_server() -> None:
    """Restart PostgreSQL with VOF_POSTGRES_RESTART (the command .ci/run sets), or else cut
    every connection of the test database from the server's side."""
    command = os.environ.get("VOF_POSTGRES_RESTART")
    if command:
        subprocess.run(shlex.split(command), check=True, timeout=120)
        return
    with psycopg.connect(postgres_dsn(), autocommit=True) as conn:
        conn.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            "WHERE datname = current_database() AND pid <> pg_backend_pid()"
        )


def test_workers_reconnect_when_the_server_restarts_and_the_outcome_is_the_same(store: PostgresStore) -> None:
    kit: dict[str, Any] = __import__("runpy").run_path(str(WORKER))
    orders, seed = 900, 31
    db = f"postgres:{store.schema}"
    workers = [
        subprocess.Popen(
            [sys.executable, str(WORKER), "run", db, str(i), "3", str(orders), str(seed), "2"],
            stdout=subprocess.PIPE,
            text=True,
        )
        for i in range(3)
    ]
    time.sleep(1.0)
    assert all(w.poll() is None for w in workers), (
        "the workers finished before the restart: make the run longer"
    )
    _restart_server()
    outputs = [w.communicate(timeout=600)[0] for w in workers]
    assert [w.returncode for w in workers] == [0, 0, 0]
    claims = Counter(json.loads(line)["key"] for out in outputs for line in out.splitlines())
    assert max(claims.values(), default=1) == 1
    events, wanted = kit["history"](orders, seed)
    reference = Tracker(clock=kit["clock"])
    reference.apply_many(sorted(set(events), key=lambda e: (e.changed_at, e.state)))
    after = Tracker(store=store, clock=lambda: kit["clock"]() + 7200, owner="sweeper")
    assert [(r.order_id, r.status) for r in after.records()] == [
        (r.order_id, r.status) for r in reference.records()
    ]
    assert {(e.order_id, e.action) for e in after.entries()} == set(wanted)  # nothing lost
    # Claims still held at the end are those whose commit the restart cut before the worker
    # heard of it: never handed out, and claimable again once their lease expires.
    held = {e.key for e in after.entries(EntryState.CLAIMED)}
    assert not held & set(claims)
    assert held <= {e.key for e in after.claim(10_000, 60)}
    for entry in after.entries(EntryState.PENDING):
        decision = after.decide(entry.order_id, entry.action, entry.facts)
        assert decision is None or decision.verdict.value == "defer", (entry, decision)


def test_without_a_dsn_the_postgres_tests_skip_here_and_fail_in_ci() -> None:
    env = {k: v for k, v in os.environ.items() if k not in {"VOF_POSTGRES_DSN", "CI"}}
    argv = [
        sys.executable,
        "-m",
        "pytest",
        "-q",
        "-rs",
        "-p",
        "no:cacheprovider",
        __file__,
        "-k",
        "two_schemas",
    ]
    here = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=120, check=False)
    assert here.returncode == 0, here.stdout
    assert "1 skipped" in here.stdout
    assert "set VOF_POSTGRES_DSN" in here.stdout  # the message says how to run them
    ci = subprocess.run(
        argv, env={**env, "CI": "true"}, capture_output=True, text=True, timeout=120, check=False
    )
    assert ci.returncode == 1, ci.stdout  # (failed in its fixture: reported as an error)
    assert "1 error" in ci.stdout or "1 failed" in ci.stdout
    assert "CI is set but VOF_POSTGRES_DSN is not" in ci.stdout


def test_an_answer_racing_an_event_on_the_same_order_never_deadlocks(store: PostgresStore) -> None:
    # result() used to lock the entry's row and then the order; an event takes the order and
    # then the rows: a deadlock. Every call now takes the order's lock first.
    tracker = Tracker(store=store, clock=lambda: T0 / SECOND + 3600)
    tracker.apply(OrderEvent("A", "waiting-ffmt-authorization", T0))
    tracker.register("A", "approve")
    (claimed,) = tracker.claim(1, 60)
    tracker.sent(claimed.key)
    real = store.load_orders
    slow = threading.Event()

    def slowed(order_ids: Any) -> Any:
        found = real(order_ids)
        if slow.is_set():
            time.sleep(0.5)  # the event holds the order's lock here
        return found

    store.load_orders = slowed  # type: ignore[method-assign]
    errors: list[BaseException] = []

    def event() -> None:
        try:
            tracker.apply(OrderEvent("A", "authorize-fulfillment", T0 + SECOND))
        except BaseException as error:  # pragma: no cover - the defect
            errors.append(error)

    slow.set()
    thread = threading.Thread(target=event)
    thread.start()
    time.sleep(0.1)
    from vtex_order_flow import interpret_notification

    answer = interpret_notification({"code": "EOI006", "flow": "ApproveOrder", "success": False})
    after = tracker.result(claimed.key, answer)  # waits for the event, then answers
    thread.join(10)
    assert not errors
    assert after.state in (EntryState.RETRY, EntryState.DONE)


def test_many_threads_on_few_orders_never_deadlock(store: PostgresStore) -> None:
    tracker = Tracker(store=store, clock=lambda: T0 / SECOND + 3600)
    for order in ("A", "B", "C"):
        tracker.apply(OrderEvent(order, "invoiced", T0))
    failures: list[BaseException] = []
    walk = ["invoiced"]

    def hammer(n: int) -> None:
        try:
            for i in range(40):
                order = "ABC"[(n + i) % 3]
                step = (n * 41 + i) % 5
                if step == 0:
                    tracker.register(order, "tracking", payload={"number": f"{n}-{i}"})
                elif step == 1:
                    for entry in tracker.claim(2, 60, owner=f"w{n}"):
                        tracker.sent(entry.key, owner=f"w{n}")
                        tracker.done(entry.key)
                elif step == 2:
                    tracker.record_facts(order, {"return-invoice-registered": bool(i % 2)})
                elif step == 3:
                    tracker.apply(OrderEvent(order, walk[0], T0 + (i + 1) * SECOND))
                else:
                    for entry in tracker.entries(EntryState.SENT)[:1]:
                        tracker.done(entry.key)
        except BaseException as error:
            failures.append(error)

    threads = [threading.Thread(target=hammer, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    assert not failures, failures[:3]


def test_one_key_registered_for_two_orders_at_once_is_refused_once(store: PostgresStore) -> None:
    tracker = Tracker(store=store)
    for round_ in range(8):
        key = f"shared-{round_}"
        outcomes: list[str] = []
        start = threading.Barrier(2)

        def register(order: str, key: str = key, outcomes: list[str] = outcomes, start: Any = start) -> None:
            start.wait()
            try:
                outcomes.append(tracker.register(order, "approve", key=key).order_id)
            except InvalidArgumentError:
                outcomes.append("refused")

        orders = (f"X{round_}", f"Y{round_}")
        threads = [threading.Thread(target=register, args=(order,)) for order in orders]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(30)
        assert sorted(outcomes) in ([orders[0], "refused"], [orders[1], "refused"]), outcomes
        assert tracker.entry(key).order_id in outcomes  # type: ignore[union-attr]


def test_waiting_for_ready_entries(store: PostgresStore) -> None:
    other = fresh_postgres_store()
    try:
        assert store.wait_ready(0.01)  # starting to listen: claim at once
        Tracker(store=other).register("A", "approve")  # (not ready: no order yet)
        other_tracker = Tracker(store=other)
        other_tracker.apply(OrderEvent("A", "waiting-ffmt-authorization", T0))  # ready in the other schema
        started = time.monotonic()
        assert store.wait_ready(0.5) is False  # another schema's entries do not wake this one
        assert time.monotonic() - started >= 0.45
    finally:
        other.close()
        drop_postgres_schema(other.schema)
    store.close()
    with pytest.raises(StoreError, match="closed"):
        store.wait_ready(0.1)


def test_an_unreachable_server_is_waited_for_not_spun_on() -> None:
    store = fresh_postgres_store()
    try:
        store._listener._dsn = "postgresql://nobody@127.0.0.1:1/none"  # the listener's server goes away
        started = time.monotonic()
        assert Tracker(store=store).wait(0.5) is False
        assert time.monotonic() - started >= 0.45
    finally:
        store.close()
        drop_postgres_schema(store.schema)


def test_passwords_never_reach_an_error_message() -> None:
    from vtex_order_flow.tracking.stores._pg import safe as _safe

    assert "hunter2" not in _safe("host=x password='hunter2 xyz' user=u")
    assert "ter2" not in _safe("postgresql://vof:hun@ter2@127.0.0.1:5432/vof")
    wrong = psycopg.conninfo.conninfo_to_dict(postgres_dsn()) | {"password": "wrong-secret"}
    with pytest.raises(StoreError) as caught:
        PostgresStore(psycopg.conninfo.make_conninfo("", **wrong), timeout=5)
    assert "wrong-secret" not in str(caught.value)
    assert "password authentication failed" in str(caught.value)  # the real cause, not a timeout


def test_a_claim_sees_what_another_workers_open_claim_holds(store: PostgresStore) -> None:
    # Review: claims did not lock orders, so a worker could not see another's uncommitted
    # claim of the same order: a cancel went while a start-handling was being claimed.
    other = PostgresStore(postgres_dsn(), schema=store.schema)
    try:
        one, two = Tracker(store=store, owner="w1"), Tracker(store=other, owner="w2")
        one.apply(OrderEvent("A", "ready-for-handling", parse_ticks("2026-01-05T10:00:00Z")))
        first = one.register("A", "start-handling")
        one.register("A", "cancel")
        with store.transaction():  # worker 1's claim, not yet committed
            assert [e.key for e in one.claim(1, 30)] == [first.key]  # (its row only)
            assert two.claim(10, 30) == []  # the order is being claimed: nothing for worker 2
        assert two.claim(10, 30) == []  # committed: the cancel waits behind the start-handling
    finally:
        other.close()


def test_an_answer_with_the_id_map_racing_a_registration_never_deadlocks(store: PostgresStore) -> None:
    # Review: result() locked VTEX's id before the marketplace id; register() the other way.
    from vtex_order_flow import interpret_notification

    errors: list[BaseException] = []
    for round_ in range(20):
        tracker = Tracker(store=store)
        mkp = f"M-{round_}"
        create = tracker.register(mkp, "create", payload={"marketplaceOrderId": mkp})
        (claimed,) = tracker.claim(1, 30)
        tracker.sent(claimed.key)
        note = interpret_notification(
            {
                "code": "SOI001",
                "flow": "PlaceOrder",
                "success": True,
                "marketplaceOrderId": mkp,
                "fields": {"mainOrderId": f"V-{round_}"},
            }
        )

        def answer(tracker: Tracker = tracker, key: str = create.key, note: Any = note) -> None:
            try:
                tracker.result(key, note)
            except BaseException as error:
                errors.append(error)

        def register(tracker: Tracker = tracker, mkp: str = mkp) -> None:
            try:
                tracker.register(mkp, "cancel")
            except BaseException as error:
                errors.append(error)

        threads = [threading.Thread(target=answer), threading.Thread(target=register)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(30)
    assert errors == []


def test_in_flight_stays_on_the_order_id_path_whatever_the_statistics(store: PostgresStore) -> None:
    # Review: `order_id = ANY(...) AND state IN (claimed, sent)` flipped to scanning entries_state
    # for every claimed entry when the statistics were taken with none claimed (an idle outbox,
    # then a drain): 326 ms instead of 0.8 ms at a million open entries.
    from vtex_order_flow.tracking.stores._sql import queries

    sql = queries("postgres", store.schema)
    with psycopg.connect(postgres_dsn(), autocommit=True) as conn:
        table = f'"{store.schema}".entries'
        conn.execute(f"ALTER TABLE {table} SET (autovacuum_enabled = false)")
        conn.execute(
            f"INSERT INTO {table} SELECT 'O' || g || ':a', 'O' || g, 'approve', 'ready', NULL, '[]', "
            "'r', NULL, NULL, 0, 0, g, 0, NULL, g, g FROM generate_series(1, 20000) AS g"
        )
        conn.execute(f"ANALYZE {table}")  # none claimed
        conn.execute(f"UPDATE {table} SET state = 'claimed', due = 5 WHERE seq % 3 = 0")
        ids = [f"O{n}" for n in range(1, 20000, 200)]
        plan = "\n".join(row[0] for row in conn.execute("EXPLAIN " + sql["in_flight"], (ids,)))
    assert "entries_open" in plan, plan
    assert "entries_state" not in plan, plan
    assert len(store.in_flight(ids)) == len([n for n in range(1, 20000, 200) if n % 3 == 0])
