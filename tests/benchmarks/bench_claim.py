"""Latency of ``claim(100)`` under a backlog of open entries, on both SQL stores, beside the
raw claim query alone (the floor) measured in the same run; run on demand (never by the tests).

For each store and each backlog size (10,000, 100,000 and 1,000,000 open entries): the store
holds N/2 orders in waiting-ffmt-authorization, each with a ready approve and a pending invoice
(so N/2 claimable). A warm-up, then claims one after the other, the library's and the floor's
alternating (so that both see the same load on a shared machine): p50, p99 and p99/p50 of each,
and the library's p50 over the floor's.

Between two claims the tracker's clock moves on past the lease (1 s): once the ready entries
are taken, a claim takes entries whose lease expired (a worker that died), so every claim
finds 100 entries and the backlog keeps its size, in the library and in the floor alike.

Loading: one template order is made through the public API (``Tracker.apply`` and
``Tracker.register`` on the store, so its rows are the store's own), then its rows are copied
raw, N/2 times with the order id replaced, into whatever tables the store created (``COPY`` on
PostgreSQL, one ``executemany`` per table on SQLite; columns named ``seq`` numbered anew), and
the tables analysed. Registering a million entries one transaction each through the API would
take hours on PostgreSQL. The floor is a hand-written outbox's two tables (``orders``,
``entries``, the partial indexes a claim needs) loaded with the same entries, and its claim is
one statement: ``UPDATE entries SET state = 'claimed' ... WHERE key IN (SELECT key ... ORDER BY
due, seq LIMIT 100 FOR UPDATE SKIP LOCKED) RETURNING key, order_id, action``.

    VOF_POSTGRES_DSN=postgresql://... python tests/benchmarks/bench_claim.py           # README
    VOF_POSTGRES_DSN=postgresql://... python tests/benchmarks/bench_claim.py --quick   # 10k, 100k
    python tests/benchmarks/bench_claim.py --sqlite-only
"""

from __future__ import annotations

import argparse
import os
import sqlite3
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import psycopg
from _backlog import (
    NOW,
    T0,
    TEMPLATE,
    Clock,
    clone_postgres,
    clone_sqlite,
    floor_claim_sql,
    floor_postgres,
    floor_sqlite,
    percentile,
)

from vtex_order_flow.tracking import EntryState, OrderEvent, PostgresStore, SQLiteStore, Tracker

LEASE = 1.0
STATUS = "waiting-ffmt-authorization"  # (the approve is sendable, the invoice is not yet)


def make_template(store: SQLiteStore | PostgresStore) -> None:
    """One order through the public API: its rows are the store's own."""
    tracker = Tracker(store=store, clock=Clock(), owner="seed")
    tracker.apply(OrderEvent(TEMPLATE, STATUS, T0))
    assert tracker.register(TEMPLATE, "approve").state is EntryState.READY
    assert tracker.register(TEMPLATE, "invoice").state is EntryState.PENDING


def measure(
    store: SQLiteStore | PostgresStore, floor: Any, postgres: bool, warmup: int, timed: int
) -> tuple[list[float], list[float]]:
    """Claims of the library and of the floor, alternating; the timed ones' durations."""
    clock = Clock(NOW)
    tracker = Tracker(store=store, clock=clock, owner="bench")
    sql = floor_claim_sql(postgres)
    library: list[float] = []
    raw: list[float] = []
    for i in range(warmup + timed):
        clock.now += 2 * LEASE  # (every lease taken so far has expired)
        begin = time.perf_counter()
        got = tracker.claim(100, LEASE)
        took = time.perf_counter() - begin
        assert len(got) == 100, len(got)
        begin = time.perf_counter()
        if postgres:
            rows = floor.execute(sql, ("bench", clock.now + LEASE, clock.now)).fetchall()
        else:
            floor.execute("BEGIN IMMEDIATE")
            rows = floor.execute(sql, ("bench", clock.now + LEASE, clock.now)).fetchall()
            floor.execute("COMMIT")
        floor_took = time.perf_counter() - begin
        assert len(rows) == 100, len(rows)
        if i >= warmup:
            library.append(took)
            raw.append(floor_took)
    return library, raw


def report(name: str, size: int, loaded: float, library: list[float], raw: list[float]) -> None:
    lib50, lib99 = statistics.median(library), percentile(library, 0.99)
    raw50, raw99 = statistics.median(raw), percentile(raw, 0.99)
    print(
        f"  {name:<10} {size:>9,} {loaded:>6.1f}s {lib50 * 1e3:>8.2f} {lib99 * 1e3:>8.2f} "
        f"{lib99 / lib50:>7.1f} "
        f"{raw50 * 1e3:>8.2f} {raw99 * 1e3:>8.2f} {raw99 / raw50:>7.1f} {lib50 / raw50:>9.1f}",
        flush=True,
    )


def run_postgres(dsn: str, size: int, warmup: int, timed: int) -> None:
    schema = f"bench_claim_{uuid.uuid4().hex[:8]}"
    floor_schema = f"{schema}_floor"
    try:
        start = time.perf_counter()
        with PostgresStore(dsn, schema=schema) as store:
            make_template(store)
        clone_postgres(dsn, schema, size // 2)
        floor_postgres(dsn, floor_schema, size // 2, STATUS, "ready")
        loaded = time.perf_counter() - start
        with (
            PostgresStore(dsn, schema=schema) as store,
            psycopg.connect(dsn, autocommit=True, options=f"-c search_path={floor_schema}") as floor,
        ):
            library, raw = measure(store, floor, True, warmup, timed)
        report("PostgreSQL", size, loaded, library, raw)
    finally:
        with psycopg.connect(dsn, autocommit=True) as conn:
            conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
            conn.execute(f'DROP SCHEMA IF EXISTS "{floor_schema}" CASCADE')


def run_sqlite(size: int, warmup: int, timed: int) -> None:
    with tempfile.TemporaryDirectory(prefix="vof-claim-") as directory:
        path = str(Path(directory) / "store.db")
        floor_path = str(Path(directory) / "floor.db")
        start = time.perf_counter()
        with SQLiteStore(path) as store:
            make_template(store)
        clone_sqlite(path, size // 2)
        floor_sqlite(floor_path, size // 2, STATUS, "ready")
        loaded = time.perf_counter() - start
        floor = sqlite3.connect(floor_path, isolation_level=None)
        try:
            floor.execute("PRAGMA synchronous=NORMAL")
            with SQLiteStore(path) as store:
                library, raw = measure(store, floor, False, warmup, timed)
        finally:
            floor.close()
        report("SQLite", size, loaded, library, raw)


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--sizes", help="open entries, comma-separated (default 10000,100000,1000000)")
    parser.add_argument("--claims", type=int, help="timed claims per size (default 300; --quick 100)")
    parser.add_argument("--quick", action="store_true", help="a small run: 10,000 and 100,000")
    parser.add_argument("--sqlite-only", action="store_true", help="no PostgreSQL")
    args = parser.parse_args()
    default = "10000,100000" if args.quick else "10000,100000,1000000"
    sizes = [int(part) for part in (args.sizes or default).split(",")]
    timed = args.claims or (100 if args.quick else 300)
    warmup = 20
    dsn = os.environ.get("VOF_POSTGRES_DSN", "")
    if not dsn and not args.sqlite_only:
        print("set VOF_POSTGRES_DSN (a database this benchmark may create schemas in), or --sqlite-only")
        return 2
    print(f"python {sys.version.split()[0]} on {os.cpu_count()} cores; {time.strftime('%Y-%m-%d %H:%M')}")
    print(f"load average before: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    print(
        f"\nclaim(100): {warmup} warm-up claims, then {timed} timed; the library's and the floor's alternate"
    )
    print(
        f"  {'store':<10} {'open':>9} {'load':>7} {'p50 ms':>8} {'p99 ms':>8} {'p99/p50':>7} "
        f"{'floor p50':>8} {'p99':>8} {'p99/p50':>7} {'p50/floor':>9}"
    )
    for size in sizes:
        if not args.sqlite_only:
            run_postgres(dsn, size, warmup, timed)
        run_sqlite(size, warmup, timed)
    print(f"\nload average after: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    print("targets: p50 <= 2x the floor's p50 (p50/floor), p99 <= 3x p50 (p99/p50)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
