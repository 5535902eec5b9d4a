"""The immutable, validated model (`ModelData`): its entries (`_entries`) by name, and the graph
queries derived from them, once."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Self, TypeVar

from . import _graph
from ._entries import Fact, Flow, Prerequisite, ResultCode, Source, Status, Transition, Trigger
from .errors import UnknownActionError, UnknownFlowError, UnknownStatusError

_T = TypeVar("_T")


__all__ = ["ModelData"]


@dataclass(frozen=True, slots=True)
class ModelData:
    """A validated model as pure, immutable data, with lookups and graph queries.

    Nothing here decides: `compile` (in `_table`) turns a flow of it into a decision table, and
    `FlowModel` (the public model) adds `decide` on top. Every lookup by name raises a typed
    `UnknownNameError` (with the closest valid names) for a name the model does not know; a
    status may be named by one of its aliases.
    """

    name: str
    title: str
    description: str
    origin: str
    statuses: Mapping[str, Status]
    transitions: tuple[Transition, ...]
    flows: Mapping[str, Flow]
    actions: Mapping[str, Trigger]
    events: Mapping[str, Trigger]
    facts: Mapping[str, Fact]
    codes: Mapping[str, ResultCode]
    sources: Mapping[str, Source]
    default_flow: str
    """The flow a call that names none is about (the bundled model's: seller)."""
    _aliases: Mapping[str, str] = field(repr=False, compare=False)
    _by_flow: Mapping[str, tuple[Transition, ...]] = field(repr=False, compare=False)
    _outs: Mapping[str, Mapping[str, tuple[Transition, ...]]] = field(repr=False, compare=False)
    _derived: dict[tuple[str, ...], Any] = field(default_factory=dict, repr=False, compare=False)

    @classmethod
    def build(
        cls,
        *,
        name: str,
        title: str,
        description: str,
        origin: str,
        statuses: list[Status],
        transitions: list[Transition],
        flows: list[Flow],
        triggers: list[Trigger],
        facts: list[Fact],
        codes: list[ResultCode],
        sources: list[Source],
        default_flow: str | None = None,
    ) -> Self:
        """Assemble a model from entries that already passed the checks.

        `default_flow` defaults to the first flow.
        """
        aliases = {alias: status.id for status in statuses for alias in status.aliases}
        by_flow = {
            flow.name: tuple(t for t in transitions if t.enabled and flow.name in t.flows) for flow in flows
        }
        outs: dict[str, dict[str, tuple[Transition, ...]]] = {}
        for flow_name, flow_transitions in by_flow.items():
            grouped: dict[str, list[Transition]] = {}
            for t in flow_transitions:
                grouped.setdefault(t.source, []).append(t)
            outs[flow_name] = {source: tuple(ts) for source, ts in grouped.items()}
        return cls(
            name=name,
            title=title,
            description=description,
            origin=origin,
            statuses=MappingProxyType({s.id: s for s in statuses}),
            transitions=tuple(transitions),
            flows=MappingProxyType({f.name: f for f in flows}),
            actions=MappingProxyType({t.name: t for t in triggers if t.is_action}),
            events=MappingProxyType({t.name: t for t in triggers if not t.is_action}),
            facts=MappingProxyType({f.name: f for f in facts}),
            codes=MappingProxyType({c.code: c for c in codes}),
            sources=MappingProxyType({s.id: s for s in sources}),
            default_flow=default_flow or (flows[0].name if flows else ""),
            _aliases=MappingProxyType(aliases),
            _by_flow=MappingProxyType(by_flow),
            _outs=MappingProxyType({name: MappingProxyType(o) for name, o in outs.items()}),
        )

    # -- lookups ---------------------------------------------------------------------------------

    def status(self, status_id: str) -> Status:
        """The status with this id or alias."""
        if not isinstance(status_id, str):
            raise UnknownStatusError(status_id, self.statuses)
        found = self.statuses.get(status_id)
        if found is None:
            canonical = self._aliases.get(status_id)
            if canonical is None:
                raise UnknownStatusError(status_id, [*self.statuses, *self._aliases])
            found = self.statuses[canonical]
        return found

    def flow_name(self, name: str | None) -> str:
        """The flow a caller means: `name`, checked, or the model's default flow when None."""
        return self.default_flow if name is None else self.flow(name).name

    def flow(self, name: str) -> Flow:
        """The flow with this name."""
        if not isinstance(name, str):
            raise UnknownFlowError(name, self.flows)
        try:
            return self.flows[name]
        except KeyError:
            raise UnknownFlowError(name, self.flows) from None

    def action(self, name: str) -> Trigger:
        """The connector action with this name."""
        if not isinstance(name, str):
            raise UnknownActionError(name, self.actions)
        try:
            return self.actions[name]
        except KeyError:
            raise UnknownActionError(name, self.actions) from None

    def trigger(self, name: str) -> Trigger:
        """The action or event with this name."""
        if not isinstance(name, str):
            raise UnknownActionError(name, [*self.actions, *self.events])
        found = self.actions.get(name) or self.events.get(name)
        if found is None:
            raise UnknownActionError(name, [*self.actions, *self.events])
        return found

    # -- the graph of one flow ------------------------------------------------------------------

    def statuses_in(self, flow: str) -> tuple[Status, ...]:
        """The statuses of a flow, in model order."""
        self.flow(flow)
        return tuple(s for s in self.statuses.values() if flow in s.flows)

    def transitions_in(self, flow: str) -> tuple[Transition, ...]:
        """The enabled transitions of a flow, in model order."""
        self.flow(flow)
        return self._by_flow[flow]

    def outs(self, flow: str) -> Mapping[str, tuple[Transition, ...]]:
        """The enabled transitions of a flow by source status, in model order."""
        self.flow(flow)
        return self._outs[flow]

    def ways_out(self, status: str, flow: str) -> tuple[Transition, ...]:
        """Enabled transitions of `flow` that leave `status` (self-loops included)."""
        status_id = self.status(status).id
        return tuple(t for t in self.transitions_in(flow) if t.source == status_id)

    def ways_in(self, status: str, flow: str) -> tuple[Transition, ...]:
        """Enabled transitions of `flow` that enter `status` from another status."""
        status_id = self.status(status).id
        return tuple(t for t in self.transitions_in(flow) if t.dest == status_id and not t.is_self_loop)

    def flows_of(self, status: str) -> tuple[str, ...]:
        """The flows a status appears in, in model order."""
        found = self.status(status)
        return tuple(name for name in self.flows if name in found.flows)

    def reachable(self, status: str, flow: str) -> frozenset[str]:
        """The statuses of `flow` an order in `status` can reach (itself included), guards aside."""
        status_id = self.status(status).id
        return self._cached(
            ("reachable", flow, status_id),
            lambda: frozenset(_graph.reachable([status_id], self.transitions_in(flow))),
        )

    # -- derived facts of the graph (cached) -------------------------------------------------------

    def _cached(self, key: tuple[str, ...], compute: Callable[[], _T]) -> _T:
        found: _T | None = self._derived.get(key)
        if found is None:
            found = self._derived[key] = compute()
        return found

    def achieves(self, trigger: str) -> str | None:
        """The action a trigger performs: the action itself, or the one an event is `same_as`."""
        spec = self.actions.get(trigger) or self.events.get(trigger)
        if spec is None:
            return None
        return spec.name if spec.is_action else spec.same_as

    def goal_statuses(self, flow: str, action: str) -> frozenset[str]:
        """Where `action` (or another party doing the same, `same_as`) moves orders of `flow`, and
        where the platform then always carries them by its one way on (start-handling, then
        handling)."""

        def compute() -> frozenset[str]:
            self.trigger(action)  # (a name the model does not know: UnknownActionError; once)
            moves = self.transitions_in(flow)
            goals = {t.dest for t in moves if not t.is_self_loop and self.achieves(t.trigger) == action}
            grown = True
            while grown:
                grown = False
                for goal in list(goals):
                    exits = [t for t in moves if t.source == goal and not t.is_self_loop]
                    if (
                        len({t.dest for t in exits}) == 1
                        and all(not t.by_action and t.cause in _graph.AUTOMATIC for t in exits)
                        and exits[0].dest not in goals
                    ):
                        goals.add(exits[0].dest)
                        grown = True
            return frozenset(goals)

        return self._cached(("goal", flow, action), compute)

    def goal_facts(self, flow: str, action: str) -> frozenset[str]:
        """What `action` records on an order it does not move (a return invoice): the facts its
        self-loops (or those of an event `same_as` it) set in `flow`. Once they hold, it is done."""
        return self._cached(
            ("goal-facts", flow, action),
            lambda: frozenset(
                fact
                for t in self.transitions_in(flow)
                if t.is_self_loop and self.achieves(t.trigger) == action
                for fact in t.sets
            ),
        )

    def past_goal(self, flow: str, action: str) -> frozenset[str]:
        """The statuses of `flow` past `action`'s goal, derived from the graph.

        Those every way from the initial status to which goes through a goal status (the
        dominators of the goal set), and those the platform and timers alone carry into one. A
        decision is `already_done` only there and when it is also refused: past the goal, an
        action may still be accepted (the store confirming a cancellation it requested) or
        awaited (a further partial invoice).
        """

        def compute() -> frozenset[str]:
            self.flow(flow)  # (names the model does not know are typed errors, and never cached)
            self.trigger(action)
            members = [s.id for s in self.statuses_in(flow)]
            moves = self.transitions_in(flow)
            goals = self.goal_statuses(flow, action)
            initial = self.flow(flow).initial
            return _graph.dominated(initial, members, moves, goals, self.fact_closure) | _graph.inevitable(
                members, moves, goals
            )

        return self._cached(("done", flow, action), compute)

    def canonical(self, status_id: str) -> str:
        """The status id an alias stands for (``cancelation-request`` -> ``cancellation-requested``);
        any other name unchanged, known or not."""
        return self._aliases.get(status_id, status_id)

    def move_facts(self, flow: str) -> Mapping[tuple[str, str], tuple[frozenset[str], frozenset[str]]]:
        """For each move of `flow` from one status to another: the facts it sets (with what they
        imply) and those it clears. Where several transitions join the same two statuses, only
        what every one of them sets, and what any of them clears."""

        def compute() -> Mapping[tuple[str, str], tuple[frozenset[str], frozenset[str]]]:
            moves: dict[tuple[str, str], tuple[frozenset[str], frozenset[str]]] = {}
            for transition in self.transitions_in(flow):
                if transition.is_self_loop:
                    continue
                key = (transition.source, transition.dest)
                sets = self.fact_closure(transition.sets)
                if key in moves:
                    known_sets, known_clears = moves[key]
                    moves[key] = (known_sets & sets, known_clears | transition.clears)
                else:
                    moves[key] = (sets, transition.clears)
            return MappingProxyType(moves)

        return self._cached(("moves", flow), compute)

    def repeatable(self, flow: str, action: str) -> bool:
        """Whether one order of `flow` may need `action` more than once (a further partial
        invoice, tracking for each invoice), derived from the graph: after a move of the action,
        the platform and timers alone (with the facts they all set and clear) carry the order
        to a status where a move of the action holds again. An outbox keeps one entry per order
        for any other action."""

        def compute() -> bool:
            outs = self.outs(flow)
            for move in self.transitions_in(flow):
                if move.trigger != action:
                    continue
                facts = self.fact_closure(move.sets)
                frontier, seen = [move.dest], {move.dest}
                while frontier:
                    status = frontier.pop()
                    for then in outs.get(status, ()):
                        if then.trigger == action and then.holds(facts):
                            return True
                        if not then.by_action and then.cause in _graph.AUTOMATIC and then.dest not in seen:
                            seen.add(then.dest)
                            facts = (facts - then.clears) | self.fact_closure(then.sets)
                            frontier.append(then.dest)
            return False

        return self._cached(("repeatable", flow, action), compute)

    def allowed_before(self, action: str, status: str) -> frozenset[str]:
        """The connector actions that may precede `action` for an order that starts in `status`.

        Its prerequisites that apply there and, through those that hold everywhere, theirs: a
        prerequisite limited to some statuses (a return invoice before a cancel, once invoiced)
        brings in none of its own. A deferred update's path uses no other connector action.
        """
        status_id = self.status(status).id

        def compute() -> frozenset[str]:
            found: set[str] = set()
            queue = [(p.action, not p.statuses) for p in self._prerequisites(action) if p.applies(status_id)]
            while queue:
                name, expand = queue.pop()
                if name in found:
                    continue
                found.add(name)
                if expand:
                    queue += [(p.action, True) for p in self._prerequisites(name) if not p.statuses]
            return frozenset(found - {action})

        return self._cached(("before", action, status_id), compute)

    def _prerequisites(self, action: str) -> tuple[Prerequisite, ...]:
        spec = self.actions.get(action)
        return spec.prerequisites if spec is not None else ()

    def guard_facts(self, flow: str) -> frozenset[str]:
        """The facts some guard of `flow` tests (only they can change where an order may go)."""
        return self._cached(("tested", flow), lambda: _graph.guard_facts(self.transitions_in(flow)))

    def fact_closure(self, names: Iterable[str]) -> frozenset[str]:
        """These facts and every fact they imply, transitively."""

        def implied(name: str) -> frozenset[str]:
            fact = self.facts.get(name)
            return fact.implies if fact is not None else frozenset()

        return _graph.closure(names, implied)

    def fact_places(self, flow: str) -> Mapping[str, frozenset[str]]:
        """For each fact a transition of `flow` sets: the statuses where an order can carry it.

        Facts no transition sets are the caller's alone and may hold anywhere (not listed).
        """
        return self._cached(
            ("places", flow),
            lambda: MappingProxyType(
                _graph.fact_places(self.flow(flow).initial, self.transitions_in(flow), self.fact_closure)
            ),
        )
