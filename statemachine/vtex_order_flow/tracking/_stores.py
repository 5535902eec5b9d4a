"""Where the tracker keeps its records and its outbox: in memory (the default) or in SQLite.

Both stores keep nothing that decides correctness in the process: every answer comes from the
store's data, so several trackers (threads, processes) on one SQLite file agree.
"""

from __future__ import annotations

import abc
import contextlib
import functools
import heapq
import json
import os
import sqlite3
import threading
import urllib.parse
from collections.abc import Callable, Collection, Iterator, Sequence
from typing import Any, Protocol, TypeVar

from ..errors import InvalidArgumentError, StoreError
from ._events import TICKS_PER_SECOND
from ._types import CLAIMABLE, OPEN_STATES, Anomaly, Closing, DropClass, Entry, EntryState, OrderRecord
from ._types import IN_FLIGHT as IN_FLIGHT_STATES

__all__ = ["SCHEMA_VERSION", "MemoryStore", "SQLiteStore", "Store"]

_V = TypeVar("_V")
_WAITING = (EntryState.PENDING, EntryState.RETRY)
_KICK_EVERY = 100
"""Commits after which an SQLite store's checkpointer runs without waiting for its period."""

SCHEMA_VERSION = 3
"""The SQLite store's schema version (1: the tracker's deferred updates before the outbox)."""


class Store(Protocol):
    """What the tracker needs of a store.

    Guarantees an implementation must give:

    - **Atomicity**: every write happens inside `transaction()`; when the block raises, none of
      its writes remain (the memory store undoes them, SQL stores roll back).
    - **Isolation across processes**: a transaction sees and writes the store's current data
      and excludes every other writer while it runs (SQLite: ``BEGIN IMMEDIATE``), so a
      read-decide-write inside one is never interleaved with another tracker's.
    - **Ordering**: lists come back in ``seq`` order (entries), by order id (records), oldest
      first (anomalies); `claimable` by ``due`` then ``seq``.
    - **Cost**: `open_entries`, `claimable`, `stale_entries` and `prune` cost in proportion to
      what they return, not to the history kept (indexes).
    - **Threads**: `lock` (re-entrant) serialises every use of one store object; trackers
      sharing the store take it for each call, and `transaction()` holds it.
    """

    @property
    def lock(self) -> contextlib.AbstractContextManager[Any]:
        """The store's re-entrant lock."""
        ...

    def transaction(self) -> contextlib.AbstractContextManager[None]:
        """A context in which writes happen together or not at all (nested: joins the outer one)."""
        ...

    def lock_order(self, order_id: str) -> None:
        """Serialise the rest of this transaction with every other transaction on the same order
        (a store whose transactions already exclude each other does nothing). Taken before any
        entry of the order is locked, in every transaction: one order of locks, no deadlock."""
        ...

    def lock_key(self, key: str) -> None:
        """Serialise the rest of this transaction with every other registering the same key
        (taken before `lock_order`)."""
        ...

    def try_lock_orders(self, order_ids: Collection[str]) -> set[str]:
        """Take the locks of these orders that no other transaction holds, without waiting (a
        claim: it never waits); the ones taken. A store whose transactions already exclude
        each other takes them all."""
        ...

    def next_seqs(self, count: int) -> list[int]:
        """`count` new, increasing sequence numbers (``seq``: the order entries changed in)."""
        ...

    def load_record(self, order_id: str) -> tuple[str, int] | None:
        """The order's status and when it entered it (100 ns ticks), or None."""
        ...

    def save_record(self, order_id: str, status: str, changed_at: int) -> None:
        """Record the order's status and when it entered it."""
        ...

    def load_facts(self, order_id: str) -> frozenset[str]:
        """The facts the order carries (empty when none was recorded)."""
        ...

    def save_facts(self, order_id: str, facts: frozenset[str]) -> None:
        """Replace the facts the order carries."""
        ...

    def load_link(self, marketplace_id: str) -> str | None:
        """VTEX's orderId for a marketplace order id, when known (the id map)."""
        ...

    def load_marketplace_id(self, order_id: str) -> str | None:
        """The marketplace order id VTEX's orderId was linked from, when known."""
        ...

    def save_link(self, marketplace_id: str, order_id: str) -> None:
        """Map a marketplace order id to VTEX's orderId (each side at most once)."""
        ...

    def load_orders(self, order_ids: Collection[str]) -> dict[str, tuple[str, int, frozenset[str]]]:
        """Each known order's status, time and facts, in one go (orders without a record are
        left out)."""
        ...

    def get_entry(self, key: str, *, lock: bool = True) -> Entry | None:
        """The outbox entry with this key, or None (inside a transaction, `lock` holds it until
        the end; a store whose transactions exclude each other needs no such lock)."""
        ...

    def save_entry(self, entry: Entry) -> None:
        """Insert or replace an outbox entry (by key)."""
        ...

    def save_entries(self, entries: Sequence[Entry]) -> None:
        """Insert or replace several entries, in one go."""
        ...

    def open_entries(self, order_id: str, *, lock: bool = True) -> list[Entry]:
        """The order's entries not yet done or dropped, in ``seq`` order (`lock`: as `get_entry`)."""
        ...

    def in_flight(self, order_ids: Collection[str]) -> list[Entry]:
        """The entries of these orders claimed or sent, in ``seq`` order (never locked: a claim
        does not wait)."""
        ...

    def claimable(self, now: float, limit: int) -> list[Entry]:
        """Up to `limit` entries ready, retrying, claimed or sent whose ``due`` is at or before `now`,
        earliest ``due`` first (a store that can, locks them for the transaction)."""
        ...

    def stale_entries(self, registered_before: float, limit: int) -> list[Entry]:
        """Up to `limit` pending or retrying entries registered before this time."""
        ...

    def entries(self, *states: EntryState) -> list[Entry]:
        """The entries in these states (every one when none is given), in ``seq`` order."""
        ...

    def counts(self) -> dict[EntryState, int]:
        """How many entries are in each state (states with none left out)."""
        ...

    def prune(self, finished_before: float) -> int:
        """Delete done and dropped entries last changed before this time, and anomalies of
        events dated before it; how many entries."""
        ...

    def add_anomaly(self, anomaly: Anomaly) -> None:
        """Record an anomaly."""
        ...

    def incr(self, name: str, by: int = 1) -> None:
        """Add to a named counter (written with the transaction; read it with `counter`)."""
        ...

    def counter(self, name: str) -> int:
        """A named counter's value (0 when never incremented)."""
        ...

    def records(self) -> Iterator[OrderRecord]:
        """Every order's record, by order id."""
        ...

    def anomalies(self) -> list[Anomaly]:
        """Every recorded anomaly, oldest first."""
        ...

    def close(self) -> None:
        """Release the store's resources."""
        ...


def _check_link(store: Store, marketplace_id: str, order_id: str) -> None:
    """A marketplace order is one VTEX order, and a VTEX order comes from one marketplace order."""
    linked, linked_from = store.load_link(marketplace_id), store.load_marketplace_id(order_id)
    if linked is None and store.load_marketplace_id(marketplace_id) is not None:
        raise InvalidArgumentError(f"{marketplace_id!r} is a VTEX order id already, not a marketplace one")
    if linked_from is None and store.load_link(order_id) is not None:
        raise InvalidArgumentError(f"{order_id!r} is a marketplace order id already, not a VTEX one")
    if linked is not None and linked != order_id:
        raise InvalidArgumentError(
            f"marketplace order {marketplace_id!r} is already VTEX order {linked!r}, not {order_id!r}"
        )
    if linked_from is not None and linked_from != marketplace_id:
        raise InvalidArgumentError(
            f"VTEX order {order_id!r} already comes from marketplace order {linked_from!r}, "
            f"not {marketplace_id!r}"
        )


def _payload_text(payload: Any) -> str | None:
    return None if payload is None else json.dumps(payload, sort_keys=True, separators=(",", ":"))


class _Closing(Closing):
    """A store: `with store:` closes it at the end; a closed one raises `StoreError`."""

    def _closed_error(self) -> StoreError:
        return StoreError(f"the {type(self).__name__} is closed")


class _Exclusive(_Closing):
    """A store whose transactions exclude every other writer (the memory store's lock, SQLite's
    BEGIN IMMEDIATE): nothing to lock per order or key, and sequence numbers from a counter."""

    def lock_order(self, order_id: str) -> None:
        """Nothing: the transaction already excludes every other."""

    def lock_key(self, key: str) -> None:
        """Nothing: the transaction already excludes every other."""

    def try_lock_orders(self, order_ids: Collection[str]) -> set[str]:
        """All of them: the transaction already excludes every other."""
        return set(order_ids)

    def next_seqs(self, count: int) -> list[int]:
        """`count` numbers after the ``seq`` counter's."""
        self.incr("seq", count)
        last = self.counter("seq")
        return list(range(last - count + 1, last + 1))

    @abc.abstractmethod
    def incr(self, name: str, by: int = 1) -> None:
        """Add to a named counter."""

    @abc.abstractmethod
    def counter(self, name: str) -> int:
        """A named counter's value."""


class MemoryStore(_Exclusive):
    """Records and outbox in memory, transactional like SQLite: a transaction that raises leaves
    nothing of its writes (an undo log replays them backwards).

    An order costs one dictionary entry and one integer (its status index and time packed
    together): well under 200 bytes beyond its id.
    """

    _BITS = 32

    def __init__(self) -> None:
        self._records: dict[str, int] = {}
        self._names: list[str] = []
        self._index: dict[str, int] = {}
        self._facts: dict[str, frozenset[str]] = {}
        self._entries: dict[str, Entry] = {}
        self._open: dict[str, set[str]] = {}
        # Indexes as heaps, each item checked against the entry when it comes up (an entry
        # that changed since is skipped and forgotten): claims by due time, expiry by age,
        # pruning by the time an entry finished. Each costs what it returns.
        self._due: list[tuple[float, int, str]] = []
        self._due_count = 0
        self._waiting: list[tuple[float, int, str]] = []
        self._waiting_count = 0
        self._finished: list[tuple[float, int, str]] = []
        self._anomalies: list[Anomaly] = []
        self._counters: dict[str, int] = {}
        self._links: dict[str, str] = {}
        self._linked_from: dict[str, str] = {}
        self._undo: list[Callable[[], object]] | None = None
        self._closed = False
        self.lock = threading.RLock()

    @contextlib.contextmanager
    def transaction(self) -> Iterator[None]:
        with self.lock:
            if self._closed:
                raise self._closed_error()
            if self._undo is not None:
                yield
                return
            self._undo = []
            try:
                yield
            except BaseException:
                undo, self._undo = self._undo, None
                for step in reversed(undo):
                    step()
                raise
            finally:
                self._undo = None

    def close(self) -> None:
        self._closed = True

    @property
    def closed(self) -> bool:
        """Whether `close` was called (every use since raises `StoreError`)."""
        return self._closed

    @staticmethod
    def _restore(held: dict[str, _V], key: str, before: _V | None) -> None:
        if before is None:
            held.pop(key, None)
        else:
            held[key] = before

    def _log(self, step: Callable[[], object]) -> None:
        if self._undo is not None:
            self._undo.append(step)

    def load_record(self, order_id: str) -> tuple[str, int] | None:
        packed = self._records.get(order_id)
        if packed is None:
            return None
        return self._names[packed & 0xFFFFFFFF], packed >> self._BITS

    def save_record(self, order_id: str, status: str, changed_at: int) -> None:
        index = self._index.get(status)
        if index is None:
            if len(self._names) > 0xFFFFFFFF:
                raise StoreError("the memory store holds at most 2**32 distinct statuses")
            index = self._index[status] = len(self._names)
            self._names.append(status)  # an interned name left behind by an undo is harmless
        before = self._records.get(order_id)
        self._records[order_id] = changed_at << self._BITS | index
        self._log(lambda: self._restore(self._records, order_id, before))

    def load_facts(self, order_id: str) -> frozenset[str]:
        return self._facts.get(order_id, frozenset())

    def save_facts(self, order_id: str, facts: frozenset[str]) -> None:
        before = self._facts.get(order_id)
        if facts:
            self._facts[order_id] = frozenset(facts)
        else:
            self._facts.pop(order_id, None)
        self._log(lambda: self._restore(self._facts, order_id, before))

    def load_link(self, marketplace_id: str) -> str | None:
        return self._links.get(marketplace_id)

    def load_marketplace_id(self, order_id: str) -> str | None:
        return self._linked_from.get(order_id)

    def save_link(self, marketplace_id: str, order_id: str) -> None:
        _check_link(self, marketplace_id, order_id)
        self._links[marketplace_id] = order_id
        self._linked_from[order_id] = marketplace_id

        def undo() -> None:
            self._links.pop(marketplace_id, None)
            self._linked_from.pop(order_id, None)

        self._log(undo)

    def load_orders(self, order_ids: Collection[str]) -> dict[str, tuple[str, int, frozenset[str]]]:
        found = {}
        records, facts, names, none = self._records, self._facts, self._names, frozenset[str]()
        for order_id in order_ids:
            packed = records.get(order_id)
            if packed is not None:
                found[order_id] = (
                    names[packed & 0xFFFFFFFF],
                    packed >> self._BITS,
                    facts.get(order_id, none),
                )
        return found

    def get_entry(self, key: str, *, lock: bool = True) -> Entry | None:
        return self._entries.get(key)

    def save_entries(self, entries: Sequence[Entry]) -> None:
        for entry in entries:
            self.save_entry(entry)

    def _put(self, key: str, entry: Entry | None) -> None:
        old = self._entries.get(key)
        if old is not None:
            keys = self._open.get(old.order_id)
            if keys is not None:
                keys.discard(key)
                if not keys:
                    del self._open[old.order_id]
            self._due_count -= old.state in CLAIMABLE and old.due is not None
            self._waiting_count -= old.state in _WAITING
        if entry is None:
            self._entries.pop(key, None)
            return
        self._entries[key] = entry
        if entry.state in OPEN_STATES:
            self._open.setdefault(entry.order_id, set()).add(key)
        if entry.state in CLAIMABLE and entry.due is not None:
            self._due_count += 1
            self._push(self._due, (entry.due, entry.seq, key), self._due_count, self._due_items)
        if entry.state in _WAITING:
            self._waiting_count += 1
            self._push(
                self._waiting, (entry.registered_at, entry.seq, key), self._waiting_count, self._waiting_items
            )
        if entry.state not in OPEN_STATES:
            self._push(
                self._finished, (entry.updated_at, entry.seq, key), len(self._entries), self._finished_items
            )

    @staticmethod
    def _push(
        heap: list[tuple[float, int, str]],
        item: tuple[float, int, str],
        live: int,
        rebuild: Callable[[], list[tuple[float, int, str]]],
    ) -> None:
        heapq.heappush(heap, item)
        if len(heap) > 2 * live + 1024:  # mostly stale items: rebuild from the live entries
            heap[:] = rebuild()
            heapq.heapify(heap)

    def _due_items(self) -> list[tuple[float, int, str]]:
        return [
            (e.due, e.seq, k) for k, e in self._entries.items() if e.state in CLAIMABLE and e.due is not None
        ]

    def _waiting_items(self) -> list[tuple[float, int, str]]:
        return [(e.registered_at, e.seq, k) for k, e in self._entries.items() if e.state in _WAITING]

    def _finished_items(self) -> list[tuple[float, int, str]]:
        return [(e.updated_at, e.seq, k) for k, e in self._entries.items() if e.state not in OPEN_STATES]

    def _take(
        self,
        heap: list[tuple[float, int, str]],
        bound: float,
        limit: int,
        live: Callable[[Entry, tuple[float, int, str]], bool],
        strict: bool,
    ) -> list[Entry]:
        """Up to `limit` live entries of a heap whose first field is below `bound` (at most,
        unless `strict`), in heap order; stale items met are dropped, live ones put back."""
        found: list[Entry] = []
        kept: list[tuple[float, int, str]] = []
        seen: set[str] = set()
        while heap and len(found) < limit and (heap[0][0] < bound or (not strict and heap[0][0] == bound)):
            item = heapq.heappop(heap)
            entry = self._entries.get(item[2])
            if entry is None or item[2] in seen or not live(entry, item):
                continue
            seen.add(item[2])
            found.append(entry)
            kept.append(item)
        for item in kept:
            heapq.heappush(heap, item)
        return found

    def save_entry(self, entry: Entry) -> None:
        before = self._entries.get(entry.key)
        self._put(entry.key, entry)
        self._log(lambda: self._put(entry.key, before))

    def open_entries(self, order_id: str, *, lock: bool = True) -> list[Entry]:
        keys = self._open.get(order_id)
        if not keys:
            return []
        return sorted((self._entries[k] for k in keys), key=lambda e: e.seq)

    def in_flight(self, order_ids: Collection[str]) -> list[Entry]:
        found = [self._entries[key] for order_id in order_ids for key in self._open.get(order_id, ())]
        return sorted((e for e in found if e.state in IN_FLIGHT_STATES), key=lambda e: e.seq)

    def claimable(self, now: float, limit: int) -> list[Entry]:
        return self._take(
            self._due,
            now,
            limit,
            lambda e, item: e.state in CLAIMABLE and (e.due, e.seq) == item[:2],
            strict=False,
        )

    def stale_entries(self, registered_before: float, limit: int) -> list[Entry]:
        return self._take(
            self._waiting,
            registered_before,
            limit,
            lambda e, item: e.state in _WAITING and e.seq == item[1],
            strict=True,
        )

    def entries(self, *states: EntryState) -> list[Entry]:
        chosen = [e for e in self._entries.values() if not states or e.state in states]
        return sorted(chosen, key=lambda e: e.seq)

    def counts(self) -> dict[EntryState, int]:
        counted: dict[EntryState, int] = {}
        for entry in self._entries.values():
            counted[entry.state] = counted.get(entry.state, 0) + 1
        return counted

    def prune(self, finished_before: float) -> int:
        doomed = self._take(
            self._finished,
            finished_before,
            len(self._entries),
            lambda e, item: e.state not in OPEN_STATES and (e.updated_at, e.seq) == item[:2],
            strict=True,
        )
        for entry in doomed:
            self._put(entry.key, None)
            self._log(functools.partial(self._put, entry.key, entry))
        cutoff = finished_before * TICKS_PER_SECOND
        kept = [a for a in self._anomalies if a.changed_at >= cutoff]
        if len(kept) != len(self._anomalies):
            before, self._anomalies = self._anomalies, kept
            self._log(lambda: setattr(self, "_anomalies", before))
        return len(doomed)

    def add_anomaly(self, anomaly: Anomaly) -> None:
        self._anomalies.append(anomaly)
        self._log(self._anomalies.pop)

    def incr(self, name: str, by: int = 1) -> None:
        before = self._counters.get(name, 0)
        self._counters[name] = before + by
        self._log(lambda: self._counters.__setitem__(name, before))

    def counter(self, name: str) -> int:
        return self._counters.get(name, 0)

    def records(self) -> Iterator[OrderRecord]:
        """Every record, by order id (as the SQLite store lists them)."""
        for order_id in sorted(self._records):
            packed = self._records[order_id]
            yield OrderRecord(order_id, self._names[packed & 0xFFFFFFFF], packed >> self._BITS)

    def anomalies(self) -> list[Anomaly]:
        return list(self._anomalies)

    def __len__(self) -> int:
        return len(self._records)


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


@functools.lru_cache(maxsize=4096)
def _facts_of(text: str) -> frozenset[str]:
    """Stored facts (a JSON list) as a set; an order carries one of few combinations: cached."""
    return frozenset(json.loads(text))


@functools.lru_cache(maxsize=4096)
def _facts_text(facts: frozenset[str]) -> str:
    return json.dumps(sorted(facts))


def _row(entry: Entry) -> tuple[Any, ...]:
    return (
        entry.key,
        entry.order_id,
        entry.action,
        str(entry.state),
        _payload_text(entry.payload),
        _facts_text(entry.facts),
        entry.reason,
        None if entry.drop is None else str(entry.drop),
        entry.status,
        entry.attempts,
        entry.claims,
        entry.registered_at,
        entry.due,
        entry.owner,
        entry.updated_at,
        entry.seq,
    )


def _entry(row: tuple[Any, ...]) -> Entry:
    (key, order_id, action, state, payload, facts, reason, drop, status) = row[:9]
    (attempts, claims, registered_at, due, owner, updated_at, seq) = row[9:]
    return Entry(
        key=key,
        order_id=order_id,
        action=action,
        state=EntryState(state),
        payload=None if payload is None else json.loads(payload),
        facts=_facts_of(facts),
        reason=reason,
        drop=None if drop is None else DropClass(drop),
        status=status,
        attempts=attempts,
        claims=claims,
        registered_at=registered_at,
        due=due,
        owner=owner,
        updated_at=updated_at,
        seq=seq,
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


class SQLiteStore(_Exclusive):
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
        self._has_ids = "order_ids" in tables

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
                self._commits += 1
                if self._commits % _KICK_EVERY == 0:
                    self._kick.set()  # a busy writer: checkpoint now, before the log grows long
            except BaseException as error:
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
        if not getattr(self, "_has_ids", True):
            return None
        row = self._db.execute(
            "SELECT order_id FROM order_ids WHERE marketplace_id = ?", (marketplace_id,)
        ).fetchone()
        return None if row is None else str(row[0])

    def load_marketplace_id(self, order_id: str) -> str | None:
        if not getattr(self, "_has_ids", True):
            return None
        row = self._db.execute(
            "SELECT marketplace_id FROM order_ids WHERE order_id = ?", (order_id,)
        ).fetchone()
        return None if row is None else str(row[0])

    def save_link(self, marketplace_id: str, order_id: str) -> None:
        _check_link(self, marketplace_id, order_id)
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

    def save_entry(self, entry: Entry) -> None:
        self._db.execute(_UPSERT, _row(entry))

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

    @property
    def closed(self) -> bool:
        """Whether `close` was called (every use since raises `StoreError`)."""
        return self._closed
