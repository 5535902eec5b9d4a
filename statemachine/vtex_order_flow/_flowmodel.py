"""The public model: the validated data with its decision tables and machines on top."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from ._decide import fact_names
from ._model import ModelData
from ._table import DecisionTable, compile_flow

if TYPE_CHECKING:
    from transitions import Machine

    from ._decision import Decision, Facts

__all__ = ["FlowModel"]


@dataclass(frozen=True, slots=True)
class FlowModel(ModelData):
    """A validated VTEX order-flow model. Build it with `load_model` or `bundled_model`.

    The data and graph queries of `ModelData`, plus what is derived from them once and shared:
    each flow's decision table (`table`, `decide`) and its `transitions` machine (`machine`).
    A call that names no flow is about the model's `default_flow`.
    """

    _tables: dict[str | None, DecisionTable] = field(default_factory=dict, repr=False, compare=False)
    _machines: dict[str, Machine] = field(default_factory=dict, repr=False, compare=False)

    def table(self, flow: str | None = None) -> DecisionTable:
        """The decision table of a flow (the default flow when None), compiled on first use."""
        if flow is not None and not isinstance(flow, str):
            self.flow(flow)  # raises UnknownFlowError, naming the value
        found = self._tables.get(flow)
        if found is None:
            name = self.flow_name(flow)
            found = self._tables.get(name)
            if found is None:
                found = self._tables[name] = compile_flow(self, name)
            self._tables[flow] = found
        return found

    def decide(self, status: str, action: str, flow: str | None = None, facts: Facts = None) -> Decision:
        """May `action` go to VTEX now for an order in `status`? SEND, DEFER or REJECT, and why.

        `facts` are what the status alone does not carry (``{"partial-invoice": True}``, or the
        names that hold). The same question always returns the same immutable `Decision`.
        Unknown names raise `UnknownStatusError`, `UnknownActionError`, `UnknownFlowError` or
        `UnknownFactError`, with the closest valid names; facts that contradict each other or
        the status raise `ContradictoryFactsError`.
        """
        if facts is None:
            try:
                table = self._tables.get(flow)
                found = table.plain.get((status, action)) if table is not None else None
            except TypeError:  # an unhashable name: the slow path names it
                found = None
            if found is not None:
                return found
        return self.table(flow).decide(status, action, facts)

    def normalize_facts(self, facts: Facts) -> frozenset[str]:
        """The facts that hold, with what they imply: a mapping of name to true/false or a
        collection of names, checked (`UnknownFactError`, `ContradictoryFactsError`)."""
        return fact_names(self, facts)

    def decisions(self, flow: str | None = None, facts: Facts = None) -> dict[tuple[str, str], Decision]:
        """Every (status, action) decision of a flow for these facts, in model order."""
        table = self.table(flow)
        return {
            (status.id, action): table.decide(status.id, action, facts)
            for status in self.statuses_in(table.flow)
            for action in self.actions
        }

    def machine(self, flow: str | None = None) -> Machine:
        """The shared `transitions.Machine` of a flow, built once (see
        `vtex_order_flow.machine.build_machine`)."""
        name = self.flow_name(flow)
        machine = self._machines.get(name)
        if machine is None:
            from ._machine import build_machine

            machine = self._machines[name] = build_machine(self, name)
        return machine
