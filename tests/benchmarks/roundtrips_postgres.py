"""Round trips per operation on the PostgreSQL store, counted from libpq's own trace of every
pooled connection (a round trip: the client sends, then waits for the server's answer: each
switch from frontend to backend messages in the trace). Not a timed test: run on demand.

    VOF_POSTGRES_DSN=postgresql://... python tests/benchmarks/roundtrips_postgres.py [--events 200]

It counts, per hook event: `Tracker.apply` as the tracker does it today (row by row), and the
same event as one `snapshot` and one `write` (what the rebuilt tracker does); per claim of 100:
`Tracker.claim`, and one `claim_snapshot` and one `write`. Each pooled checkout is counted too
(a pool that checks its connections adds a round trip to every transaction).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import tempfile
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from vtex_order_flow.tracking import EntryState, OrderEvent, PostgresStore, Tracker, parse_ticks
from vtex_order_flow.tracking._changes import Changes

T0 = parse_ticks("2026-01-05T10:00:00Z")


class Traced:
    """libpq's trace of every connection the store's pool hands out, while measuring."""

    def __init__(self, store: PostgresStore) -> None:
        self.folder = Path(tempfile.mkdtemp(prefix="vof-trace-"))
        self.conns: dict[int, Any] = {}
        self.files: list[Any] = []
        self.on = False
        pool = store._pool
        checkout = pool.connection

        @contextlib.contextmanager
        def traced(*args: Any, **kwargs: Any) -> Iterator[Any]:
            with checkout(*args, **kwargs) as conn:
                if self.on and id(conn) not in self.conns:
                    self._trace(conn)
                yield conn

        pool.connection = traced  # type: ignore[method-assign]

    def _trace(self, conn: Any) -> None:
        from psycopg.pq import Trace

        handle = (self.folder / f"{len(self.files)}.trace").open("w")
        self.files.append(handle)
        self.conns[id(conn)] = conn
        conn.pgconn.trace(handle.fileno())
        conn.pgconn.set_trace_flags(Trace.SUPPRESS_TIMESTAMPS)

    def start(self) -> None:
        for path in self.folder.glob("*.trace"):
            path.unlink()
        self.files.clear()
        known, self.conns = list(self.conns.values()), {}
        self.on = True
        for conn in known:
            if not conn.closed:
                self._trace(conn)

    def stop(self) -> int:
        """Round trips since `start`: switches from what the client sent to what the server
        answered (libpq's trace, flushed by untrace)."""
        self.on = False
        for conn in self.conns.values():
            if not conn.closed:
                conn.pgconn.untrace()
        for handle in self.files:
            handle.close()
        count = 0
        for path in sorted(self.folder.glob("*.trace")):
            previous = ""
            for line in path.read_text().splitlines():
                side = line[:1]
                if side == "B" and previous == "F":
                    count += 1
                if side in "FB":
                    previous = side
        return count


def measure(traced: Traced, what: Callable[[], None]) -> int:
    traced.start()
    what()
    return traced.stop()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--events", type=int, default=200)
    args = parser.parse_args()
    n = args.events
    store = PostgresStore(os.environ["VOF_POSTGRES_DSN"], schema=f"rt_{uuid.uuid4().hex[:10]}", max_size=1)
    try:

        def clock() -> float:
            return T0 / 10_000_000 + 3600

        tracker = Tracker(store=store, clock=clock)
        for i in range(2 * n + 10):
            tracker.register(f"O{i}", "start-handling")
        tracker.apply(OrderEvent("warm", "ready-for-handling", T0))
        traced = Traced(store)

        def apply_events() -> None:
            for i in range(n):
                tracker.apply(OrderEvent(f"O{i}", "ready-for-handling", T0))

        def domain_events() -> None:
            for i in range(n, 2 * n):
                order = f"O{i}"
                with store.transaction():
                    snap = store.snapshot([order])
                    changes = Changes(records={order: ("ready-for-handling", T0)})
                    for entry in snap.entries(order):
                        changes.put(
                            entry.evolve(state=EntryState.READY, due=0.0, status="ready-for-handling")
                        )
                    changes.counters["applied"] += 1
                    store.write(changes)

        def claims() -> None:
            for _ in range(n // 100):
                tracker.claim(100, 30)

        def domain_claims() -> None:
            for _ in range(n // 100):
                with store.transaction():
                    snap = store.claim_snapshot(clock(), 100)
                    changes = Changes()
                    for entry in snap.candidates:
                        changes.put(entry.evolve(state=EntryState.CLAIMED, owner="w", due=clock() + 30))
                    store.write(changes)

        for label, what, count in (
            ("per hook event, Tracker.apply (row by row)", apply_events, n),
            ("per hook event, snapshot + write", domain_events, n),
            ("per claim(100), Tracker.claim", claims, n // 100),
            ("per claim(100), claim_snapshot + write", domain_claims, n // 100),
        ):
            if "snapshot" in label and not hasattr(store, "snapshot"):
                continue  # (a store from before the domain operations)
            print(f"round trips {label + ':':<46} {measure(traced, what) / count:.2f}")
    finally:
        store.drop_schema()
        store.close()


if __name__ == "__main__":
    main()
