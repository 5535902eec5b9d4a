"""What the tracker needs of a store: `Store`, a runtime-checkable protocol (a tracker checks a
store with ``isinstance(store, Store)``), every capability declared, none probed."""

from __future__ import annotations

import contextlib
from collections.abc import Collection, Iterator, Sequence
from typing import Any, Protocol, runtime_checkable

from .._changes import Changes, ClaimSnapshot, Snapshot
from .._types import Anomaly, Entry, EntryState, OrderRecord

__all__ = ["RowStore", "Store"]


@runtime_checkable
class Store(Protocol):
    """What the tracker needs of a store (`MemoryStore`, `SQLiteStore`, `PostgresStore`).

    Guarantees an implementation must give:

    - **Atomicity**: every write happens inside `transaction()`; when the block raises, none of
      its writes remain (the memory store undoes them, SQL stores roll back).
    - **Isolation across processes**: a transaction sees and writes the store's current data
      and excludes every other writer of the same order while it runs (SQLite: ``BEGIN
      IMMEDIATE`` excludes every writer; PostgreSQL: the order's advisory lock, `lock_order`),
      so a read-decide-write inside one is never interleaved with another tracker's.
    - **Idempotency**: saving an entry, a record, facts or a link already held changes nothing
      (upserts by key); a link already held is accepted again, a contradictory one refused.
    - **Ordering**: lists come back in ``seq`` order (entries), by order id (records), oldest
      first (anomalies); `claimable` by ``due`` then ``seq``; ``seq`` increases with every
      entry write (within a process; across processes roughly in the order of the changes).
    - **Cost**: `open_entries`, `claimable`, `stale_entries` and `prune` cost in proportion to
      what they return, not to the history kept (indexes).
    - **Threads**: `lock` (re-entrant) serialises every use of one store object; trackers
      sharing the store take it for each call, and `transaction()` holds it. A store whose
      threads work in parallel (PostgreSQL: a connection per thread) has a lock that holds
      nothing.
    - **Closing**: after `close()`, `closed` is True and every use raises `StoreError`.
    """

    @property
    def lock(self) -> contextlib.AbstractContextManager[Any]:
        """The store's re-entrant lock (one that holds nothing for a store whose threads work
        in parallel, each on its own connection)."""
        ...

    @property
    def closed(self) -> bool:
        """Whether `close` was called (every use since raises `StoreError`)."""
        ...

    @property
    def has_id_map(self) -> bool:
        """Whether the store keeps the id map (`save_link`); a read-only SQLite file of schema
        version 2 has none, and its lookups answer None."""
        ...

    def wait_ready(self, timeout: float) -> bool:
        """Wait up to `timeout` seconds for entries to become ready (committed by any tracker
        this store can hear of); whether some did. The memory and SQLite stores hear their own
        store object's commits (not another process's: a claim finds those); PostgreSQL hears
        every process's through NOTIFY, and answers True at once when it starts to listen."""
        ...

    def transaction(self) -> contextlib.AbstractContextManager[None]:
        """A context in which writes happen together or not at all (nested: joins the outer one)."""
        ...

    # -- domain operations: what one tracker operation reads, and writes, in one call ----------

    def snapshot(self, order_ids: Collection[str], *, lock: bool = True, links: bool = True) -> Snapshot:
        """The orders' locks (as `lock_order` takes them, several in sorted order: no deadlock)
        and their records, facts, open entries (locked with `lock`, as `open_entries`) and
        links, as the store holds them once the locks are held: one round trip on PostgreSQL
        (one pipeline), one transaction's reads elsewhere. Joins the caller's transaction (the
        locks hold until its end); without one, runs in its own. With ``links=False`` the id map is
        not read (`links` and `linked_from` are empty): an operation that never needs it (an
        event) saves that read."""
        ...

    def claim_snapshot(self, now: float, limit: int) -> ClaimSnapshot:
        """What a claim reads: up to `limit` claimable entries (as `claimable`: locked, skipping
        rows another transaction holds), their orders' locks taken without waiting (as
        `try_lock_orders`; the entries of orders not taken are `skipped`), the taken orders'
        states and entries on their way (as `in_flight`, read once the locks are held). One
        round trip on PostgreSQL."""
        ...

    def write(self, changes: Changes) -> dict[str, Entry]:
        """Write everything `changes` holds, in its order (links, records, facts, entries,
        anomalies, counters), each entry stamped with a new ``seq`` (as `next_seqs` gives
        them, in the order staged); the entries as written, by key. A link contradicting the
        id map is refused with `InvalidArgumentError` (as `save_link`), and the transaction
        then leaves nothing written. One pipeline on PostgreSQL (its writes travel with the
        commit)."""
        ...

    # -- entries by key and state, operators' reports -----------------------------------------

    def lock_key(self, key: str) -> None:
        """Serialise the rest of this transaction with every other registering the same key
        (taken before `lock_order`)."""
        ...

    def get_entry(self, key: str, *, lock: bool = True) -> Entry | None:
        """The outbox entry with this key, or None (inside a transaction, `lock` holds it until
        the end; a store whose transactions exclude each other needs no such lock)."""
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


class RowStore(Store, Protocol):
    """The row members the stores build their domain operations from (`_operations`: the memory
    and SQLite stores; `check_link`): not part of what the tracker needs, and free to change with
    a store's implementation."""

    def lock_order(self, order_id: str) -> None:
        """Serialise the rest of this transaction with every other transaction on the same order
        (a store whose transactions already exclude each other does nothing). Taken before any
        entry of the order is locked, in every transaction: one order of locks, no deadlock."""
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
        """Replace the facts the order carries (an empty set deletes them)."""
        ...

    def load_link(self, marketplace_id: str) -> str | None:
        """VTEX's orderId for a marketplace order id, when known (the id map)."""
        ...

    def load_marketplace_id(self, order_id: str) -> str | None:
        """The marketplace order id VTEX's orderId was linked from, when known."""
        ...

    def save_link(self, marketplace_id: str, order_id: str) -> None:
        """Map a marketplace order id to VTEX's orderId (each side at most once: a second pair
        with either id is refused with `InvalidArgumentError`)."""
        ...

    def load_orders(self, order_ids: Collection[str]) -> dict[str, tuple[str, int, frozenset[str]]]:
        """Each known order's status, time and facts, in one go (orders without a record are
        left out)."""
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
        earliest ``due`` first (a store that can, locks them for the transaction, skipping
        those another transaction holds)."""
        ...

    def add_anomaly(self, anomaly: Anomaly) -> None:
        """Record an anomaly."""
        ...

    def incr(self, name: str, by: int = 1) -> None:
        """Add to a named counter (written with the transaction; read it with `counter`)."""
        ...
