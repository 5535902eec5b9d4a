"""Send, defer or reject: verdicts derived from the model's graph, never listed by hand."""

from __future__ import annotations

import heapq
import sys
from collections.abc import Callable, Iterable, Mapping
from functools import partial
from itertools import count
from typing import TYPE_CHECKING

from ._decision import Decision, Facts, Step, Verdict
from ._graph import AUTOMATIC, MAX_STATES, State
from ._text import shown
from ._vocabulary import Cause, Confidence, FollowUp
from .errors import ContradictoryFactsError, ModelTooLargeError, UnknownFactError, UnknownStatusError

if TYPE_CHECKING:
    from ._entries import ErrorRule, Transition, Trigger
    from ._model import ModelData

__all__ = [
    "compute_decision",
    "fact_names",
    "predicted_follow_up",
    "shortest_path",
]

NO_FACTS: frozenset[str] = frozenset()


def fact_names(model: ModelData, facts: Facts) -> frozenset[str]:
    """The facts that hold, with every fact they imply, each checked against the model's facts.

    `facts` is a mapping of name to true/false, or a collection (any iterable, read once) of
    the names that hold. Anything else, a value other than true or false, or a name the model
    does not declare raises `UnknownFactError`; a fact given false while a true one implies it
    raises `ContradictoryFactsError`.
    """
    if facts is None:
        return NO_FACTS
    given: dict[str, bool]
    if isinstance(facts, Mapping):
        given = {}
        for name, value in facts.items():
            if not isinstance(name, str):
                raise UnknownFactError(repr(name), model.facts, detail="fact names must be strings")
            if not isinstance(value, bool):
                raise UnknownFactError(
                    name, model.facts, detail=f"its value must be true or false, not {shown(value)}"
                )
            given[name] = value
    elif isinstance(facts, str | bytes | bytearray) or not isinstance(facts, Iterable):
        raise UnknownFactError(
            shown(facts),
            model.facts,
            detail="facts must be a mapping of name to true/false or a collection of names, "
            f"not {type(facts).__name__}",
        )
    else:
        given = {}
        for name in facts:
            if not isinstance(name, str):
                raise UnknownFactError(
                    shown(name), model.facts, detail="a collection of facts holds names (strings)"
                )
            given[name] = True
    if not given:
        return NO_FACTS
    for name in given:
        if name not in model.facts:
            raise UnknownFactError(name, model.facts)
    names = [name for name, value in given.items() if value]
    held = model.fact_closure(names)
    for name, value in given.items():
        if value is False and name in held:
            by = sorted(n for n in names if name in model.fact_closure([n]))
            free = [n for n in model.facts if n not in held]
            raise ContradictoryFactsError(
                name,
                free,
                detail=f"is given false, but {', '.join(by)} implies it",
                valid_means=f"Facts that may be false with {', '.join(by)}",
            )
    return held


def predicted_follow_up(model: ModelData, rule: ErrorRule | None) -> FollowUp | None:
    """What VTEX's predicted answer calls for, as the model says it: the rule's own follow-up,
    else its code's (None when no answer is predicted)."""
    if rule is None:
        return None
    return rule.follow_up or model.codes[rule.code].follow_up


def check_facts_in(model: ModelData, status: str, flow: str, facts: frozenset[str]) -> None:
    """Refuse facts an order in `status` of `flow` cannot carry (`ContradictoryFactsError`)."""
    places = model.fact_places(flow)
    # Name a fact the caller gave before one it merely implies.
    implied = {i for name in facts for i in model.fact_closure([name]) if i != name}
    for name in sorted(facts, key=lambda n: (n in implied, n)):
        where = places.get(name)
        if where is not None and status not in where:
            possible = [n for n in model.facts if n not in places or status in places[n]]
            raise ContradictoryFactsError(
                name,
                possible,
                detail=f"cannot hold for an order in {status} ({flow} flow): it holds only in "
                + (", ".join(sorted(where)) or "no status of that flow"),
                valid_means=f"Facts an order in {status} can carry",
            )


def _step(transition: Transition) -> Step:
    return Step(
        transition.source,
        transition.dest,
        transition.trigger,
        transition.cause,
        transition.by_action,
        transition.after,
    )


def _weakest(levels: Iterable[Confidence]) -> Confidence:
    return min(levels, key=lambda level: level.strength)


def _accepting(
    outs: Mapping[str, tuple[Transition, ...]], status: str, action: str, facts: frozenset[str]
) -> Transition | None:
    for transition in outs.get(status, ()):
        if transition.trigger == action and transition.holds(facts):
            return transition
    return None


def compute_decision(
    model: ModelData,
    *,
    status: str,
    action: str,
    flow: str,
    facts: frozenset[str],
    outs: Mapping[str, tuple[Transition, ...]],
) -> Decision:
    """Derive one decision from the graph (`compile` calls it once per question and keeps it).

    `status`, `action` and `flow` must already be canonical, `facts` closed under implication;
    `outs` is the flow's enabled transitions by source status, in model order.
    """
    state = model.status(status)
    if flow not in state.flows:
        raise UnknownStatusError(
            status,
            [s.id for s in model.statuses_in(flow)],
            detail=f"not in the {flow} flow (it is in: {', '.join(model.flows_of(status)) or 'no flow'})",
            flow=flow,
        )
    check_facts_in(model, status, flow, facts)
    spec: Trigger = model.action(action)
    goal_facts = model.goal_facts(flow, action)
    reached = status in model.past_goal(flow, action) or bool(goal_facts and goal_facts <= facts)
    about = partial(Decision, status=status, action=action, flow=flow, facts=facts)
    accepting = _accepting(outs, status, action, facts)
    if accepting is not None:
        where = "stays in it" if accepting.is_self_loop else f"moves to {accepting.dest}"
        return about(
            verdict=Verdict.SEND,
            reason=f"VTEX accepts {action} in {status}: the order {where}.",
            path=(),
            next_actor="connector",
            remedy=(),
            expected_error=None,
            already_done=False,
            retry_after=None,
            confidence=_weakest((state.confidence, accepting.confidence)),
            moves_to=accepting.dest,
            accepted_in=status,
        )

    error = spec.error_for(status, facts, flow)
    code = error.code if error is not None else None
    said = predicted_follow_up(model, error)
    answer = f" (VTEX would answer {code})" if code else ""
    base = [state.confidence] + ([error.confidence] if error is not None else [])
    allowed = model.allowed_before(action, status)
    found = shortest_path(
        outs, status, action, facts, allowed=allowed, close=model.fact_closure, tested=model.guard_facts(flow)
    )
    if found is None:
        done = reached or said is FollowUp.DONE
        # Nothing more to send when done; otherwise a refusal that means "not in this status"
        # is, from a status that can never accept it, final.
        follow_up = FollowUp.DONE if done else FollowUp.GIVE_UP if said is FollowUp.DECIDE_AGAIN else said
        given = f" with {', '.join(sorted(facts))}" if facts else ""
        blocking = sorted(spec.unless & facts)
        if done:
            reason = f"{action} is already done for an order in {status}{given}: nothing more to send"
        elif blocking:
            reason = f"{action} is never accepted with {', '.join(blocking)}"
        else:
            reason = (
                f"{action} can never be accepted from {status}{given}: no status that accepts it is "
                "reachable through its prerequisites"
                + (f" ({', '.join(sorted(allowed))})" if allowed else " (it has none here)")
            )
        return about(
            verdict=Verdict.REJECT,
            reason=reason + answer + ".",
            path=(),
            next_actor=None,
            remedy=(),
            expected_error=code,
            already_done=done,
            retry_after=None,
            confidence=_weakest(base),
            moves_to=None,
            accepted_in=None,
            follow_up=follow_up,
        )
    path, accept = found
    follow_up = FollowUp.DEFER_UNTIL_STATUS_CHANGES if said is FollowUp.DECIDE_AGAIN else said
    steps = tuple(_step(t) for t in path)
    timers = [step.after for step in steps if step.cause is Cause.TIMER and step.after is not None]
    how = ", then ".join(f"{step.trigger} ({step.actor})" for step in steps)
    return about(
        verdict=Verdict.DEFER,
        reason=f"{action} is not accepted in {status} now{answer}; it will be accepted in "
        f"{accept.source} after {how}.",
        path=steps,
        next_actor=steps[0].actor,
        remedy=tuple(step.trigger for step in steps if step.by_action),
        expected_error=code,
        already_done=False,
        retry_after=sum(timers) if timers else None,
        confidence=_weakest([*base, *(t.confidence for t in path), accept.confidence]),
        moves_to=None,
        accepted_in=accept.source,
        follow_up=follow_up,
    )


def shortest_path(
    outs: Mapping[str, tuple[Transition, ...]],
    status: str,
    action: str,
    facts: frozenset[str],
    *,
    allowed: frozenset[str],
    close: Callable[[Iterable[str]], frozenset[str]],
    tested: frozenset[str],
    limit: int = MAX_STATES,
) -> tuple[list[Transition], Transition] | None:
    """The best path from (status, facts) to a state where `action` is accepted, or None.

    The connector's own moves on the path are its `allowed` prerequisites only (never the action
    itself, never a contrary action: a cancel does not wait for an invoice), and no move on it
    turns down a request of `action` (a deferred cancel never waits for the seller to deny it).
    Facts the moves set are kept only when some guard (`tested`) reads them: others cannot
    change the way, and tracking them would multiply the states for nothing.

    States are (status, facts): facts grow along the path through `sets`. Paths are ranked by
    how many steps wait on another party's decision (seller, customer, gateway, marketplace
    events), then by length, then by model order: the path the connector and the platform can
    complete by themselves is the one to explain, not a detour through a cancellation request.

    The search is bounded: past `limit` states it raises `ModelTooLargeError`. Finding whether
    any path exists is as hard as STRIPS planning (guards are preconditions, `sets` and `clears`
    effects: PSPACE-complete), so no search can be polynomial in the facts that moves change and
    guards read; the load-time limit (`_graph.states`) keeps the facts moves set in check, this
    one the combinations of a caller's facts that moves clear.
    """
    start: State = (status, facts)
    best: dict[State, tuple[int, int]] = {start: (0, 0)}
    parents: dict[State, tuple[State, Transition]] = {}
    order = count()
    heap: list[tuple[int, int, int, State]] = [(0, 0, next(order), start)]
    while heap:
        others, steps, _, current = heapq.heappop(heap)
        if best.get(current, (others, steps)) < (others, steps):
            continue  # a better way here was already expanded
        here, held = current
        if current != start:
            accept = _accepting(outs, here, action, held)
            if accept is not None:
                path: list[Transition] = []
                node = current
                while node in parents:
                    node, transition = parents[node]
                    path.append(transition)
                path.reverse()
                return path, accept
        for transition in outs.get(here, ()):
            if not transition.holds(held) or action in transition.reverses:
                continue
            if transition.by_action and transition.trigger not in allowed:
                continue
            after = (held | (close(transition.sets) & tested)) - transition.clears
            nxt = (transition.dest, after)
            waits = 0 if transition.by_action or transition.cause in AUTOMATIC else 1
            cost = (others + waits, steps + 1)
            if nxt != start and cost < best.get(nxt, (sys.maxsize, sys.maxsize)):
                if nxt not in best and len(best) >= limit:
                    raise _too_large(
                        outs, status=status, action=action, facts=facts, tested=tested, limit=limit
                    )
                best[nxt] = cost
                parents[nxt] = (current, transition)
                heapq.heappush(heap, (*cost, next(order), nxt))
    return None


def _too_large(
    outs: Mapping[str, tuple[Transition, ...]],
    *,
    status: str,
    action: str,
    facts: frozenset[str],
    tested: frozenset[str],
    limit: int,
) -> ModelTooLargeError:
    changing = sorted({f for ts in outs.values() for t in ts for f in (*t.sets, *t.clears)} & tested)
    given = f" with {len(facts)} facts" if facts else ""
    return ModelTooLargeError(
        f"deciding {action} from {status}{given} needs more than {limit:,} (status, facts) "
        f"combinations: {len(changing)} facts are changed by moves and read by guards "
        f"({', '.join(changing[:10])}{', ...' if len(changing) > 10 else ''}); "
        "fewer such facts keep the search tractable"
    )
