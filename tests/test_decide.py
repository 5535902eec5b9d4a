"""Send, defer or reject: every documented case, and properties against the transitions machine."""

from __future__ import annotations

import dataclasses
import itertools
from collections import deque
from collections.abc import Callable
from pathlib import Path

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

import vtex_order_flow as vof
from contract import DECISION_KEYS
from vtex_order_flow import Decision, FlowModel, Verdict, bundled_model, decide, load_model
from vtex_order_flow.errors import (
    ContradictoryFactsError,
    InvalidModelError,
    UnknownActionError,
    UnknownFactError,
    UnknownFlowError,
    UnknownStatusError,
)
from vtex_order_flow.machine import fire
from vtex_order_flow.model import Confidence, Rule, Transition

VTEX = bundled_model()
SEND, DEFER, REJECT = Verdict.SEND, Verdict.DEFER, Verdict.REJECT


def test_send_approve_where_vtex_waits_for_the_marketplace() -> None:
    d = decide("waiting-ffmt-authorization", "approve")
    assert d.verdict is SEND
    assert d.moves_to == "authorize-fulfillment"
    assert d.expected_error is None
    assert d.path == ()
    assert d.next_actor == "connector"


def test_approve_before_vtex_has_the_order_defers_with_eoi008() -> None:
    d = decide("not-integrated", "approve")
    assert d.verdict is DEFER
    assert d.expected_error == "EOI008"
    assert d.remedy == ("create",)
    assert d.next_actor == "connector"
    assert d.accepted_in == "waiting-ffmt-authorization"


def test_approve_in_the_price_divergence_hold_defers_with_eoi011_until_the_seller_acts() -> None:
    d = decide("waiting-for-manual-authorization", "approve")
    assert d.verdict is DEFER
    assert d.expected_error == "EOI011"
    assert d.next_actor == "seller"
    assert d.remedy == ()
    assert [(s.source, s.dest, s.trigger) for s in d.path] == [
        ("waiting-for-manual-authorization", "waiting-ffmt-authorization", "seller-authorizes-divergence")
    ]
    assert d.confidence is Confidence.CONTESTED  # domain A1


@pytest.mark.parametrize("status", ["authorize-fulfillment", "ready-for-handling", "handling", "invoiced"])
def test_approve_past_authorization_is_rejected_and_already_done(status: str) -> None:
    d = decide(status, "approve")
    assert d.verdict is REJECT
    assert d.already_done
    assert d.expected_error == "EOI009"


def test_approve_a_canceled_order_is_rejected_not_done() -> None:
    d = decide("canceled", "approve")
    assert (d.verdict, d.already_done, d.expected_error) == (REJECT, False, "EOI009")


def test_cancel_a_canceled_order_is_already_done() -> None:
    d = decide("canceled", "cancel")
    assert (d.verdict, d.already_done) == (REJECT, True)
    assert decide("cancel", "cancel").already_done


@pytest.mark.parametrize("status", ["handling", "cancellation-requested"])
def test_cancel_with_a_partial_invoice_can_never_succeed(status: str) -> None:
    d = decide(status, "cancel", facts={"partial-invoice": True})
    assert d.verdict is REJECT
    assert (d.expected_error, d.follow_up) == ("HTTP400", vof.FollowUp.GIVE_UP)


def test_a_partial_invoice_ends_when_the_invoices_reach_the_total() -> None:
    # S1, S28: invoiced means the total is reached: a partial invoice cannot hold there.
    with pytest.raises(
        ContradictoryFactsError, match="'partial-invoice' cannot hold for an order in invoiced"
    ):
        decide("invoiced", "cancel", facts={"partial-invoice": True})
    # While an invoice is verified, the order may yet turn out fully invoiced: then a return
    # invoice comes first (S4), so the cancel waits rather than being refused.
    d = decide("invoice", "cancel", facts={"partial-invoice": True})
    assert (d.verdict, d.accepted_in, d.remedy) == (DEFER, "invoiced", ("return-invoice",))


def test_cancel_an_invoiced_order_needs_a_return_invoice_first() -> None:
    d = decide("invoiced", "cancel")
    assert d.verdict is DEFER
    assert d.remedy == ("return-invoice",)
    assert d.confidence is Confidence.CONTESTED
    after = decide("invoiced", "cancel", facts={"return-invoice-registered": True})
    assert after.verdict is SEND
    assert after.moves_to == "cancel"


def test_cancel_of_invoiced_is_overridable(tmp_path: Path) -> None:
    path = tmp_path / "final.toml"
    path.write_text(
        'name = "final"\nextends = "vtex"\n'
        '[[remove.transitions]]\nfrom = "invoiced"\nto = "cancel"\ntrigger = "cancel"\n'
        "[patch.statuses.invoiced]\nterminal = true\n",
        "utf-8",
    )
    assert load_model(path).decide("invoiced", "cancel").verdict is REJECT


def test_tracking_needs_an_invoice() -> None:
    before = decide("handling", "tracking")
    assert before.verdict is DEFER
    assert before.remedy == ("invoice",)
    assert decide("handling", "tracking", facts={"invoice-exists": True}).verdict is SEND
    assert decide("invoiced", "tracking").verdict is SEND
    assert decide("canceled", "tracking").verdict is REJECT


def test_start_handling_is_accepted_only_in_ready_for_handling() -> None:
    for status in VTEX.statuses_in("seller"):
        for facts in consistent_facts(VTEX, "seller", status.id):
            d = decide(status.id, "start-handling", facts=facts)
            assert (d.verdict is SEND) == (status.id == "ready-for-handling"), (status.id, facts)
            if d.verdict is not SEND:
                # 409 OMS003, except for an order the Orders API does not know at all (404).
                assert d.expected_error == ("HTTP404" if status.id == "not-integrated" else "OMS003")


def test_start_handling_before_authorization_defers_through_approve_and_the_grace_period() -> None:
    d = decide("waiting-ffmt-authorization", "start-handling")
    assert d.verdict is DEFER
    assert d.remedy == ("approve",)
    assert d.retry_after == 1800
    assert [s.actor for s in d.path] == ["connector", "platform", "timer"]


def test_start_handling_after_a_cancellation_request_waits_for_the_seller() -> None:
    d = decide("cancellation-requested", "start-handling")
    assert (d.verdict, d.next_actor, d.accepted_in) == (DEFER, "seller", "ready-for-handling")
    handled = decide("cancellation-requested", "start-handling", facts={"handling-started": True})
    assert handled.verdict is REJECT


def test_the_path_explained_is_the_normal_one_not_a_detour() -> None:
    # Through the grace period and start-handling, not through a customer's cancellation request.
    d = decide("window-to-cancel", "invoice")
    assert d.accepted_in == "handling"
    assert [s.trigger for s in d.path] == ["grace-period-ends", "start-handling", "handling-confirmed"]
    assert d.retry_after == 1800


def test_create() -> None:
    assert decide("not-integrated", "create").verdict is SEND
    d = decide("handling", "create")
    assert (d.verdict, d.already_done, d.expected_error) == (REJECT, True, "EOI007")


def test_return_invoice() -> None:
    assert decide("handling", "return-invoice").verdict is DEFER
    assert decide("invoiced", "return-invoice").verdict is SEND
    again = decide("invoiced", "return-invoice", facts=["return-invoice-registered"])
    assert (again.verdict, again.already_done) == (REJECT, True)  # the facts it sets hold


def test_other_flows() -> None:
    assert decide("payment-approved", "cancel", flow="marketplace").moves_to == "request-cancel"
    assert decide("handling", "invoice", flow="complete").verdict is SEND
    assert decide("payment-pending", "approve", flow="marketplace").verdict is REJECT


def test_every_decision_explains_itself() -> None:
    for flow in VTEX.flows:
        for d in VTEX.decisions(flow).values():
            assert d.reason.endswith(".")
            assert d.status in d.reason
            assert d.action in d.reason
            if d.verdict is not SEND:
                assert d.expected_error is None or d.expected_error in VTEX.codes


def test_decisions_are_immutable_and_shared() -> None:
    d = decide("handling", "invoice")
    assert decide("handling", "invoice") is d
    assert VTEX.decide("handling", "invoice", "seller", None) is d
    assert decide("handling", "invoice", facts={}) is d
    with pytest.raises(dataclasses.FrozenInstanceError):
        d.verdict = REJECT  # type: ignore[misc]


def test_facts_as_names_or_mapping_agree() -> None:
    assert decide("handling", "cancel", facts=["partial-invoice"]) is decide(
        "handling", "cancel", facts={"partial-invoice": True}
    )
    assert decide("handling", "cancel", facts={"partial-invoice": False}) is decide("handling", "cancel")


def test_an_alias_decides_like_its_status() -> None:
    assert decide("cancelation-request", "cancel") is decide("cancellation-requested", "cancel")


@pytest.mark.parametrize(
    ("call", "error", "fragment"),
    [
        (lambda: decide("handlin", "invoice"), UnknownStatusError, "'handling'"),
        (lambda: decide("handling", "invoce"), UnknownActionError, "'invoice'"),
        (lambda: decide("handling", "invoice", flow="sellr"), UnknownFlowError, "'seller'"),
        (
            lambda: decide("handling", "cancel", facts={"partal-invoice": True}),
            UnknownFactError,
            "'partial-invoice'",
        ),
        (
            lambda: decide("handling", "cancel", facts={"partial-invoice": 1}),
            UnknownFactError,
            "true or false",
        ),
        (
            lambda: decide("handling", "cancel", facts={"partial-invoice": [1]}),
            UnknownFactError,
            "true or false",
        ),
        (lambda: decide("payment-pending", "cancel"), UnknownStatusError, "not in the seller flow"),
        (lambda: decide("release-to-fulfillment", "cancel"), UnknownStatusError, "no flow"),
    ],
)
def test_bad_names_raise_typed_errors(call: object, error: type[Exception], fragment: str) -> None:
    with pytest.raises(error) as caught:
        call()  # type: ignore[operator]
    assert fragment in str(caught.value)


def test_a_bad_value_is_not_cached_as_a_good_one() -> None:
    decide("handling", "cancel", facts={"partial-invoice": True})
    with pytest.raises(UnknownFactError):
        decide("handling", "cancel", facts={"partial-invoice": 1})


def test_json_shape() -> None:
    data = decide("invoiced", "cancel").to_dict()
    assert set(data) >= DECISION_KEYS
    assert data["path"] == [
        {
            "from": "invoiced",
            "to": "invoiced",
            "trigger": "return-invoice",
            "cause": "seller",
            "actor": "connector",
            "after": None,
        }
    ]


def test_module_shortcut_is_the_bundled_model() -> None:
    assert vof.decide("handling", "invoice") is bundled_model().decide("handling", "invoice")


# -- properties: the compiled decisions against the transitions machine ---------------------------


def fact_combinations(model: FlowModel = VTEX) -> list[dict[str, bool]]:
    names = sorted(model.facts)
    return [
        dict(zip(names, values, strict=True))
        for values in itertools.product([False, True], repeat=len(names))
    ]


def oracle_consistent(model: FlowModel, flow: str, status: str, facts: dict[str, bool]) -> bool:
    """Whether an order in `status` can carry these facts, found without decide(): implications
    followed by hand, and every (status, facts) the machine reaches from the flow's initial status."""
    held = {k for k, v in facts.items() if v}
    changed = True
    while changed:
        implied = {i for name in held for i in model.facts[name].implies}
        changed = not implied <= held
        held |= implied
    if any(value is False and name in held for name, value in facts.items()):
        return False
    settable = {f for t in model.transitions_in(flow) for f in t.sets}
    settable |= {i for f in settable for i in model.facts[f].implies}
    callers = {name: True for name in model.facts if name not in settable}
    initial = model.flow(flow).initial
    carried: set[str] = set()
    for assumed in (callers, dict.fromkeys(callers, False)):
        for place, known in machine_reachable(model, flow, initial, assumed):
            if place == status:
                carried |= known
    return all(fact in carried or fact not in settable for fact in held)


def consistent_facts(model: FlowModel, flow: str, status: str) -> list[dict[str, bool]]:
    return [f for f in fact_combinations(model) if oracle_consistent(model, flow, status, f)]


def machine_reachable(
    model: FlowModel,
    flow: str,
    status: str,
    facts: dict[str, bool],
    skip: Callable[[Transition], bool] = lambda t: False,
) -> list[tuple[str, frozenset[str]]]:
    """Every (status, facts) reachable by firing the machine's triggers (but those `skip` names),
    found independently of decide()."""
    machine = model.machine(flow)
    start = (status, frozenset(k for k, v in facts.items() if v))
    seen = {start}
    queue = deque([start])
    while queue:
        here, held = queue.popleft()
        for t in model.ways_out(here, flow):
            if skip(t):
                continue
            moved = fire(machine, here, t.trigger, dict.fromkeys(held, True))
            if moved is None:
                continue
            # which transition fired: the one whose guards hold (the model has no ambiguity)
            fired = next(
                x
                for x in model.ways_out(here, flow)
                if x.trigger == t.trigger and x.dest == moved and x.allowed(dict.fromkeys(held, True))
            )
            nxt = (moved, (held | model.fact_closure(fired.sets)) - fired.clears)
            if nxt not in seen:
                seen.add(nxt)
                queue.append(nxt)
    return list(seen)


def declared_before(model: FlowModel, action: str, status: str) -> set[str]:
    """The prerequisites of `action` from `status`, read from the declarations here (not through
    `allowed_before`): those that apply there, and through unrestricted ones, theirs."""
    found: set[str] = set()
    frontier = [(p.action, not p.statuses) for p in model.actions[action].prerequisites if p.applies(status)]
    while frontier:
        name, deeper = frontier.pop()
        if name not in found:
            found.add(name)
            if deeper:
                frontier += [(p.action, True) for p in model.actions[name].prerequisites if not p.statuses]
    return found - {action}


def check_against_machine(
    model: FlowModel, flow: str, status: str, action: str, given: dict[str, bool]
) -> None:
    if not oracle_consistent(model, flow, status, given):
        with pytest.raises(ContradictoryFactsError):
            model.decide(status, action, flow, given)
        return
    d: Decision = model.decide(status, action, flow, given)
    facts = dict.fromkeys(d.facts, True)  # with what they imply
    assert {k for k, v in given.items() if v} <= d.facts
    machine = model.machine(flow)
    accepted_now = fire(machine, status, action, facts)
    assert (d.verdict is SEND) == (accepted_now is not None)
    if d.verdict is SEND:
        assert d.moves_to == accepted_now
        assert d.path == ()
        assert not d.already_done
        return
    # The connector's moves on the way: the action's declared prerequisites only (never the
    # action itself), and no move that turns down a request of the action.
    allowed = declared_before(model, action, status)

    def skip(t: Transition) -> bool:
        return (t.by_action and t.trigger not in allowed) or action in t.reverses

    if d.verdict is DEFER:
        assert d.path, "every defer has a path"
        assert not d.already_done, "a defer is never already done"
        held: set[str] = set(d.facts)
        here = status
        for step in d.path:  # replay the path through the machine itself
            assert step.source == here
            moved = fire(machine, here, step.trigger, dict.fromkeys(held, True))
            assert moved == step.dest
            fired = next(
                t
                for t in model.ways_out(here, flow)
                if t.trigger == step.trigger and t.dest == moved and t.allowed(dict.fromkeys(held, True))
            )
            assert not skip(fired), f"{fired.describe()} is not allowed on the way to {action}"
            held = (held | model.fact_closure(fired.sets)) - fired.clears
            here = moved
        assert here == d.accepted_in
        assert fire(machine, here, action, dict.fromkeys(held, True)) is not None
        assert d.remedy == tuple(s.trigger for s in d.path if s.by_action)
        assert set(d.remedy) <= allowed
        return
    assert d.path == ()
    for place, known in machine_reachable(model, flow, status, facts, skip):
        assert fire(machine, place, action, dict.fromkeys(known, True)) is None, (place, known)


@pytest.mark.parametrize("flow", list(VTEX.flows))
def test_every_decision_agrees_with_the_machine(flow: str) -> None:
    # Exhaustive: every status of the flow, every action, every combination of facts.
    for status in VTEX.statuses_in(flow):
        for action in VTEX.actions:
            for facts in fact_combinations():
                check_against_machine(VTEX, flow, status.id, action, facts)


@st.composite
def situations(draw: st.DrawFn) -> tuple[str, str, str, dict[str, bool]]:
    flow = draw(st.sampled_from(sorted(VTEX.flows)))
    status = draw(st.sampled_from([s.id for s in VTEX.statuses_in(flow)]))
    action = draw(st.sampled_from(sorted(VTEX.actions)))
    facts = draw(st.dictionaries(st.sampled_from(sorted(VTEX.facts)), st.booleans()))
    return flow, status, action, facts


@given(situations())
def test_decisions_agree_with_the_machine(situation: tuple[str, str, str, dict[str, bool]]) -> None:
    flow, status, action, facts = situation
    check_against_machine(VTEX, flow, status, action, facts)


# -- properties on random models: the derivation is right for graphs we did not write --------------

TRIGGERS = ["a1", "a2", "e1", "e2", "e3"]


@st.composite
def random_models(draw: st.DrawFn) -> FlowModel:
    size = draw(st.integers(3, 7))
    names = [f"s{i}" for i in range(size)]
    terminal = names[-1]
    transitions = [  # a chain keeps every status reachable and gives each a way out
        {"from": a, "to": b, "trigger": "e1", "flows": ["f"]} for a, b in itertools.pairwise(names)
    ]
    used = {(a, "e1") for a in names[:-1]}
    for _ in range(draw(st.integers(0, 10))):
        source = draw(st.sampled_from(names[:-1]))
        dest = draw(st.sampled_from(names))
        trigger = draw(st.sampled_from(TRIGGERS))
        if (source, trigger) in used:
            continue
        used.add((source, trigger))
        guard = draw(st.sampled_from([{}, {"requires": ["x"]}, {"unless": ["x"]}, {"requires": ["y"]}]))
        sets = draw(st.sampled_from([[], ["x"], ["y"]]))
        transitions.append(
            {"from": source, "to": dest, "trigger": trigger, "flows": ["f"], "sets": sets, **guard}
        )
    # Each action may or may not declare the other its prerequisite; a model in which some
    # action would wait on an undeclared one is refused (needs-non-prerequisite), and skipped here.
    first = draw(st.sampled_from([[], ["a2"]]))
    second = draw(st.sampled_from([[], ["a1"]]))
    try:
        return vof.model_from_mapping(
            {
                "name": "random",
                "flows": {"f": {"initial": "s0"}},
                "facts": {"x": {"description": "x"}, "y": {"description": "y"}},
                "actions": {
                    "a1": {"cause": "marketplace", "prerequisites": first},
                    "a2": {"cause": "seller", "prerequisites": second},
                },
                "events": {
                    "e1": {"cause": "platform"},
                    "e2": {"cause": "seller"},
                    "e3": {"cause": "timer"},
                },
                "statuses": [
                    {"id": n, "flows": ["f"], "meaning": n, "terminal": n == terminal} for n in names
                ],
                "transitions": [t if t["trigger"] != "e3" else {**t, "after": 60} for t in transitions],
            }
        )
    except InvalidModelError as error:
        # Only that rule may refuse these models; anything else is a bug in the generator.
        if error.rules != {Rule.NEEDS_NON_PREREQUISITE}:
            raise
        assume(False)
        raise


@given(random_models(), st.data())
def test_random_models_agree_with_their_machine(model: FlowModel, data: st.DataObject) -> None:
    status = data.draw(st.sampled_from(list(model.statuses)))
    action = data.draw(st.sampled_from(["a1", "a2"]))
    facts = data.draw(st.dictionaries(st.sampled_from(["x", "y"]), st.booleans()))
    check_against_machine(model, "f", status, action, facts)


# -- facts: normalised before any cache, anything but a mapping or names a typed error ------------


def test_a_one_shot_iterator_of_facts_neither_misleads_nor_poisons_the_cache() -> None:
    model = vof.model_from_mapping(_bundled_data())  # a fresh model: an empty cache
    first = model.decide("handling", "cancel", facts=iter(["partial-invoice"]))
    assert first.verdict is REJECT
    assert model.decide("handling", "cancel", facts={"partial-invoice": True}).verdict is REJECT
    assert model.decide("handling", "cancel", facts=iter(["partial-invoice"])).verdict is REJECT
    assert model.decide("handling", "cancel").verdict is SEND


def test_pairs_are_not_a_mapping() -> None:
    with pytest.raises(UnknownFactError, match="a collection of facts holds names"):
        decide("handling", "cancel", facts=[("partial-invoice", True)])  # type: ignore[list-item]


def test_a_string_is_not_a_collection_of_facts() -> None:
    with pytest.raises(UnknownFactError, match="not str"):
        decide("handling", "cancel", facts="partial-invoice")


@pytest.mark.parametrize("bad", [5, 1.5, object()])
def test_facts_of_another_type_are_a_typed_error(bad: object) -> None:
    with pytest.raises(UnknownFactError, match="facts must be a mapping"):
        decide("handling", "cancel", facts=bad)  # type: ignore[arg-type]


def test_every_spelling_of_the_same_facts_shares_one_decision() -> None:
    spellings: list[vof.Facts] = [
        {"partial-invoice": True},
        ["partial-invoice"],
        ("partial-invoice",),
        {"partial-invoice"},
        frozenset({"partial-invoice", "invoice-exists"}),
        {"partial-invoice": True, "invoice-exists": True, "handling-started": False},
        iter(["partial-invoice"]),
    ]
    decisions = {id(decide("handling", "tracking", facts=f)) for f in spellings}
    assert len(decisions) == 1


def _bundled_data() -> dict[str, object]:
    import tomllib
    from importlib import resources

    text = resources.files("vtex_order_flow").joinpath("data/vtex.toml").read_text("utf-8")
    return tomllib.loads(text)
