"""Validation on load: one test per rule proves a model broken that way is refused, by name."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from conftest import Mutator
from vtex_order_flow import Verdict, model_from_mapping
from vtex_order_flow.errors import InvalidModelError
from vtex_order_flow.model import Defect, Rule


def defects(data: dict[str, Any]) -> tuple[Defect, ...]:
    with pytest.raises(InvalidModelError) as caught:
        model_from_mapping(data, origin="test-model")
    return caught.value.defects


def only(data: dict[str, Any], rule: Rule) -> Defect:
    found = defects(data)
    assert [d.rule for d in found] == [rule], found
    return found[0]


def test_minimal_model_is_valid(minimal: dict[str, Any]) -> None:
    model = model_from_mapping(minimal)
    assert set(model.statuses) == {"new", "approved", "done"}


def test_schema_missing_field_names_the_path(minimal: dict[str, Any]) -> None:
    del minimal["statuses"][1]["meaning"]
    defect = only(minimal, Rule.SCHEMA)
    assert defect.entry == "statuses[1].meaning"


def test_schema_unknown_field_is_refused(minimal: dict[str, Any]) -> None:
    minimal["transitions"][0]["guard"] = "paid"
    defect = only(minimal, Rule.SCHEMA)
    assert defect.entry == "transitions[0].guard"


def test_schema_bad_confidence_names_the_valid_ones(minimal: dict[str, Any]) -> None:
    minimal["statuses"][0]["confidence"] = "sure"
    defect = only(minimal, Rule.SCHEMA)
    assert "documented" in defect.message
    assert "'sure'" in defect.message


def test_unknown_status_in_a_transition(minimal: dict[str, Any]) -> None:
    minimal["transitions"][2]["to"] = "dnoe"
    found = defects(minimal)
    assert found[0].rule is Rule.UNKNOWN_STATUS
    assert "'dnoe'" in found[0].message
    assert "'done'" in found[0].message
    assert found[0].entry == "transition approved -> dnoe [finish]"


def test_unknown_initial_status(minimal: dict[str, Any]) -> None:
    minimal["flows"]["seller"]["initial"] = "nope"
    assert Rule.UNKNOWN_STATUS in {d.rule for d in defects(minimal)}


def test_duplicate_status(minimal: dict[str, Any]) -> None:
    minimal["statuses"].append({"id": "done", "flows": ["seller"], "meaning": "Again.", "terminal": True})
    assert only(minimal, Rule.DUPLICATE_STATUS).entry == "status 'done'"


def test_alias_colliding_with_a_status(minimal: dict[str, Any]) -> None:
    minimal["statuses"][0]["aliases"] = ["done"]
    assert defects(minimal)[0].rule is Rule.DUPLICATE_STATUS


def test_duplicate_transition(minimal: dict[str, Any]) -> None:
    minimal["transitions"].append(dict(minimal["transitions"][2]))
    assert only(minimal, Rule.DUPLICATE_TRANSITION).entry == "transition approved -> done [finish]"


def test_unknown_flow_on_a_status(minimal: dict[str, Any]) -> None:
    minimal["statuses"][2]["flows"] = ["seller", "selller"]
    defect = only(minimal, Rule.UNKNOWN_FLOW)
    assert "'selller'" in defect.message
    assert "'seller'" in defect.message


def test_unknown_flow_on_a_transition(minimal: dict[str, Any]) -> None:
    minimal["transitions"][2]["flows"] = ["seller", "market"]
    assert only(minimal, Rule.UNKNOWN_FLOW).entry == "transition approved -> done [finish]"


def test_unknown_cause_on_a_transition(minimal: dict[str, Any]) -> None:
    minimal["transitions"][2]["cause"] = "wizard"
    defect = only(minimal, Rule.UNKNOWN_CAUSE)
    assert "platform" in defect.message  # names the valid ones


def test_unknown_cause_on_a_trigger(minimal: dict[str, Any]) -> None:
    minimal["events"]["finish"]["cause"] = "platfrom"
    defect = only(minimal, Rule.UNKNOWN_CAUSE)
    assert defect.entry == "event 'finish'"
    assert "'platform'" in defect.message


def test_undeclared_action_trigger(minimal: dict[str, Any]) -> None:
    minimal["transitions"][0]["trigger"] = "aprove"
    defect = only(minimal, Rule.UNDECLARED_TRIGGER)
    assert "'approve'" in defect.message


def test_trigger_declared_as_action_and_event(minimal: dict[str, Any]) -> None:
    minimal["events"]["approve"] = {"cause": "platform"}
    assert only(minimal, Rule.TRIGGER_DECLARED_TWICE).entry == "trigger 'approve'"


def test_unknown_fact_in_a_guard(minimal: dict[str, Any]) -> None:
    minimal["transitions"][0]["unless"] = ["refunded"]
    assert only(minimal, Rule.UNKNOWN_FACT).entry == "transition new -> approved [approve]"


def test_unknown_result_code(minimal: dict[str, Any]) -> None:
    minimal["actions"]["approve"]["errors"][1]["code"] = "E3"
    defect = only(minimal, Rule.UNKNOWN_CODE)
    assert defect.entry == "action 'approve' errors[1]"
    assert "'E3'" in defect.message


def test_unknown_status_in_a_prerequisite(minimal: dict[str, Any]) -> None:
    minimal["actions"]["approve"]["prerequisites"] = [{"action": "approve", "statuses": ["nwe"]}]
    assert only(minimal, Rule.UNKNOWN_STATUS).entry == "action 'approve'"


@pytest.mark.parametrize(
    ("where", "change"),
    [
        ("action 'approve'", lambda m: m["actions"]["approve"].update(prerequisites=["aprove"])),
        ("event 'finish'", lambda m: m["events"]["finish"].update(same_as="aprove")),
        ("transition new -> done [expire]", lambda m: m["transitions"][1].update(reverses=["aprove"])),
    ],
)
def test_unknown_action(minimal: dict[str, Any], where: str, change: Mutator) -> None:
    change(minimal)
    defect = only(minimal, Rule.UNKNOWN_ACTION)
    assert defect.entry == where
    assert "'aprove'" in defect.message
    assert "'approve'" in defect.message  # the suggestion


def _with_ship(minimal: dict[str, Any], **ship: Any) -> dict[str, Any]:
    """The minimal model plus a second action, ship, accepted only once the order is approved."""
    minimal["actions"]["ship"] = {"cause": "seller", **ship}
    minimal["transitions"].append(
        {"from": "approved", "to": "approved", "trigger": "ship", "flows": ["seller"]}
    )
    return minimal


def test_needs_non_prerequisite(minimal: dict[str, Any]) -> None:
    # ship in `new` needs approve first, which ship does not declare: a missing prerequisite.
    defect = only(_with_ship(minimal), Rule.NEEDS_NON_PREREQUISITE)
    assert defect.entry == "action 'ship' in status 'new' (flow 'seller')"
    assert "approve" in defect.message


def test_a_declared_prerequisite_or_refusal_satisfies_the_rule(minimal: dict[str, Any]) -> None:
    declared = model_from_mapping(_with_ship(copy.deepcopy(minimal), prerequisites=["approve"]))
    d = declared.decide("new", "ship", facts={"paid": True})
    assert (d.verdict, d.remedy) == (Verdict.DEFER, ("approve",))
    refused = model_from_mapping(_with_ship(minimal, errors=[{"statuses": ["new"], "code": "E2"}]))
    d = refused.decide("new", "ship", facts={"paid": True})
    assert (d.verdict, d.expected_error, d.follow_up) == (Verdict.REJECT, "E2", "give-up")


def test_follow_up_contradicts_verdict(minimal: dict[str, Any]) -> None:
    # ship in `new` is deferred (approve first), but its only error rule says give up.
    data = _with_ship(minimal, prerequisites=["approve"], errors=[{"code": "E2"}])
    found = defects(data)
    assert {d.rule for d in found} == {Rule.FOLLOW_UP_CONTRADICTS_VERDICT}
    assert found[0].entry == "action 'ship' in status 'new' (flow 'seller')"
    assert "give-up" in found[0].message
    # A rule-level follow_up that agrees fixes it.
    data["actions"]["ship"]["errors"] = [{"code": "E2", "follow_up": "decide-again"}]
    # ... and the decision resolves "decide again" by its verdict.
    decision = model_from_mapping(data).decide("new", "ship", facts={"paid": True})
    assert (decision.verdict, decision.follow_up) == (Verdict.DEFER, "defer-until-status-changes")


def test_unknown_fact_in_an_error_rule(minimal: dict[str, Any]) -> None:
    minimal["actions"]["approve"]["errors"][0]["facts"] = ["payed"]
    assert only(minimal, Rule.UNKNOWN_FACT).entry == "action 'approve' errors[0]"


def test_unknown_follow_up_is_a_schema_defect(minimal: dict[str, Any]) -> None:
    minimal["codes"]["E1"]["follow_up"] = "pray"
    assert only(minimal, Rule.SCHEMA).entry == "codes.E1.follow_up"


def test_unknown_source(minimal: dict[str, Any]) -> None:
    minimal["statuses"][0]["sources"] = ["S2"]
    defect = only(minimal, Rule.UNKNOWN_SOURCE)
    assert "'S1'" in defect.message


def test_transition_through_a_status_outside_its_flow(minimal: dict[str, Any]) -> None:
    minimal["flows"]["other"] = {"initial": "new"}
    minimal["statuses"][0]["flows"] = ["seller", "other"]
    minimal["transitions"][1]["flows"] = [
        "seller",
        "other",
    ]  # new -> done, but done is not in other
    found = {d.rule for d in defects(minimal)}
    assert Rule.STATUS_NOT_IN_FLOW in found


def test_unreachable_status(minimal: dict[str, Any]) -> None:
    minimal["statuses"].append({"id": "island", "flows": ["seller"], "meaning": "Lost.", "terminal": True})
    defect = only(minimal, Rule.UNREACHABLE_STATUS)
    assert defect.entry == "status 'island'"
    assert "'new'" in defect.message


def test_non_terminal_status_without_a_way_out(minimal: dict[str, Any]) -> None:
    minimal["statuses"][2]["terminal"] = False
    assert only(minimal, Rule.DEAD_END).entry == "status 'done'"


def test_a_self_loop_is_not_a_way_out(minimal: dict[str, Any]) -> None:
    minimal["statuses"][2]["terminal"] = False
    minimal["transitions"].append({"from": "done", "to": "done", "trigger": "finish", "flows": ["seller"]})
    assert only(minimal, Rule.DEAD_END).entry == "status 'done'"


def test_a_disabled_transition_is_not_a_way_out(minimal: dict[str, Any]) -> None:
    minimal["transitions"][2]["enabled"] = False
    assert only(minimal, Rule.DEAD_END).entry == "status 'approved'"


def test_terminal_status_with_a_way_out(minimal: dict[str, Any]) -> None:
    minimal["transitions"].append({"from": "done", "to": "new", "trigger": "finish", "flows": ["seller"]})
    assert only(minimal, Rule.TERMINAL_WITH_EXIT).entry == "transition done -> new [finish]"


def test_ambiguous_trigger(minimal: dict[str, Any]) -> None:
    minimal["transitions"].append({"from": "new", "to": "done", "trigger": "approve", "flows": ["seller"]})
    assert only(minimal, Rule.AMBIGUOUS_TRIGGER).entry == "transition new -> done [approve]"
    minimal["transitions"][-1]["unless"] = ["paid"]  # now exclusive with new -> approved (requires paid)
    model_from_mapping(minimal)


def test_timer_without_duration(minimal: dict[str, Any]) -> None:
    del minimal["transitions"][1]["after"]
    assert only(minimal, Rule.TIMER_WITHOUT_DURATION).entry == "transition new -> done [expire]"


@pytest.mark.parametrize("confidence", ["inferred", "contested"])
def test_unexplained_confidence(minimal: dict[str, Any], confidence: str) -> None:
    minimal["transitions"][2]["confidence"] = confidence
    assert only(minimal, Rule.UNEXPLAINED_CONFIDENCE).entry == "transition approved -> done [finish]"
    minimal["transitions"][2]["note"] = "Why we think so."
    model_from_mapping(minimal)


def test_patch_without_extends(minimal: dict[str, Any]) -> None:
    minimal["patch"] = {"statuses": {"new": {"note": "x"}}}
    assert only(minimal, Rule.BAD_OVERRIDE).entry == "(file)"


def test_every_defect_is_reported_at_once(minimal: dict[str, Any]) -> None:
    minimal["transitions"][0]["trigger"] = "nope"
    minimal["transitions"][2]["cause"] = "wizard"
    minimal["statuses"][0]["sources"] = ["S9"]
    rules = {d.rule for d in defects(minimal)}
    assert {Rule.UNDECLARED_TRIGGER, Rule.UNKNOWN_CAUSE, Rule.UNKNOWN_SOURCE} <= rules


def test_error_message_lists_each_defect(minimal: dict[str, Any]) -> None:
    minimal["statuses"][2]["terminal"] = False
    with pytest.raises(InvalidModelError) as caught:
        model_from_mapping(minimal, origin="mine.toml")
    text = str(caught.value)
    assert text.splitlines()[0] == "invalid model mine.toml: 1 defect"
    assert "status 'done'" in text
    assert "[dead-end]" in text
    assert caught.value.rules == {Rule.DEAD_END}


# Each rule must have at least one test above that refuses a model for it.
TESTED = {
    Rule.SCHEMA,
    Rule.UNKNOWN_STATUS,
    Rule.DUPLICATE_STATUS,
    Rule.DUPLICATE_TRANSITION,
    Rule.UNKNOWN_FLOW,
    Rule.UNKNOWN_CAUSE,
    Rule.UNDECLARED_TRIGGER,
    Rule.TRIGGER_DECLARED_TWICE,
    Rule.UNKNOWN_FACT,
    Rule.UNKNOWN_CODE,
    Rule.UNKNOWN_SOURCE,
    Rule.STATUS_NOT_IN_FLOW,
    Rule.UNREACHABLE_STATUS,
    Rule.DEAD_END,
    Rule.TERMINAL_WITH_EXIT,
    Rule.AMBIGUOUS_TRIGGER,
    Rule.TIMER_WITHOUT_DURATION,
    Rule.UNEXPLAINED_CONFIDENCE,
    Rule.UNKNOWN_ACTION,
    Rule.NEEDS_NON_PREREQUISITE,
    Rule.FOLLOW_UP_CONTRADICTS_VERDICT,
    Rule.BAD_OVERRIDE,
}


def test_every_rule_has_a_test() -> None:
    assert set(Rule) == TESTED
