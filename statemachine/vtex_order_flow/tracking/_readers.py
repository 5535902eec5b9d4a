"""The tracker's readers: what an order, an entry and the outbox hold now (no change made)."""

from __future__ import annotations

import contextlib
import math
from collections.abc import Callable, Iterable, Iterator
from dataclasses import replace
from typing import Any

from .. import Decision, Facts, FlowModel, FollowUp, Verdict
from .._guards import expect_id
from .._text import shown
from ..errors import InvalidArgumentError, StoreError
from ._changes import Snapshot
from ._types import IN_FLIGHT, Anomaly, Closing, Entry, EntryState, OrderRecord
from ._unit import Core
from ._verdicts import FlowTables, from_the_start
from .stores import Store

__all__ = ["Readers"]


class Readers(Closing):
    """The `Tracker`'s read-only calls (each under the tracker's lock, in no transaction)."""

    model: FlowModel
    flow: str
    store: Store
    _lock: Any
    _tables: FlowTables
    _core: Core

    _now: Callable[[], float]

    @contextlib.contextmanager
    def _reading(self) -> Iterator[None]:
        with self._lock:
            if self.store.closed:
                raise StoreError(f"the tracker's store ({type(self.store).__name__}) is closed")
            yield

    def _view(self, order_id: str) -> tuple[str, Snapshot]:
        """The order as the store holds it, no lock taken: the id it is kept under (VTEX's for a
        linked marketplace id) and its snapshot."""
        return self._core.resolve(order_id, lock=False)

    def order_id(self, marketplace_id: str) -> str | None:
        """VTEX's orderId for a marketplace order id, when known (`link`)."""
        expect_id(marketplace_id, "the marketplace order id")
        with self._reading():
            return self.store.snapshot((marketplace_id,), lock=False).links.get(marketplace_id)

    def marketplace_id(self, order_id: str) -> str | None:
        """The marketplace order id VTEX's orderId was linked from, when known (`link`)."""
        expect_id(order_id, "VTEX's order id")
        with self._reading():
            return self.store.snapshot((order_id,), lock=False).linked_from.get(order_id)

    def decide(self, order_id: str, action: str, facts: Facts = None) -> Decision | None:
        """The decision for `action` on this order as the tracker knows it: its recorded status,
        the facts it carries there, and `facts`; None when no event named the order yet (except
        for the update that brings it into VTEX, decided where the flow starts). While
        an entry of the action is claimed or sent (for an action an order needs once), a SEND
        becomes a DEFER that says it is already on its way."""
        expect_id(order_id)
        action = self.model.action(action).name  # (an unknown one: UnknownActionError, always)
        names = self.model.normalize_facts(facts)
        with self._reading():
            order_id, snapshot = self._view(order_id)
        order = snapshot.order(order_id)
        if order.status is None:
            # (no event yet: as the outbox decides it, where the flow starts)
            start = from_the_start(self._tables, action, names, order_id in snapshot.linked_from)
            if start is None:
                return None
            decision = start
        else:
            decision = self.model.decide(
                order.status, action, self.flow, self._tables.visible(order.facts, order.status) | names
            )
        if decision.verdict is Verdict.SEND:
            going = next(
                (e for e in snapshot.entries(order_id) if e.action == decision.action and e.in_flight),
                None,
            )
            if going is not None and decision.action not in self._tables.repeatable:
                return replace(
                    decision,
                    verdict=Verdict.DEFER,
                    reason=(
                        f"{decision.action} is already on its way to VTEX "
                        f"(entry {going.key!r} is {going.state})"
                    ),
                    path=(),
                    next_actor="platform",
                    remedy=(),
                    moves_to=None,
                    follow_up=FollowUp.WAIT_FOR_NOTIFICATION,
                )
        return decision

    def entry(self, key: str) -> Entry | None:
        """The entry with this key, or None."""
        expect_id(key, "an entry's key")
        with self._reading():
            return self.store.get_entry(key)

    def entries(self, *states: EntryState) -> list[Entry]:
        """The entries in these states (every one when none is given), in the order they changed.

        A state is an `EntryState` or its name (``"ready"``); anything else is an
        `InvalidArgumentError` naming the valid states."""
        chosen = tuple(_entry_state(state) for state in states)
        with self._reading():
            return self.store.entries(*chosen)

    def in_flight(self, order_id: str) -> list[Entry]:
        """The order's entries on their way to VTEX (claimed or sent)."""
        expect_id(order_id)
        with self._reading():
            resolved, snapshot = self._view(order_id)
        return [e for e in snapshot.entries(resolved) if e.state in IN_FLIGHT]

    def counts(self) -> dict[str, int]:
        """How many entries are in each state (every state listed)."""
        with self._reading():
            held = self.store.counts()
        return {str(state): held.get(state, 0) for state in EntryState}

    def status(self) -> dict[str, Any]:
        """For operators (the app's ``/status``): entries by state, the entry waiting longest
        (pending or retrying: its key, action, order and age in seconds), and how many events
        were applied and anomalies recorded since the store was made."""
        with self._reading():
            counts = self.store.counts()
            oldest = self.store.stale_entries(math.inf, 1)
            applied, anomalies = self.store.counter("applied"), self.store.counter("anomalies")
            now = self._now()
        waiting = None
        if oldest:
            entry = oldest[0]
            waiting = {
                "key": entry.key,
                "action": entry.action,
                "order_id": entry.order_id,
                "state": str(entry.state),
                "age": round(max(now - entry.registered_at, 0.0), 3),
                "reason": entry.reason,
            }
        return {
            "entries": {str(state): counts.get(state, 0) for state in EntryState},
            "oldest_waiting": waiting,
            "events_applied": applied,
            "anomalies": anomalies,
        }

    def facts(self, order_id: str) -> frozenset[str]:
        """The facts the order carries (set by its moves and recorded by the connector)."""
        expect_id(order_id)
        with self._reading():
            resolved, snapshot = self._view(order_id)
        return snapshot.order(resolved).facts

    def marketplace_ids(self, order_ids: Iterable[str]) -> dict[str, str]:
        """The marketplace ids VTEX's order ids were linked from, for those linked (one read of
        the store per call, not per id, where the store allows: a dispatcher asks for a batch)."""
        ids = list(order_ids) if not isinstance(order_ids, str) else None
        if ids is None:
            raise InvalidArgumentError(f"marketplace_ids takes order ids, not the string {order_ids!r}")
        for order_id in ids:
            expect_id(order_id, "VTEX's order id")
        with self._reading():
            return dict(self.store.snapshot(ids, lock=False).linked_from) if ids else {}

    def record(self, order_id: str) -> OrderRecord | None:
        """The order's current record, or None when no event named it yet."""
        expect_id(order_id)
        with self._reading():
            resolved, snapshot = self._view(order_id)
        order = snapshot.order(resolved)
        return None if order.status is None else OrderRecord(resolved, order.status, order.changed_at)

    def records(self) -> list[OrderRecord]:
        """Every order's record."""
        with self._reading():
            return list(self.store.records())

    def anomalies(self) -> list[Anomaly]:
        """Every anomaly recorded, oldest first."""
        with self._reading():
            return self.store.anomalies()

    @property
    def applied(self) -> int:
        """How many events changed a record (duplicates and stale events excluded)."""
        with self._reading():
            return self.store.counter("applied")


def _entry_state(state: object) -> EntryState:
    """`state` as an `EntryState`, or an `InvalidArgumentError` naming the valid ones."""
    if isinstance(state, EntryState):
        return state
    if isinstance(state, str) and state in _STATE_NAMES:
        return EntryState(state)
    raise InvalidArgumentError(
        f"Tracker.entries's states must be entry states, not {shown(state)}; valid: {', '.join(_STATE_NAMES)}"
    )


_STATE_NAMES = tuple(state.value for state in EntryState)
