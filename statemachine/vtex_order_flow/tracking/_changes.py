"""The outbox's unit of work: what one tracker operation reads from its store in one call (a
`Snapshot`, a `ClaimSnapshot`) and what it writes back in one call (a `Changes`).

Every tracker operation is: load a snapshot of the orders and entries it touches, compute the
change with pure functions, write it. A networked store answers each in one round trip (one
statement or one pipeline), instead of a row at a time.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field

from ._types import Anomaly, Entry

__all__ = ["Changes", "ClaimSnapshot", "OrderState", "Snapshot"]


@dataclass(frozen=True, slots=True)
class OrderState:
    """What the store holds of one order: its status and when it entered it (None and 0 when no
    event named it yet), and the facts it carries (recorded even before its first event)."""

    status: str | None
    changed_at: int
    facts: frozenset[str] = frozenset()


_NO_ORDER = OrderState(None, 0)


@dataclass(frozen=True, slots=True)
class Snapshot:
    """The orders one operation touches, as the store holds them at the start of its
    transaction, their locks held (`Store.snapshot`).

    `orders` has an `OrderState` for each asked id with a record or facts; `open_entries` each
    asked id's open entries (every state but done and dropped) in `seq` order; `links` VTEX's id
    for each asked id that is a linked marketplace id; `linked_from` the marketplace id for each
    asked id that is VTEX's id of a linked one."""

    orders: Mapping[str, OrderState] = field(default_factory=dict)
    open_entries: Mapping[str, tuple[Entry, ...]] = field(default_factory=dict)
    links: Mapping[str, str] = field(default_factory=dict)
    linked_from: Mapping[str, str] = field(default_factory=dict)

    def order(self, order_id: str) -> OrderState:
        """The order as held (status None when no event named it yet)."""
        return self.orders.get(order_id, _NO_ORDER)

    def entries(self, order_id: str) -> tuple[Entry, ...]:
        """The order's open entries, by `seq`."""
        return self.open_entries.get(order_id, ())


@dataclass(frozen=True, slots=True)
class ClaimSnapshot:
    """What a claim reads in one call (`Store.claim_snapshot`): the claimable entries (ready,
    retries come due, leases and answer waits expired: `due <= now`), by (`due`, `seq`), whose
    orders' locks were taken without waiting; the keys of those whose order another transaction
    holds (`skipped`: claimed next time); their orders; and their orders' entries already on
    their way (claimed or sent)."""

    candidates: tuple[Entry, ...] = ()
    skipped: frozenset[str] = frozenset()
    orders: Mapping[str, OrderState] = field(default_factory=dict)
    in_flight: Mapping[str, tuple[Entry, ...]] = field(default_factory=dict)


@dataclass(slots=True)
class Changes:
    """Everything one operation writes (`Store.write`), in its transaction, in one call.

    `records`: order id -> (status, changed_at); `facts`: order id -> the facts it now carries
    (replacing what was held; an empty set deletes them); `entries`: key -> the entry as it now
    is (inserted or replacing the row of its key; the store stamps a new `seq`, and `updated_at`
    when the change set has one, in the same copy); `anomalies` to
    add; `counters` to add to (``applied``, ``anomalies``); `links`: (marketplace id, VTEX's id)
    pairs to record (a second pair with either id is refused with `InvalidArgumentError`).
    Written in this order: links, records, facts, entries, anomalies, counters."""

    records: dict[str, tuple[str, int]] = field(default_factory=dict)
    facts: dict[str, frozenset[str]] = field(default_factory=dict)
    entries: dict[str, Entry] = field(default_factory=dict)
    anomalies: list[Anomaly] = field(default_factory=list)
    counters: Counter[str] = field(default_factory=Counter)
    links: list[tuple[str, str]] = field(default_factory=list)
    updated_at: float | None = None
    """When set, the time every written entry is stamped with (the tracker's clock)."""

    def __bool__(self) -> bool:
        return bool(
            self.records or self.facts or self.entries or self.anomalies or self.counters or self.links
        )

    def put(self, entry: Entry) -> Entry:
        """Stage `entry` to be written (the last one staged for a key wins); returns it."""
        self.entries[entry.key] = entry
        return entry
