"""Model checks: every rule a (merged) model file must satisfy beyond its schema, on its
declarations, references and graph, each broken one a `Defect` (the rules on the verdicts it
derives are `_decision_checks`')."""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable, Iterator
from typing import TYPE_CHECKING

from ._defects import Defect, Rule
from ._graph import reachable
from ._schema import ModelFile, StatusSpec, TransitionSpec
from ._text import closest
from ._vocabulary import CAUSES

if TYPE_CHECKING:
    pass

__all__ = ["check_model"]


def _hint(value: str, valid: Iterable[str]) -> str:
    near = closest(value, valid)
    return f"; did you mean {' or '.join(repr(n) for n in near)}?" if near else ""


def status_entry(status: StatusSpec) -> str:
    return f"status {status.id!r}"


def transition_entry(transition: TransitionSpec) -> str:
    return f"transition {transition.source} -> {transition.dest} [{transition.trigger}]"


def check_model(spec: ModelFile) -> list[Defect]:
    """Every defect of a (merged) model, in a stable order: declarations first, then the graph."""
    return [*_declarations(spec), *_references(spec), *_graph(spec)]


def _declarations(spec: ModelFile) -> Iterator[Defect]:
    seen: dict[str, str] = {}
    for status in spec.statuses:
        for name in (status.id, *status.aliases):
            if name in seen:
                yield Defect(
                    Rule.DUPLICATE_STATUS,
                    status_entry(status),
                    f"{name!r} is already declared by {seen[name]}",
                )
            else:
                seen[name] = status_entry(status)
    keys: set[tuple[str, str, str]] = set()
    for transition in spec.transitions:
        if transition.key in keys:
            yield Defect(
                Rule.DUPLICATE_TRANSITION,
                transition_entry(transition),
                "another transition has the same from, to and trigger; merge their flows",
            )
        keys.add(transition.key)
    for name in sorted(spec.actions.keys() & spec.events.keys()):
        yield Defect(
            Rule.TRIGGER_DECLARED_TWICE,
            f"trigger {name!r}",
            "declared both under [actions] and under [events]",
        )


def _references(spec: ModelFile) -> Iterator[Defect]:
    statuses = {s.id for s in spec.statuses}
    flows, facts, sources = spec.flows.keys(), spec.facts.keys(), spec.sources.keys()
    triggers = spec.actions.keys() | spec.events.keys()

    def cited(entry: str, ids: Iterable[str]) -> Iterator[Defect]:
        for source in ids:
            if source not in sources:
                yield Defect(
                    Rule.UNKNOWN_SOURCE,
                    entry,
                    f"cites source {source!r}, not declared under [sources]{_hint(source, sources)}",
                )

    def in_flows(entry: str, names: Iterable[str]) -> Iterator[Defect]:
        for flow in names:
            if flow not in flows:
                yield Defect(
                    Rule.UNKNOWN_FLOW,
                    entry,
                    f"unknown flow {flow!r}{_hint(flow, flows)} (declared: {', '.join(flows)})",
                )

    def cause(entry: str, value: str | None) -> Iterator[Defect]:
        if value is not None and value not in CAUSES:
            yield Defect(
                Rule.UNKNOWN_CAUSE,
                entry,
                f"unknown cause {value!r}{_hint(value, CAUSES)} (valid: {', '.join(CAUSES)})",
            )

    def explained(entry: str, confidence: str, note: str) -> Iterator[Defect]:
        if confidence != "documented" and not note.strip():
            yield Defect(
                Rule.UNEXPLAINED_CONFIDENCE,
                entry,
                f"an {confidence} fact needs a note: what it rests on"
                + (
                    ", what is contested and which reading the model takes"
                    if confidence == "contested"
                    else ""
                ),
            )

    def known(
        rule: Rule, where: str, declared: Collection[str]
    ) -> Callable[[str, Iterable[str]], Iterator[Defect]]:
        """A check that every name an entry gives is declared (`where` says where, if anywhere)."""
        kind = str(rule).removeprefix("unknown-")

        def check(entry: str, names: Iterable[str]) -> Iterator[Defect]:
            for name in names:
                if name not in declared:
                    yield Defect(
                        rule, entry, f"{kind} {name!r} is not declared{where}{_hint(name, declared)}"
                    )

        return check

    known_statuses = known(Rule.UNKNOWN_STATUS, "", statuses)
    known_facts = known(Rule.UNKNOWN_FACT, " under [facts]", facts)
    known_actions = known(Rule.UNKNOWN_ACTION, " under [actions]", spec.actions)

    if spec.default_flow is not None:
        yield from in_flows("default_flow", [spec.default_flow])
    for name, flow in spec.flows.items():
        entry = f"flow {name!r}"
        yield from cited(entry, flow.sources)
        if flow.initial not in statuses:
            yield Defect(
                Rule.UNKNOWN_STATUS,
                entry,
                f"initial status {flow.initial!r} is not declared{_hint(flow.initial, statuses)}",
            )
    for name, fact_spec in spec.facts.items():
        yield from cited(f"fact {name!r}", fact_spec.sources)
    for kind, table in (("action", spec.actions), ("event", spec.events)):
        for name, trigger in table.items():
            yield from cited(f"{kind} {name!r}", trigger.sources)
            yield from cause(f"{kind} {name!r}", trigger.cause)

    for name, fact_spec in spec.facts.items():
        yield from known_facts(f"fact {name!r}", fact_spec.implies)
    for name, event in spec.events.items():
        if event.same_as is not None:
            yield from known_actions(f"event {name!r}", [event.same_as])
    for name, action in spec.actions.items():
        entry = f"action {name!r}"
        yield from known_facts(entry, (*action.requires, *action.unless))
        for prerequisite in action.prerequisites:
            if isinstance(prerequisite, str):
                yield from known_actions(entry, [prerequisite])
            else:
                yield from known_actions(entry, [prerequisite.action])
                yield from known_statuses(entry, prerequisite.statuses)
        for index, rule in enumerate(action.errors):
            rule_entry = f"{entry} errors[{index}]"
            yield from known_statuses(rule_entry, rule.statuses)
            yield from known_facts(rule_entry, rule.facts)
            yield from in_flows(rule_entry, rule.flows)
            yield from cited(rule_entry, rule.sources)
            yield from explained(rule_entry, rule.confidence, rule.note)
            if rule.code not in spec.codes:
                yield Defect(
                    Rule.UNKNOWN_CODE,
                    rule_entry,
                    f"result code {rule.code!r} is not declared under [codes]{_hint(rule.code, spec.codes)}",
                )
    operations = {a.operation for a in spec.actions.values() if a.operation}
    for code, code_spec in spec.codes.items():
        for operation in code_spec.operations:
            if operation not in operations:
                yield Defect(
                    Rule.UNKNOWN_ACTION,
                    f"code {code!r}",
                    f"operation {operation!r} is no action's `operation`{_hint(operation, operations)}",
                )
        yield from cited(f"code {code!r}", code_spec.sources)
        yield from explained(f"code {code!r}", code_spec.confidence, code_spec.note)
    for status in spec.statuses:
        entry = status_entry(status)
        yield from in_flows(entry, status.flows)
        yield from cited(entry, status.sources)
        yield from explained(entry, status.confidence, status.note)
    for transition in spec.transitions:
        entry = transition_entry(transition)
        yield from known_statuses(entry, (transition.source, transition.dest))
        if transition.trigger not in triggers:
            yield Defect(
                Rule.UNDECLARED_TRIGGER,
                entry,
                f"trigger {transition.trigger!r} is declared neither under [actions] nor under "
                f"[events]{_hint(transition.trigger, triggers)}",
            )
        yield from in_flows(entry, transition.flows)
        yield from cause(entry, transition.cause)
        yield from known_facts(
            entry, (*transition.requires, *transition.unless, *transition.sets, *transition.clears)
        )
        yield from known_actions(entry, transition.reverses)
        yield from cited(entry, transition.sources)
        yield from explained(entry, transition.confidence, transition.note)
        trigger_cause = spec.actions.get(transition.trigger) or spec.events.get(transition.trigger)
        effective = transition.cause or (trigger_cause.cause if trigger_cause else None)
        if effective == "timer" and transition.after is None:
            yield Defect(
                Rule.TIMER_WITHOUT_DURATION,
                entry,
                "a timer transition needs `after`, its typical delay in seconds",
            )


def _graph(spec: ModelFile) -> Iterator[Defect]:
    by_id = {s.id: s for s in spec.statuses}
    enabled = [t for t in spec.transitions if t.enabled]
    for transition in enabled:
        origin = by_id.get(transition.source)
        if origin is not None and origin.terminal and transition.dest != transition.source:
            yield Defect(
                Rule.TERMINAL_WITH_EXIT,
                transition_entry(transition),
                f"{origin.id!r} is terminal but this transition leaves it; "
                "drop the transition or mark the status terminal = false",
            )
    for name, flow in spec.flows.items():
        members = {s.id for s in spec.statuses if name in s.flows}
        edges = [t for t in enabled if name in t.flows]
        if flow.initial in by_id and flow.initial not in members:
            yield Defect(
                Rule.STATUS_NOT_IN_FLOW,
                f"flow {name!r}",
                f"initial status {flow.initial!r} does not list {name!r} in its flows",
            )
        for transition in edges:
            for end in (transition.source, transition.dest):
                if end in by_id and end not in members:
                    yield Defect(
                        Rule.STATUS_NOT_IN_FLOW,
                        transition_entry(transition),
                        f"the transition is in flow {name!r} but status {end!r} is not",
                    )
        yield from _ambiguous(name, edges)
        exits: dict[str, set[str]] = {}
        for transition in edges:
            if transition.source in members and transition.dest in members:
                exits.setdefault(transition.source, set()).add(transition.dest)
        inside = [t for t in edges if t.source in members and t.dest in members]
        reached = reachable([flow.initial], inside) if flow.initial in members else set()
        for status in spec.statuses:
            if status.id not in members:
                continue
            if status.id not in reached:
                yield Defect(
                    Rule.UNREACHABLE_STATUS,
                    status_entry(status),
                    f"cannot be reached in flow {name!r} from its initial status {flow.initial!r}",
                )
            if not status.terminal and not (exits.get(status.id, set()) - {status.id}):
                yield Defect(
                    Rule.DEAD_END,
                    status_entry(status),
                    f"is not terminal but has no way out to another status in flow {name!r}",
                )


_NAMED = 3
"""How many moves an ambiguous-trigger defect names; the rest are counted."""


def _ambiguous(flow: str, edges: list[TransitionSpec]) -> Iterator[Defect]:
    # The machine would silently take the first; the model must say which move happens. One
    # defect per (status, trigger) that has moves whose guards can hold together, naming a few:
    # 2,000 such moves are one defect, not the 1,999,000 of every pair.
    by_start: dict[tuple[str, str], dict[tuple[str, str, str], TransitionSpec]] = {}
    for transition in edges:
        # A second move with the same key is a duplicate, reported as such.
        by_start.setdefault((transition.source, transition.trigger), {}).setdefault(
            transition.key, transition
        )
    for (source, trigger), keyed in by_start.items():
        if len(keyed) < 2:
            continue
        clashing = _clashing(list(keyed.values()))
        if len(clashing) < 2:
            continue
        first, second = clashing[0], clashing[1]
        if len(clashing) == 2:
            said = (
                f"in flow {flow!r} {transition_entry(first)} fires on the same trigger from the same status"
            )
        else:
            named = ", ".join(f"-> {t.dest}" for t in clashing[:_NAMED])
            more = len(clashing) - _NAMED
            said = (
                f"in flow {flow!r} {len(clashing):,} moves leave {source!r} on {trigger!r} with guards "
                f"that can hold together ({named}{f' and {more:,} more' if more > 0 else ''})"
            )
        yield Defect(
            Rule.AMBIGUOUS_TRIGGER,
            transition_entry(second),
            f"{said}; make their guards exclusive (requires X / unless X)",
        )


def _clashing(group: list[TransitionSpec]) -> list[TransitionSpec]:
    """The moves of `group` whose guards can hold together with another's, in model order.

    Moves with the same guards are compared once, so the work grows with the distinct guards
    (bounded by the file's size), not with the pairs of moves.
    """
    guards: dict[tuple[frozenset[str], frozenset[str]], list[TransitionSpec]] = {}
    for transition in group:
        guards.setdefault((frozenset(transition.requires), frozenset(transition.unless)), []).append(
            transition
        )

    def together(a: tuple[frozenset[str], frozenset[str]], b: tuple[frozenset[str], frozenset[str]]) -> bool:
        return not (a[0] & b[1] or a[1] & b[0])

    kinds = list(guards)
    clash = {
        kind
        for kind in kinds
        if (len(guards[kind]) > 1 and together(kind, kind))
        or any(other != kind and together(kind, other) for other in kinds)
    }
    return [t for t in group if (frozenset(t.requires), frozenset(t.unless)) in clash]
