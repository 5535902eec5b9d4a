"""What every job of the tracker shares: the flow's tables, the store, the policies, and the unit
of work (a snapshot read in one call, a change set written in one call)."""

from __future__ import annotations

from collections.abc import Callable, Collection
from dataclasses import dataclass

from ..errors import UnknownUpdateError
from ._changes import Changes, ClaimSnapshot, Snapshot
from ._types import Entry, EntryState, RetryPolicy
from ._verdicts import FlowTables
from .stores import Store

__all__ = ["Core"]


@dataclass(slots=True)
class Core:
    """The tracker's state that its jobs read: one per tracker. Each job function takes it and
    the operation's clock reading, inside the facade's lock and transaction."""

    tables: FlowTables
    store: Store
    retry: RetryPolicy
    answer_timeout: float | None
    max_skew: float | None
    wake: Callable[[], None]

    def load(self, order_ids: Collection[str], *, lock: bool = True, links: bool = True) -> Snapshot:
        """The orders' records, facts, open entries and links (unless not `links`), their locks
        held: one call."""
        return self.store.snapshot(order_ids, lock=lock, links=links)

    def load_claim(self, now: float, limit: int) -> ClaimSnapshot:
        """What a claim reads: one call."""
        return self.store.claim_snapshot(now, limit)

    def resolve(self, order_id: str, *, lock: bool = True) -> tuple[str, Snapshot]:
        """Lock the order (the marketplace id, then VTEX's when linked: the order every path
        takes them in) and return the id it is kept under, with its snapshot. Read after the
        lock: a link made meanwhile is seen. Without `lock` (a reader), no lock is taken. One
        read; two for a linked marketplace id."""
        snapshot = self.load((order_id,), lock=lock)
        resolved = snapshot.links.get(order_id)
        if resolved is None:
            return order_id, snapshot
        return resolved, self.load((resolved,), lock=lock)

    def existing(self, key: str, *, lock: bool = True) -> Entry:
        """The entry with this key, or `UnknownUpdateError`."""
        found = self.store.get_entry(key, lock=lock)
        if found is None:
            raise UnknownUpdateError(f"no outbox entry with key {key!r}")
        return found

    def save(self, changes: Changes, now: float) -> dict[str, Entry]:
        """Write the change set in one call, each entry stamped with `now` (and by the store with
        a new ``seq``); the entries as written, by key. A ready one wakes the waiting workers."""
        changes.updated_at = now  # (stamped by the store, with the seq, in one copy)
        if not changes:
            return {}
        written = self.store.write(changes)
        if any(entry.state is EntryState.READY for entry in written.values()):
            self.wake()
        return written

    def save_one(self, entry: Entry, now: float) -> Entry:
        """Write one entry; it as written."""
        changes = Changes()
        changes.put(entry)
        return self.save(changes, now)[entry.key]
