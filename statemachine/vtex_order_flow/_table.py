"""Compile one flow of a model into an immutable decision table: the fast path of `decide`."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import TYPE_CHECKING

from ._decide import compute_decision, fact_names
from ._decision import Decision, Facts

if TYPE_CHECKING:
    from ._model import ModelData

__all__ = ["DecisionTable", "compile_flow"]

_RAW_LIMIT = 100_000
"""Raw spellings remembered per table; past that, decisions are still right, just not memoised."""


@dataclass(frozen=True, slots=True)
class DecisionTable:
    """Every decision of one flow, keyed by normalised questions.

    `plain` holds, eagerly, the decision for every status (and alias) and action without facts.
    Decisions with facts are derived on first use under a normalised key (canonical status,
    action, the facts that hold with what they imply) and shared from then on; a caller's raw
    spelling of the facts is only ever a shortcut to that key, never a key of its own.
    """

    model: ModelData = field(repr=False)
    flow: str
    plain: Mapping[tuple[str, str], Decision] = field(repr=False)
    _normalised: dict[tuple[str, str, frozenset[str]], Decision] = field(
        default_factory=dict, repr=False, compare=False
    )
    _raw: dict[tuple[object, ...], Decision] = field(default_factory=dict, repr=False, compare=False)

    def decide(self, status: str, action: str, facts: Facts = None) -> Decision:
        """May `action` go to VTEX now for an order in `status` with these facts?"""
        if facts is None:
            try:
                found = self.plain.get((status, action))
            except TypeError:  # an unhashable name: the slow path names it
                found = None
            if found is not None:
                return found
        else:
            raw = _raw_key(status, action, facts)
            if raw is not None and type(status) is str and type(action) is str:
                hit = self._raw.get(raw)
                if hit is not None:
                    return hit
            found = self._derive(status, action, facts)
            if raw is not None and len(self._raw) < _RAW_LIMIT:
                self._raw[raw] = found
            return found
        return self._derive(status, action, None)

    def _derive(self, status: str, action: str, facts: Facts) -> Decision:
        model = self.model
        status_id = model.status(status).id
        action_id = model.action(action).name
        names = fact_names(model, facts)
        if not names:
            found = self.plain.get((status_id, action_id))
            if found is not None:
                return found
        key = (status_id, action_id, names)
        found = self._normalised.get(key)
        if found is None:
            found = compute_decision(
                model,
                status=status_id,
                action=action_id,
                flow=self.flow,
                facts=names,
                outs=model.outs(self.flow),
            )
            self._normalised[key] = found
        return found


def _raw_key(status: str, action: str, facts: object) -> tuple[object, ...] | None:
    """A hashable key for a caller's spelling of facts that can only mean one thing, or None.

    Only a plain dict of true/false values and a set, frozenset, list or tuple of strings
    qualify, tagged apart; anything else (an iterator, pairs, other types) takes the slow path
    every time, so that it can never stand for another spelling.
    """
    if type(facts) is dict:
        if all(v is True or v is False for v in facts.values()):
            try:
                return (status, action, "map", frozenset(facts.items()))
            except TypeError:  # an unhashable key: the slow path names it
                return None
        return None
    if (
        isinstance(facts, frozenset | set | list | tuple)
        and type(facts) in _NAME_COLLECTIONS
        and all(type(name) is str for name in facts)
    ):
        return (status, action, "names", frozenset(facts))
    return None


_NAME_COLLECTIONS = (frozenset, set, list, tuple)


def compile_flow(model: ModelData, flow: str) -> DecisionTable:
    """The decision table of `flow`: every status and action without facts, derived now."""
    name = model.flow(flow).name
    outs = model.outs(name)
    plain: dict[tuple[str, str], Decision] = {}
    for status in model.statuses_in(name):
        for action in model.actions:
            decision = compute_decision(
                model, status=status.id, action=action, flow=name, facts=frozenset(), outs=outs
            )
            plain[(status.id, action)] = decision
            for alias in status.aliases:
                plain[(alias, action)] = decision
    return DecisionTable(model=model, flow=name, plain=MappingProxyType(plain))
