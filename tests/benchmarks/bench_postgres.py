"""Latency of one hook event on the PostgreSQL store under a backlog, run on demand (never by
the test suite), beside the raw-SQL floor measured in the same run.

The store holds OPEN open entries: OPEN/2 orders waiting for the seller's authorization, each
with a pending approve and a pending invoice (loaded fast through the tables the store made:
``_backlog.py``). Then, one at a time, a hook event per chosen order (the status that makes its
approve sendable), each its own transaction as the hook endpoint applies it, durable commits;
alternating with the floor: a hand-written outbox's event in one statement (upsert the order's
status, update its open entries) on its own tables holding the same entries.

(Before issue 21 this script also ran workers and ``claim(100)``: the workers, which divided
each process's count by its own duration, are now ``bench_throughput.py``, with a barrier and
wall-clock spans; the claim is ``bench_claim.py``, at 10k, 100k and 1M open entries.)

    VOF_POSTGRES_DSN=postgresql://... python tests/benchmarks/bench_postgres.py   # README figures
    VOF_POSTGRES_DSN=postgresql://... python tests/benchmarks/bench_postgres.py --quick
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
import uuid

import psycopg
from _backlog import (
    FLOOR_EVENT_POSTGRES,
    SECOND,
    T0,
    TEMPLATE,
    Clock,
    clone_postgres,
    floor_postgres,
    order_id,
    percentile,
)

from vtex_order_flow.tracking import EntryState, OrderEvent, PostgresStore, Tracker

WAITING = "waiting-for-manual-authorization"
NEXT = "waiting-ffmt-authorization"  # (readies the approve)


def line(samples: list[float]) -> str:
    return f"p50 {statistics.median(samples) * 1e3:6.3f} ms   p99 {percentile(samples, 0.99) * 1e3:6.3f} ms"


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--open", type=int, help="open entries (default 1,000,000; --quick 100,000)")
    parser.add_argument("--timed", type=int, help="hook events timed (default 5,000; --quick 1,000)")
    parser.add_argument("--quick", action="store_true", help="a small run")
    args = parser.parse_args()
    open_entries = args.open or (100_000 if args.quick else 1_000_000)
    timed = args.timed or (1_000 if args.quick else 5_000)
    dsn = os.environ.get("VOF_POSTGRES_DSN")
    if not dsn:
        print("set VOF_POSTGRES_DSN to a database this benchmark may create schemas in", file=sys.stderr)
        return 2
    print(f"python {sys.version.split()[0]} on {os.cpu_count()} cores; {time.strftime('%Y-%m-%d %H:%M')}")
    print(f"load average before: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    with psycopg.connect(dsn) as conn:
        print(conn.execute("SELECT version()").fetchone()[0].split(" on ")[0])  # type: ignore[index]
    schema = f"bench_pg_{uuid.uuid4().hex[:8]}"
    floor_schema = f"{schema}_floor"
    orders = open_entries // 2
    try:
        start = time.perf_counter()
        with PostgresStore(dsn, schema=schema) as store:
            seed = Tracker(store=store, clock=Clock(), owner="seed")
            seed.apply(OrderEvent(TEMPLATE, WAITING, T0))
            assert seed.register(TEMPLATE, "approve").state is EntryState.PENDING
            assert seed.register(TEMPLATE, "invoice").state is EntryState.PENDING
        clone_postgres(dsn, schema, orders)
        floor_postgres(dsn, floor_schema, orders, WAITING, "pending")
        print(
            f"\n{open_entries:,} open entries ({orders:,} orders), "
            f"loaded in {time.perf_counter() - start:.1f} s; durable commits"
        )
        step = max(1, orders // timed)
        chosen = [order_id(n) for n in range(0, orders, step)][:timed]
        library: list[float] = []
        floor: list[float] = []
        with (
            PostgresStore(dsn, schema=schema) as store,
            psycopg.connect(dsn, autocommit=True, options=f"-c search_path={floor_schema}") as raw,
        ):
            tracker = Tracker(store=store, clock=Clock(), owner="bench")
            for order in chosen:
                begin = time.perf_counter()
                applied = tracker.apply(OrderEvent(order, NEXT, T0 + SECOND))
                library.append(time.perf_counter() - begin)
                assert len(applied.ready) == 1
                begin = time.perf_counter()
                raw.execute(FLOOR_EVENT_POSTGRES, (order, NEXT, T0 + SECOND, "ready", 0.0))
                floor.append(time.perf_counter() - begin)
        print(f"One hook event, its own transaction ({len(chosen):,} events; library and floor alternate):")
        print(f"  floor: one statement, upsert + entries   {line(floor)}")
        print(f"  Tracker.apply                            {line(library)}")
        print(
            f"  Tracker.apply / floor: p50 {statistics.median(library) / statistics.median(floor):.1f}x, "
            f"p99 {percentile(library, 0.99) / percentile(floor, 0.99):.1f}x"
        )
    finally:
        with psycopg.connect(dsn, autocommit=True) as conn:
            conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
            conn.execute(f'DROP SCHEMA IF EXISTS "{floor_schema}" CASCADE')
    print(f"load average after: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
