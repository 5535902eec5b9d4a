"""The outbox in PostgreSQL, for connectors with many workers on many machines (psycopg 3 and
its pool: the extra ``vtex-order-flow[postgres]``). Its statements are in sql/postgres/.

Concurrency, in short:

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
import threading
from collections.abc import Collection, Iterator, Sequence
from typing import Any

from ...errors import MissingExtraError, StoreError
from .._changes import Changes, ClaimSnapshot, Snapshot
from .._events import TICKS_PER_SECOND
from .._types import Anomaly, Entry, EntryState, OrderRecord
from . import _pg_operations, _sql
from ._base import ClosingStore, check_link
from ._pg import Listener, SeqBlocks, check_arguments, errors, rows_of, unbroken
from ._pg import safe as _safe
from ._rows import entry_of as _entry
from ._rows import facts_of as _facts_of
from ._rows import facts_text as _facts_text
from ._rows import row_of as _row

__all__ = ["POSTGRES_SCHEMA_VERSION", "PostgresStore"]

POSTGRES_SCHEMA_VERSION = _sql.latest("postgres")
"""The PostgreSQL store's schema version, its migrations' last number. 1: the first outbox
schema; 2: sends awaiting an answer are in the due index (VTEX's answer has a timeout), and the
sequence hands out blocks; 3: the id map (marketplace order id to VTEX's orderId)."""
_SEQ_BLOCK = 64
"""Sequence numbers in a block of the sequence (its increment from version 2): one round trip
per 64 entry writes (or fewer: the blocks a write needs come in one) instead of one per write."""
_SHARDS = 16


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
        check_arguments(
            dsn,
            schema,
            min_size=min_size,
            max_size=max_size,
            timeout=timeout,
            synchronous_commit=synchronous_commit,
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
        self._idle = psycopg.pq.TransactionStatus.IDLE
        self.schema = schema
        self._q = _sql.queries("postgres", schema)
        self._timeout = float(timeout)
        self.lock = contextlib.nullcontext()  # threads work in parallel, each on its connection
        self._local = threading.local()
        self._closed = False
        self._listener = Listener(psycopg, dsn, schema, self._q)
        self._seqs = SeqBlocks(_SEQ_BLOCK)
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
                check=unbroken(psycopg),
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
        with self._errors("set up the schema"), self._pool.connection() as conn:
            _sql.migrate(
                lambda sql, params: rows_of(conn.execute(sql, params)),
                conn.transaction,
                "postgres",
                schema=self.schema,
                what=f"schema {self.schema!r}",
                table_params=(self.schema,),
                lock_params=(f"vof-setup-{self.schema}",),
            )

    @property
    def schema_version(self) -> int:
        """The schema version recorded in the database."""
        row = self._one(self._q["schema_version"])
        return int(row[0]) if row else 0

    # -- connections and transactions -----------------------------------------------------------

    def _errors(self, what: str) -> contextlib.AbstractContextManager[None]:
        return errors(self._psycopg, what)

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
        # Pipeline mode: statements whose results are not read yet (BEGIN, the order's lock,
        # writes) travel with the next one that is, and the last writes with COMMIT, so that a
        # transaction costs one round trip per read plus one for the commit. The server still
        # runs them in order: a read after the lock sees what was committed before the lock
        # was granted. (psycopg's own transaction block would add two: one after BEGIN, one
        # before COMMIT.)
        with self._errors("run a transaction"), self._pool.connection() as conn:
            try:
                with conn.pipeline():
                    conn.execute(self._q["begin"])
                    self._local.conn = conn
                    try:
                        yield
                    finally:
                        self._local.conn = None
                    self._flush(conn)
                    conn.execute(self._q["commit"])
            except BaseException:
                if not conn.closed and conn.info.transaction_status != self._idle:
                    with contextlib.suppress(self._psycopg.Error):
                        conn.execute(self._q["rollback"])
                raise

    def _flush(self, conn: Any) -> None:
        """The transaction's last writes (they go with the commit: pipeline mode)."""
        for name, value in self._local.counts.items():
            conn.execute(self._q["add_counter"], (name, random.randrange(_SHARDS), value))
        if self._local.ready:
            conn.execute(self._q["notify_ready"], (self.schema,))

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

    def _locking(self, lock: bool = True) -> bool:
        """Reads of entries inside a transaction lock them: read, decide, write."""
        return lock and getattr(self._local, "conn", None) is not None

    # -- the store protocol ------------------------------------------------------------------------

    def snapshot(self, order_ids: Collection[str], *, lock: bool = True, links: bool = True) -> Snapshot:
        with self.transaction():
            return _pg_operations.snapshot(self._run, self._q, self.schema, order_ids, lock=lock, links=links)

    def claim_snapshot(self, now: float, limit: int) -> ClaimSnapshot:
        with self.transaction():
            return _pg_operations.claim_snapshot(self._run, self._q, self.schema, now, limit)

    def write(self, changes: Changes) -> dict[str, Entry]:
        with self.transaction():
            written = _pg_operations.write(self._run, self._many, self._q, changes, self.next_seqs)
            if _pg_operations.readies(written):
                self._local.ready = True
            for name, by in changes.counters.items():
                if by:
                    self.incr(name, by)
            return written

    def _many(self, sql: str, rows: Sequence[Any]) -> None:
        """A statement for each row of parameters, queued in the transaction's pipeline."""
        with self._local.conn.cursor() as cursor:
            cursor.executemany(sql, rows)

    def lock_order(self, order_id: str) -> None:
        self._run(self._q["lock_order"], (f"{self.schema}:{order_id}",))

    def lock_key(self, key: str) -> None:
        self._run(self._q["lock_key"], (f"{self.schema}:{key}",))

    def try_lock_orders(self, order_ids: Collection[str]) -> set[str]:
        ids = sorted(set(order_ids))
        if not ids:
            return set()
        return {row[0] for row in self._all(self._q["try_lock_orders"], (ids, self.schema))}

    def next_seqs(self, count: int) -> list[int]:
        """Numbers from blocks of the sequence this process takes (increasing within a process;
        across processes, roughly in the order of the changes)."""
        return self._seqs.take(
            count, lambda n: [int(row[0]) for row in self._all(self._q["next_seq_blocks"], (n,))]
        )

    def load_record(self, order_id: str) -> tuple[str, int] | None:
        row = self._one(self._q["load_record"], (order_id,))
        return None if row is None else (row[0], row[1])

    def save_record(self, order_id: str, status: str, changed_at: int) -> None:
        self._run(self._q["save_record"], (order_id, status, changed_at))

    def load_facts(self, order_id: str) -> frozenset[str]:
        row = self._one(self._q["load_facts"], (order_id,))
        return frozenset() if row is None else _facts_of(row[0])

    def save_facts(self, order_id: str, facts: frozenset[str]) -> None:
        if facts:
            self._run(self._q["save_facts"], (order_id, _facts_text(facts)))
        else:
            self._run(self._q["delete_facts"], (order_id,))

    def load_link(self, marketplace_id: str) -> str | None:
        row = self._one(self._q["load_link"], (marketplace_id,))
        return None if row is None else str(row[0])

    def load_marketplace_id(self, order_id: str) -> str | None:
        row = self._one(self._q["load_marketplace_id"], (order_id,))
        return None if row is None else str(row[0])

    def save_link(self, marketplace_id: str, order_id: str) -> None:
        # The tracker holds both orders' locks: nobody links either between the check and the write.
        check_link(self, marketplace_id, order_id)
        self._run(self._q["save_link"], (marketplace_id, order_id))

    def load_orders(self, order_ids: Collection[str]) -> dict[str, tuple[str, int, frozenset[str]]]:
        rows = self._all(self._q["load_orders"], (list(order_ids),))
        return {
            order_id: (status, changed_at, _facts_of(facts) if facts else frozenset())
            for order_id, status, changed_at, facts in rows
        }

    def get_entry(self, key: str, *, lock: bool = True) -> Entry | None:
        row = self._one(self._q["get_entry_for_update" if self._locking(lock) else "get_entry"], (key,))
        return None if row is None else _entry(row)

    def save_entry(self, entry: Entry) -> None:
        self.save_entries([entry])

    def save_entries(self, entries: Sequence[Entry]) -> None:
        if not entries:
            return
        conn = getattr(self._local, "conn", None)
        if conn is None:
            with self.transaction():
                self.save_entries(entries)
            return
        self._many(self._q["save_entry"], [_row(entry) for entry in entries])
        if any(entry.state is EntryState.READY for entry in entries):
            self._local.ready = True

    def in_flight(self, order_ids: Collection[str]) -> list[Entry]:
        return [_entry(row) for row in self._all(self._q["in_flight"], (list(order_ids),))]

    def open_entries(self, order_id: str, *, lock: bool = True) -> list[Entry]:
        name = "open_entries_for_update" if self._locking(lock) else "open_entries"
        return [_entry(row) for row in self._all(self._q[name], (order_id,))]

    def claimable(self, now: float, limit: int) -> list[Entry]:
        name = "claimable_locked" if self._locking() else "claimable"
        return [_entry(row) for row in self._all(self._q[name], (now, limit))]

    def stale_entries(self, registered_before: float, limit: int) -> list[Entry]:
        name = "stale_entries_locked" if self._locking() else "stale_entries"
        return [_entry(row) for row in self._all(self._q[name], (registered_before, limit))]

    def entries(self, *states: EntryState) -> list[Entry]:
        if states:
            rows = self._all(self._q["entries_in_states"], ([str(s) for s in states],))
        else:
            rows = self._all(self._q["all_entries"])
        return [_entry(row) for row in rows]

    def counts(self) -> dict[EntryState, int]:
        return {EntryState(state): int(count) for state, count in self._all(self._q["counts"])}

    def prune(self, finished_before: float) -> int:
        row = self._one(self._q["prune"], (finished_before, int(finished_before * TICKS_PER_SECOND)))
        return int(row[0])

    def add_anomaly(self, anomaly: Anomaly) -> None:
        self._run(
            self._q["add_anomaly"],
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
        row = self._one(self._q["counter"], (name,))
        pending = getattr(self._local, "counts", None) or {}
        in_transaction = getattr(self._local, "conn", None) is not None
        return int(row[0]) + (pending.get(name, 0) if in_transaction else 0)

    def records(self) -> Iterator[OrderRecord]:
        for order_id, status, changed_at in self._all(self._q["records"]):
            yield OrderRecord(order_id, status, changed_at)

    def anomalies(self) -> list[Anomaly]:
        return [Anomaly(*row) for row in self._all(self._q["anomalies"])]

    # -- waking dispatchers, closing -------------------------------------------------------------

    def wait_ready(self, timeout: float) -> bool:
        """Wait up to `timeout` seconds for a NOTIFY that entries of this schema became ready (in
        any process); whether one came. Starting to listen answers True at once (what was
        notified before cannot be known: claim); a server that cannot be reached is waited for,
        not spun on."""
        return self._listener.wait(timeout, self._closed_error() if self._closed else None)

    @property
    def closed(self) -> bool:
        """Whether `close` was called (every use since raises `StoreError`)."""
        return self._closed

    def close(self) -> None:
        self._closed = True
        self._listener.close()
        self._pool.close()

    def drop_schema(self) -> None:
        """Delete the schema and everything in it (tests; a connector's own teardown)."""
        with self._errors("drop the schema"), self._pool.connection() as conn:
            conn.execute(self._q["drop_schema"])
