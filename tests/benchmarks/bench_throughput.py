"""Multi-process throughput of the outbox, run on demand (never by the test suite), beside the
raw-SQL floor and a peer (pgqueuer) measured in the same run on the same machine.

1, 2 and 4 processes share one store. Every process connects and sets up its share first
(registers a start-handling update per order: untimed), then waits at a barrier; the timed
parts start together:

- **events**: each process applies its orders' hook events (5 per order, the seller flow up
  to ready-for-handling), each event its own transaction, as the hook endpoint applies them;
- a second barrier, then **drain**: ``claim(100)`` until nothing is left, each claimed entry
  finished (``sent``, then ``done``, each its own transaction, as the dispatcher does).

Every process records the wall clock (``time.time()``, one clock for all processes) at the start
and end of each part; a rate is the total count over (latest end - earliest start), never a
sum of per-process rates.

Beside the library, in the same run, with the same processes, barrier and counts:

- **floor**: the same work as a hand-written outbox's minimal SQL (psycopg / sqlite3 directly,
  its own two tables): per event one transaction that upserts the order's status (an older
  event does not move it back) and updates its open entries (ready at ready-for-handling);
  drain: ``UPDATE ... WHERE key IN (SELECT ... LIMIT 100 FOR UPDATE SKIP LOCKED) RETURNING``,
  then per entry one transaction marking it sent and one marking it done.
- **pgqueuer** (PostgreSQL only; the ``bench`` extra): as many jobs as hook events enqueued
  (one ``enqueue`` each, its own transaction) and drained (``dequeue`` 100 at a time, each job
  acknowledged by its own ``log_jobs``). The full cycle compares one item in and one item out:
  ``1 / (1/in + 1/out)`` of each (events and drain for the library, enqueue and ack for pgqueuer).

The kinds alternate (floor, library, pgqueuer), ``--rounds`` times (default 2), each on a fresh
store, so that all see the same load on a shared machine; each rate is the best of the rounds.

Uses only the tracker's public names: ``Tracker(store=, clock=, owner=)``, ``register``,
``apply``, ``claim``, ``sent``, ``done``, and the stores ``SQLiteStore(path)`` and
``PostgresStore(dsn, schema=)``.

    VOF_POSTGRES_DSN=postgresql://... python tests/benchmarks/bench_throughput.py          # README
    VOF_POSTGRES_DSN=postgresql://... python tests/benchmarks/bench_throughput.py --quick  # smaller
    python tests/benchmarks/bench_throughput.py --sqlite-only                               # no server
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import os
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import psycopg
from _backlog import (
    FLOOR_EVENT_POSTGRES,
    FLOOR_TABLES,
    NOW,
    SECOND,
    T0,
    floor_claim_sql,
    floor_event_sqlite,
    order_id,
    sqlite_connect,
)

from vtex_order_flow.tracking import OrderEvent, PostgresStore, SQLiteStore, Tracker

WALK = (
    "waiting-for-manual-authorization",
    "waiting-ffmt-authorization",
    "authorize-fulfillment",
    "window-to-cancel",
    "ready-for-handling",
)
SENDABLE_AT = "ready-for-handling"  # where the floor readies its entry (start-handling)
LEASE = 60.0


def clock() -> float:
    return NOW


def events_of(mine: range) -> list[OrderEvent]:
    """The processes' events, order after order's step: each order's events in their order."""
    return [OrderEvent(order_id(n), state, T0 + i * SECOND) for i, state in enumerate(WALK) for n in mine]


@dataclass(frozen=True)
class Job:
    """One timed run: what runs (`kind`), where (`target`), how many processes and orders."""

    kind: str  # "library", "floor" or "pgqueuer"
    target: str  # an SQLite path, or "postgres:<schema>"
    processes: int
    orders: int
    dsn: str


@dataclass(frozen=True)
class Spans:
    """A process's counts and wall-clock spans (time.time()) of its two timed parts."""

    inward: int
    inward_span: tuple[float, float]
    outward: int
    outward_span: tuple[float, float]


def _timed(barrier: Any, part: Callable[[], int]) -> tuple[int, tuple[float, float]]:
    barrier.wait()
    start = time.time()
    count = part()
    return count, (start, time.time())


# -- the library ------------------------------------------------------------------------------


def _library(job: Job, index: int, barrier: Any) -> Spans:
    store: SQLiteStore | PostgresStore
    if job.target.startswith("postgres:"):
        store = PostgresStore(job.dsn, schema=job.target.split(":", 1)[1])
    else:
        store = SQLiteStore(job.target)
    with store:
        tracker = Tracker(store=store, clock=clock, owner=f"w{index}")
        mine = range(index, job.orders, job.processes)
        for n in mine:
            tracker.register(order_id(n), "start-handling")
        events = events_of(mine)

        def apply() -> int:
            for event in events:
                tracker.apply(event)
            return len(events)

        def drain() -> int:
            finished = 0
            while got := tracker.claim(100, LEASE):
                for entry in got:
                    tracker.sent(entry.key, owner=entry.owner)
                    tracker.done(entry.key)
                finished += len(got)
            return finished

        inward, inward_span = _timed(barrier, apply)
        outward, outward_span = _timed(barrier, drain)
    return Spans(inward, inward_span, outward, outward_span)


# -- the floor: a hand-written outbox's SQL ---------------------------------------------------


def _floor_postgres(job: Job, index: int, barrier: Any) -> Spans:
    schema = job.target.split(":", 1)[1]
    mine = range(index, job.orders, job.processes)
    owner = f"w{index}"
    with psycopg.connect(job.dsn, autocommit=True, options=f"-c search_path={schema}") as conn:
        with conn.cursor() as cursor:
            cursor.executemany(
                "INSERT INTO entries (key, order_id, action, state, due, seq) "
                "VALUES (%s, %s, 'start-handling', 'pending', NULL, %s)",
                [(f"{order_id(n)}:start-handling", order_id(n), n) for n in mine],
            )
        events = events_of(mine)
        claim_sql = floor_claim_sql(True)

        def apply() -> int:
            for event in events:
                ready = event.state == SENDABLE_AT
                conn.execute(
                    FLOOR_EVENT_POSTGRES,
                    (
                        event.order_id,
                        event.state,
                        event.changed_at,
                        "ready" if ready else "pending",
                        0.0 if ready else None,
                    ),
                )
            return len(events)

        def drain() -> int:
            finished = 0
            while got := conn.execute(claim_sql, (owner, NOW + LEASE, NOW)).fetchall():
                for key, _, _ in got:
                    conn.execute(
                        "UPDATE entries SET state = 'sent', due = %s "
                        "WHERE key = %s AND state = 'claimed' AND owner = %s",
                        (NOW + 3600, key, owner),
                    )
                    conn.execute(
                        "UPDATE entries SET state = 'done', due = NULL WHERE key = %s AND state = 'sent'",
                        (key,),
                    )
                finished += len(got)
            return finished

        inward, inward_span = _timed(barrier, apply)
        outward, outward_span = _timed(barrier, drain)
    return Spans(inward, inward_span, outward, outward_span)


def _floor_sqlite(job: Job, index: int, barrier: Any) -> Spans:
    mine = range(index, job.orders, job.processes)
    owner = f"w{index}"
    conn = sqlite_connect(job.target)
    try:
        conn.execute("BEGIN IMMEDIATE")
        conn.executemany(
            "INSERT INTO entries (key, order_id, action, state, due, seq) "
            "VALUES (?, ?, 'start-handling', 'pending', NULL, ?)",
            [(f"{order_id(n)}:start-handling", order_id(n), n) for n in mine],
        )
        conn.execute("COMMIT")
        events = events_of(mine)
        claim_sql = floor_claim_sql(False)

        def apply() -> int:
            for event in events:
                ready = event.state == SENDABLE_AT
                floor_event_sqlite(conn, event.order_id, event.state, event.changed_at, ready)
            return len(events)

        def drain() -> int:
            finished = 0
            while True:
                conn.execute("BEGIN IMMEDIATE")
                got = conn.execute(claim_sql, (owner, NOW + LEASE, NOW)).fetchall()
                conn.execute("COMMIT")
                if not got:
                    return finished
                for key, _, _ in got:
                    conn.execute(
                        "UPDATE entries SET state = 'sent', due = ? "
                        "WHERE key = ? AND state = 'claimed' AND owner = ?",
                        (NOW + 3600, key, owner),
                    )
                    conn.execute(
                        "UPDATE entries SET state = 'done', due = NULL WHERE key = ? AND state = 'sent'",
                        (key,),
                    )
                finished += len(got)

        inward, inward_span = _timed(barrier, apply)
        outward, outward_span = _timed(barrier, drain)
    finally:
        conn.close()
    return Spans(inward, inward_span, outward, outward_span)


# -- the peer: pgqueuer -------------------------------------------------------------------------


def pgqueuer_schema(schema: str) -> None:
    """Where pgqueuer's tables are: its settings are read from the environment, once."""
    from pgqueuer.domain.settings import db_settings

    os.environ["PGQUEUER_SCHEMA"] = schema
    db_settings.cache_clear()


def _pgqueuer(job: Job, index: int, barrier: Any) -> Spans:
    pgqueuer_schema(job.target.split(":", 1)[1])
    return asyncio.run(_pgqueuer_run(job, index, barrier))


async def _pgqueuer_run(job: Job, index: int, barrier: Any) -> Spans:
    from pgqueuer.domain.types import QueueEntrypoint, QueueManagerId
    from pgqueuer.queries import EntrypointExecutionParameter, Queries

    count = len(range(index, job.orders * len(WALK), job.processes))
    payloads = [f'{{"order": "{order_id(n)}"}}'.encode() for n in range(count)]
    conn = await psycopg.AsyncConnection.connect(job.dsn, autocommit=True)
    try:
        queries = Queries.from_psycopg_connection(conn)
        entrypoints = {QueueEntrypoint("bench"): EntrypointExecutionParameter(concurrency_limit=0)}
        manager = QueueManagerId(uuid.uuid4())
        barrier.wait()
        start = time.time()
        for payload in payloads:
            await queries.enqueue("bench", payload)
        inward_span = (start, time.time())
        barrier.wait()
        start = time.time()
        acked = 0
        while jobs := await queries.dequeue(100, entrypoints, manager, None, timedelta(seconds=LEASE)):
            for picked in jobs:
                await queries.log_jobs([(picked, "successful", None)])
            acked += len(jobs)
        return Spans(count, inward_span, acked, (start, time.time()))
    finally:
        await conn.close()


def worker(job: Job, index: int, barrier: Any, results: Any) -> None:
    run = {"library": _library, "pgqueuer": _pgqueuer}.get(job.kind)
    if run is None:
        run = _floor_postgres if job.target.startswith("postgres:") else _floor_sqlite
    try:
        results.put((index, run(job, index, barrier)))
    except BaseException as error:
        barrier.abort()  # (the others fail at their next wait instead of hanging)
        results.put((index, f"{type(error).__name__}: {error}"))
        raise


@dataclass(frozen=True)
class Rates:
    """Counts over the wall-clock spans of all processes together."""

    inward: float
    outward: float
    inward_count: int
    outward_count: int

    @property
    def cycle(self) -> float:
        """One item in and one item out: the harmonic combination of the two rates."""
        return 1 / (1 / self.inward + 1 / self.outward)


def best(runs: list[Rates]) -> Rates:
    """The best rates of several runs of one kind (each part on its own)."""
    return Rates(
        max(r.inward for r in runs), max(r.outward for r in runs), runs[0].inward_count, runs[0].outward_count
    )


def run(job: Job) -> Rates:
    context = multiprocessing.get_context("spawn")
    barrier = context.Barrier(job.processes)
    results = context.Queue()
    procs = [context.Process(target=worker, args=(job, i, barrier, results)) for i in range(job.processes)]
    for proc in procs:
        proc.start()
    spans: list[Spans] = []
    for _ in procs:
        _, got = results.get(timeout=1800)
        if isinstance(got, str):
            raise RuntimeError(f"{job.kind} on {job.target}: a process failed: {got}")
        spans.append(got)
    for proc in procs:
        proc.join()

    def rate(count: int, pairs: list[tuple[float, float]]) -> float:
        return count / (max(end for _, end in pairs) - min(start for start, _ in pairs))

    inward = sum(s.inward for s in spans)
    outward = sum(s.outward for s in spans)
    expected = job.orders * len(WALK) if job.kind == "pgqueuer" else job.orders
    if outward != expected:
        raise RuntimeError(f"{job.kind} on {job.target}: {outward} finished, not {expected}")
    return Rates(
        rate(inward, [s.inward_span for s in spans]),
        rate(outward, [s.outward_span for s in spans]),
        inward,
        outward,
    )


# -- set-up of each run's fresh store -----------------------------------------------------------


def fresh_postgres(dsn: str, kind: str) -> str:
    """A fresh schema for one run, made as its `kind` makes it."""
    schema = f"bench_{kind[:5]}_{uuid.uuid4().hex[:8]}"
    if kind == "library":
        PostgresStore(dsn, schema=schema).close()
    elif kind == "floor":
        with psycopg.connect(dsn, autocommit=True) as conn:
            conn.execute(f'CREATE SCHEMA "{schema}"')
            conn.execute(f'SET search_path = "{schema}"')
            for statement in FLOOR_TABLES:
                conn.execute(statement)
    else:
        pgqueuer_schema(schema)
        asyncio.run(_pgqueuer_install(dsn))
    return schema


async def _pgqueuer_install(dsn: str) -> None:
    from pgqueuer.queries import Queries

    conn = await psycopg.AsyncConnection.connect(dsn, autocommit=True)
    try:
        await Queries.from_psycopg_connection(conn).install()
    finally:
        await conn.close()


def drop_schema(dsn: str, schema: str) -> None:
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')


def fresh_sqlite(directory: str, kind: str) -> str:
    path = str(Path(directory) / f"{kind}.db")
    if kind == "library":
        SQLiteStore(path).close()
    else:
        conn = sqlite_connect(path)
        for statement in FLOOR_TABLES:
            conn.execute(statement)
        conn.close()
    return path


def measure(kind: str, where: str, processes: int, orders: int, dsn: str) -> Rates:
    if where == "postgres":
        schema = fresh_postgres(dsn, kind)
        try:
            return run(Job(kind, f"postgres:{schema}", processes, orders, dsn))
        finally:
            drop_schema(dsn, schema)
    with tempfile.TemporaryDirectory(prefix="vof-bench-") as directory:
        return run(Job(kind, fresh_sqlite(directory, kind), processes, orders, dsn))


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--orders", type=int, help="orders per run (default 1,000; --quick 300)")
    parser.add_argument("--processes", default="1,2,4", help="process counts (default 1,2,4)")
    parser.add_argument("--rounds", type=int, default=2, help="runs of each kind, the best kept (default 2)")
    parser.add_argument("--quick", action="store_true", help="a small run")
    parser.add_argument("--sqlite-only", action="store_true", help="no PostgreSQL (nor pgqueuer)")
    parser.add_argument("--no-pgqueuer", action="store_true", help="PostgreSQL without the peer")
    args = parser.parse_args()
    orders = args.orders or (300 if args.quick else 1000)
    counts = [int(part) for part in args.processes.split(",")]
    dsn = os.environ.get("VOF_POSTGRES_DSN", "")
    if not dsn and not args.sqlite_only:
        print("set VOF_POSTGRES_DSN (a database this benchmark may create schemas in), or --sqlite-only")
        return 2
    print(f"python {sys.version.split()[0]} on {os.cpu_count()} cores; {time.strftime('%Y-%m-%d %H:%M')}")
    print(f"load average before: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    if dsn:
        with psycopg.connect(dsn) as conn:
            print(conn.execute("SELECT version()").fetchone()[0].split(" on ")[0])  # type: ignore[index]
    print(
        f"\n{orders:,} orders a run, best of {args.rounds} rounds: {orders * len(WALK):,} hook events in "
        "(each its own transaction), "
        f"{orders:,} entries drained (claim 100, sent + done each)"
    )
    wheres = ["sqlite"] if args.sqlite_only else ["postgres", "sqlite"]
    header = (
        f"  {'':<22} {'procs':>5} {'events/s':>9} {'floor':>9} {'ratio':>6} "
        f"{'drain/s':>9} {'floor':>9} {'ratio':>6}"
    )
    for where in wheres:
        peer = where == "postgres" and not args.no_pgqueuer
        print(f"\n{'PostgreSQL' if where == 'postgres' else 'SQLite'}:")
        print(header + (f" {'pgq in/s':>9} {'pgq ack/s':>9} {'cycle':>6}" if peer else ""))
        kinds = ["floor", "library"] + (["pgqueuer"] if peer else [])
        for processes in counts:
            # The kinds alternate, round after round, so that all see the same load on the
            # shared machine; each rate is the best of the rounds (the least disturbed).
            rounds = [
                [measure(kind, where, processes, orders, dsn) for kind in kinds] for _ in range(args.rounds)
            ]
            floor, library, *peers = (best([r[k] for r in rounds]) for k in range(len(kinds)))
            line = (
                f"  {'library vs floor':<22} {processes:>5} {library.inward:>9,.0f} {floor.inward:>9,.0f} "
                f"{library.inward / floor.inward:>6.2f} {library.outward:>9,.0f} {floor.outward:>9,.0f} "
                f"{library.outward / floor.outward:>6.2f}"
            )
            for queue in peers:
                line += f" {queue.inward:>9,.0f} {queue.outward:>9,.0f} {library.cycle / queue.cycle:>6.2f}"
            print(line, flush=True)
    print(f"\nload average after: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    print(
        "ratio: library / floor (target >= 0.8); cycle: the library's full cycle over pgqueuer's "
        "(1/(1/in + 1/out) each; target >= 1)"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
