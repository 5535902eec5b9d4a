"""A worker process for the outbox's multi-process tests (run by tests/test_outbox_processes.py).

python tests/outbox_worker.py run DB INDEX WORKERS ORDERS SEED THREADS [DIE_AFTER]
    Its share of one shared history (events duplicated and shuffled, updates registered),
    on THREADS threads, each with its own SQLite connection and tracker: register, apply,
    claim and mark sent. Prints one JSON line per claim: {"key", "owner"}. With DIE_AFTER,
    the process kills itself with SIGKILL at that entry write, in the middle of a
    transaction.
python tests/outbox_worker.py hold DB COUNT LEASE
    Claims COUNT entries with a LEASE, prints their keys as one JSON line, then sleeps
    (to be killed holding them).
"""

from __future__ import annotations

import functools
import json
import os
import random
import signal
import sys
import threading
import time
from collections.abc import Callable
from typing import Any, TypeVar

from vtex_order_flow.errors import StoreError
from vtex_order_flow.tracking import Entry, OrderEvent, PostgresStore, SQLiteStore, Tracker, parse_ticks
from vtex_order_flow.tracking.stores import Changes

T = TypeVar("T")
T0 = parse_ticks("2026-01-05T10:00:00Z")
SECOND = 10_000_000
WALK = [
    "waiting-for-manual-authorization",
    "waiting-ffmt-authorization",
    "authorize-fulfillment",
    "window-to-cancel",
    "ready-for-handling",
    "handling",
    "invoice",
    "invoiced",
]


def history(orders: int, seed: int) -> tuple[list[OrderEvent], list[tuple[str, str]]]:
    """Each order's walk as events, a third of them duplicated, all shuffled; two updates wanted
    per order."""
    rng = random.Random(seed)
    events: list[OrderEvent] = []
    wanted: list[tuple[str, str]] = []
    for n in range(orders):
        order = f"MKP-{n:05d}"
        steps = WALK[: rng.randint(2, len(WALK))]
        events += [OrderEvent(order, state, T0 + i * SECOND) for i, state in enumerate(steps)]
        wanted += [(order, action) for action in rng.sample(["approve", "start-handling", "invoice"], k=2)]
    events += rng.sample(events, k=len(events) // 3)
    rng.shuffle(events)
    return events, wanted


def retrying(call: Callable[[], T]) -> T:
    """A call retried while the store is unreachable (a server restarting): each failed
    attempt wrote nothing."""
    for _ in range(300):
        try:
            return call()
        except StoreError:
            time.sleep(0.1)
    return call()


def clock() -> float:
    return T0 / SECOND + 3600


class Mortal:
    """Counts entry writes; the process dies (SIGKILL) at the `die_after`-th, in the middle of
    its transaction."""

    writes = 0
    die_after = 0
    write_lock = threading.Lock()

    @classmethod
    def wrote(cls) -> None:
        with cls.write_lock:
            cls.writes += 1
            if cls.writes == cls.die_after:
                os.kill(os.getpid(), signal.SIGKILL)


class MortalSQLite(SQLiteStore):
    def write(self, changes: Changes) -> dict[str, Entry]:
        written = super().write(changes)  # (in the tracker's transaction: not committed yet)
        Mortal.wrote()
        return written


class MortalPostgres(PostgresStore):
    def write(self, changes: Changes) -> dict[str, Entry]:
        written = super().write(changes)  # (queued in the pipeline: it travels with the commit)
        Mortal.wrote()
        return written


def open_store(db: str, **options: Any) -> SQLiteStore | PostgresStore:
    """The store DB names (killable when Mortal.die_after is set)."""
    if db.startswith("postgres:"):
        return MortalPostgres(os.environ["VOF_POSTGRES_DSN"], schema=db.split(":", 1)[1], max_size=2)
    return MortalSQLite(db, timeout=120, **options)


def run(db: str, share: tuple[int, int], orders: int, seed: int, threads: int, *, die_after: int = 0) -> None:
    index, workers = share
    events, wanted = history(orders, seed)
    events, wanted = events[index::workers], wanted[index::workers]
    out = threading.Lock()
    failures: list[BaseException] = []

    def work(part: int) -> None:
        try:
            Mortal.die_after = die_after
            with open_store(db) as store:
                tracker = Tracker(store=store, clock=clock, owner=f"p{index}-t{part}")
                mine_events, mine_wanted = events[part::threads], wanted[part::threads]
                for step in range(max(len(mine_events), len(mine_wanted))):
                    if step < len(mine_wanted):
                        retrying(functools.partial(tracker.register, *mine_wanted[step]))
                    if step < len(mine_events):
                        retrying(functools.partial(tracker.apply, mine_events[step]))
                    if step % 3 == 0:
                        take(tracker)
                take(tracker)
        except BaseException as error:
            failures.append(error)

    def take(tracker: Tracker) -> None:
        for entry in retrying(lambda: tracker.claim(20, 3600)):
            with out:
                print(json.dumps({"key": entry.key, "owner": entry.owner}), flush=True)
            retrying(functools.partial(tracker.sent, entry.key, owner=entry.owner))

    pool = [threading.Thread(target=work, args=(part,)) for part in range(threads)]
    for thread in pool:
        thread.start()
    for thread in pool:
        thread.join()
    if failures:
        raise failures[0]


def hold(db: str, count: int, lease: float) -> None:
    with open_store(db) as store:
        tracker = Tracker(store=store, owner="doomed")
        keys = [entry.key for entry in tracker.claim(count, lease)]
        print(json.dumps(keys), flush=True)
        time.sleep(600)


if __name__ == "__main__":
    mode, *args = sys.argv[1:]
    if mode == "run":
        index, workers, orders, seed, threads = (int(a) for a in args[1:6])
        run(args[0], (index, workers), orders, seed, threads, die_after=int(args[6]) if len(args) > 6 else 0)
    else:
        hold(args[0], int(args[1]), float(args[2]))
