"""The SQLite store: records and outbox in one file (standard library), in WAL mode, with a
checkpointer thread."""

from __future__ import annotations

import contextlib
import os
import sqlite3
import threading
import urllib.parse
from collections.abc import Collection, Iterator, Sequence
from typing import Any

from ...errors import InvalidArgumentError, StoreError
from .._events import TICKS_PER_SECOND
from .._types import Anomaly, Entry, EntryState, OrderRecord
from ._base import ExclusiveStore, check_link
from ._rows import entry_of as _entry
from ._rows import facts_of as _facts_of
from ._rows import facts_text as _facts_text
from ._rows import row_of as _row

__all__ = ["SCHEMA_VERSION", "SQLiteStore"]

_KICK_EVERY = 100
"""Commits after which an SQLite store's checkpointer runs without waiting for its period."""

SCHEMA_VERSION = 3
"""The SQLite store's schema version (1: the tracker's deferred updates before the outbox)."""

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (name TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS records (
    order_id TEXT PRIMARY KEY, status TEXT NOT NULL, changed_at INTEGER NOT NULL
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS order_facts (order_id TEXT PRIMARY KEY, facts TEXT NOT NULL) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS entries (
    key TEXT PRIMARY KEY, order_id TEXT NOT NULL, action TEXT NOT NULL, state TEXT NOT NULL,
    payload TEXT, facts TEXT NOT NULL, reason TEXT NOT NULL, drop_class TEXT, status TEXT,
    attempts INTEGER NOT NULL, claims INTEGER NOT NULL, registered_at REAL NOT NULL, due REAL,
    owner TEXT, updated_at REAL NOT NULL, seq INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS entries_open ON entries (order_id)
    WHERE state IN ('pending', 'ready', 'claimed', 'sent', 'retry');
CREATE INDEX IF NOT EXISTS entries_due ON entries (due, seq)
    WHERE state IN ('ready', 'retry', 'claimed', 'sent');
CREATE INDEX IF NOT EXISTS entries_waiting ON entries (registered_at) WHERE state IN ('pending', 'retry');
CREATE INDEX IF NOT EXISTS entries_finished ON entries (updated_at) WHERE state IN ('done', 'dropped');
CREATE INDEX IF NOT EXISTS entries_state ON entries (state, seq);
CREATE TABLE IF NOT EXISTS anomalies (
    seq INTEGER PRIMARY KEY, order_id TEXT NOT NULL, from_status TEXT, to_status TEXT NOT NULL,
    kind TEXT NOT NULL, changed_at INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS counters (name TEXT PRIMARY KEY, value INTEGER NOT NULL) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS order_ids (
    marketplace_id TEXT PRIMARY KEY, order_id TEXT NOT NULL UNIQUE
) WITHOUT ROWID;
"""

# Version 1 kept one row per (order, action) in `deferred`; its sent rows are done entries now.
_UPGRADE_1 = """
INSERT OR IGNORE INTO entries (key, order_id, action, state, payload, facts, reason, drop_class,
    status, attempts, claims, registered_at, due, owner, updated_at, seq)
SELECT order_id || ':' || action, order_id, action,
    CASE state WHEN 'sent' THEN 'done' ELSE state END, NULL, facts, reason,
    CASE state WHEN 'dropped' THEN 'impossible' END, status, attempts, 0,
    COALESCE(registered_at, 0), CASE state WHEN 'retry' THEN retry_at WHEN 'ready' THEN 0 END,
    NULL, COALESCE(registered_at, 0), seq
FROM deferred;
DROP TABLE deferred;
"""

_COLUMNS = (
    "key, order_id, action, state, payload, facts, reason, drop_class, status, attempts, claims, "
    "registered_at, due, owner, updated_at, seq"
)
_SELECT = f"SELECT {_COLUMNS} FROM entries"  # noqa: S608 (constant text)
# An upsert, not INSERT OR REPLACE: an update touches only the indexes of the columns it changes.
_UPSERT = (
    f"INSERT INTO entries ({_COLUMNS}) VALUES ({', '.join('?' * 16)}) ON CONFLICT (key) DO UPDATE SET "  # noqa: S608
    + ", ".join(f"{c} = excluded.{c}" for c in _COLUMNS.split(", ")[1:])
)


class _Typed:
    """An SQLite connection whose statements fail with `StoreError` (a missing table, a file
    that is not a database, a full disk), never with sqlite3's own errors."""

    def __init__(self, db: sqlite3.Connection, path: str) -> None:
        self._db = db
        self._path = path

    def execute(self, sql: str, params: Any = ()) -> sqlite3.Cursor:
        try:
            return self._db.execute(sql, params)
        except sqlite3.Error as error:
            raise StoreError(f"{self._path!r}: {error}") from error

    def executemany(self, sql: str, rows: Any) -> sqlite3.Cursor:
        try:
            return self._db.executemany(sql, rows)
        except sqlite3.Error as error:
            raise StoreError(f"{self._path!r}: {error}") from error

    @property
    def in_transaction(self) -> bool:
        return self._db.in_transaction

    def set_trace_callback(self, callback: Any) -> None:
        self._db.set_trace_callback(callback)

    def close(self) -> None:
        self._db.close()


class _ClosedConnection:
    """What a closed SQLite store holds instead of its connection: every use is a StoreError."""

    in_transaction = False

    def __init__(self, error: StoreError) -> None:
        self.error = error

    def execute(self, *args: Any) -> Any:
        raise self.error

    def executemany(self, *args: Any) -> Any:
        raise self.error

    def set_trace_callback(self, callback: Any) -> None:
        raise self.error

    def close(self) -> None:
        return None


class SQLiteStore(ExclusiveStore):
    """Records and outbox in an SQLite file (standard library), in WAL mode.

    Each `transaction()` is one ``BEGIN IMMEDIATE`` transaction: an event and everything it
    causes commit together or not at all, and no other connection (thread or process) writes
    in between; a writer waits up to `timeout` seconds for another's transaction to end.
    ``synchronous="NORMAL"`` (the default) survives a killed process; ``"FULL"`` also survives
    a power cut, at some cost in speed. The schema is versioned (`SCHEMA_VERSION`); a file of an
    older version is upgraded when opened.

    WAL checkpoints (copying the log back into the database) run on a background thread every
    `checkpoint` seconds and after every hundred commits, so that no hook event pays for one
    (they made one event in a hundred take 4 ms instead of 0.15); SQLite's own checkpoint on
    commit stays as a backstop for a log past 40 MB. ``checkpoint=None`` leaves checkpoints to
    SQLite alone.
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        synchronous: str = "NORMAL",
        timeout: float = 30.0,
        checkpoint: float | None = 1.0,
        readonly: bool = False,
    ) -> None:
        if not isinstance(readonly, bool):
            raise InvalidArgumentError(f"readonly must be True or False, not {readonly!r}")
        if not isinstance(synchronous, str) or synchronous.upper() not in {"NORMAL", "FULL", "EXTRA"}:
            raise InvalidArgumentError(f"synchronous must be NORMAL, FULL or EXTRA, not {synchronous!r}")
        if isinstance(timeout, bool) or not isinstance(timeout, int | float) or not 0 <= timeout < 1e6:
            raise InvalidArgumentError(f"timeout must be a number of seconds >= 0, not {timeout!r}")
        if checkpoint is not None and (
            isinstance(checkpoint, bool)
            or not isinstance(checkpoint, int | float)
            or not 0 < checkpoint < 1e6
        ):
            raise InvalidArgumentError(
                f"checkpoint must be a number of seconds > 0 or None, not {checkpoint!r}"
            )
        try:
            self.path = os.fspath(path)
        except TypeError:
            raise InvalidArgumentError(f"a store's path is a file path, not {path!r}") from None
        super().__init__()
        # One connection, used under the tracker's lock from whichever thread holds it.
        self.readonly = readonly
        try:
            if readonly:  # never created, upgraded or written: a reader beside the writers
                uri = "file:" + urllib.parse.quote(os.path.abspath(self.path)) + "?mode=ro"  # noqa: PTH100
                connection = sqlite3.connect(
                    uri, uri=True, isolation_level=None, check_same_thread=False, timeout=timeout
                )
            else:
                connection = sqlite3.connect(
                    self.path, isolation_level=None, check_same_thread=False, timeout=timeout
                )
        except (sqlite3.Error, ValueError) as error:  # ValueError: a NUL in the path
            raise StoreError(f"cannot open {self.path!r} as an SQLite store: {error}") from None
        self._db: _Typed | _ClosedConnection = _Typed(connection, self.path)
        try:
            self._refuse_foreign()
            if readonly:
                self._check_readable()
            else:
                self._db.execute("PRAGMA journal_mode=WAL")
                self._db.execute(f"PRAGMA synchronous={synchronous.upper()}")
                self._setup()
        except (sqlite3.Error, StoreError) as error:
            self._db.close()
            raise StoreError(f"cannot use {self.path!r} as an SQLite store: {error}") from None
        self._depth = 0
        self._pending_counts: dict[str, int] = {}
        self._counted: dict[str, int] = {}
        self.lock = threading.RLock()
        self._closed = False
        self._stop = threading.Event()
        self._kick = threading.Event()
        self._commits = 0
        self._checkpointer: threading.Thread | None = None
        if checkpoint is not None and self.path not in ("", ":memory:") and not readonly:
            self._db.execute("PRAGMA wal_autocheckpoint=10000")
            self._checkpointer = threading.Thread(
                target=self._checkpoints, args=(float(checkpoint),), name="vof-checkpoint", daemon=True
            )
            self._checkpointer.start()

    def _checkpoints(self, every: float) -> None:
        """Checkpoint the WAL every `every` seconds on a connection of its own (PASSIVE: never
        waits for, nor blocks, a reader or a writer)."""
        try:
            con = sqlite3.connect(self.path, isolation_level=None, timeout=0, check_same_thread=False)
        except sqlite3.Error:
            return
        with contextlib.closing(con):
            while not self._stop.is_set():
                self._kick.wait(every)
                self._kick.clear()
                with contextlib.suppress(sqlite3.Error):
                    con.execute("PRAGMA wal_checkpoint(PASSIVE)")

    def _refuse_foreign(self) -> None:
        """Refuse, before changing anything, a database that holds tables but is not a tracker's
        (of this version, or of version 1: records and deferred updates)."""
        tables = {row[0] for row in self._db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        if tables and "meta" not in tables and not {"records", "deferred"} <= tables:
            shown = ", ".join(sorted(tables)[:5])
            raise StoreError(f"it holds other tables ({shown}): not a tracker's file; nothing was changed")

    def _check_readable(self) -> None:
        """A read-only store reads a tracker's file of this schema or the one before (whose
        id map is empty), and nothing else."""
        tables = {row[0] for row in self._db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        row = (
            self._db.execute("SELECT value FROM meta WHERE name = 'schema_version'").fetchone()
            if ("meta" in tables)
            else None
        )
        if row is None or not str(row[0]).isdigit() or not 2 <= int(row[0]) <= SCHEMA_VERSION:
            raise StoreError(
                f"not a tracker's file of schema version 2 to {SCHEMA_VERSION} "
                f"(found {row[0] if row else None})"
            )
        self.has_id_map = "order_ids" in tables

    def _setup(self) -> None:
        self._db.execute("BEGIN IMMEDIATE")
        try:
            tables = {
                row[0] for row in self._db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")
            }
            version = None
            if "meta" in tables:
                row = self._db.execute("SELECT value FROM meta WHERE name = 'schema_version'").fetchone()
                if row is not None and not str(row[0]).isdigit():
                    raise StoreError(f"its schema version is {row[0]!r}, not a number: not a tracker's file?")
                version = None if row is None else int(row[0])
            if version is not None and version > SCHEMA_VERSION:
                raise StoreError(
                    f"schema version {version} is newer than this library's {SCHEMA_VERSION}; "
                    "upgrade vtex-order-flow"
                )
            for statement in _SCHEMA.split(";"):
                if statement.strip():
                    self._db.execute(statement)
            if "deferred" in tables:
                for statement in _UPGRADE_1.split(";"):
                    if statement.strip():
                        self._db.execute(statement)
                self._db.execute(
                    "INSERT INTO counters (name, value) SELECT 'seq', COALESCE(MAX(seq), 0) FROM entries "
                    "WHERE true ON CONFLICT (name) DO UPDATE SET value = MAX(value, excluded.value)"
                )
            self._db.execute(
                "INSERT INTO meta (name, value) VALUES ('schema_version', ?) "
                "ON CONFLICT (name) DO UPDATE SET value = excluded.value",
                (str(SCHEMA_VERSION),),
            )
            self._db.execute("COMMIT")
        except BaseException:
            # SQLite may have rolled back itself (a full disk does): a second ROLLBACK would
            # replace the real error with "cannot rollback - no transaction is active".
            if self._db.in_transaction:
                self._db.execute("ROLLBACK")
            raise

    @property
    def schema_version(self) -> int:
        """The schema version recorded in the file."""
        row = self._db.execute("SELECT value FROM meta WHERE name = 'schema_version'").fetchone()
        return int(row[0])

    @contextlib.contextmanager
    def transaction(self) -> Iterator[None]:
        with self.lock:
            if self._closed:
                raise self._closed_error()
            if self._depth:
                self._depth += 1
                try:
                    yield
                finally:
                    self._depth -= 1
                return
            try:
                self._db.execute("BEGIN IMMEDIATE")
            except sqlite3.Error as error:
                raise StoreError(f"cannot write to {self.path!r}: {error}") from None
            self._depth = 1
            try:
                yield
                for name, value in self._pending_counts.items():
                    self._db.execute(
                        "INSERT INTO counters (name, value) VALUES (?, ?) "
                        "ON CONFLICT (name) DO UPDATE SET value = value + excluded.value",
                        (name, value),
                    )
                self._db.execute("COMMIT")
                self._announce()
                self._commits += 1
                if self._commits % _KICK_EVERY == 0:
                    self._kick.set()  # a busy writer: checkpoint now, before the log grows long
            except BaseException as error:
                self._readying = False
                if self._db.in_transaction:
                    self._db.execute("ROLLBACK")
                if isinstance(error, StoreError):  # a full disk, a corrupt file: rolled back
                    raise StoreError(f"{error}; nothing of this transaction was written") from error
                raise
            finally:
                self._depth = 0
                self._pending_counts.clear()
                self._counted.clear()

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

    def load_facts(self, order_id: str) -> frozenset[str]:
        row = self._db.execute("SELECT facts FROM order_facts WHERE order_id = ?", (order_id,)).fetchone()
        return frozenset() if row is None else _facts_of(row[0])

    def save_facts(self, order_id: str, facts: frozenset[str]) -> None:
        if facts:
            self._db.execute(
                "INSERT INTO order_facts (order_id, facts) VALUES (?, ?) "
                "ON CONFLICT (order_id) DO UPDATE SET facts = excluded.facts",
                (order_id, _facts_text(facts)),
            )
        else:
            self._db.execute("DELETE FROM order_facts WHERE order_id = ?", (order_id,))

    def load_link(self, marketplace_id: str) -> str | None:
        if not self.has_id_map:
            return None
        row = self._db.execute(
            "SELECT order_id FROM order_ids WHERE marketplace_id = ?", (marketplace_id,)
        ).fetchone()
        return None if row is None else str(row[0])

    def load_marketplace_id(self, order_id: str) -> str | None:
        if not self.has_id_map:
            return None
        row = self._db.execute(
            "SELECT marketplace_id FROM order_ids WHERE order_id = ?", (order_id,)
        ).fetchone()
        return None if row is None else str(row[0])

    def save_link(self, marketplace_id: str, order_id: str) -> None:
        check_link(self, marketplace_id, order_id)
        self._db.execute(
            "INSERT INTO order_ids (marketplace_id, order_id) VALUES (?, ?) ON CONFLICT DO NOTHING",
            (marketplace_id, order_id),
        )

    def load_orders(self, order_ids: Collection[str]) -> dict[str, tuple[str, int, frozenset[str]]]:
        found: dict[str, tuple[str, int, frozenset[str]]] = {}
        ids = list(order_ids)
        for start in range(0, len(ids), 500):
            part = ids[start : start + 500]
            rows = self._db.execute(
                "SELECT r.order_id, r.status, r.changed_at, f.facts FROM records AS r "  # noqa: S608
                "LEFT JOIN order_facts AS f ON f.order_id = r.order_id "
                f"WHERE r.order_id IN ({', '.join('?' * len(part))})",
                part,
            )
            for order_id, status, changed_at, facts in rows:
                found[order_id] = (status, changed_at, _facts_of(facts) if facts else frozenset())
        return found

    def get_entry(self, key: str, *, lock: bool = True) -> Entry | None:
        row = self._db.execute(f"{_SELECT} WHERE key = ?", (key,)).fetchone()
        return None if row is None else _entry(row)

    def save_entries(self, entries: Sequence[Entry]) -> None:
        self._db.executemany(_UPSERT, [_row(entry) for entry in entries])
        if any(entry.state is EntryState.READY for entry in entries):
            self._readying = True

    def save_entry(self, entry: Entry) -> None:
        self._db.execute(_UPSERT, _row(entry))
        if entry.state is EntryState.READY:
            self._readying = True

    def open_entries(self, order_id: str, *, lock: bool = True) -> list[Entry]:
        rows = self._db.execute(
            f"{_SELECT} WHERE order_id = ? AND state IN ('pending', 'ready', 'claimed', 'sent', 'retry') "
            "ORDER BY seq",
            (order_id,),
        )
        return [_entry(row) for row in rows]

    def in_flight(self, order_ids: Collection[str]) -> list[Entry]:
        ids = list(order_ids)
        found: list[Entry] = []
        for start in range(0, len(ids), 500):
            part = ids[start : start + 500]
            rows = self._db.execute(
                # (the partial index's own condition, so that it is usable, then the narrower one)
                f"{_SELECT} INDEXED BY entries_open WHERE order_id IN ({', '.join('?' * len(part))}) "
                "AND state IN ('pending', 'ready', 'claimed', 'sent', 'retry') "
                "AND state IN ('claimed', 'sent')",
                part,
            )
            found += [_entry(row) for row in rows]
        return sorted(found, key=lambda e: e.seq)

    def claimable(self, now: float, limit: int) -> list[Entry]:
        rows = self._db.execute(
            # INDEXED BY: without statistics the planner would take entries_state and sort.
            f"{_SELECT} INDEXED BY entries_due "
            "WHERE state IN ('ready', 'retry', 'claimed', 'sent') AND due <= ? "
            "ORDER BY due, seq LIMIT ?",
            (now, limit),
        )
        return [_entry(row) for row in rows]

    def stale_entries(self, registered_before: float, limit: int) -> list[Entry]:
        rows = self._db.execute(
            f"{_SELECT} INDEXED BY entries_waiting WHERE state IN ('pending', 'retry') AND registered_at < ? "
            "ORDER BY registered_at LIMIT ?",
            (registered_before, limit),
        )
        return [_entry(row) for row in rows]

    def entries(self, *states: EntryState) -> list[Entry]:
        if not states:
            rows = self._db.execute(f"{_SELECT} ORDER BY seq")
        else:
            marks = ", ".join("?" * len(states))
            rows = self._db.execute(
                f"{_SELECT} WHERE state IN ({marks}) ORDER BY seq",
                [str(s) for s in states],
            )
        return [_entry(row) for row in rows]

    def counts(self) -> dict[EntryState, int]:
        rows = self._db.execute("SELECT state, COUNT(*) FROM entries GROUP BY state")
        return {EntryState(state): count for state, count in rows}

    def prune(self, finished_before: float) -> int:
        cursor = self._db.execute(
            "DELETE FROM entries INDEXED BY entries_finished "
            "WHERE state IN ('done', 'dropped') AND updated_at < ?",
            (finished_before,),
        )
        self._db.execute(
            "DELETE FROM anomalies WHERE changed_at < ?", (int(finished_before * TICKS_PER_SECOND),)
        )
        return cursor.rowcount

    def add_anomaly(self, anomaly: Anomaly) -> None:
        self._db.execute(
            "INSERT INTO anomalies (order_id, from_status, to_status, kind, changed_at) "
            "VALUES (?, ?, ?, ?, ?)",
            (anomaly.order_id, anomaly.from_status, anomaly.to_status, anomaly.kind, anomaly.changed_at),
        )

    def incr(self, name: str, by: int = 1) -> None:
        # Counted in memory and written at commit: one statement per transaction, not per
        # event; `counter` reads the stored value once per transaction (no other writer can
        # change it while this one holds the write lock).
        self._pending_counts[name] = self._pending_counts.get(name, 0) + by

    def counter(self, name: str) -> int:
        base = self._counted.get(name)
        if base is None:
            row = self._db.execute("SELECT value FROM counters WHERE name = ?", (name,)).fetchone()
            base = row[0] if row else 0
            if self._depth:
                self._counted[name] = base
        return base + self._pending_counts.get(name, 0)

    def records(self) -> Iterator[OrderRecord]:
        for order_id, status, changed_at in self._db.execute(
            "SELECT order_id, status, changed_at FROM records ORDER BY order_id"
        ):
            yield OrderRecord(order_id, status, changed_at)

    def anomalies(self) -> list[Anomaly]:
        rows = self._db.execute(
            "SELECT order_id, from_status, to_status, kind, changed_at FROM anomalies ORDER BY seq"
        )
        return [Anomaly(*row) for row in rows]

    def close(self) -> None:
        with self.lock:
            self._closed = True
            self._stop.set()
            self._kick.set()
            if self._checkpointer is not None and self._checkpointer is not threading.current_thread():
                self._checkpointer.join()
            self._db.close()
            self._db = _ClosedConnection(self._closed_error())
        with self._ready:
            self._ready.notify_all()

    @property
    def closed(self) -> bool:
        """Whether `close` was called (every use since raises `StoreError`)."""
        return self._closed
