"""Benchmark of the outbox with a large backlog, run on demand (never by the test suite).

An SQLite store holds OPEN open entries (two per order, pending: the orders wait for the
seller's authorization) and FINISHED finished ones (history). Then, one at a time:

- a hook event per order (the status that makes its approve sendable), each in its own
  transaction as the hook endpoint applies it: p50 / p99 / max latency;
- ``claim(100)`` until nothing is left to claim, each claimed entry then marked sent:
  p50 / p99 / max latency of the claim;
- ``expire`` and ``prune`` on the backlog.

Beside each figure, the floor measured in the same run, one after the other: a hand-written
outbox's tables holding the same open entries (another file), its event one transaction (upsert
the order's status, update its open entries), its claim one ``UPDATE ... WHERE key IN (SELECT
... LIMIT 100) RETURNING``.

The store is loaded through the public API (two template orders), then their rows are copied
raw into the tables the store made (``_backlog.py``): no column of the store is named here.

    python tests/benchmarks/bench_outbox.py              # 1,000,000 open entries (README)
    python tests/benchmarks/bench_outbox.py --quick      # 100,000
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

from _backlog import (
    SECOND,
    T0,
    TEMPLATE,
    Clock,
    clone_sqlite,
    floor_claim_sql,
    floor_event_sqlite,
    floor_sqlite,
    order_id,
    sqlite_connect,
)

from vtex_order_flow.tracking import EntryState, OrderEvent, SQLiteStore, Tracker

NOW = T0 / SECOND + 3600
WAITING = "waiting-for-manual-authorization"
NEXT = "waiting-ffmt-authorization"  # (readies the approve)
OLD = "OLD-0000000-99"
MONTH = 86_400 * 30


def clock() -> float:
    return NOW


def old_id(n: int) -> str:
    return f"OLD-{n:07d}-01"


def percentiles(samples: list[float]) -> str:
    ordered = sorted(samples)
    p50 = statistics.median(ordered)
    p99 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]
    return f"p50 {p50 * 1e3:6.3f} ms   p99 {p99 * 1e3:6.3f} ms   max {ordered[-1] * 1e3:7.3f} ms"


def seed(path: Path, open_entries: int, finished: int) -> int:
    """Through the public API, two template orders: one finished a month ago (its approve done),
    one waiting for the seller's authorization with a pending approve and a pending invoice;
    then their rows copied raw into the store's tables (``_backlog.py``)."""
    orders = open_entries // 2
    with SQLiteStore(path) as store:
        month_ago = Tracker(store=store, clock=Clock(NOW - MONTH), owner="seed")
        month_ago.apply(OrderEvent(OLD, NEXT, T0 - MONTH * SECOND))
        month_ago.register(OLD, "approve")
        (claimed,) = month_ago.claim(1, 60)
        month_ago.sent(claimed.key)
        assert month_ago.done(claimed.key).state is EntryState.DONE
        tracker = Tracker(store=store, clock=clock, owner="seed")
        tracker.apply(OrderEvent(TEMPLATE, WAITING, T0))
        assert tracker.register(TEMPLATE, "approve").state is EntryState.PENDING
        assert tracker.register(TEMPLATE, "invoice").state is EntryState.PENDING
    clone_sqlite(str(path), finished, OLD, old_id)
    clone_sqlite(str(path), orders)
    return orders


def floor_events(path: str, orders: list[str]) -> list[float]:
    conn = sqlite_connect(path)
    samples = []
    for order in orders:
        start = time.perf_counter()
        floor_event_sqlite(conn, order, NEXT, T0 + SECOND, True)
        samples.append(time.perf_counter() - start)
    conn.close()
    return samples


def floor_claims(path: str, rounds: int) -> list[float]:
    conn = sqlite_connect(path)
    sql = floor_claim_sql(False)
    samples = []
    for _ in range(rounds):
        start = time.perf_counter()
        conn.execute("BEGIN IMMEDIATE")
        rows = conn.execute(sql, ("bench", NOW + 60, NOW)).fetchall()
        conn.execute("COMMIT")
        samples.append(time.perf_counter() - start)
        assert len(rows) == 100, len(rows)
    conn.close()
    return samples


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--open", type=int, help="open entries (default 1,000,000; --quick 100,000)")
    parser.add_argument("--finished", type=int, help="finished entries (default 200,000; --quick 20,000)")
    parser.add_argument("--events", type=int, help="hook events timed (default 20,000; --quick 2,000)")
    parser.add_argument("--quick", action="store_true", help="a small run")
    args = parser.parse_args()
    args.open = args.open or (100_000 if args.quick else 1_000_000)
    args.finished = args.finished if args.finished is not None else (20_000 if args.quick else 200_000)
    args.events = args.events or (2_000 if args.quick else 20_000)
    print(f"python {sys.version.split()[0]} on {os.cpu_count()} cores; {time.strftime('%Y-%m-%d')}")
    with tempfile.TemporaryDirectory(prefix="vof-outbox-") as tmp:
        path = Path(tmp) / "outbox.db"
        start = time.perf_counter()
        orders = seed(path, args.open, args.finished)
        print(
            f"{args.open:,} open entries ({orders:,} orders) and {args.finished:,} finished, "
            f"seeded in {time.perf_counter() - start:.1f} s; {path.stat().st_size / 1e6:,.0f} MB\n"
        )
        step = max(1, orders // args.events)
        chosen = [order_id(n) for n in range(0, orders, step)][: args.events]
        floor_path = str(Path(tmp) / "floor.db")
        floor_sqlite(floor_path, orders, WAITING, "pending")

        floor = floor_events(floor_path, chosen)
        with SQLiteStore(path) as store:
            tracker = Tracker(store=store, clock=clock, owner="bench")
            samples = []
            for order in chosen:
                event = OrderEvent(order, NEXT, T0 + SECOND)
                begin = time.perf_counter()
                applied = tracker.apply(event)
                samples.append(time.perf_counter() - begin)
                assert len(applied.ready) == 1, applied
            print("One hook event (its own transaction; readies the order's approve):")
            print(f"  floor: upsert + entries         {percentiles(floor)}")
            print(f"  Tracker.apply                   {percentiles(samples)}   (target p99 <= 1 ms)")
            event_p99 = sorted(samples)[int(len(samples) * 0.99)]

            rounds = len(chosen) // 100
            floor_c = floor_claims(floor_path, rounds)
            claims = []
            claimed = 0
            for _ in range(rounds):
                begin = time.perf_counter()
                got = tracker.claim(100, 60)
                claims.append(time.perf_counter() - begin)
                claimed += len(got)
                for entry in got:
                    tracker.sent(entry.key, owner="bench")
            assert claimed == len(chosen), (claimed, len(chosen))
            print(f"\nclaim(100) over the backlog ({rounds} claims of 100, each decided again):")
            print(f"  floor: one UPDATE ... RETURNING {percentiles(floor_c)}")
            print(f"  Tracker.claim(100)              {percentiles(claims)}   (target <= 5 ms, the median)")
            claim_p50 = statistics.median(claims)

            begin = time.perf_counter()
            expired = Tracker(store=store, clock=clock, max_age=10**9).expire()
            took = (time.perf_counter() - begin) * 1e3
            print(f"\nexpire() with nothing to expire: {took:.2f} ms ({len(expired)})")
            begin = time.perf_counter()
            pruned = tracker.prune(older_than=86_400)
            print(f"prune(1 day) of {pruned:,} finished entries: {time.perf_counter() - begin:.2f} s")
    ok = event_p99 <= 0.001 and claim_p50 <= 0.005
    print("\nAll targets met." if ok else "\nSome targets missed (see above).")
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
