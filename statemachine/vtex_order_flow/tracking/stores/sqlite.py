"""The SQLite store: records and outbox in one file (standard library), in WAL mode, with a
checkpointer thread. Its statements are in sql/sqlite/ (`_sql.py` loads them)."""

from __future__ import annotations

import contextlib
import json
import os
import sqlite3
import threading
import urllib.parse
from collections.abc import Collection, Iterator, Sequence

from ...errors import InvalidArgumentError, StoreError
from .._changes import Changes, ClaimSnapshot, OrderState, Snapshot
from .._events import TICKS_PER_SECOND
from .._types import Anomaly, Entry, EntryState, OrderRecord
from . import _operations, _sql
from ._base import ExclusiveStore, check_link
from ._connection import ClosedConnection as _ClosedConnection
from ._connection import Typed as _Typed
from ._rows import entry_of as _entry
from ._rows import facts_of as _facts_of
from ._rows import facts_text as _facts_text
from ._rows import row_of as _row

__all__ = ["SCHEMA_VERSION", "SQLiteStore"]

_KICK_EVERY = 100
"""Commits after which an SQLite store's checkpointer runs without waiting for its period."""

_Q = _sql.queries("sqlite")

SCHEMA_VERSION = _sql.latest("sqlite")
"""The SQLite store's schema version (1: the tracker's deferred updates before the outbox; 2:
the outbox; 3: the id map), its migrations' last number."""


def _ids(values: Collection[str]) -> str:
    """A list of ids as one parameter (a JSON array, read with json_each)."""
    return json.dumps(list(values))


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
                self._db.execute(_Q["journal_wal"])
                self._db.execute(_Q[f"synchronous_{synchronous.lower()}"])
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
            self._db.execute(_Q["autocheckpoint"])
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
                    con.execute(_Q["checkpoint"])

    def _tables(self) -> set[str]:
        return {row[0] for row in self._db.execute(_Q["tables"])}

    def _refuse_foreign(self) -> None:
        """Refuse, before changing anything, a database that holds tables but is not a tracker's
        (of this version, or of version 1: records and deferred updates)."""
        tables = self._tables()
        if tables and "meta" not in tables and not {"records", "deferred"} <= tables:
            shown = ", ".join(sorted(tables)[:5])
            raise StoreError(f"it holds other tables ({shown}): not a tracker's file; nothing was changed")

    def _check_readable(self) -> None:
        """A read-only store reads a tracker's file of this schema or the one before (whose
        id map is empty), and nothing else."""
        tables = self._tables()
        row = self._db.execute(_Q["schema_version"]).fetchone() if "meta" in tables else None
        if row is None or not str(row[0]).isdigit() or not 2 <= int(row[0]) <= SCHEMA_VERSION:
            raise StoreError(
                f"not a tracker's file of schema version 2 to {SCHEMA_VERSION} "
                f"(found {row[0] if row else None})"
            )
        self.has_id_map = "order_ids" in tables

    @contextlib.contextmanager
    def _immediate(self) -> Iterator[None]:
        self._db.execute(_Q["begin"])
        try:
            yield
            self._db.execute(_Q["commit"])
        except BaseException:
            # SQLite may have rolled back itself (a full disk does): a second ROLLBACK would
            # replace the real error with "cannot rollback - no transaction is active".
            if self._db.in_transaction:
                self._db.execute(_Q["rollback"])
            raise

    def _setup(self) -> None:
        _sql.migrate(
            lambda sql, params: self._db.execute(sql, params).fetchall(),
            self._immediate,
            "sqlite",
            what="the file",
        )

    @property
    def schema_version(self) -> int:
        """The schema version recorded in the file."""
        row = self._db.execute(_Q["schema_version"]).fetchone()
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
                self._db.execute(_Q["begin"])
            except sqlite3.Error as error:
                raise StoreError(f"cannot write to {self.path!r}: {error}") from None
            self._depth = 1
            try:
                yield
                for name, value in self._pending_counts.items():
                    self._db.execute(_Q["add_counter"], (name, value))
                self._db.execute(_Q["commit"])
                self._announce()
                self._commits += 1
                if self._commits % _KICK_EVERY == 0:
                    self._kick.set()  # a busy writer: checkpoint now, before the log grows long
            except BaseException as error:
                self._readying = False
                if self._db.in_transaction:
                    self._db.execute(_Q["rollback"])
                if isinstance(error, StoreError):  # a full disk, a corrupt file: rolled back
                    raise StoreError(f"{error}; nothing of this transaction was written") from error
                raise
            finally:
                self._depth = 0
                self._pending_counts.clear()
                self._counted.clear()

    def snapshot(self, order_ids: Collection[str], *, lock: bool = True, links: bool = True) -> Snapshot:
        # Three statements whatever the number of orders (a transaction already excludes every
        # other writer: no lock to take).
        ids = _ids(sorted(set(order_ids)))
        # A reader's snapshot (no lock, no transaction of the caller's) reads in autocommit, as
        # the readers always did: under WAL it neither waits for a writer nor holds one up. An
        # operation's snapshot runs in the caller's transaction (BEGIN IMMEDIATE).
        reading = not lock and not self._depth
        if reading and self._closed:
            raise self._closed_error()
        with contextlib.nullcontext() if reading else self.transaction():
            orders = {
                order_id: OrderState(status, changed_at or 0, _facts_of(facts) if facts else frozenset())
                for order_id, status, changed_at, facts in self._db.execute(_Q["snapshot_orders"], (ids,))
            }
            read = links and self.has_id_map
            pairs = self._db.execute(_Q["snapshot_links"], (ids,)).fetchall() if read else []
            entries = [_entry(row) for row in self._db.execute(_Q["snapshot_entries"], (ids,))]
        asked = set(order_ids)
        return Snapshot(
            orders,
            _operations.by_order(entries),
            {m: o for m, o in pairs if m in asked},
            {o: m for m, o in pairs if o in asked},
        )

    def claim_snapshot(self, now: float, limit: int) -> ClaimSnapshot:
        return _operations.claim_snapshot(self, now, limit)

    def write(self, changes: Changes) -> dict[str, Entry]:
        return _operations.write(self, changes)

    def load_record(self, order_id: str) -> tuple[str, int] | None:
        row = self._db.execute(_Q["load_record"], (order_id,)).fetchone()
        return None if row is None else (row[0], row[1])

    def save_record(self, order_id: str, status: str, changed_at: int) -> None:
        self._db.execute(_Q["save_record"], (order_id, status, changed_at))

    def load_facts(self, order_id: str) -> frozenset[str]:
        row = self._db.execute(_Q["load_facts"], (order_id,)).fetchone()
        return frozenset() if row is None else _facts_of(row[0])

    def save_facts(self, order_id: str, facts: frozenset[str]) -> None:
        if facts:
            self._db.execute(_Q["save_facts"], (order_id, _facts_text(facts)))
        else:
            self._db.execute(_Q["delete_facts"], (order_id,))

    def load_link(self, marketplace_id: str) -> str | None:
        if not self.has_id_map:
            return None
        row = self._db.execute(_Q["load_link"], (marketplace_id,)).fetchone()
        return None if row is None else str(row[0])

    def load_marketplace_id(self, order_id: str) -> str | None:
        if not self.has_id_map:
            return None
        row = self._db.execute(_Q["load_marketplace_id"], (order_id,)).fetchone()
        return None if row is None else str(row[0])

    def save_link(self, marketplace_id: str, order_id: str) -> None:
        check_link(self, marketplace_id, order_id)
        self._db.execute(_Q["save_link"], (marketplace_id, order_id))

    def load_orders(self, order_ids: Collection[str]) -> dict[str, tuple[str, int, frozenset[str]]]:
        return {
            order_id: (status, changed_at, _facts_of(facts) if facts else frozenset())
            for order_id, status, changed_at, facts in self._db.execute(_Q["load_orders"], (_ids(order_ids),))
        }

    def get_entry(self, key: str, *, lock: bool = True) -> Entry | None:
        row = self._db.execute(_Q["get_entry"], (key,)).fetchone()
        return None if row is None else _entry(row)

    def save_entries(self, entries: Sequence[Entry]) -> None:
        self._db.executemany(_Q["save_entry"], [_row(entry) for entry in entries])
        if any(entry.state is EntryState.READY for entry in entries):
            self._readying = True

    def save_entry(self, entry: Entry) -> None:
        self._db.execute(_Q["save_entry"], _row(entry))
        if entry.state is EntryState.READY:
            self._readying = True

    def open_entries(self, order_id: str, *, lock: bool = True) -> list[Entry]:
        return [_entry(row) for row in self._db.execute(_Q["open_entries"], (order_id,))]

    def in_flight(self, order_ids: Collection[str]) -> list[Entry]:
        found = [_entry(row) for row in self._db.execute(_Q["in_flight"], (_ids(order_ids),))]
        return sorted(found, key=lambda e: e.seq)

    def claimable(self, now: float, limit: int) -> list[Entry]:
        return [_entry(row) for row in self._db.execute(_Q["claimable"], (now, limit))]

    def stale_entries(self, registered_before: float, limit: int) -> list[Entry]:
        return [_entry(row) for row in self._db.execute(_Q["stale_entries"], (registered_before, limit))]

    def entries(self, *states: EntryState) -> list[Entry]:
        if not states:
            rows = self._db.execute(_Q["all_entries"])
        else:
            rows = self._db.execute(_Q["entries_in_states"], (_ids([str(s) for s in states]),))
        return [_entry(row) for row in rows]

    def counts(self) -> dict[EntryState, int]:
        return {EntryState(state): count for state, count in self._db.execute(_Q["counts"])}

    def prune(self, finished_before: float) -> int:
        cursor = self._db.execute(_Q["prune_entries"], (finished_before,))
        self._db.execute(_Q["prune_anomalies"], (int(finished_before * TICKS_PER_SECOND),))
        return cursor.rowcount

    def add_anomaly(self, anomaly: Anomaly) -> None:
        self._db.execute(
            _Q["add_anomaly"],
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
            row = self._db.execute(_Q["counter"], (name,)).fetchone()
            base = row[0] if row else 0
            if self._depth:
                self._counted[name] = base
        return base + self._pending_counts.get(name, 0)

    def records(self) -> Iterator[OrderRecord]:
        for order_id, status, changed_at in self._db.execute(_Q["records"]):
            yield OrderRecord(order_id, status, changed_at)

    def anomalies(self) -> list[Anomaly]:
        return [Anomaly(*row) for row in self._db.execute(_Q["anomalies"])]

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
