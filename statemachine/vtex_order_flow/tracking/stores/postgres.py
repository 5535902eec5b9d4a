"""The outbox in PostgreSQL, for connectors with many workers on many machines (psycopg 3 and
its pool: the extra ``vtex-order-flow[postgres]``).

Every SQL statement of the store is in this module. Concurrency, in short:

- a transaction is one pooled connection for the calling thread; threads of one process work in
  parallel, each on its own connection;
- everything that reads, decides and writes one order takes the order's transaction-scoped
  advisory lock first (`lock_order`), so two workers handed the same event (VTEX delivers at
  least once, to any replica) apply it once: the second sees it as a duplicate;
- claims lock their rows with ``FOR UPDATE SKIP LOCKED``: workers never wait for each other's
  rows and never get the same entry; an event deciding an order's entries again locks them
  ``FOR UPDATE`` (it waits for a claim in progress, then sees it claimed);
- sequence numbers come from a sequence and counters are sharded rows, so no single row is
  written by every transaction;
- when entries become ready, the transaction sends ``NOTIFY`` at commit, and `wait_ready`
  (what `Tracker.wait` calls) wakes waiting dispatchers in every process.
"""

from __future__ import annotations

import contextlib
import random
import re
import threading
import time
from collections.abc import Collection, Iterator, Sequence
from typing import Any

from ...errors import InvalidArgumentError, MissingExtraError, StoreError, shown
from .._events import TICKS_PER_SECOND
from .._types import Anomaly, Entry, EntryState, OrderRecord
from ._base import ClosingStore, check_link
from ._rows import entry_of as _entry
from ._rows import facts_of as _facts_of
from ._rows import facts_text as _facts_text
from ._rows import row_of as _row

__all__ = ["POSTGRES_SCHEMA_VERSION", "PostgresStore"]

POSTGRES_SCHEMA_VERSION = 3
"""The PostgreSQL store's schema version. 1: the first outbox schema; 2: sends awaiting an
answer are in the due index (VTEX's answer has a timeout), and the sequence hands out blocks;
3: the id map (marketplace order id to VTEX's orderId)."""
_SEQ_BLOCK = 64
"""Sequence numbers a process takes at a time (the sequence's increment from version 2): one
round trip per 64 entry writes instead of one per write."""

_NAME = re.compile(r"[a-z_][a-z0-9_]{0,62}\Z")
_SHARDS = 16
_CHANNEL = "vtex_order_flow_ready"

# {s} is the schema, validated by _NAME and quoted.
_SCHEMA_V1 = """
CREATE SCHEMA IF NOT EXISTS {s};
CREATE TABLE IF NOT EXISTS {s}.meta (name TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS {s}.records (
    order_id TEXT PRIMARY KEY, status TEXT NOT NULL, changed_at BIGINT NOT NULL
);
CREATE TABLE IF NOT EXISTS {s}.order_facts (order_id TEXT PRIMARY KEY, facts TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS {s}.entries (
    key TEXT PRIMARY KEY, order_id TEXT NOT NULL, action TEXT NOT NULL, state TEXT NOT NULL,
    payload TEXT, facts TEXT NOT NULL, reason TEXT NOT NULL, drop_class TEXT, status TEXT,
    attempts INTEGER NOT NULL, claims INTEGER NOT NULL, registered_at DOUBLE PRECISION NOT NULL,
    due DOUBLE PRECISION, owner TEXT, updated_at DOUBLE PRECISION NOT NULL, seq BIGINT NOT NULL
);
CREATE INDEX IF NOT EXISTS entries_open ON {s}.entries (order_id)
    WHERE state IN ('pending', 'ready', 'claimed', 'sent', 'retry');
CREATE INDEX IF NOT EXISTS entries_due ON {s}.entries (due, seq) WHERE state IN ('ready', 'retry', 'claimed');
CREATE INDEX IF NOT EXISTS entries_waiting ON {s}.entries (registered_at) WHERE state IN ('pending', 'retry');
CREATE INDEX IF NOT EXISTS entries_finished ON {s}.entries (updated_at) WHERE state IN ('done', 'dropped');
CREATE INDEX IF NOT EXISTS entries_state ON {s}.entries (state, seq);
CREATE TABLE IF NOT EXISTS {s}.anomalies (
    seq BIGSERIAL PRIMARY KEY, order_id TEXT NOT NULL, from_status TEXT, to_status TEXT NOT NULL,
    kind TEXT NOT NULL, changed_at BIGINT NOT NULL
);
CREATE TABLE IF NOT EXISTS {s}.counters (
    name TEXT NOT NULL, shard INTEGER NOT NULL, value BIGINT NOT NULL, PRIMARY KEY (name, shard)
);
CREATE SEQUENCE IF NOT EXISTS {s}.entry_seq;
CREATE TABLE IF NOT EXISTS {s}.order_ids (marketplace_id TEXT PRIMARY KEY, order_id TEXT NOT NULL UNIQUE);
"""

# Each upgrade takes the schema from the version before it to its own.
_UPGRADES = {
    2: """
DROP INDEX IF EXISTS {s}.entries_due;
CREATE INDEX entries_due ON {s}.entries (due, seq) WHERE state IN ('ready', 'retry', 'claimed', 'sent');
ALTER SEQUENCE {s}.entry_seq INCREMENT BY 64;
""",
    3: """
CREATE TABLE IF NOT EXISTS {s}.order_ids (marketplace_id TEXT PRIMARY KEY, order_id TEXT NOT NULL UNIQUE);
""",
}

_COLUMNS = (
    "key, order_id, action, state, payload, facts, reason, drop_class, status, attempts, claims, "
    "registered_at, due, owner, updated_at, seq"
)


def _statements(script: str, schema: str) -> list[str]:
    return [part.strip() for part in script.replace("{s}", schema).split(";") if part.strip()]


class PostgresStore(ClosingStore):
    """Records and outbox in PostgreSQL: one store for many workers on many machines.

    `dsn` is a libpq connection string or URL. Tables live in `schema` (created on first use,
    its version recorded and upgraded when older); `min_size`/`max_size` bound the pool of
    connections (one per thread in a transaction); `timeout` is how long a call waits for a
    connection. A lost connection is replaced by the pool: the call that lost it raises
    `StoreError` (nothing of its transaction was written) and the next one reconnects.

    ``synchronous_commit=False`` lets a commit return before the server has flushed it to disk
    (PostgreSQL's own setting, for this store's connections only): several times faster per
    event on a slow disk, and a server crash (not a client's) can lose the last fraction of a
    second of commits, never corrupt them. Events VTEX would not deliver again can be lost
    that way: keep the default unless the disk is the bottleneck and the feed can replay.
    """

    has_id_map = True

    def __init__(
        self,
        dsn: str,
        *,
        schema: str = "vtex_order_flow",
        min_size: int = 1,
        max_size: int = 8,
        timeout: float = 30.0,
        synchronous_commit: bool = True,
    ) -> None:
        # The arguments first, with or without the extra: a bad one is the caller's mistake.
        if not isinstance(dsn, str) or not dsn:
            raise InvalidArgumentError(f"dsn must be a PostgreSQL connection string, not {shown(dsn)}")
        if "\x00" in dsn or not _encodable(dsn):  # (not echoed: a DSN may hold a password)
            raise InvalidArgumentError(
                "dsn must be valid Unicode text without NUL characters (it has a lone surrogate or a NUL)"
            )
        if not isinstance(schema, str) or not _NAME.match(schema):
            raise InvalidArgumentError(
                f"schema must be a lower-case SQL name (letters, digits, _; at most 63), not {schema!r}"
            )
        for name, value in (("min_size", min_size), ("max_size", max_size)):
            if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= 1000:
                raise InvalidArgumentError(f"{name} must be an integer from 0 to 1000, not {value!r}")
        if max_size < max(min_size, 1):
            raise InvalidArgumentError(f"max_size ({max_size}) must be at least min_size and 1")
        if isinstance(timeout, bool) or not isinstance(timeout, int | float) or not 0 < timeout < 1e6:
            raise InvalidArgumentError(f"timeout must be a number of seconds > 0, not {timeout!r}")
        if not isinstance(synchronous_commit, bool):
            raise InvalidArgumentError(
                f"synchronous_commit must be True or False, not {synchronous_commit!r}"
            )
        try:
            import psycopg
            from psycopg_pool import ConnectionPool
        except ImportError:
            raise MissingExtraError(
                "PostgresStore needs psycopg and psycopg-pool: pip install 'vtex-order-flow[postgres]'"
            ) from None
        connect: dict[str, Any] = {"autocommit": True}
        if not synchronous_commit:
            connect["options"] = "-c synchronous_commit=off"
        self._psycopg = psycopg
        self.schema = schema
        self._s = f'"{schema}"'
        self._dsn = dsn
        self._timeout = float(timeout)
        self.lock = contextlib.nullcontext()  # threads work in parallel, each on its connection
        self._local = threading.local()
        self._closed = False
        self._listener: Any = None
        self._listener_lock = threading.Lock()
        self._seq_lock = threading.Lock()
        self._seq_next = self._seq_end = 0
        try:  # one plain connection first: its error says why (a login refused, a bad host)
            psycopg.connect(dsn, connect_timeout=max(1, int(timeout))).close()
        except psycopg.Error as error:
            raise StoreError(f"cannot connect to PostgreSQL ({_safe(dsn)}): {error}") from None
        try:
            self._pool = ConnectionPool(
                dsn,
                min_size=min_size,
                max_size=max_size,
                timeout=timeout,
                kwargs=connect,
                check=ConnectionPool.check_connection,
                open=True,
                name=f"vof-{schema}",
            )
            self._pool.wait(timeout=timeout)
        except Exception as error:  # psycopg's errors, the pool's timeout
            raise StoreError(f"cannot connect to PostgreSQL ({_safe(dsn)}): {error}") from None
        try:
            self._setup()
        except Exception:
            self._pool.close()
            raise

    # -- schema --------------------------------------------------------------------------------

    def _setup(self) -> None:
        with self._errors("set up the schema"), self._pool.connection() as conn, conn.transaction():
            # One setup at a time, whatever the number of workers starting together.
            conn.execute(
                "SELECT pg_advisory_xact_lock(hashtextextended(%s, 0))", (f"vof-setup-{self.schema}",)
            )
            found = conn.execute(
                "SELECT 1 FROM information_schema.tables WHERE table_schema = %s AND table_name = 'meta'",
                (self.schema,),
            ).fetchone()
            version = 0
            if found:
                row = conn.execute(
                    f"SELECT value FROM {self._s}.meta WHERE name = 'schema_version'"
                ).fetchone()
                if row is not None and not str(row[0]).isdigit():
                    raise StoreError(
                        f"schema {self.schema!r} has version {row[0]!r}: not a tracker's schema?"
                    )
                version = int(row[0]) if row else 0
            if version > POSTGRES_SCHEMA_VERSION:
                raise StoreError(
                    f"schema {self.schema!r} is at version {version}, newer than this library's "
                    f"{POSTGRES_SCHEMA_VERSION}; upgrade vtex-order-flow"
                )
            if version == 0:
                for statement in _statements(_SCHEMA_V1, self._s):
                    conn.execute(statement)
                version = 1
            for target in range(version + 1, POSTGRES_SCHEMA_VERSION + 1):
                for statement in _statements(_UPGRADES[target], self._s):
                    conn.execute(statement)
            conn.execute(
                f"INSERT INTO {self._s}.meta (name, value) VALUES ('schema_version', %s) "
                "ON CONFLICT (name) DO UPDATE SET value = excluded.value",
                (str(POSTGRES_SCHEMA_VERSION),),
            )

    @property
    def schema_version(self) -> int:
        """The schema version recorded in the database."""
        row = self._one(f"SELECT value FROM {self._s}.meta WHERE name = 'schema_version'")
        return int(row[0]) if row else 0

    # -- connections and transactions -----------------------------------------------------------

    @contextlib.contextmanager
    def _errors(self, what: str) -> Iterator[None]:
        try:
            yield
        except StoreError:
            raise
        except self._psycopg.Error as error:
            raise StoreError(f"PostgreSQL: cannot {what}: {error}") from error
        except Exception as error:
            if type(error).__module__.startswith("psycopg_pool"):  # PoolTimeout, PoolClosed
                raise StoreError(f"PostgreSQL: cannot {what}: {error}") from error
            raise

    @contextlib.contextmanager
    def transaction(self) -> Iterator[None]:
        if self._closed:
            raise self._closed_error()
        current = getattr(self._local, "conn", None)
        if current is not None:
            yield  # nested: joins the thread's transaction
            return
        self._local.counts = {}
        self._local.ready = False
        # Pipeline mode: statements whose results are not read yet (writes, the order's lock)
        # travel with the next one that is, so that a hook event costs about three round trips
        # instead of ten. The server still runs them in order: a read after the lock sees what
        # was committed before the lock was granted.
        with self._errors("run a transaction"), self._pool.connection() as conn, conn.pipeline():
            try:
                with conn.transaction():
                    self._local.conn = conn
                    yield
                    self._flush(conn)
            finally:
                self._local.conn = None

    def _flush(self, conn: Any) -> None:
        """The transaction's last writes (they go with the commit: pipeline mode)."""
        for name, value in self._local.counts.items():
            conn.execute(
                f"INSERT INTO {self._s}.counters (name, shard, value) VALUES (%s, %s, %s) "
                "ON CONFLICT (name, shard) DO UPDATE SET value = counters.value + excluded.value",
                (name, random.randrange(_SHARDS), value),
            )
        if self._local.ready:
            conn.execute("SELECT pg_notify(%s, %s)", (_CHANNEL, self.schema))

    def _run(self, sql: str, params: Sequence[Any] = ()) -> Any:
        """A statement on the thread's transaction, or alone on a pooled connection."""
        conn = getattr(self._local, "conn", None)
        if conn is not None:
            return conn.execute(sql, params)
        if self._closed:
            raise self._closed_error()
        with self._errors("read"), self._pool.connection() as alone:
            cursor = alone.execute(sql, params)
            return cursor.fetchall() if cursor.description is not None else []

    def _all(self, sql: str, params: Sequence[Any] = ()) -> list[Any]:
        result = self._run(sql, params)
        return result if isinstance(result, list) else result.fetchall()

    def _one(self, sql: str, params: Sequence[Any] = ()) -> Any:
        rows = self._all(sql, params)
        return rows[0] if rows else None

    # -- the store protocol ------------------------------------------------------------------------

    def lock_order(self, order_id: str) -> None:
        self._run("SELECT pg_advisory_xact_lock(hashtextextended(%s, 1))", (f"{self.schema}:{order_id}",))

    def lock_key(self, key: str) -> None:
        self._run("SELECT pg_advisory_xact_lock(hashtextextended(%s, 2))", (f"{self.schema}:{key}",))

    def try_lock_orders(self, order_ids: Collection[str]) -> set[str]:
        ids = sorted(set(order_ids))
        if not ids:
            return set()
        rows = self._all(
            "SELECT id FROM unnest(%s::text[]) AS id "
            "WHERE pg_try_advisory_xact_lock(hashtextextended(%s || ':' || id, 1))",
            (ids, self.schema),
        )
        return {row[0] for row in rows}

    def next_seqs(self, count: int) -> list[int]:
        """Numbers from blocks of the sequence this process takes (increasing within a process;
        across processes, roughly in the order of the changes)."""
        taken: list[int] = []
        with self._seq_lock:
            while len(taken) < count:
                if self._seq_next >= self._seq_end:
                    start = int(self._one(f"SELECT nextval('{self._s}.entry_seq')")[0])
                    self._seq_next, self._seq_end = start, start + _SEQ_BLOCK
                take = min(count - len(taken), self._seq_end - self._seq_next)
                taken += range(self._seq_next, self._seq_next + take)
                self._seq_next += take
        return taken

    def load_record(self, order_id: str) -> tuple[str, int] | None:
        row = self._one(
            f"SELECT status, changed_at FROM {self._s}.records WHERE order_id = %s",
            (order_id,),
        )
        return None if row is None else (row[0], row[1])

    def save_record(self, order_id: str, status: str, changed_at: int) -> None:
        self._run(
            f"INSERT INTO {self._s}.records (order_id, status, changed_at) VALUES (%s, %s, %s) "
            "ON CONFLICT (order_id) DO UPDATE SET status = excluded.status, changed_at = excluded.changed_at",
            (order_id, status, changed_at),
        )

    def load_facts(self, order_id: str) -> frozenset[str]:
        row = self._one(f"SELECT facts FROM {self._s}.order_facts WHERE order_id = %s", (order_id,))
        return frozenset() if row is None else _facts_of(row[0])

    def save_facts(self, order_id: str, facts: frozenset[str]) -> None:
        if facts:
            self._run(
                f"INSERT INTO {self._s}.order_facts (order_id, facts) VALUES (%s, %s) "
                "ON CONFLICT (order_id) DO UPDATE SET facts = excluded.facts",
                (order_id, _facts_text(facts)),
            )
        else:
            self._run(f"DELETE FROM {self._s}.order_facts WHERE order_id = %s", (order_id,))

    def load_link(self, marketplace_id: str) -> str | None:
        row = self._one(
            f"SELECT order_id FROM {self._s}.order_ids WHERE marketplace_id = %s", (marketplace_id,)
        )
        return None if row is None else str(row[0])

    def load_marketplace_id(self, order_id: str) -> str | None:
        row = self._one(f"SELECT marketplace_id FROM {self._s}.order_ids WHERE order_id = %s", (order_id,))
        return None if row is None else str(row[0])

    def save_link(self, marketplace_id: str, order_id: str) -> None:
        # The tracker holds both orders' locks: nobody links either between the check and the write.
        check_link(self, marketplace_id, order_id)
        self._run(
            f"INSERT INTO {self._s}.order_ids (marketplace_id, order_id) VALUES (%s, %s) "
            "ON CONFLICT DO NOTHING",
            (marketplace_id, order_id),
        )

    def load_orders(self, order_ids: Collection[str]) -> dict[str, tuple[str, int, frozenset[str]]]:
        rows = self._all(
            f"SELECT r.order_id, r.status, r.changed_at, f.facts FROM {self._s}.records AS r "
            f"LEFT JOIN {self._s}.order_facts AS f ON f.order_id = r.order_id WHERE r.order_id = ANY(%s)",
            (list(order_ids),),
        )
        return {
            order_id: (status, changed_at, _facts_of(facts) if facts else frozenset())
            for order_id, status, changed_at, facts in rows
        }

    def _locking(self, lock: bool = True) -> str:
        """Reads of entries inside a transaction lock them: read, decide, write."""
        return " FOR UPDATE" if lock and getattr(self._local, "conn", None) is not None else ""

    def get_entry(self, key: str, *, lock: bool = True) -> Entry | None:
        row = self._one(
            f"SELECT {_COLUMNS} FROM {self._s}.entries WHERE key = %s{self._locking(lock)}", (key,)
        )
        return None if row is None else _entry(row)

    def save_entry(self, entry: Entry) -> None:
        self.save_entries([entry])

    def save_entries(self, entries: Sequence[Entry]) -> None:
        if not entries:
            return
        updates = ", ".join(f"{c} = excluded.{c}" for c in _COLUMNS.split(", ")[1:])
        sql = (
            f"INSERT INTO {self._s}.entries ({_COLUMNS}) VALUES ({', '.join(['%s'] * 16)}) "
            f"ON CONFLICT (key) DO UPDATE SET {updates}"
        )
        conn = getattr(self._local, "conn", None)
        if conn is None:
            with self.transaction():
                self.save_entries(entries)
            return
        with conn.cursor() as cursor:
            cursor.executemany(sql, [_row(entry) for entry in entries])
        if any(entry.state is EntryState.READY for entry in entries):
            self._local.ready = True

    def in_flight(self, order_ids: Collection[str]) -> list[Entry]:
        rows = self._all(
            f"SELECT {_COLUMNS} FROM {self._s}.entries WHERE order_id = ANY(%s) "
            "AND state IN ('pending', 'ready', 'claimed', 'sent', 'retry') AND state IN ('claimed', 'sent') "
            "ORDER BY seq",
            (list(order_ids),),
        )
        return [_entry(row) for row in rows]

    def open_entries(self, order_id: str, *, lock: bool = True) -> list[Entry]:
        rows = self._all(
            f"SELECT {_COLUMNS} FROM {self._s}.entries WHERE order_id = %s "
            "AND state IN ('pending', 'ready', 'claimed', 'sent', 'retry') "
            f"ORDER BY seq{self._locking(lock)}",
            (order_id,),
        )
        return [_entry(row) for row in rows]

    def claimable(self, now: float, limit: int) -> list[Entry]:
        rows = self._all(
            f"SELECT {_COLUMNS} FROM {self._s}.entries "
            "WHERE state IN ('ready', 'retry', 'claimed', 'sent') AND due <= %s ORDER BY due, seq LIMIT %s"
            + (" FOR UPDATE SKIP LOCKED" if self._locking() else ""),
            (now, limit),
        )
        return [_entry(row) for row in rows]

    def stale_entries(self, registered_before: float, limit: int) -> list[Entry]:
        rows = self._all(
            f"SELECT {_COLUMNS} FROM {self._s}.entries WHERE state IN ('pending', 'retry') "
            "AND registered_at < %s ORDER BY registered_at LIMIT %s"
            + (" FOR UPDATE SKIP LOCKED" if self._locking() else ""),
            (registered_before, limit),
        )
        return [_entry(row) for row in rows]

    def entries(self, *states: EntryState) -> list[Entry]:
        if states:
            rows = self._all(
                f"SELECT {_COLUMNS} FROM {self._s}.entries WHERE state = ANY(%s) ORDER BY seq",
                ([str(s) for s in states],),
            )
        else:
            rows = self._all(f"SELECT {_COLUMNS} FROM {self._s}.entries ORDER BY seq")
        return [_entry(row) for row in rows]

    def counts(self) -> dict[EntryState, int]:
        rows = self._all(f"SELECT state, COUNT(*) FROM {self._s}.entries GROUP BY state")
        return {EntryState(state): int(count) for state, count in rows}

    def prune(self, finished_before: float) -> int:
        row = self._one(
            f"WITH gone AS (DELETE FROM {self._s}.entries WHERE state IN ('done', 'dropped') "
            f"AND updated_at < %s RETURNING 1), old AS (DELETE FROM {self._s}.anomalies "
            "WHERE changed_at < %s) SELECT COUNT(*) FROM gone",
            (finished_before, int(finished_before * TICKS_PER_SECOND)),
        )
        return int(row[0])

    def add_anomaly(self, anomaly: Anomaly) -> None:
        self._run(
            f"INSERT INTO {self._s}.anomalies (order_id, from_status, to_status, kind, changed_at) "
            "VALUES (%s, %s, %s, %s, %s)",
            (anomaly.order_id, anomaly.from_status, anomaly.to_status, anomaly.kind, anomaly.changed_at),
        )

    def incr(self, name: str, by: int = 1) -> None:
        counts = getattr(self._local, "counts", None)
        if getattr(self._local, "conn", None) is None or counts is None:
            with self.transaction():
                self.incr(name, by)
            return
        counts[name] = counts.get(name, 0) + by  # written at commit

    def counter(self, name: str) -> int:
        row = self._one(f"SELECT COALESCE(SUM(value), 0) FROM {self._s}.counters WHERE name = %s", (name,))
        pending = getattr(self._local, "counts", None) or {}
        in_transaction = getattr(self._local, "conn", None) is not None
        return int(row[0]) + (pending.get(name, 0) if in_transaction else 0)

    def records(self) -> Iterator[OrderRecord]:
        rows = self._all(
            f'SELECT order_id, status, changed_at FROM {self._s}.records ORDER BY order_id COLLATE "C"'
        )
        for order_id, status, changed_at in rows:
            yield OrderRecord(order_id, status, changed_at)

    def anomalies(self) -> list[Anomaly]:
        rows = self._all(
            f"SELECT order_id, from_status, to_status, kind, changed_at FROM {self._s}.anomalies ORDER BY seq"
        )
        return [Anomaly(*row) for row in rows]

    # -- waking dispatchers ------------------------------------------------------------------------

    def wait_ready(self, timeout: float) -> bool:
        """Wait up to `timeout` seconds for a NOTIFY that entries of this schema became ready (in
        any process); whether one came. Starting to listen answers True at once (what was
        notified before cannot be known: claim); a server that cannot be reached is waited for,
        not spun on."""
        if self._closed:
            raise self._closed_error()
        deadline = time.monotonic() + timeout
        with self._listener_lock:
            try:
                if self._listener is None or self._listener.closed:
                    self._listener = self._psycopg.connect(self._dsn, autocommit=True, connect_timeout=5)
                    self._listener.execute(f"LISTEN {_CHANNEL}")
                    return True
                while (left := deadline - time.monotonic()) > 0:
                    for note in self._listener.notifies(timeout=left, stop_after=1):
                        if note.payload == self.schema:
                            return True
                return False
            except self._psycopg.Error:
                if self._listener is not None:
                    self._listener.close()
                self._listener = None
        time.sleep(max(0.0, deadline - time.monotonic()))  # unreachable: wait, do not spin
        return False

    # -- closing ---------------------------------------------------------------------------------

    @property
    def closed(self) -> bool:
        """Whether `close` was called (every use since raises `StoreError`)."""
        return self._closed

    def close(self) -> None:
        self._closed = True
        with self._listener_lock:
            if self._listener is not None:
                self._listener.close()
                self._listener = None
        self._pool.close()

    def drop_schema(self) -> None:
        """Delete the schema and everything in it (tests; a connector's own teardown)."""
        with self._errors("drop the schema"), self._pool.connection() as conn:
            conn.execute(f"DROP SCHEMA IF EXISTS {self._s} CASCADE")


def _safe(dsn: str) -> str:
    """A DSN as an error message shows it: without its password (a quoted one with spaces, a
    URL's with an unencoded @ in it)."""
    dsn = re.sub(r"(password\s*=\s*)('(?:[^'\\]|\\.)*'|\S+)", r"\1***", dsn)
    return re.sub(r"(://[^:/@]*:).*@", r"\1***@", dsn)


def _encodable(text: str) -> bool:
    """Whether `text` is valid Unicode (no lone surrogate), as psycopg must encode it."""
    try:
        text.encode()
    except UnicodeEncodeError:
        return False
    return True
