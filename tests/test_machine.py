"""The executable model: one shared transitions.Machine per flow, equal to the model's graph."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from transitions import Machine

from vtex_order_flow import FlowModel, bundled_model
from vtex_order_flow._machine import FactCondition
from vtex_order_flow.machine import build_machine, fire, may_fire

VTEX = bundled_model()
FLOWS = tuple(VTEX.flows)


def machine_edges(machine: Machine) -> set[tuple[str, str | None, str]]:
    return {
        (source, transition.dest, trigger)
        for trigger, event in machine.events.items()
        for source, transitions in event.transitions.items()
        for transition in transitions
    }


@pytest.mark.parametrize("flow", FLOWS)
def test_machine_edges_equal_model_edges(flow: str) -> None:
    machine = VTEX.machine(flow)
    assert machine_edges(machine) == {t.key for t in VTEX.transitions_in(flow)}
    assert set(machine.states) == {s.id for s in VTEX.statuses_in(flow)}


@pytest.mark.parametrize("flow", FLOWS)
def test_guards_become_conditions(flow: str) -> None:
    machine = VTEX.machine(flow)
    for t in VTEX.transitions_in(flow):
        (built,) = [m for m in machine.events[t.trigger].transitions[t.source] if m.dest == t.dest]
        guards = [c.func for c in built.conditions if isinstance(c.func, FactCondition)]
        assert len(guards) == len(built.conditions)
        targets = [c.target for c in built.conditions]
        assert {g.fact for g, target in zip(guards, targets, strict=True) if target} == t.requires
        assert {g.fact for g, target in zip(guards, targets, strict=True) if not target} == t.unless


def test_one_shared_definition_without_models_or_auto_transitions() -> None:
    machine = VTEX.machine("seller")
    assert VTEX.machine("seller") is machine
    assert machine.models == []
    assert not [name for name in machine.events if name.startswith("to_")]
    assert machine.initial == "not-integrated"


def test_fire_moves_a_token_without_binding_anything() -> None:
    machine = VTEX.machine("seller")
    assert fire(machine, "waiting-ffmt-authorization", "approve") == "authorize-fulfillment"
    assert fire(machine, "waiting-for-manual-authorization", "approve") is None
    assert fire(machine, "ready-for-handling", "no-such-trigger") is None
    assert machine.models == []


def test_fire_honours_requires_and_unless() -> None:
    machine = VTEX.machine("seller")
    assert fire(machine, "invoiced", "cancel") is None
    assert fire(machine, "invoiced", "cancel", {"return-invoice-registered": True}) == "cancel"
    assert fire(machine, "handling", "cancel") == "cancel"
    assert fire(machine, "handling", "cancel", {"partial-invoice": True}) is None
    assert fire(machine, "cancellation-requested", "seller-denies-cancellation") == "ready-for-handling"
    assert (
        fire(
            machine,
            "cancellation-requested",
            "seller-denies-cancellation",
            {"handling-started": True},
        )
        == "handling"
    )


def test_users_can_attach_their_own_order_objects() -> None:
    class Order:
        state: str

    machine = build_machine(VTEX, "seller")  # a private copy: adding models leaves the shared one alone
    order = Order()
    machine.add_model(order, initial="ready-for-handling")
    trigger: Any = getattr(order, "start-handling")
    assert trigger() is True
    assert order.state == "start-handling"
    assert VTEX.machine("seller").models == []


def model_allows(model: FlowModel, flow: str, status: str, trigger: str, facts: dict[str, bool]) -> set[str]:
    return {t.dest for t in model.ways_out(status, flow) if t.trigger == trigger and t.allowed(facts)}


@st.composite
def situations(draw: st.DrawFn) -> tuple[str, str, str, dict[str, bool]]:
    flow = draw(st.sampled_from(FLOWS))
    status = draw(st.sampled_from([s.id for s in VTEX.statuses_in(flow)]))
    trigger = draw(st.sampled_from(sorted({*VTEX.actions, *VTEX.events})))
    facts = draw(st.dictionaries(st.sampled_from(sorted(VTEX.facts)), st.booleans()))
    return flow, status, trigger, facts


@given(situations())
def test_machine_and_model_agree_on_every_move(
    situation: tuple[str, str, str, dict[str, bool]],
) -> None:
    flow, status, trigger, facts = situation
    allowed = model_allows(VTEX, flow, status, trigger, facts)
    # The model never has two moves for one trigger that hold under the same facts.
    assert len(allowed) <= 1
    moved = fire(VTEX.machine(flow), status, trigger, facts)
    assert (moved is None) == (not allowed)
    if moved is not None:
        assert moved in allowed
    assert may_fire(VTEX.machine(flow), status, trigger, facts) == bool(allowed)
