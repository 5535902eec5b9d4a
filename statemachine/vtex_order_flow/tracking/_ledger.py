"""Events and facts in: VTEX's order events applied to the orders' records, the facts the
connector records, and the open entries decided again after each change."""

from __future__ import annotations

from dataclasses import replace

from .._guards import expect, expect_id
from ..errors import InvalidArgumentError
from ._changes import Changes, OrderState
from ._events import _MAX_TICKS, TICKS_PER_SECOND, OrderEvent
from ._types import Anomaly, AnomalyKind, Applied, Entry, EventOutcome
from ._unit import Core
from ._verdicts import FlowTables, redecide

__all__ = ["apply_event", "change_facts", "check_event"]


def check_event(event: object) -> None:
    """Refuse what is not an order event (a Ping, None, a raw dict) before it reaches a store."""
    expect(event, OrderEvent, "an applied event")
    if not isinstance(event, OrderEvent) or not (
        isinstance(event.order_id, str) and isinstance(event.state, str) and type(event.changed_at) is int
    ):
        raise InvalidArgumentError(
            f"an OrderEvent needs a str order id and state and int ticks, not {event!r}"
        )
    expect_id(event.order_id, "an event's order id")
    expect_id(event.state, "an event's status")
    if not 0 <= event.changed_at < _MAX_TICKS:
        raise InvalidArgumentError(
            f"an event's time is 100 ns ticks from 1970 to 9999, not {event.changed_at!r}"
        )


def anomaly_of(
    tables: FlowTables, previous: str | None, event: OrderEvent, same_time: bool = False
) -> Anomaly | None:
    """The anomaly a move is, if the model does not have it (pure)."""
    new = event.state
    kind: AnomalyKind | None = None
    if new not in tables.model.statuses:
        kind = AnomalyKind.UNKNOWN_STATUS
    elif new not in tables.members:
        kind = AnomalyKind.NOT_IN_FLOW
    elif same_time:
        kind = AnomalyKind.SAME_TIME
    elif previous is None or previous == new or previous not in tables.members:
        kind = None
    elif previous in tables.terminal:
        kind = AnomalyKind.FROM_TERMINAL
    elif new not in tables.reach[previous]:  # (previous == new was settled above)
        kind = AnomalyKind.UNREACHABLE
    return None if kind is None else Anomaly(event.order_id, previous, new, kind, event.changed_at)


def _settle(order: OrderState, event: OrderEvent) -> EventOutcome | None:
    """Stale or duplicate, or None when the event changes the record (pure)."""
    if order.status is None:
        return None
    if event.changed_at < order.changed_at or (
        # Two statuses at one time: the same one wins whatever the delivery order.
        event.changed_at == order.changed_at and event.state < order.status
    ):
        return EventOutcome.STALE
    if event.changed_at == order.changed_at and event.state == order.status:
        return EventOutcome.DUPLICATE
    return None


def apply_event(core: Core, event: OrderEvent, now: float) -> Applied:
    """Apply one event: one snapshot of its order, one write of what it causes."""
    tables = core.tables
    if event.domain and tables.domain and event.domain.casefold() != tables.domain:
        # The same order id in the other domain (a marketplace's and a seller's order in one
        # account): not this flow's events; recording them would move the order back and forth.
        return Applied(event, EventOutcome.OTHER_DOMAIN)
    state = tables.model.canonical(event.state)
    if state != event.state:
        event = replace(event, state=state)
    order_id = event.order_id
    # The order's lock first: the same event delivered to two workers, one applies it.
    snapshot = core.load((order_id,), links=False)  # (an event needs no id map)
    order = snapshot.order(order_id)
    previous = order.status
    changes = Changes()
    if core.max_skew is not None and event.changed_at > (now + core.max_skew) * TICKS_PER_SECOND:
        future = Anomaly(order_id, previous, state, AnomalyKind.FUTURE_TIME, event.changed_at)
        changes.anomalies.append(future)
        core.save(changes, now)
        return Applied(event, EventOutcome.FUTURE, previous, future)
    settled = _settle(order, event)
    if settled is not None:
        return Applied(event, settled, previous)
    changes.records[order_id] = (state, event.changed_at)
    changes.counters["applied"] += 1
    anomaly = anomaly_of(
        tables, previous, event, same_time=previous is not None and event.changed_at == order.changed_at
    )
    if anomaly is not None:
        changes.anomalies.append(anomaly)
        changes.counters["anomalies"] += 1
    outcome = EventOutcome.FIRST if previous is None else EventOutcome.MOVED
    if state == previous:
        core.save(changes, now)
        return Applied(event, outcome, previous, anomaly)
    facts = order.facts if previous is None else tables.moved_facts(previous, state, order.facts)
    if facts != order.facts:
        changes.facts[order_id] = facts
    decided = redecide(tables, snapshot.entries(order_id), state, facts)
    for entry in decided.changed:
        changes.put(entry)
    written = core.save(changes, now)
    if not (decided.ready or decided.dropped or decided.done):
        return Applied(event, outcome, previous, anomaly)
    return Applied(
        event,
        outcome,
        previous,
        anomaly,
        tuple(written[e.key] for e in decided.ready),
        tuple(written[e.key] for e in decided.dropped),
        tuple(written[e.key] for e in decided.done),
    )


def change_facts(
    core: Core, order_id: str, true: frozenset[str], false: frozenset[str], now: float
) -> list[Entry]:
    """Record facts the order now carries (`true`) or no longer does (`false`: with every fact
    that implies it); the order's open entries decided again. The entries that became ready,
    dropped or done. The order is locked by the caller (`Core.resolve`)."""
    snapshot = core.load((order_id,))
    order = snapshot.order(order_id)
    held = order.facts
    gone = frozenset(f for f in held if core.tables.model.fact_closure((f,)) & false)
    changed = (held - gone) | true
    if changed == held:
        return []
    changes = Changes(facts={order_id: changed})
    if order.status is None:
        core.save(changes, now)
        return []
    decided = redecide(core.tables, snapshot.entries(order_id), order.status, changed)
    for entry in decided.changed:
        changes.put(entry)
    written = core.save(changes, now)
    return [written[e.key] for e in (*decided.ready, *decided.dropped, *decided.done)]
