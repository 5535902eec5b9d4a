"""The outbox across processes on one store (an SQLite file; a PostgreSQL database when
VOF_POSTGRES_DSN is set): several workers with several threads each, duplicated and reordered
events, workers killed with SIGKILL (some holding claims), a database server restarted."""

from __future__ import annotations

import json
import os
import random
import runpy
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from conftest import drop_postgres_schema, fresh_postgres_store, postgres_dsn
from vtex_order_flow import bundled_model
from vtex_order_flow.tracking import EntryState, OrderEvent, PostgresStore, SQLiteStore, Store, Tracker

WORKER = Path(__file__).with_name("outbox_worker.py")
KIT: dict[str, Any] = runpy.run_path(str(WORKER))
VTEX = bundled_model()


def spawn(*args: object) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, str(WORKER), *map(str, args)], stdout=subprocess.PIPE, text=True)


def claims_of(process: subprocess.Popen[str], timeout: float = 300) -> list[dict[str, str]]:
    out, _ = process.communicate(timeout=timeout)
    assert process.returncode == 0, process.returncode
    return [json.loads(line) for line in out.splitlines()]


@pytest.fixture(params=["sqlite", "postgres"])
def db(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """Where the workers meet: an SQLite file, or a fresh PostgreSQL schema (``postgres:NAME``)."""
    if request.param == "sqlite":
        path = str(tmp_path / "shared.db")
        SQLiteStore(path).close()
        yield path
        return
    store = fresh_postgres_store()
    store.close()
    yield f"postgres:{store.schema}"
    drop_postgres_schema(store.schema)


def open_db(db: str) -> Store:
    if db.startswith("postgres:"):
        return PostgresStore(postgres_dsn(), schema=db.split(":", 1)[1])
    return SQLiteStore(db)


def check_final(db: str, orders: int, seed: int) -> Tracker:
    """Records equal a one-at-a-time replay, nothing ready or pending where VTEX would accept it."""
    events, wanted = KIT["history"](orders, seed)
    reference = Tracker(clock=KIT["clock"])
    reference.apply_many(sorted(set(events), key=lambda e: (e.changed_at, e.state)))
    tracker = Tracker(store=open_db(db), clock=KIT["clock"])
    assert [(r.order_id, r.status, r.changed_at) for r in tracker.records()] == [
        (r.order_id, r.status, r.changed_at) for r in reference.records()
    ]
    assert {(e.order_id, e.action) for e in tracker.entries()} == set(wanted)  # nothing lost
    unclaimed = set()
    for entry in tracker.entries(EntryState.PENDING, EntryState.READY):
        decision = tracker.decide(entry.order_id, entry.action, entry.facts)
        if entry.state is EntryState.READY:
            # Sendable: held back behind another update of its order on its way (the workers
            # never answer) that it does not commute with, or readied after the workers' last
            # claim (the one it waited behind finished by an event): then the next claim takes it.
            if not tracker.in_flight(entry.order_id):
                unclaimed.add(entry.key)
            continue
        assert decision is None or decision.verdict.value == "defer", (entry, decision)
    if unclaimed:
        with Tracker(store=open_db(db), clock=KIT["clock"]) as claimer:
            taken = {e.key for e in claimer.claim(10_000, 60)}
        assert unclaimed <= taken, unclaimed - taken  # never stranded
    return tracker


def test_four_processes_of_four_threads_claim_every_entry_once(db: str) -> None:
    orders, seed = 300, 20261127
    workers = [spawn("run", db, index, 4, orders, seed, 4) for index in range(4)]
    claims = [claim for worker in workers for claim in claims_of(worker)]
    counted = Counter(claim["key"] for claim in claims)
    assert counted
    assert max(counted.values()) == 1, counted.most_common(3)  # one claim per entry
    tracker = check_final(db, orders, seed)
    # every claim was sent; those whose goal the order reached since are done
    assert set(counted) == {e.key for e in tracker.entries(EntryState.SENT, EntryState.DONE)}
    tracker.close()


def test_a_worker_killed_holding_claims_loses_them_only_until_their_lease_expires(db: str) -> None:
    with Tracker(store=open_db(db)) as setup:
        for n in range(40):
            setup.apply(OrderEvent(f"O{n}", "ready-for-handling", KIT["T0"]))
            setup.register(f"O{n}", "start-handling")
    doomed = spawn("hold", db, 10, 30)
    assert doomed.stdout is not None
    held = set(json.loads(doomed.stdout.readline()))
    os.kill(doomed.pid, signal.SIGKILL)
    doomed.wait(timeout=60)
    doomed.stdout.close()
    assert doomed.returncode == -signal.SIGKILL
    assert len(held) == 10

    with Tracker(store=open_db(db), owner="survivor") as survivor:
        others = {e.key for e in survivor.claim(100, 30)}
        assert len(others) == 30
        assert not others & held  # the dead worker's leases still hold
        for key in others:
            survivor.sent(key, owner="survivor")
    later = time.time() + 31
    with Tracker(store=open_db(db), owner="heir", clock=lambda: later) as heir:
        inherited = heir.claim(100, 30)
        assert {e.key for e in inherited} == held  # exactly those, once more; nothing else
        assert all(e.claims == 2 for e in inherited)
        assert heir.claim(100, 30) == []


@pytest.mark.parametrize("seed", [7, 8, 9])
def test_workers_killed_at_random_points_lose_nothing(db: str, seed: int) -> None:
    orders = 200
    rng = random.Random(seed)
    killed: list[dict[str, str]] = []
    deaths = 0
    survivors = [spawn("run", db, index, 3, orders, seed, 2) for index in (1, 2)]
    for _ in range(4):  # worker 0 kills itself at a random entry write, four times, and restarts
        victim = spawn("run", db, 0, 3, orders, seed, 2, rng.randint(1, 60))
        out, _ = victim.communicate(timeout=120)
        assert victim.returncode in (0, -signal.SIGKILL)  # (a restart may find little left to write)
        deaths += victim.returncode == -signal.SIGKILL
        killed += [json.loads(line) for line in out.splitlines() if line.endswith("}")]
    assert deaths >= 2
    finished = spawn("run", db, 0, 3, orders, seed, 2)
    claims = killed + [claim for worker in [*survivors, finished] for claim in claims_of(worker)]
    # A claim of a killed worker never expired: nobody took its entries while it held them.
    counted = Counter(claim["key"] for claim in claims)
    assert max(counted.values(), default=1) == 1, counted.most_common(3)
    later = KIT["clock"]() + 7200
    with Tracker(store=open_db(db), clock=lambda: later, owner="sweeper") as sweeper:
        held = {e.key: e.owner for e in sweeper.entries(EntryState.CLAIMED)}
        assert all(owner is not None and owner.startswith("p0-") for owner in held.values())
        swept = {e.key for e in sweeper.claim(10_000, 60)}
        for key in held:  # every claim the killed ones held was released, and decided again
            entry = sweeper.entry(key)
            assert entry is not None
            assert entry.owner == "sweeper" or entry.state is not EntryState.CLAIMED, entry
        for key in swept:
            sweeper.sent(key)
    check_final(db, orders, seed).close()
