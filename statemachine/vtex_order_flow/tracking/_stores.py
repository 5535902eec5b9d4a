"""Where the tracker keeps its records: in memory (the default) or in SQLite (durable)."""

from __future__ import annotations

import contextlib
import json
import os
import sqlite3
from collections.abc import Iterator
from typing import Protocol

from ..errors import InvalidArgumentError, StoreError
from ._types import Anomaly, Deferred, DeferredState, OrderRecord

__all__ = ["MemoryStore", "SQLiteStore", "Store"]

# Updates still open to a status change: pending ones may become ready or be dropped; ready
# ones not yet sent may stop being sendable; retries wait for their time but are listed too.
_OPEN = (DeferredState.PENDING, DeferredState.READY, DeferredState.RETRY)


class Store(Protocol):
    """What the tracker needs of a store. Every write happens inside `transaction()`; an event
    and everything it causes are written in one transaction."""

    def transaction(self) -> contextlib.AbstractContextManager[None]:
        """A context in which writes happen together (or, where the store can, not at all)."""
        ...

    def load_record(self, order_id: str) -> tuple[str, int] | None:
        """The order's status and when it entered it (100 ns ticks), or None."""
        ...

    def save_record(self, order_id: str, status: str, changed_at: int) -> None:
        """Record the order's status and when it entered it."""
        ...

    def get_deferred(self, order_id: str, action: str) -> Deferred | None:
        """The deferred update of this order and action, or None."""
        ...

    def open_deferred(self, order_id: str) -> list[Deferred]:
        """The order's updates still open to a status change (pending, ready, retry)."""
        ...

    def has_open(self, order_id: str) -> bool:
        """Whether the order has any open update."""
        ...

    def save_deferred(self, deferred: Deferred) -> None:
        """Insert or replace a deferred update."""
        ...

    def add_anomaly(self, anomaly: Anomaly) -> None:
        """Record an anomaly."""
        ...

    def incr(self, name: str, by: int = 1) -> int:
        """Add to a named counter; its new value."""
        ...

    def counter(self, name: str) -> int:
        """A named counter's value (0 when never incremented)."""
        ...

    def records(self) -> Iterator[OrderRecord]:
        """Every order's record."""
        ...

    def deferred(self, *states: DeferredState) -> list[Deferred]:
        """The deferred updates in these states (every one when none is given)."""
        ...

    def anomalies(self) -> list[Anomaly]:
        """Every recorded anomaly, oldest first."""
        ...

    def close(self) -> None:
        """Release the store's resources."""
        ...


class MemoryStore:
    """Records in memory. An order costs one dictionary entry and one integer (its status index
    and time packed together): well under 200 bytes beyond its id."""

    _BITS = 16

    def __init__(self) -> None:
        self._records: dict[str, int] = {}
        self._names: list[str] = []
        self._index: dict[str, int] = {}
        self._deferred: dict[tuple[str, str], Deferred] = {}
        self._open: dict[str, set[str]] = {}
        self._anomalies: list[Anomaly] = []
        self._counters: dict[str, int] = {}

    @contextlib.contextmanager
    def transaction(self) -> Iterator[None]:
        # The tracker computes an event's effects before writing them; nothing to roll back.
        yield

    def load_record(self, order_id: str) -> tuple[str, int] | None:
        packed = self._records.get(order_id)
        if packed is None:
            return None
        return self._names[packed & 0xFFFF], packed >> self._BITS

    def save_record(self, order_id: str, status: str, changed_at: int) -> None:
        index = self._index.get(status)
        if index is None:
            if len(self._names) > 0xFFFF:
                raise StoreError("the memory store holds at most 65,536 distinct statuses")
            index = self._index[status] = len(self._names)
            self._names.append(status)
        self._records[order_id] = changed_at << self._BITS | index

    def get_deferred(self, order_id: str, action: str) -> Deferred | None:
        return self._deferred.get((order_id, action))

    def open_deferred(self, order_id: str) -> list[Deferred]:
        return [self._deferred[(order_id, action)] for action in sorted(self._open.get(order_id, ()))]

    def has_open(self, order_id: str) -> bool:
        return order_id in self._open

    def save_deferred(self, deferred: Deferred) -> None:
        self._deferred[deferred.key] = deferred
        actions = self._open.get(deferred.order_id)
        if deferred.state in _OPEN:
            if actions is None:
                self._open[deferred.order_id] = {deferred.action}
            else:
                actions.add(deferred.action)
        elif actions is not None:
            actions.discard(deferred.action)
            if not actions:
                del self._open[deferred.order_id]

    def add_anomaly(self, anomaly: Anomaly) -> None:
        self._anomalies.append(anomaly)

    def incr(self, name: str, by: int = 1) -> int:
        value = self._counters[name] = self._counters.get(name, 0) + by
        return value

    def counter(self, name: str) -> int:
        return self._counters.get(name, 0)

    def records(self) -> Iterator[OrderRecord]:
        """Every record, by order id (as the SQLite store lists them)."""
        for order_id in sorted(self._records):
            packed = self._records[order_id]
            yield OrderRecord(order_id, self._names[packed & 0xFFFF], packed >> self._BITS)

    def deferred(self, *states: DeferredState) -> list[Deferred]:
        chosen = [d for d in self._deferred.values() if not states or d.state in states]
        return sorted(chosen, key=lambda d: d.seq)

    def anomalies(self) -> list[Anomaly]:
        return list(self._anomalies)

    def __len__(self) -> int:
        return len(self._records)

    def close(self) -> None:
        return None


_SCHEMA = """
CREATE TABLE IF NOT EXISTS records (
    order_id TEXT PRIMARY KEY, status TEXT NOT NULL, changed_at INTEGER NOT NULL
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS deferred (
    order_id TEXT NOT NULL, action TEXT NOT NULL, facts TEXT NOT NULL, state TEXT NOT NULL,
    registered_at REAL, reason TEXT NOT NULL, status TEXT, attempts INTEGER NOT NULL,
    retry_at REAL, seq INTEGER NOT NULL, PRIMARY KEY (order_id, action)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS deferred_open ON deferred (order_id) WHERE state IN ('pending', 'ready', 'retry');
CREATE TABLE IF NOT EXISTS anomalies (
    seq INTEGER PRIMARY KEY, order_id TEXT NOT NULL, from_status TEXT, to_status TEXT NOT NULL,
    kind TEXT NOT NULL, changed_at INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS counters (name TEXT PRIMARY KEY, value INTEGER NOT NULL) WITHOUT ROWID;
"""


class SQLiteStore:
    """Records in an SQLite file (standard library), in WAL mode.

    Each `transaction()` is one SQLite transaction: an event and everything it causes (its
    record, the deferred updates it readied or dropped, its anomaly, the counters) commit
    together or not at all. ``synchronous="NORMAL"`` (the default) survives a killed process;
    ``"FULL"`` also survives a power cut, at some cost in speed.
    """

    def __init__(self, path: str | os.PathLike[str], *, synchronous: str = "NORMAL") -> None:
        if not isinstance(synchronous, str) or synchronous.upper() not in {"NORMAL", "FULL", "EXTRA"}:
            raise InvalidArgumentError(f"synchronous must be NORMAL, FULL or EXTRA, not {synchronous!r}")
        try:
            self.path = os.fspath(path)
        except TypeError:
            raise InvalidArgumentError(f"a store's path is a file path, not {path!r}") from None
        # One connection, used under the tracker's lock from whichever thread holds it.
        try:
            self._db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        except (sqlite3.Error, ValueError) as error:  # ValueError: a NUL in the path
            raise StoreError(f"cannot open {self.path!r} as an SQLite store: {error}") from None
        try:
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute(f"PRAGMA synchronous={synchronous.upper()}")
            self._db.executescript(_SCHEMA)
        except sqlite3.Error as error:
            self._db.close()
            raise StoreError(f"cannot use {self.path!r} as an SQLite store: {error}") from None
        self._depth = 0
        self._pending_counts: dict[str, int] = {}
        self._open = {
            row[0]
            for row in self._db.execute(
                "SELECT DISTINCT order_id FROM deferred WHERE state IN ('pending', 'ready', 'retry')"
            )
        }
        self._open_before: set[str] | None = None

    @contextlib.contextmanager
    def transaction(self) -> Iterator[None]:
        if self._depth:
            self._depth += 1
            try:
                yield
            finally:
                self._depth -= 1
            return
        self._db.execute("BEGIN IMMEDIATE")
        self._depth = 1
        self._open_before = set(self._open)
        try:
            yield
            for name, value in self._pending_counts.items():
                self._db.execute(
                    "INSERT INTO counters (name, value) VALUES (?, ?) "
                    "ON CONFLICT (name) DO UPDATE SET value = value + excluded.value",
                    (name, value),
                )
            self._db.execute("COMMIT")
        except BaseException:
            self._db.execute("ROLLBACK")
            self._open = self._open_before
            raise
        finally:
            self._depth = 0
            self._pending_counts.clear()
            self._open_before = None

    def load_record(self, order_id: str) -> tuple[str, int] | None:
        row = self._db.execute(
            "SELECT status, changed_at FROM records WHERE order_id = ?", (order_id,)
        ).fetchone()
        return None if row is None else (row[0], row[1])

    def save_record(self, order_id: str, status: str, changed_at: int) -> None:
        self._db.execute(
            "INSERT INTO records (order_id, status, changed_at) VALUES (?, ?, ?) "
            "ON CONFLICT (order_id) DO UPDATE SET status = excluded.status, changed_at = excluded.changed_at",
            (order_id, status, changed_at),
        )

    @staticmethod
    def _deferred(row: tuple[object, ...]) -> Deferred:
        order_id, action, facts, state, registered_at, reason, status, attempts, retry_at, seq = row
        return Deferred(
            order_id=str(order_id),
            action=str(action),
            facts=frozenset(json.loads(str(facts))),
            state=DeferredState(str(state)),
            registered_at=None if registered_at is None else float(str(registered_at)),
            reason=str(reason),
            status=None if status is None else str(status),
            attempts=int(str(attempts)),
            retry_at=None if retry_at is None else float(str(retry_at)),
            seq=int(str(seq)),
        )

    _COLUMNS = "order_id, action, facts, state, registered_at, reason, status, attempts, retry_at, seq"

    def get_deferred(self, order_id: str, action: str) -> Deferred | None:
        row = self._db.execute(
            f"SELECT {self._COLUMNS} FROM deferred WHERE order_id = ? AND action = ?",  # noqa: S608
            (order_id, action),
        ).fetchone()
        return None if row is None else self._deferred(row)

    def open_deferred(self, order_id: str) -> list[Deferred]:
        rows = self._db.execute(
            f"SELECT {self._COLUMNS} FROM deferred "  # noqa: S608
            "WHERE order_id = ? AND state IN ('pending', 'ready', 'retry') ORDER BY action",
            (order_id,),
        )
        return [self._deferred(row) for row in rows]

    def has_open(self, order_id: str) -> bool:
        return order_id in self._open

    def save_deferred(self, deferred: Deferred) -> None:
        self._db.execute(
            f"INSERT OR REPLACE INTO deferred ({self._COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",  # noqa: S608
            (
                deferred.order_id,
                deferred.action,
                json.dumps(sorted(deferred.facts)),
                str(deferred.state),
                deferred.registered_at,
                deferred.reason,
                deferred.status,
                deferred.attempts,
                deferred.retry_at,
                deferred.seq,
            ),
        )
        if deferred.state in _OPEN:
            self._open.add(deferred.order_id)
        elif (
            deferred.order_id in self._open
            and not self._db.execute(
                "SELECT 1 FROM deferred WHERE order_id = ? "
                "AND state IN ('pending', 'ready', 'retry') LIMIT 1",
                (deferred.order_id,),
            ).fetchone()
        ):
            self._open.discard(deferred.order_id)

    def add_anomaly(self, anomaly: Anomaly) -> None:
        self._db.execute(
            "INSERT INTO anomalies (order_id, from_status, to_status, kind, changed_at) "
            "VALUES (?, ?, ?, ?, ?)",
            (anomaly.order_id, anomaly.from_status, anomaly.to_status, anomaly.kind, anomaly.changed_at),
        )

    def incr(self, name: str, by: int = 1) -> int:
        # Counted in memory and written at commit: one statement per transaction, not per event.
        self._pending_counts[name] = self._pending_counts.get(name, 0) + by
        return self.counter(name)

    def counter(self, name: str) -> int:
        row = self._db.execute("SELECT value FROM counters WHERE name = ?", (name,)).fetchone()
        return (row[0] if row else 0) + self._pending_counts.get(name, 0)

    def records(self) -> Iterator[OrderRecord]:
        for order_id, status, changed_at in self._db.execute(
            "SELECT order_id, status, changed_at FROM records ORDER BY order_id"
        ):
            yield OrderRecord(order_id, status, changed_at)

    def deferred(self, *states: DeferredState) -> list[Deferred]:
        rows = self._db.execute(f"SELECT {self._COLUMNS} FROM deferred ORDER BY seq")  # noqa: S608
        chosen = [self._deferred(row) for row in rows]
        return [d for d in chosen if not states or d.state in states]

    def anomalies(self) -> list[Anomaly]:
        rows = self._db.execute(
            "SELECT order_id, from_status, to_status, kind, changed_at FROM anomalies ORDER BY seq"
        )
        return [Anomaly(*row) for row in rows]

    def close(self) -> None:
        self._db.close()
