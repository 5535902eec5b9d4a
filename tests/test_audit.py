"""The verdict audit: one test per defect it found, each citing the VTEX document it rests on,
and properties over every flow x status x action x consistent fact set.

Source ids are the model's (`[sources]` in data/vtex.toml): S1 "Order flow and status", S4 the
external-marketplace canceled-orders guide, S8 the Orders API, S11 the orders feed guide, S18
"Canceling orders", S41 the Orders API cancel endpoint.
"""

from __future__ import annotations

import itertools
from typing import Any

import pytest

from vtex_order_flow import FollowUp, Verdict, bundled_model, decide
from vtex_order_flow._loader import validated_bundled_model
from vtex_order_flow.errors import ContradictoryFactsError

VTEX = bundled_model()
SEND, DEFER, REJECT = Verdict.SEND, Verdict.DEFER, Verdict.REJECT


def every_decision() -> list[tuple[str, str, str, frozenset[str]]]:
    """Every flow, status and action, with every combination of facts an order can carry there.

    Which combinations those are is checked against the transitions machine independently in
    test_decide (`oracle_consistent`); here the refused ones are simply skipped.
    """
    out = []
    names = sorted(VTEX.facts)
    combinations = [
        frozenset(n for n, on in zip(names, bits, strict=True) if on)
        for bits in itertools.product([False, True], repeat=len(names))
    ]
    for flow in VTEX.flows:
        for status in VTEX.statuses_in(flow):
            for facts in combinations:
                try:
                    VTEX.decide(status.id, "create", flow, facts)
                except ContradictoryFactsError:
                    continue
                out += [(flow, status.id, action, facts) for action in VTEX.actions]
    return out


EVERY = every_decision()


# -- 1. absurd remedies: cancel never waits for the connector to invoice first (S1, S4) -----------


@pytest.mark.parametrize(
    ("flow", "status"),
    [
        ("marketplace", "waiting-seller-handling"),
        ("marketplace", "ready-for-invoicing"),
        ("complete", "ready-for-invoicing"),
    ],
)
def test_cancel_before_invoiced_is_sent_not_deferred_through_an_invoice(flow: str, status: str) -> None:
    # S1, S4: an order can be canceled in every status before invoiced.
    d = decide(status, "cancel", flow=flow)
    assert (d.verdict, d.moves_to) == (SEND, "request-cancel")


def test_no_cancel_remedy_invoices_the_order() -> None:
    # A return invoice is the only connector action a cancel may wait for, and only once the
    # order is being invoiced or invoiced (S4, S8).
    for flow, status, action, facts in EVERY:
        if action != "cancel":
            continue
        d = VTEX.decide(status, action, flow, facts)
        assert set(d.remedy) <= {"return-invoice"}, (flow, status, d.remedy)
        if d.remedy:
            assert status in {"invoice", "invoiced"}, (flow, status)


def test_cancel_is_sent_in_every_status_before_invoiced_but_transient_ones() -> None:
    # S1, S4: "all but invoiced"; S1: the starred statuses move on by themselves, a cancel waits.
    # `null` (no workflow yet, S1, S31) and `order-completed` (S11's feed examples; not in S1's
    # table) wait for the platform too. A cancellation already requested is done (defect 4); an
    # order VTEX does not have is not cancelled at all (defect 2).
    waits = {"null", "order-completed"}
    for flow in VTEX.flows:
        before = {s.id for s in VTEX.statuses_in(flow) if "invoiced" in VTEX.reachable(s.id, flow)}
        for status in sorted(before - {"invoiced", "not-integrated"}):
            spec = VTEX.status(status)
            d = decide(status, "cancel", flow=flow)
            if spec.auto or status in waits:
                assert d.verdict is DEFER, (flow, status)
            elif d.verdict is DEFER:  # only while the platform routes it on (complete: request-cancel)
                assert {step.actor for step in d.path} == {"platform"}, (flow, status, d)
            else:
                assert d.verdict is SEND or (d.verdict is REJECT and d.already_done), (flow, status, d)


# -- 2. cancel on an order VTEX does not have (S4, S41) ---------------------------------------------


def test_cancel_of_an_order_not_integrated_is_rejected_never_created_first() -> None:
    # S4: for orders not integrated, tell the marketplace the order is canceled; never create it.
    d = decide("not-integrated", "cancel")
    assert (d.verdict, d.remedy, d.expected_error) == (REJECT, (), "HTTP404")
    assert (d.already_done, d.follow_up) == (True, FollowUp.DONE)  # S4: it is canceled as far as anyone knows
    assert VTEX.codes["HTTP404"].api == "orders"  # S8, S41: the Orders API answers 404 for it


@pytest.mark.parametrize("action", ["invoice", "return-invoice", "tracking", "start-handling"])
def test_orders_api_calls_on_an_unknown_order_predict_404(action: str) -> None:
    assert decide("not-integrated", action).expected_error == "HTTP404"


# -- 3. cancel at on-order-completed-ffm (S1, S4) ---------------------------------------------------


def test_cancel_at_on_order_completed_ffm_is_sent_like_at_order_accepted() -> None:
    # S1: not a starred status; S4: cancel is accepted before invoiced.
    assert decide("on-order-completed-ffm", "cancel").verdict is SEND
    assert decide("order-accepted", "cancel").verdict is SEND


# -- 4. a pending cancellation request (S10, S17) ----------------------------------------------------


@pytest.mark.parametrize("status", ["request-cancel", "waiting-for-seller-decision"])
def test_a_requested_cancellation_is_done_not_deferred_until_the_seller_declines(status: str) -> None:
    # S10, S17: the seller decides; a denial returns the order to payment-approved. Re-sending
    # the cancellation the seller just declined is never the plan.
    d = decide(status, "cancel", flow="marketplace")
    assert (d.verdict, d.already_done, d.path) == (REJECT, True, ())


def test_no_defer_waits_on_a_party_reversing_the_action() -> None:
    for flow, status, action, facts in EVERY:
        d = VTEX.decide(status, action, flow, facts)
        for step in d.path:
            fired = next(
                t
                for t in VTEX.ways_out(step.source, flow)
                if (t.dest, t.trigger) == (step.dest, step.trigger)
            )
            assert action not in fired.reverses, (flow, status, action, fired.describe())


# -- 5. facts imply each other, and must fit the status (S8, S28) ------------------------------------


def test_a_partial_invoice_is_a_registered_invoice() -> None:
    # S28: a partial invoice is an invoice; S8: tracking needs a registered invoice.
    d = decide("handling", "tracking", facts={"partial-invoice": True})
    assert d.verdict is SEND
    assert d.facts == {"partial-invoice", "invoice-exists"}


def test_a_fact_given_false_while_implied_is_refused() -> None:
    with pytest.raises(ContradictoryFactsError, match="'invoice-exists' is given false, but partial-invoice"):
        decide("handling", "tracking", facts={"partial-invoice": True, "invoice-exists": False})


@pytest.mark.parametrize(
    "status", ["order-accepted", "waiting-ffmt-authorization", "ready-for-handling", "handling", "invoice"]
)
def test_a_return_invoice_before_invoiced_is_a_contradiction_not_a_done_defer(status: str) -> None:
    # S8: a return invoice is registered on an invoiced order.
    with pytest.raises(ContradictoryFactsError, match="return-invoice-registered") as caught:
        decide(status, "return-invoice", facts={"return-invoice-registered": True})
    assert caught.value.value == "return-invoice-registered"
    assert "invoiced" in str(caught.value)


# -- 6. already_done is derived and never contradicts the verdict -----------------------------------


def test_invoice_while_verifying_waits_and_is_not_done() -> None:
    # S1, S28: the invoice status verifies; a partial invoice returns the order to handling,
    # where the next invoice is accepted.
    d = decide("invoice", "invoice")
    assert (d.verdict, d.already_done, d.accepted_in) == (DEFER, False, "handling")


@pytest.mark.parametrize("flow", ["marketplace", "complete", "chain"])
def test_create_where_the_order_exists_is_done(flow: str) -> None:
    # S2: EOI007, the order already exists; VTEX does not create duplicates.
    for status in VTEX.statuses_in(flow):
        d = decide(status.id, "create", flow=flow)
        assert (d.verdict, d.expected_error, d.already_done) == (REJECT, "EOI007", True)


@pytest.mark.parametrize(
    ("flow", "status"),
    [("marketplace", "order-create-error"), ("marketplace", "payment-denied"), ("chain", "payment-denied")],
)
def test_cancel_where_the_platform_is_already_cancelling_is_done(flow: str, status: str) -> None:
    # S1: a creation error or a denied payment is cancelled by the platform.
    d = decide(status, "cancel", flow=flow)
    assert (d.verdict, d.already_done) == (REJECT, True)


def test_past_goal_are_the_dominators_of_the_goal() -> None:
    # The hand-written goal lists are gone; the derivation gives back what they said for approve.
    assert VTEX.past_goal("seller", "approve") == ALREADY_DONE[("seller", "approve")]
    assert VTEX.goal_statuses("marketplace", "invoice") == {"invoice"}  # the seller invoices (same_as)


def test_only_a_reject_is_ever_already_done() -> None:
    for flow, status, action, facts in EVERY:
        d = VTEX.decide(status, action, flow, facts)
        assert not d.already_done or d.verdict is REJECT, (flow, status, action, facts)


# -- 7. follow-ups agree with verdicts ---------------------------------------------------------------


# Written here, not imported: a reject is never retried or deferred, a defer never given up.
AFTER_A_REJECT = {FollowUp.DONE, FollowUp.GIVE_UP, FollowUp.NEEDS_PERSON}
AFTER_A_DEFER = {
    FollowUp.DEFER_UNTIL_STATUS_CHANGES,
    FollowUp.RETRY_WITH_BACKOFF,
    FollowUp.WAIT_FOR_NOTIFICATION,
}


def test_every_predicted_follow_up_agrees_with_its_verdict() -> None:
    seen = set()
    for flow, status, action, facts in EVERY:
        d = VTEX.decide(status, action, flow, facts)
        if d.verdict is SEND:
            assert (d.expected_error, d.follow_up) == (None, None)
            continue
        if d.follow_up is None:
            continue
        seen.add(d.follow_up)
        allowed = AFTER_A_REJECT if d.verdict is REJECT else AFTER_A_DEFER
        assert d.follow_up in allowed, (flow, status, action, facts, d.expected_error, d.follow_up)
        assert d.follow_up is not FollowUp.DONE or d.already_done, (flow, status, action, facts)
    # "not in this status" (decide-again in the model) is resolved, never handed on as such.
    assert FollowUp.DECIDE_AGAIN not in seen
    assert {FollowUp.GIVE_UP, FollowUp.DONE, FollowUp.DEFER_UNTIL_STATUS_CHANGES} <= seen


def test_a_definite_answer_contrary_to_the_verdict_is_a_model_defect() -> None:
    # The model check is not vacuous: give cancel at `handling` (where a partial invoice makes
    # it a reject) an answer that says to wait, and the model is refused.
    from vtex_order_flow import model_from_mapping
    from vtex_order_flow.errors import InvalidModelError
    from vtex_order_flow.model import Rule

    data = _bundled_data()
    errors = data["actions"]["cancel"]["errors"]
    errors.insert(0, {"facts": ["partial-invoice"], "code": "EOI011"})  # defer-until-status-changes
    with pytest.raises(InvalidModelError) as caught:
        model_from_mapping(data)
    assert caught.value.rules == {Rule.FOLLOW_UP_CONTRADICTS_VERDICT}


def _bundled_data() -> dict[str, Any]:
    import tomllib
    from importlib import resources

    return tomllib.loads(resources.files("vtex_order_flow").joinpath("data/vtex.toml").read_text("utf-8"))


# -- already done: the derivation against a table written from the domain notes (section 4) --------

ALREADY_DONE = {
    # flow, action: the statuses where the action is already done (no facts)
    ("seller", "approve"): {  # 4.1: past authorization
        "authorize-fulfillment",
        "window-to-cancel",
        "ready-for-handling",
        "start-handling",
        "handling",
        "invoice",
        "invoiced",
        "cancellation-requested",
    },
    ("seller", "cancel"): {"not-integrated", "cancel", "canceled"},  # S4; 4.3
    ("seller", "invoice"): {"invoiced"},  # 4.4: invoice (verifying) waits, invoiced is final
    ("seller", "start-handling"): {"start-handling", "handling"},  # 4.7
    ("seller", "return-invoice"): set(),
    ("seller", "tracking"): set(),
    ("marketplace", "cancel"): {  # 4.3, S10, S17: requested, being cancelled, or cancelled
        "order-create-error",
        "payment-denied",
        "request-cancel",
        "waiting-for-seller-decision",
        "cancel",
        "canceled",
    },
    ("marketplace", "invoice"): {"invoice", "invoiced"},  # the seller invoices (S1)
    ("chain", "invoice"): {"invoice", "invoiced"},
    ("complete", "start-handling"): {
        "start-handling",
        "handling",
        "ready-for-invoicing",
        "invoice",
        "invoiced",
    },
}


@pytest.mark.parametrize(("flow", "action"), sorted(ALREADY_DONE))
def test_already_done_matches_the_domain_notes(flow: str, action: str) -> None:
    done = {s.id for s in VTEX.statuses_in(flow) if VTEX.decide(s.id, action, flow).already_done}
    assert done == ALREADY_DONE[(flow, action)]


def test_create_is_done_wherever_vtex_has_the_order() -> None:
    for flow in VTEX.flows:
        not_done = {
            s.id for s in VTEX.statuses_in(flow) if not VTEX.decide(s.id, "create", flow).already_done
        }
        assert not_done == ({"not-integrated"} if flow == "seller" else set()), flow


def test_the_bundled_model_passes_the_decision_checks() -> None:
    assert validated_bundled_model() == VTEX


# -- 8. flow membership (S1, S11) --------------------------------------------------------------------


def test_null_is_in_every_flow() -> None:
    # S1's table lists null for every flow; S11 warns feed readers of it.
    assert VTEX.flows_of("null") == ("seller", "marketplace", "complete", "chain")
    assert decide("null", "approve").expected_error == "EOI008"  # the workflow has not started


def test_payment_denied_is_in_the_chain_flow() -> None:
    assert "chain" in VTEX.flows_of("payment-denied")


@pytest.mark.parametrize("flow", ["marketplace", "chain"])
def test_the_marketplace_does_not_invoice_track_or_return(flow: str) -> None:
    # S1: in these flows the fulfilling seller invoices in its own account.
    connector = {t.trigger for t in VTEX.transitions_in(flow) if t.by_action}
    assert not connector & {"invoice", "tracking", "return-invoice"}
    for status in VTEX.statuses_in(flow):
        for action in ("invoice", "tracking", "return-invoice"):
            assert decide(status.id, action, flow=flow).verdict is REJECT


# -- the remedy property ------------------------------------------------------------------------------


def test_every_remedy_is_made_of_declared_prerequisites() -> None:
    for flow, status, action, facts in EVERY:
        d = VTEX.decide(status, action, flow, facts)
        assert set(d.remedy) <= VTEX.allowed_before(action, status), (flow, status, action, d.remedy)
        assert action not in d.remedy
