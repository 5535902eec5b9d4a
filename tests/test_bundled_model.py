"""The bundled VTEX model: complete to the domain research, sourced, and true to VTEX's documents."""

from __future__ import annotations

import itertools
import tomllib
from importlib import resources

import pytest

from vtex_order_flow import FlowModel, bundled_model
from vtex_order_flow.model import Cause, Confidence

# Every status of the domain file's §1 (VTEX-ORDER-FLOW.md), as VTEX's API spells it.
DOMAIN_STATUSES = {
    "null",
    "order-created",
    "order-completed",
    "on-order-completed",
    "on-order-completed-ffm",
    "order-accepted",
    "waiting-for-authorization",
    "waiting-for-order-authorization",
    "payment-pending",
    "approve-payment",
    "payment-denied",
    "payment-approved",
    "window-to-change-payment",
    "window-to-change-seller",
    "request-cancel",
    "waiting-for-seller-decision",
    "waiting-ffmt-authorization",
    "waiting-for-manual-authorization",
    "waiting-for-fulfillment",
    "authorize-fulfillment",
    "release-to-fulfillment",
    "waiting-for-mkt-authorization",
    "waiting-seller-handling",
    "window-to-cancel",
    "ready-for-handling",
    "start-handling",
    "handling",
    "ready-for-invoicing",
    "invoice",
    "invoice-after-cancellation-deny",
    "invoiced",
    "replaced",
    "cancellation-requested",
    "cancellation-request-denied",
    "cancellation-request-denied-ffm",
    "order-create-error",
    "order-creation-error",
    "cancel",
    "canceled",
}

# The statuses a feed or hook can be filtered on, from the Orders API OpenAPI file (S8,
# `FromWorkflow` `status` description): an event may carry any of them.
FEED_FILTER_STATUSES = {
    "order-created",
    "on-order-completed",
    "on-order-completed-ffm",
    "payment-pending",
    "waiting-for-order-authorization",
    "approve-payment",
    "payment-approved",
    "request-cancel",
    "waiting-for-seller-decision",
    "waiting-ffmt-authorization",
    "waiting-for-authorization",
    "waiting-for-manual-authorization",
    "authorize-fulfillment",
    "order-create-error",
    "order-creation-error",
    "window-to-cancel",
    "window-to-change-seller",
    "waiting-for-mkt-authorization",
    "waiting-seller-handling",
    "ready-for-handling",
    "start-handling",
    "handling",
    "invoice-after-cancellation-deny",
    "order-accepted",
    "invoice",
    "invoiced",
    "replaced",
    "cancellation-requested",
    "cancel",
    "canceled",
}

# Statuses starred in S1's table: the platform changes them automatically.
STARRED = {"order-created", "start-handling", "invoice", "cancel"}

ACTIONS = {"create", "approve", "cancel", "invoice", "return-invoice", "tracking", "start-handling"}


@pytest.fixture(scope="module")
def vtex() -> FlowModel:
    return bundled_model()


def test_every_domain_status_is_in_the_model(vtex: FlowModel) -> None:
    assert DOMAIN_STATUSES - set(vtex.statuses) == set()
    assert set(vtex.statuses) - DOMAIN_STATUSES == {"not-integrated"}


def test_every_feed_status_is_known(vtex: FlowModel) -> None:
    assert set(vtex.statuses) >= FEED_FILTER_STATUSES


def test_four_flows_with_their_initial_status(vtex: FlowModel) -> None:
    assert {name: flow.initial for name, flow in vtex.flows.items()} == {
        "seller": "not-integrated",
        "marketplace": "null",
        "complete": "null",
        "chain": "null",
    }


def test_connector_actions_are_declared_with_endpoints(vtex: FlowModel) -> None:
    assert set(vtex.actions) == ACTIONS
    assert all(action.endpoint for action in vtex.actions.values())
    assert vtex.action("approve").endpoint == "PUT /api/order-integration/orders/status"
    assert vtex.action("start-handling").endpoint.endswith("/start-handling")


def test_starred_statuses_are_auto_and_only_canceled_and_replaced_are_terminal(
    vtex: FlowModel,
) -> None:
    auto = {s.id for s in vtex.statuses.values() if s.auto}
    assert auto >= STARRED
    assert auto - STARRED == {"approve-payment"}  # S1: "the flow does not stop here"
    assert {s.id for s in vtex.statuses.values() if s.terminal} == {"canceled", "replaced"}


def test_every_entry_is_sourced_and_every_source_resolves(vtex: FlowModel) -> None:
    for status in vtex.statuses.values():
        assert status.sources, status.id
        assert status.meaning, status.id
    for transition in vtex.transitions:
        assert transition.sources, transition.describe()
    cited = {s for st in vtex.statuses.values() for s in st.sources}
    cited |= {s for t in vtex.transitions for s in t.sources}
    assert cited <= set(vtex.sources)
    assert all(source.url.startswith("https://") for source in vtex.sources.values())


def test_every_non_documented_fact_says_why(vtex: FlowModel) -> None:
    for status in vtex.statuses.values():
        if status.confidence is not Confidence.DOCUMENTED:
            assert status.note, status.id
    for transition in vtex.transitions:
        if transition.confidence is not Confidence.DOCUMENTED:
            assert transition.note, transition.describe()


def test_labels_match_the_status_table(vtex: FlowModel) -> None:
    assert vtex.status("ready-for-handling").admin_label == "Ready for handling"
    assert vtex.status("handling").admin_label == "Handling shipping"
    assert vtex.status("invoice").admin_label == "Verifying invoice"
    assert vtex.status("window-to-cancel").my_account_label == "Handling order"
    assert vtex.status("payment-pending").my_account_label == "Approving payment"


def edges(vtex: FlowModel, flow: str) -> set[tuple[str, str, str]]:
    return {t.key for t in vtex.transitions_in(flow)}


def test_seller_happy_path(vtex: FlowModel) -> None:
    path = [
        ("not-integrated", "null", "create"),
        ("null", "order-accepted", "order-processed"),
        ("order-accepted", "waiting-ffmt-authorization", "order-processed"),
        ("waiting-ffmt-authorization", "authorize-fulfillment", "approve"),
        ("authorize-fulfillment", "window-to-cancel", "reservation-confirmed"),
        ("window-to-cancel", "ready-for-handling", "grace-period-ends"),
        ("ready-for-handling", "start-handling", "start-handling"),
        ("start-handling", "handling", "handling-confirmed"),
        ("handling", "invoice", "invoice"),
        ("invoice", "invoiced", "invoice-verified"),
    ]
    assert set(path) <= edges(vtex, "seller")


def test_complete_flow_follows_s1(vtex: FlowModel) -> None:
    path = [
        "null",
        "order-created",
        "on-order-completed",
        "waiting-for-authorization",
        "payment-pending",
        "approve-payment",
        "payment-approved",
        "window-to-cancel",
        "ready-for-handling",
        "start-handling",
        "handling",
        "invoice",
        "invoiced",
    ]
    pairs = {(a, b) for a, b, _ in edges(vtex, "complete")}
    assert all((a, b) in pairs for a, b in itertools.pairwise(path))


def test_timers_carry_their_documented_durations(vtex: FlowModel) -> None:
    timers = {t.key: t.after for t in vtex.transitions if t.cause is Cause.TIMER}
    assert timers[("window-to-cancel", "ready-for-handling", "grace-period-ends")] == 30 * 60
    for key in [
        ("authorize-fulfillment", "cancel", "authorization-expires"),
        ("waiting-for-fulfillment", "cancel", "authorization-expires"),
        ("cancellation-requested", "cancel", "cancellation-request-expires"),
        ("waiting-for-seller-decision", "cancel", "cancellation-request-expires"),
    ]:
        assert timers[key] == 30 * 86400
    assert all(after is not None for after in timers.values())


def test_price_divergence_hold_does_not_accept_approve(vtex: FlowModel) -> None:
    # S3: approve in waiting-for-manual-authorization fails with EOI011 (domain A1, safer reading).
    outs = {t.trigger for t in vtex.ways_out("waiting-for-manual-authorization", "seller")}
    assert "approve" not in outs
    assert "seller-authorizes-divergence" in outs
    assert vtex.status("waiting-for-manual-authorization").confidence is Confidence.CONTESTED


def test_start_handling_only_from_ready_for_handling(vtex: FlowModel) -> None:
    sources = {t.source for t in vtex.transitions if t.trigger == "start-handling" and t.enabled}
    assert sources == {"ready-for-handling"}


def test_cancel_of_invoiced_needs_a_return_invoice_and_is_contested(vtex: FlowModel) -> None:
    (cancel,) = [t for t in vtex.ways_out("invoiced", "seller") if t.trigger == "cancel"]
    assert cancel.requires == {"return-invoice-registered"}
    assert cancel.confidence is Confidence.CONTESTED
    (ret,) = [t for t in vtex.ways_out("invoiced", "seller") if t.trigger == "return-invoice"]
    assert ret.is_self_loop
    assert ret.sets == {"return-invoice-registered"}


def test_partial_invoice_blocks_cancel(vtex: FlowModel) -> None:
    for transition in vtex.transitions:
        if transition.trigger == "cancel" and transition.source in {
            "handling",
            "cancellation-requested",
        }:
            assert "partial-invoice" in transition.unless, transition.describe()


def test_contested_alternatives_are_kept_but_disabled(vtex: FlowModel) -> None:
    disabled = {t.key for t in vtex.transitions if not t.enabled}
    assert ("ready-for-handling", "invoice", "invoice") in disabled  # domain A8
    assert (
        "waiting-for-seller-decision",
        "payment-pending",
        "seller-denies-cancellation",
    ) in disabled  # A5
    assert all(t.confidence is Confidence.CONTESTED for t in vtex.transitions if not t.enabled)
    assert not disabled & edges(vtex, "seller")


def test_canceled_is_final_and_the_k9_flip_is_not_a_transition(vtex: FlowModel) -> None:
    assert not [t for t in vtex.transitions if t.source == "canceled"]


def test_aliases_resolve(vtex: FlowModel) -> None:
    assert vtex.status("cancelation-request").id == "cancellation-requested"


def test_statuses_in_no_flow_are_known_but_outside_every_graph(vtex: FlowModel) -> None:
    floating = {s.id for s in vtex.statuses.values() if not s.flows}
    assert floating == {
        "order-creation-error",
        "waiting-for-order-authorization",
        "release-to-fulfillment",
        "invoice-after-cancellation-deny",
        "cancellation-request-denied",
        "cancellation-request-denied-ffm",
    }
    assert not [t for t in vtex.transitions if t.source in floating or t.dest in floating]


def test_data_file_ships_inside_the_package() -> None:
    files = resources.files("vtex_order_flow")
    assert files.joinpath("py.typed").is_file()
    data = tomllib.loads(files.joinpath("data", "vtex.toml").read_text("utf-8"))
    assert data["name"] == "vtex"


def test_bundled_model_is_loaded_once() -> None:
    assert bundled_model() is bundled_model()


def test_the_fast_path_equals_the_validated_model() -> None:
    # bundled_model() builds straight from the TOML without pydantic; this is the full path.
    from vtex_order_flow._loader import validated_bundled_model

    assert validated_bundled_model() == bundled_model()
