"""Request building as a public part of the client (`RequestBuilder`, each body's own hooks), the
dispatcher using only the client's public names, and its batch steps."""

from __future__ import annotations

import ast
import inspect
from typing import Any

import httpx
import pytest

from conftest import new_order
from vtex_order_flow import bundled_model
from vtex_order_flow.client import (
    Cancellation,
    Dispatcher,
    NewOrder,
    OrderApproval,
    RequestBuilder,
    Sender,
    Tracking,
    VtexClient,
)
from vtex_order_flow.client import _dispatcher as dispatcher_module
from vtex_order_flow.errors import InvalidArgumentError, PayloadError, StoreError
from vtex_order_flow.tracking import EntryState, OrderEvent, Tracker

BASE = "https://store.vtexcommercestable.com.br"
TRACKING = {
    "invoiceNumber": "NF-1",
    "trackingNumber": "T-1",
    "trackingUrl": "https://t",
    "dispatchedDate": "2026-11-21T10:00:00Z",
    "courier": "Correios",
}


def _ready(order_id: str) -> OrderEvent:
    return OrderEvent(order_id, "ready-for-handling", 1)


def builder(**settings: Any) -> RequestBuilder:
    return RequestBuilder(bundled_model(), BASE + "/", "store", **settings)


def test_the_builder_makes_what_the_client_sends() -> None:
    client = VtexClient(
        "store", "vtexappkey-store-X", "token", connector_name="c", connector_endpoint="https://c"
    )
    made = builder(connector_name="c", connector_endpoint="https://c")
    assert made.base_url == BASE
    for action, order_id, body in [
        ("start-handling", "1-01", None),
        ("cancel", "1-01", None),
        ("tracking", "1-01", TRACKING),
        ("approve", "MKP-1", None),
        ("create", "MKP-1", new_order("MKP-1")),
    ]:
        assert made.build(action, order_id, body) == client.request(action, order_id, body)


def test_an_entry_goes_under_the_marketplace_id_to_the_channel_order_api_only() -> None:
    tracker = Tracker()
    approve = tracker.register("1-01", "approve")
    cancel = tracker.register("1-01", "cancel")
    made = builder(connector_name="c", connector_endpoint="https://c")
    assert made.for_entry(approve, "MKP-1").json["marketplaceOrderId"] == "MKP-1"
    assert made.for_entry(approve).json["marketplaceOrderId"] == "1-01"
    assert "/orders/1-01/cancel" in made.for_entry(cancel, "MKP-1").url


def test_each_body_says_what_it_takes_from_the_request() -> None:
    sender = Sender("MKP-1", "conn", "https://conn")
    assert OrderApproval.filled(None, sender) == {
        "marketplaceOrderId": "MKP-1",
        "connectorName": "conn",
        "connectorEndpoint": "https://conn",
    }
    assert NewOrder.filled({"connectorName": "mine"}, sender) == {
        "connectorName": "mine",
        "connectorEndpoint": "https://conn",
    }
    assert Cancellation.filled(None, sender) == {}
    assert Tracking.model_validate(TRACKING).path_values() == {"invoiceNumber": "NF-1"}
    assert Cancellation().path_values() == {}
    with pytest.raises(PayloadError, match="is not the order's id"):
        builder().build("create", "MKP-2", new_order("MKP-1"))


def test_the_builder_refuses_what_the_client_refuses() -> None:
    with pytest.raises(InvalidArgumentError, match="base_url"):
        RequestBuilder(bundled_model(), "https://user:pw@host", "store")
    with pytest.raises(InvalidArgumentError, match="account"):
        RequestBuilder(bundled_model(), BASE, "no spaces")
    with pytest.raises(PayloadError, match="takes no body"):
        builder().build("start-handling", "1-01", {"a": 1})


def test_the_dispatcher_uses_only_the_clients_public_names() -> None:
    tree = ast.parse(inspect.getsource(dispatcher_module))
    private = [
        node.attr
        for node in ast.walk(tree)
        if isinstance(node, ast.Attribute)
        and isinstance(node.value, ast.Attribute)
        and node.value.attr == "client"
        and node.attr.startswith("_")
    ]
    assert private == []


def test_the_dispatcher_reaches_the_tracker_only_through_its_batch_calls() -> None:
    # (one module, `Records`, says how each batched step is done: switching to the tracker's
    # batch calls changes it alone)
    tree = ast.parse(inspect.getsource(dispatcher_module))
    calls = {
        node.attr
        for node in ast.walk(tree)
        if isinstance(node, ast.Attribute)
        and isinstance(node.value, ast.Attribute)
        and node.value.attr == "tracker"
    }
    assert calls <= {"owner", "expire", "wait", "wake"}, calls


def test_a_batch_the_tracker_fails_to_mark_sent_goes_nowhere_and_comes_back_with_its_leases(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A claimed batch is marked sent in one transaction (`Tracker.sent_many`): a store that
    fails there sends nothing of the batch (nothing is on the wire unmarked), each entry's outcome
    says so, and every entry stays claimed until its lease brings it back."""
    tracker = Tracker()
    for n in range(3):
        tracker.apply(_ready(f"{n}-01"))
        tracker.register(f"{n}-01", "start-handling")
    wire: list[httpx.Request] = []

    def vtex(request: httpx.Request) -> httpx.Response:
        wire.append(request)
        return httpx.Response(204)

    client = VtexClient("store", "vtexappkey-store-X", "token", transport=httpx.MockTransport(vtex))

    def down(keys: Any, owner: str | None = None) -> Any:
        raise StoreError("the store is down")

    monkeypatch.setattr(tracker, "sent_many", down)
    outcomes = Dispatcher(tracker, client, concurrency=3).run_once()
    assert wire == []
    assert len(outcomes) == 3
    assert all(o.answer is None and o.note.startswith("failed: ") for o in outcomes)
    assert {e.state for e in tracker.entries()} == {EntryState.CLAIMED}


def test_one_entry_whose_lease_is_lost_does_not_hold_back_the_batch() -> None:
    tracker = Tracker()
    for n in range(3):
        tracker.apply(_ready(f"{n}-01"))
        tracker.register(f"{n}-01", "start-handling")
    wire: list[httpx.Request] = []

    def vtex(request: httpx.Request) -> httpx.Response:
        wire.append(request)
        return httpx.Response(204)

    client = VtexClient("store", "vtexappkey-store-X", "token", transport=httpx.MockTransport(vtex))
    dispatcher = Dispatcher(tracker, client, concurrency=3)
    claim = tracker.claim

    def claim_then_lose_one(limit: int = 100, lease: float = 60.0, owner: str | None = None) -> Any:
        claimed = claim(limit, lease, owner)
        tracker.release("1-01:start-handling")  # another hand took it back meanwhile
        return claimed

    tracker.claim = claim_then_lose_one  # type: ignore[method-assign]
    outcomes = {o.entry.key: o for o in dispatcher.run_once()}
    assert len(wire) == 2
    assert outcomes["1-01:start-handling"].answer is None
    assert {o.entry.state for k, o in outcomes.items() if k != "1-01:start-handling"} == {EntryState.DONE}
    assert tracker.entry("1-01:start-handling").state is EntryState.READY  # type: ignore[union-attr]
