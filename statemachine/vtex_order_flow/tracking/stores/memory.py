"""The memory store: records and outbox in the process, transactional like SQLite (an undo log)."""

from __future__ import annotations

import contextlib
import functools
import heapq
import threading
from collections.abc import Callable, Collection, Iterator, Sequence
from typing import TypeVar

from ...errors import StoreError
from .._changes import Changes, ClaimSnapshot, Snapshot
from .._events import TICKS_PER_SECOND
from .._types import CLAIMABLE, OPEN_STATES, Anomaly, Entry, EntryState, OrderRecord
from .._types import IN_FLIGHT as IN_FLIGHT_STATES
from . import _operations
from ._base import ExclusiveStore, check_link
from ._rows import WAITING as _WAITING

__all__ = ["MemoryStore"]

_V = TypeVar("_V")


class MemoryStore(ExclusiveStore):
    """Records and outbox in memory, transactional like SQLite: a transaction that raises leaves
    nothing of its writes (an undo log replays them backwards).

    An order costs one dictionary entry and one integer (its status index and time packed
    together): well under 200 bytes beyond its id.
    """

    _BITS = 32

    def __init__(self) -> None:
        super().__init__()
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
                self._readying = False
                raise
            finally:
                self._undo = None
            self._announce()

    def close(self) -> None:
        self._closed = True
        with self._ready:
            self._ready.notify_all()

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

    def snapshot(self, order_ids: Collection[str], *, lock: bool = True, links: bool = True) -> Snapshot:
        return _operations.snapshot(self, order_ids, lock=lock, links=links)

    def claim_snapshot(self, now: float, limit: int) -> ClaimSnapshot:
        return _operations.claim_snapshot(self, now, limit)

    def write(self, changes: Changes) -> dict[str, Entry]:
        return _operations.write(self, changes)

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
        check_link(self, marketplace_id, order_id)
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
        if entry.state is EntryState.READY:
            self._readying = True
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
