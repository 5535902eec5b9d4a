"""The executable model: one shared `transitions.Machine` per flow, and a slot-only order token."""

from __future__ import annotations

from collections.abc import Collection, Mapping
from typing import TYPE_CHECKING, Any

from transitions import Machine, MachineError

from ._guards import expect
from ._text import shown
from .errors import UnknownFactError, UnknownStatusError

if TYPE_CHECKING:
    from transitions.core import EventData

    from ._model import ModelData

__all__ = ["FactCondition", "OrderToken", "build_machine", "fire", "may_fire"]


class FactCondition:
    """A guard that reads one fact from the event's ``facts`` keyword (a fact left out is false)."""

    __slots__ = ("fact",)

    def __init__(self, fact: str) -> None:
        self.fact = fact

    def __call__(self, event: EventData) -> bool:
        facts: Mapping[str, bool] = event.kwargs.get("facts") or {}
        return bool(facts.get(self.fact, False))

    def __repr__(self) -> str:
        return f"FactCondition({self.fact!r})"


class OrderToken:
    """The smallest thing the shared machine can move: one ``state`` slot, no bound methods."""

    __slots__ = ("state",)

    def __init__(self, state: str) -> None:
        self.state = state


def build_machine(model: ModelData, flow: str) -> Machine:
    """A `transitions.Machine` for one flow of the model, with no model objects attached.

    States are the flow's statuses, triggers the model's actions and events, guards the
    model's facts (``requires`` -> conditions, ``unless`` -> unless). It is built with
    ``auto_transitions=False`` and ``send_event=True``; fire it without binding anything with
    `fire`, or attach your own order objects with ``machine.add_model(order, initial=status)``
    when you want callbacks.
    """
    from ._model import ModelData

    expect(model, ModelData, "build_machine's model")
    flow_def = model.flow(flow)
    transitions: list[dict[str, Any]] = [
        {
            "trigger": t.trigger,
            "source": t.source,
            "dest": t.dest,
            "conditions": [FactCondition(f) for f in sorted(t.requires)],
            "unless": [FactCondition(f) for f in sorted(t.unless)],
        }
        for t in model.transitions_in(flow)
    ]
    return Machine(
        model=None,
        states=[s.id for s in model.statuses_in(flow)],
        transitions=transitions,
        initial=flow_def.initial,
        auto_transitions=False,
        send_event=True,
        ignore_invalid_triggers=False,
    )


def fire(
    machine: Machine, status: str, trigger: str, facts: Mapping[str, bool] | Collection[str] | None = None
) -> str | None:
    """Fire `trigger` on an order in `status`; the new status, or None when the machine refuses.

    `facts` is a mapping of name to true/false or a collection of the names that hold; a status
    the machine does not have raises `UnknownStatusError`.
    """
    expect(machine, Machine, "fire's machine")
    if not isinstance(status, str) or status not in machine.states:
        raise UnknownStatusError(status, machine.states)
    event = machine.events.get(trigger) if isinstance(trigger, str) else None
    if event is None:
        return None
    if facts is None or isinstance(facts, Mapping):
        given = dict(facts or {})
    elif (
        isinstance(facts, str | bytes)
        or not isinstance(facts, Collection)
        or not all(isinstance(name, str) for name in facts)
    ):
        raise UnknownFactError(
            shown(facts),
            [],
            detail=f"fire's facts are a mapping of names to true/false or a collection of names, "
            f"not {type(facts).__name__}",
        )
    else:
        given = dict.fromkeys(facts, True)
    token = OrderToken(status)
    try:
        moved = event.trigger(token, facts=given)
    except MachineError:
        return None
    return token.state if moved else None


def may_fire(
    machine: Machine, status: str, trigger: str, facts: Mapping[str, bool] | Collection[str] | None = None
) -> bool:
    """Whether `trigger` fires from `status` with these facts (through the machine itself)."""
    return fire(machine, status, trigger, facts) is not None
