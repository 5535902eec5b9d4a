"""The example connector's tests, on the library's testing kit: the fake VTEX (`FakeVTEX`) behind
the client's transport, the connector's app in-process (no socket), VTEX's notifications and hook
events delivered through the app's own routes. Copy them with the connector."""

from __future__ import annotations

import random
import time
from collections.abc import Iterator
from typing import Any, TypeVar

import httpx
import pytest
import stamina
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from vtex_order_flow import Verdict
from vtex_order_flow.app import NOTIFICATION_PATH, AppSettings
from vtex_order_flow.client import Dispatcher, VtexClient
from vtex_order_flow.errors import InvalidArgumentError
from vtex_order_flow.testing import AppClient, FakeVTEX, Faults
from vtex_order_flow.tracking import EntryState, Tracker

from .connector import HOOK_HEADER, STATUSES, build

T = TypeVar("T")

HEADERS = {HOOK_HEADER: "example-hook-secret"}
TOTAL = 5000  # every test order's value, in cents
BUSY = (EntryState.READY, EntryState.RETRY, EntryState.CLAIMED, EntryState.SENT)


class World:
    """The fake VTEX and the connector (tracker on the fake's clock, client on its transport,
    app in-process); VTEX's notifications and hook events go to the connector through the app's
    routes, as VTEX posts them."""

    def __init__(self, seed: int = 0, faults: Faults | None = None, holds: float = 0.0) -> None:
        self.fake = FakeVTEX(seed=seed, faults=faults, holds=holds)
        self.tracker = Tracker(clock=lambda: self.fake.now)
        self.client = VtexClient(
            self.fake.account,
            self.fake.app_key,
            self.fake.app_token,
            transport=self.fake.transport(),
            tracker=self.tracker,
            connector_name="example-connector",
            connector_endpoint="https://connector.example",
        )
        settings = AppSettings(hook_headers=HEADERS, account=self.fake.account)
        self.app = build(self.tracker, self.client, settings)
        self.dispatcher: Dispatcher = self.app.state.dispatcher
        self.web = AppClient(self.app)

    def __enter__(self) -> World:
        self.web.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        self.web.__exit__(*exc)
        self.client.close()
        self.tracker.close()

    def marketplace(self, order_id: str, body: dict[str, Any]) -> httpx.Response:
        """The marketplace posts a status change; the dispatcher sends what it made sendable."""
        answer = self.web.post(f"/marketplace/orders/{order_id}/events", json=body)
        assert self.dispatcher.wait_idle(30)
        return answer

    def pause(self) -> None:
        """Hold the dispatcher, and wait for its calls on the wire: the world acts alone."""
        self.dispatcher.pause()
        deadline = time.monotonic() + 30
        while self.dispatcher.in_progress and time.monotonic() < deadline:
            time.sleep(0.005)

    def resume(self) -> None:
        """Let the dispatcher send what became sendable, and wait until it has."""
        self.dispatcher.resume()
        assert self.dispatcher.wait_idle(30)

    def notify(self) -> list[str]:
        """VTEX's Channel Order notifications, posted to the app (``?an=`` the account)."""
        codes = []
        for note in self.fake.notifications():
            answer = self.web.post(NOTIFICATION_PATH, params={"an": self.fake.account}, json=note)
            assert answer.status_code == 200, answer.text
            codes.append(note["code"])
        return codes

    def hook(self, duplicate: float = 0.0, reorder: bool = False) -> list[str]:
        """VTEX's hook events, posted to the app with the hook configuration's header."""
        states = []
        for body in self.fake.events(duplicate=duplicate, reorder=reorder):
            answer = self.web.post("/hook", json=body, headers=HEADERS)
            assert answer.status_code == 200, answer.text
            states.append(body["State"])
        return states

    def round(self, seconds: float = 5.0, *, others: float = 0.0, rng: random.Random | None = None) -> None:
        """One round of the world between the connector's: VTEX works its queue, others act
        (each order VTEX has, with probability `others`), the clock moves `seconds`; then what
        VTEX has to say is delivered (duplicated and reordered when others act) and the
        dispatcher sends what became valid."""
        self.pause()
        self.fake.advance(0)
        if rng is not None:
            for record in self.tracker.records():
                if rng.random() < others:
                    self.fake.others_act(record.order_id)
        self.fake.advance(seconds)
        self.notify()
        self.hook(duplicate=0.3 if rng else 0.0, reorder=rng is not None)
        # The connector sends after the events it has read, on a clock that moved meanwhile (the
        # virtual clock stands still otherwise: a send would bear the time of VTEX's last event).
        self.fake.advance(1)
        self.resume()

    def status(self, marketplace_id: str) -> str:
        """The order's status in VTEX (the fake's)."""
        vtex_id = self.fake.order_id(marketplace_id)
        assert vtex_id is not None, f"VTEX has no order {marketplace_id}"
        status: str = self.fake.status(vtex_id)  # (FakeVTEX is imported lazily: Any to mypy)
        return status

    def sent(self, action: str) -> int:
        """How many times `action` reached VTEX (faults excluded)."""
        return sum(1 for c in self.fake.calls if c.action == action and c.fault in (None, "lost-answer"))


@pytest.fixture
def no_backoff() -> Iterator[None]:
    stamina.set_testing(True, attempts=4)  # retries happen, their waits do not
    yield
    stamina.set_testing(False)


def new_order(marketplace_id: str, value: int = TOTAL) -> dict[str, Any]:
    return {
        "marketplaceOrderId": marketplace_id,
        "marketplacePaymentValue": value,
        "items": [{"id": "42", "price": value, "quantity": 1}],
        "clientProfileData": {
            "email": "ana@example.com",
            "firstName": "Ana",
            "lastName": "Lima",
            "phone": "+5511999990000",
            "document": "12345678909",
        },
        "shippingData": {
            "isFob": False,
            "isMarketplaceFulfillment": True,
            "logisticsInfo": [
                {
                    "price": 0,
                    "selectedDeliveryChannel": "delivery",
                    "selectedSla": "Normal",
                    "lockTTL": "8d",
                    "shippingEstimate": "5bd",
                }
            ],
            "selectedAddresses": [
                {
                    "addressType": "residential",
                    "receiverName": "Ana",
                    "postalCode": "01310-100",
                    "country": "BRA",
                }
            ],
        },
    }


def invoice(number: str, value: int = TOTAL) -> dict[str, Any]:
    return {
        "issuanceDate": "2026-11-20T10:00:00Z",
        "invoiceNumber": number,
        "invoiceValue": str(value),
        "items": [{"id": "42", "price": value, "quantity": 1}],
    }


def tracking(number: str) -> dict[str, Any]:
    return {
        "invoiceNumber": number,
        "trackingNumber": f"TR-{number}",
        "trackingUrl": "https://tracking.example/",
        "dispatchedDate": "2026-11-21T10:00:00Z",
        "courier": "Correios",
    }


def approved_and_ready(world: World, marketplace_id: str) -> None:
    """A new order, paid, through VTEX's grace period: ready for handling."""
    assert world.marketplace(marketplace_id, {"status": "new", "order": new_order(marketplace_id)}).is_success
    assert world.marketplace(marketplace_id, {"status": "paid"}).is_success
    for seconds in (5, 5, 3600):  # SOI001 and the events; SOI002; the grace period ends
        world.round(seconds)
    assert world.status(marketplace_id) == "ready-for-handling"


def test_a_new_order_then_paid(no_backoff: None) -> None:
    with World(seed=1) as world:
        created = world.marketplace("MKP-1", {"status": "new", "order": new_order("MKP-1")})
        assert created.status_code == 202, created.text
        assert (created.json()["verdict"], created.json()["key"]) == ("send", "MKP-1:create")
        paid = world.marketplace("MKP-1", {"status": "paid"})
        assert paid.status_code == 202, paid.text
        assert (paid.json()["verdict"], paid.json()["state"]) == ("defer", "pending")
        assert world.sent("create") == 1  # create went; VTEX queued it (SOI003)
        assert world.sent("approve") == 0

        world.pause()
        world.fake.advance(5)  # VTEX integrates the order
        assert world.notify() == ["SOI001"]
        vtex_id = world.fake.order_id("MKP-1")
        assert vtex_id is not None
        assert world.tracker.order_id("MKP-1") == vtex_id  # SOI001 linked the two ids
        approve = world.tracker.entry("MKP-1:approve")
        assert approve is not None
        assert (approve.order_id, approve.state) == (vtex_id, EntryState.PENDING)  # moved to VTEX's id

        assert world.hook()[-1] == "waiting-ffmt-authorization"
        approve = world.tracker.entry("MKP-1:approve")
        assert approve is not None
        assert approve.state is EntryState.READY  # the events made it sendable
        world.resume()
        assert world.sent("approve") == 1
        approved = [c for c in world.fake.calls if c.action == "approve"]
        assert approved[0].body["marketplaceOrderId"] == "MKP-1"
        assert approved[0].body["connectorName"] == "example-connector"

        world.round(5)  # SOI002
        approve = world.tracker.entry("MKP-1:approve")
        assert approve is not None
        assert approve.state is EntryState.DONE
        again = world.marketplace("MKP-1", {"status": "paid"})  # the marketplace repeats itself
        assert again.status_code == 200, again.text
        assert (again.json()["verdict"], again.json()["already_done"]) == ("reject", True)
        assert world.sent("approve") == 1
    assert world.fake.refusals == []


def test_paid_before_vtex_has_the_order_waits_then_goes(no_backoff: None) -> None:
    with World(seed=2) as world:
        paid = world.marketplace("MKP-2", {"status": "paid"})
        assert paid.status_code == 202, paid.text
        assert paid.json()["verdict"] == "defer"
        assert paid.json()["state"] == "pending"
        assert paid.json()["reason"] == "waiting for the order's first event"
        world.round(3600)
        assert world.sent("approve") == 0  # VTEX would answer EOI008: not sent

        world.marketplace("MKP-2", {"status": "new", "order": new_order("MKP-2")})
        world.round(5)  # SOI001, then the events: approve goes
        assert world.sent("approve") == 1
        world.round(5)
        approve = world.tracker.entry("MKP-2:approve")
        assert approve is not None
        assert approve.state is EntryState.DONE
        assert world.status("MKP-2") in ("authorize-fulfillment", "window-to-cancel")
    assert world.fake.refusals == []


def test_canceled_after_invoiced_gets_the_librarys_decision(no_backoff: None) -> None:
    with World(seed=3) as world:
        approved_and_ready(world, "MKP-3")
        invoiced = world.marketplace("MKP-3", {"status": "invoiced", "invoice": invoice("NF-3")})
        assert invoiced.status_code == 202, invoiced.text
        assert [u["action"] for u in invoiced.json()["updates"]] == ["start-handling", "invoice"]
        for _ in range(3):  # handling starts, then the invoice goes and VTEX verifies it
            world.round(5)
        assert world.status("MKP-3") == "invoiced"

        expected = world.tracker.decide("MKP-3", "cancel")  # the library's decision, by either id
        assert expected is not None
        canceled = world.marketplace("MKP-3", {"status": "canceled"})
        assert canceled.json()["verdict"] == str(expected.verdict)
        assert canceled.json()["reason"] == expected.reason
        if expected.verdict is Verdict.REJECT:
            assert canceled.status_code == (200 if expected.already_done else 409)
            return
        assert canceled.status_code == 202, canceled.text
        # What the decision says the connector can do to unblock it, the marketplace says.
        returns = {change.actions[-1]: status for status, change in STATUSES.items()}
        for action in expected.remedy:
            body: dict[str, Any] = {"status": returns[action]}
            if returns[action] == "returned":
                body["invoice"] = invoice("RET-3")
            assert world.marketplace("MKP-3", body).status_code == 202
        for _ in range(3):
            world.round(5)
        cancel = world.tracker.entry(canceled.json()["key"])
        assert cancel is not None
        assert cancel.state is EntryState.DONE, cancel
        assert world.status("MKP-3") == "canceled"

        never = world.tracker.decide("MKP-3", "tracking")  # a canceled order ships nothing
        assert never is not None
        assert (never.verdict, never.already_done) == (Verdict.REJECT, False)
        shipped = world.marketplace("MKP-3", {"status": "shipped", "tracking": tracking("NF-3")})
        assert shipped.status_code == 409, shipped.text
        assert (shipped.json()["verdict"], shipped.json()["reason"]) == ("reject", never.reason)
        assert [e for e in world.tracker.entries() if e.action == "tracking"] == []  # nothing registered
    assert world.fake.refusals == []


def test_an_unknown_status_or_a_bad_body_is_400_and_registers_nothing(no_backoff: None) -> None:
    with World(seed=4) as world:
        unknown = world.marketplace("MKP-4", {"status": "lost-in-transit"})
        assert unknown.status_code == 400
        assert "unknown status 'lost-in-transit'" in unknown.json()["error"]
        bad = world.marketplace(
            "MKP-4", {"status": "invoiced", "invoice": {**invoice("NF/4"), "invoiceValue": "0"}}
        )
        assert bad.status_code == 400
        assert "invoiceNumber" in bad.json()["error"]
        assert "invoiceValue" in bad.json()["error"]
        missing = world.marketplace("MKP-4", {"status": "shipped"})
        assert missing.status_code == 400
        assert "'tracking'" in missing.json()["error"]
        other = world.marketplace("MKP-4", {"status": "new", "order": new_order("MKP-5")})
        assert other.status_code == 400
        assert "marketplaceOrderId" in other.json()["error"]
        extra = world.marketplace("MKP-4", {"status": "paid", "invoice": invoice("NF-4")})
        assert extra.status_code == 400
        not_json = world.web.post("/marketplace/orders/MKP-4/events", content=b"{")
        assert not_json.status_code == 400
        assert not_json.json() == {"ok": False, "error": "the body is not JSON"}
        assert world.tracker.entries() == []
    assert world.fake.calls == []


def test_build_needs_the_connectors_name_and_endpoint() -> None:
    tracker = Tracker()
    with VtexClient("store", "key", "token") as client, pytest.raises(InvalidArgumentError):
        build(tracker, client, AppSettings())


ORDERS = ("MKP-A", "MKP-B")


def body(order_id: str, status: str, rng: random.Random) -> dict[str, Any]:
    """A marketplace status change with a valid body. Invoices are for the order's total: a
    partial one sets a fact (partial-invoice) only through a move of VTEX's (the verification),
    which the tracker misses when the hook delivers that move's event after a later one."""
    number = f"NF-{order_id}-{rng.choice((1, 2))}"
    if status == "new":
        return {"status": status, "order": new_order(order_id)}
    if status == "invoiced":
        return {"status": status, "invoice": invoice(number)}
    if status == "shipped":
        return {"status": status, "tracking": tracking(number)}
    if status == "returned":
        return {"status": status, "invoice": invoice(f"RET-{order_id}")}
    return {"status": status}


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    steps=st.lists(
        st.tuples(
            st.sampled_from(ORDERS),
            st.sampled_from(sorted(STATUSES)),
            st.sampled_from((0, 5, 60, 1800, 86_400)),
        ),
        min_size=1,
        max_size=12,
    ),
    seed=st.integers(0, 2**16),
)
def test_any_sequence_of_marketplace_statuses(
    no_backoff: None, steps: list[tuple[str, str, float]], seed: int
) -> None:
    rng = random.Random(seed)
    # Lost answers (VTEX applied the call, the connector never heard) only without return
    # invoices: a return invoice changes no status, so no event tells the outbox it was applied;
    # after its answer timeout it goes again and VTEX refuses the duplicate (HTTP400).
    returns = any(status == "returned" for _, status, _ in steps)
    faults = Faults(rate_limit=0.1, server_error=0.1, lost_answer=0.0 if returns else 0.05)
    with World(seed=seed, faults=faults, holds=0.3) as world:
        for order_id, status, seconds in steps:
            answer = world.marketplace(order_id, body(order_id, status, rng))
            assert answer.status_code in (200, 202, 409), answer.text
            world.round(seconds, others=0.2, rng=rng)
        for _ in range(20):  # the world settles: queues worked, timers fired, answers awaited
            world.round(3600)
            if not world.tracker.entries(*BUSY):
                break
        entries = world.tracker.entries()
    assert world.fake.refusals == [], world.fake.refusals[:3]  # every VTEX error was predicted
    for entry in entries:
        assert entry.state in (EntryState.DONE, EntryState.DROPPED, EntryState.PENDING), entry
        assert entry.reason, entry
        if entry.state is EntryState.DROPPED:
            assert entry.drop is not None, entry
