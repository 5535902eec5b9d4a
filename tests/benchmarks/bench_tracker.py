"""Benchmark of the tracker, run on demand (never by the test suite). In one run:

- events applied per second in memory (already parsed, and parsed from hook JSON), against
  its floor, a plain dict update per event;
- events applied per second with SQLite (batched commits, WAL), against raw SQLite upserts of
  the same rows in the same batches;
- bytes per tracked order beyond its id, for 1,000,000 orders in memory (tracemalloc).

    python tests/benchmarks/bench_tracker.py            # the README's figures
    python tests/benchmarks/bench_tracker.py --quick
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import sqlite3
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

from vtex_order_flow import decide
from vtex_order_flow.tracking import MemoryStore, OrderEvent, SQLiteStore, Tracker, format_ticks, parse_event

# The seller flow's happy path, from the model: every status on the way to invoiced.
WALK = [step.dest for step in decide("not-integrated", "tracking").path]
T0 = 17_640_000_000_000_000  # 2025-11-24, in 100 ns ticks


def events(orders: int) -> list[OrderEvent]:
    """Each order walks the seller flow; one event in ten is a duplicate of the one before."""
    out = []
    for step, state in enumerate(WALK):
        for n in range(orders):
            event = OrderEvent(f"MKP-{n:07d}-01", state, T0 + step * 600_0000000 + n)
            out.append(event)
            if n % 10 == 0:
                out.append(event)
    return out


def rate(count: int, seconds: float) -> str:
    return f"{count / seconds:>10,.0f} events/s"


def bench_memory(stream: list[OrderEvent]) -> tuple[float, float]:
    floor: dict[str, tuple[str, int]] = {}
    start = time.perf_counter()
    for event in stream:
        held = floor.get(event.order_id)
        if held is None or held[1] < event.changed_at:
            floor[event.order_id] = (event.state, event.changed_at)
    floor_s = time.perf_counter() - start
    tracker = Tracker(store=MemoryStore())
    for n in range(0, 1000, 10):
        tracker.register(f"MKP-{n:07d}-01", "start-handling")
    start = time.perf_counter()
    tracker.apply_many(stream, batch=1000)
    return floor_s, time.perf_counter() - start


def bench_parse(stream: list[OrderEvent]) -> float:
    bodies = [
        json.dumps(
            {
                "Domain": "Fulfillment",
                "OrderId": e.order_id,
                "State": e.state,
                "LastState": "x",
                "LastChange": format_ticks(e.changed_at - 1),
                "CurrentChange": format_ticks(e.changed_at),
                "Origin": {"Account": "store", "Key": "vtexappkey-store"},
            }
        ).encode()
        for e in stream
    ]
    tracker = Tracker()
    start = time.perf_counter()
    for body in bodies:
        parsed = parse_event(body)
        assert isinstance(parsed, OrderEvent)
        tracker.apply(parsed)
    return time.perf_counter() - start


def bench_sqlite(stream: list[OrderEvent], workdir: Path, batch: int) -> tuple[float, float]:
    raw_path = workdir / "raw.db"
    con = sqlite3.connect(raw_path, isolation_level=None)
    con.execute("PRAGMA journal_mode=WAL")
    con.execute("PRAGMA synchronous=NORMAL")
    con.execute(
        "CREATE TABLE records (order_id TEXT PRIMARY KEY, status TEXT, changed_at INTEGER) WITHOUT ROWID"
    )
    start = time.perf_counter()
    for i in range(0, len(stream), batch):
        con.execute("BEGIN IMMEDIATE")
        for e in stream[i : i + batch]:
            con.execute(
                "INSERT INTO records VALUES (?, ?, ?) ON CONFLICT (order_id) DO UPDATE "
                "SET status = excluded.status, changed_at = excluded.changed_at",
                (e.order_id, e.state, e.changed_at),
            )
        con.execute("COMMIT")
    raw_s = time.perf_counter() - start
    con.close()
    store = SQLiteStore(workdir / "tracker.db")
    tracker = Tracker(store=store)
    start = time.perf_counter()
    tracker.apply_many(stream, batch=batch)
    ours = time.perf_counter() - start
    store.close()
    return raw_s, ours


def bench_bytes(orders: int) -> float:
    ids = [f"MKP-{n:09d}-01" for n in range(orders)]  # the ids exist before: they are not counted
    stream = [OrderEvent(order, "ready-for-handling", T0 + n) for n, order in enumerate(ids)]
    gc.collect()
    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    store = MemoryStore()
    tracker = Tracker(store=store)
    tracker.apply_many(stream, batch=10_000)
    del stream
    gc.collect()
    after = tracemalloc.get_traced_memory()[0]
    tracemalloc.stop()
    assert len(store) == orders
    return (after - before) / orders


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    orders = 20_000 if args.quick else 100_000
    stream = events(orders)
    print(f"python {sys.version.split()[0]} on {os.cpu_count()} cores; {time.strftime('%Y-%m-%d')}")
    print(f"{len(stream):,} events for {orders:,} orders (seller flow walks, 10% duplicates)\n")

    floor_s, memory_s = bench_memory(stream)
    print("In memory:")
    print(f"  floor: dict update per event       {rate(len(stream), floor_s)}")
    print(f"  Tracker.apply_many                 {rate(len(stream), memory_s)}  (target >= 100,000)")
    sample = stream[: len(stream) // 5]
    parse_s = bench_parse(sample)
    print(f"  parse hook JSON + Tracker.apply    {rate(len(sample), parse_s)}")

    with tempfile.TemporaryDirectory(prefix="vof-bench-") as tmp:
        sample = stream[: len(stream) // 2]
        raw_s, sqlite_s = bench_sqlite(sample, Path(tmp), batch=500)
    print("\nSQLite (WAL, synchronous=NORMAL, 500 events per transaction):")
    print(f"  floor: raw upserts, same batches   {rate(len(sample), raw_s)}")
    print(f"  Tracker.apply_many                 {rate(len(sample), sqlite_s)}  (target >= 20,000)")

    per_order = bench_bytes(200_000 if args.quick else 1_000_000)
    print(f"\nMemory: {per_order:.0f} bytes per tracked order beyond its id (target <= 200)")
    ok = len(stream) / memory_s >= 100_000 and len(sample) / sqlite_s >= 20_000 and per_order <= 200
    print("\nAll targets met." if ok else "\nSome targets missed (see above).")
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
