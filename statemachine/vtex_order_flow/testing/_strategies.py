"""Hypothesis strategies for connector authors' tests: statuses, actions, facts, real walks
through the model, their delivery as VTEX delivers them, payloads and notifications."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from hypothesis import strategies as st

from ..tracking import TICKS_PER_SECOND, OrderEvent, format_ticks

if TYPE_CHECKING:
    from .. import FlowModel
    from ..model import Transition

__all__ = [
    "Walk",
    "actions",
    "deliveries",
    "facts",
    "feed_payloads",
    "hook_payloads",
    "notifications",
    "statuses",
    "walks",
]

T0 = 1_795_000_000 * TICKS_PER_SECOND  # 2026-11-18 in 100 ns ticks


def _model(model: FlowModel | None) -> FlowModel:
    from .. import bundled_model

    return model or bundled_model()


def statuses(model: FlowModel | None = None, flow: str | None = None) -> st.SearchStrategy[str]:
    """A status of `flow` (the model's default flow when None), as VTEX's API spells it."""
    found = _model(model)
    return st.sampled_from([s.id for s in found.statuses_in(found.flow_name(flow))])


def actions(model: FlowModel | None = None) -> st.SearchStrategy[str]:
    """A connector action: create, approve, cancel, invoice, return-invoice, tracking, start-handling."""
    return st.sampled_from(list(_model(model).actions))


def facts(
    model: FlowModel | None = None, *, status: str | None = None, flow: str | None = None
) -> st.SearchStrategy[dict[str, bool]]:
    """Consistent facts, as ``decide(..., facts=...)`` takes them: a fact given true comes with
    those it implies, and none of those is given false. With `status`, only facts an order in
    that status of `flow` can carry (``decide`` refuses the others with `ContradictoryFactsError`).
    """
    found = _model(model)
    if status is None:
        names = sorted(found.facts)
    else:
        where = found.fact_places(found.flow_name(flow))
        names = sorted(n for n in found.facts if n not in where or status in where[n])

    @st.composite
    def draw(data: st.DrawFn) -> dict[str, bool]:
        true = found.fact_closure(data(st.sets(st.sampled_from(names)) if names else st.just(set())))
        if status is not None:
            where = found.fact_places(found.flow_name(flow))
            true = frozenset(n for n in true if n not in where or status in where[n])
            true = frozenset(n for n in true if found.fact_closure([n]) <= true)
        others = [n for n in sorted(found.facts) if n not in true]
        false = data(st.sets(st.sampled_from(others))) if others else set()
        return {**dict.fromkeys(sorted(false), False), **dict.fromkeys(sorted(true), True)}

    return draw()


@dataclass(frozen=True, slots=True)
class Walk:
    """A sequence of status changes VTEX could really produce: each step a transition of the model
    whose guards held, from the flow's initial status."""

    flow: str
    transitions: tuple[Transition, ...]
    facts: frozenset[str]
    """The facts that hold at the end (grown by the transitions' ``sets``)."""

    @property
    def statuses(self) -> tuple[str, ...]:
        """Every status entered, in order (the initial one first)."""
        if not self.transitions:
            return ()
        return (self.transitions[0].source, *(t.dest for t in self.transitions))

    @property
    def final(self) -> str | None:
        """The status the walk ends in (None for an empty walk)."""
        return self.transitions[-1].dest if self.transitions else None


@st.composite
def walks(
    draw: st.DrawFn,
    model: FlowModel | None = None,
    flow: str | None = None,
    max_steps: int = 15,
    connector: bool = True,
) -> Walk:
    """A walk through `flow` from its initial status. With ``connector=False`` the connector's
    own actions are left out, except the first (VTEX must have the order)."""
    chosen_model = _model(model)
    flow = chosen_model.flow_name(flow)
    status = chosen_model.flow(flow).initial
    held: frozenset[str] = frozenset()
    taken: list[Transition] = []
    for step in range(draw(st.integers(1, max_steps))):
        options = [
            t
            for t in chosen_model.ways_out(status, flow)
            if not t.is_self_loop and t.holds(held) and (connector or step == 0 or not t.by_action)
        ]
        if not options:
            break
        transition = draw(st.sampled_from(options))
        taken.append(transition)
        held = (held | transition.sets) - transition.clears
        status = transition.dest
    return Walk(flow, tuple(taken), held)


@st.composite
def deliveries(
    draw: st.DrawFn, walk: Walk, order_id: str = "MKP-1-01", duplicates: bool = True, reorder: bool = True
) -> list[OrderEvent]:
    """A walk's status changes as VTEX delivers them: at least once (some duplicated), in any
    order. Times increase along the walk, with VTEX's 100 ns precision."""
    at = T0 + draw(st.integers(0, 10**9))
    events = []
    previous = None
    for transition in walk.transitions:
        at += draw(st.integers(1, 3600 * TICKS_PER_SECOND))
        events.append(OrderEvent(order_id, transition.dest, at, last_state=previous or transition.source))
        previous = transition.dest
    if duplicates and events:
        events += draw(st.lists(st.sampled_from(events), max_size=len(events)))
    return draw(st.permutations(events)) if reorder else events


@st.composite
def hook_payloads(draw: st.DrawFn, model: FlowModel | None = None, flow: str | None = None) -> dict[str, Any]:
    """An order hook notification for a status change of `flow`; sometimes without ``LastState``
    and ``CurrentChange``, as in VTEX's guide."""
    last, state = draw(statuses(model, flow)), draw(statuses(model, flow))
    before = T0 + draw(st.integers(0, 10**12))
    body: dict[str, Any] = {
        "Domain": draw(st.sampled_from(sorted({f.domain for f in _model(model).flows.values() if f.domain}))),
        "OrderId": draw(st.from_regex(r"\A[A-Z]{3}-[0-9]{6,12}-0[1-9]\Z")),
        "State": state,
        "LastState": last,
        "LastChange": format_ticks(before),
        "CurrentChange": format_ticks(before + draw(st.integers(1, 10**10))),
        "Origin": {"Account": draw(st.from_regex(r"\A[a-z]{3,12}\Z")), "Key": "vtexappkey-test"},
    }
    if draw(st.booleans()):
        del body["LastState"], body["CurrentChange"]
    return body


@st.composite
def feed_payloads(draw: st.DrawFn, model: FlowModel | None = None, flow: str | None = None) -> dict[str, Any]:
    """A Feed v3 item for a status change of `flow`."""
    before = T0 + draw(st.integers(0, 10**12))
    return {
        "eventId": draw(st.from_regex(r"\A[0-9A-F]{32}\Z")),
        "handle": draw(st.from_regex(r"\A[A-Za-z0-9+/]{20,60}\Z")),
        "domain": _model(model).flow(_model(model).flow_name(flow)).domain,
        "state": draw(statuses(model, flow)),
        "lastState": draw(statuses(model, flow)),
        "orderId": draw(st.from_regex(r"\A[0-9]{12}-0[1-9]\Z")),
        "lastChange": format_ticks(before),
        "currentChange": format_ticks(before + draw(st.integers(1, 10**10))),
    }


@st.composite
def notifications(draw: st.DrawFn, model: FlowModel | None = None) -> dict[str, Any]:
    """A Channel Order API notification with a result code of the model, consistent with it
    (its `success` flag, the code's own operation)."""
    chosen_model = _model(model)
    code = draw(st.sampled_from([c for c in chosen_model.codes.values() if c.api == "channel-order"]))
    operations = tuple(a.operation for a in chosen_model.actions.values() if a.operation)
    success = code.success
    order = draw(st.from_regex(r"\A[0-9]{9,12}\Z"))
    return {
        "marketplaceOrderId": order,
        "accountName": draw(st.from_regex(r"\A[a-z]{3,12}\Z")),
        "code": code.code,
        "flow": draw(st.sampled_from(code.operations or operations)),
        "success": success,
        "operationId": str(draw(st.uuids())),
        "message": code.meaning,
        "errors": None,
        "fields": {"mainOrderId": f"MKP-{order}", "franchiseOrderId": None} if success else None,
    }
