"""Decision checks: rules on the verdicts a graph-valid model derives (an action refused only for
want of a prerequisite it does not declare, a predicted answer whose follow-up contradicts the
verdict), each broken one a `Defect`."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ._defects import Defect, Rule
from ._vocabulary import DEFER_FOLLOW_UPS, REJECT_FOLLOW_UPS, FollowUp

if TYPE_CHECKING:
    from ._model import ModelData

__all__ = ["check_decisions"]


def check_decisions(model: ModelData) -> list[Defect]:
    """Rules on the verdicts a (graph-valid) model derives, for every flow, status and action.

    `needs-non-prerequisite`: where an action is refused only because the way to a status that
    accepts it goes through a connector action that is not its prerequisite, the model must say
    so with an error rule naming that status (cancel on an order VTEX does not have) or the facts
    that hold (a partially invoiced order's cancel); otherwise a prerequisite is missing.
    `follow-up-contradicts-verdict`: the definite follow-up of every answer a decision predicts
    agrees with its verdict (a reject never says retry or defer, a defer never give up). Checked
    without facts, with each fact an order can carry there, and with every fact only the caller
    knows.
    """
    from ._decide import compute_decision, predicted_follow_up
    from ._decision import Verdict

    defects: list[Defect] = []
    seen: set[tuple[str, str, str, str]] = set()
    for flow in model.flows:
        outs = model.outs(flow)
        places = model.fact_places(flow)
        for status in model.statuses_in(flow):
            carried = sorted(fact for fact, where in places.items() if status.id in where)
            callers = model.fact_closure(fact for fact in model.facts if fact not in places)
            fact_sets = [
                extra | given
                for extra in (frozenset(), callers)
                for given in (frozenset(), *(model.fact_closure([fact]) for fact in carried))
            ]
            for action, spec in model.actions.items():
                for facts in dict.fromkeys(fact_sets):
                    decision = compute_decision(
                        model, status=status.id, action=action, flow=flow, facts=facts, outs=outs
                    )
                    entry = f"action {action!r} in status {status.id!r} (flow {flow!r})"
                    said = predicted_follow_up(model, spec.error_for(status.id, facts, flow))
                    if decision.verdict is not Verdict.SEND and said not in (None, FollowUp.DECIDE_AGAIN):
                        allowed = (
                            REJECT_FOLLOW_UPS if decision.verdict is Verdict.REJECT else DEFER_FOLLOW_UPS
                        )
                        key = (flow, status.id, action, "follow-up")
                        if str(said) not in allowed and key not in seen:
                            seen.add(key)
                            defects.append(
                                Defect(
                                    Rule.FOLLOW_UP_CONTRADICTS_VERDICT,
                                    entry,
                                    f"the decision is {decision.verdict} but VTEX's predicted answer "
                                    f"{decision.expected_error} says {said}; give the error rule a "
                                    "follow_up that agrees (decide-again when it depends on the status)",
                                )
                            )
                    if decision.verdict is not Verdict.REJECT or decision.already_done:
                        continue
                    # Refused on purpose: an error rule names the status, or the facts that hold.
                    named = any(
                        (status.id in rule.statuses or rule.facts) and rule.matches(status.id, facts, flow)
                        for rule in spec.errors
                    )
                    detour = _detour(model, status.id, action, flow, facts)
                    key = (flow, status.id, action, "prerequisite")
                    if detour and not named and key not in seen:
                        seen.add(key)
                        defects.append(
                            Defect(
                                Rule.NEEDS_NON_PREREQUISITE,
                                entry,
                                f"it would be accepted after {', '.join(detour)}, which "
                                f"{'is not a prerequisite' if len(detour) == 1 else 'are not prerequisites'}"
                                f" of {action!r} there: declare the prerequisite, or an error rule naming "
                                f"{status.id!r} to say {action!r} is refused there",
                            )
                        )
    return defects


def _detour(model: ModelData, status: str, action: str, flow: str, facts: frozenset[str]) -> list[str]:
    """The connector actions, not prerequisites, on the way to a status that accepts `action`."""
    from ._decide import shortest_path

    everything = frozenset(model.actions) - {action}
    found = shortest_path(
        model.outs(flow),
        status,
        action,
        facts,
        allowed=everything,
        close=model.fact_closure,
        tested=model.guard_facts(flow),
    )
    if found is None:
        return []
    allowed = model.allowed_before(action, status)
    return [t.trigger for t in found[0] if t.by_action and t.trigger not in allowed]
