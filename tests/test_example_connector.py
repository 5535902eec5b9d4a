"""An example a connector author can copy: their own connector code, tested against the
simulated VTEX with the kit's strategies. No VTEX account, no network.

Copy this file into your project, replace `on_marketplace_change` with your connector's code,
and keep the tests: they hold for any connector that asks `decide()` first.
"""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from vtex_order_flow import Verdict, decide
from vtex_order_flow.testing import SimulatedVTEX, deliveries, walks
from vtex_order_flow.tracking import EntryState, OrderEvent, Tracker, parse_event

# -- the connector under test (yours) ----------------------------------------------------------

# What the external marketplace tells the connector, and the update it sends to VTEX for it.
MARKETPLACE_TO_VTEX = {"paid": "approve", "cancelled": "cancel", "shipped": "tracking"}


def on_marketplace_change(vtex: SimulatedVTEX, tracker: Tracker, order_id: str, change: str) -> str:
    """Send the update now if VTEX would accept it, register it if it becomes possible later,
    drop it otherwise. Returns what it did."""
    action = MARKETPLACE_TO_VTEX[change]
    record = tracker.record(order_id)
    decision = decide(record.status if record else "not-integrated", action, facts=vtex.facts(order_id))
    if decision.verdict is Verdict.SEND:
        result = vtex.send(action, order_id)
        return "sent" if result.ok else f"failed: {result.code}"
    if decision.verdict is Verdict.DEFER:
        tracker.register(order_id, action, vtex.facts(order_id))
        return "deferred"
    return f"not sent: {decision.reason}"


def deliver(vtex: SimulatedVTEX, tracker: Tracker) -> list[str]:
    """What your hook endpoint and dispatcher do: apply VTEX's events, claim what became
    sendable, send it, record that it went out."""
    for payload in vtex.events(duplicate=0.3, reorder=True):
        event = parse_event(payload)
        assert isinstance(event, OrderEvent)
        tracker.apply(event)
    sent = []
    for entry in tracker.claim(limit=100, lease=60):
        if vtex.send(entry.action, entry.order_id).code == "SOI003":
            vtex.process()
        tracker.sent(entry.key)
        sent.append(entry.action)
    return sent


# -- the tests ----------------------------------------------------------------------------------


def test_a_payment_during_a_price_divergence_hold_is_approved_once_the_seller_authorizes() -> None:
    vtex = SimulatedVTEX(seed=1)
    tracker = Tracker(clock=lambda: vtex.now)  # the simulator's virtual clock
    vtex.create("MKP-1-01", hold="price-divergence-hold")
    vtex.process()
    deliver(vtex, tracker)
    assert on_marketplace_change(vtex, tracker, "MKP-1-01", "paid") == "deferred"  # EOI011 avoided
    vtex.act("MKP-1-01", "seller-authorizes-divergence")
    assert deliver(vtex, tracker) == ["approve"]
    vtex.process()
    assert [n["code"] for n in vtex.notifications()] == ["SOI001", "SOI002"]
    assert vtex.status("MKP-1-01") == "window-to-cancel"


def test_a_cancellation_of_an_invoiced_order_waits_for_the_return_invoice() -> None:
    vtex = SimulatedVTEX(seed=2)
    tracker = Tracker(clock=lambda: vtex.now)  # the simulator's virtual clock
    vtex.create("MKP-2-01")
    vtex.process()
    vtex.approve("MKP-2-01")
    vtex.advance(1800)
    vtex.start_handling("MKP-2-01")
    vtex.invoice("MKP-2-01")
    deliver(vtex, tracker)
    assert on_marketplace_change(vtex, tracker, "MKP-2-01", "cancelled") == "deferred"
    vtex.return_invoice("MKP-2-01")
    tracker.record_facts("MKP-2-01", vtex.facts("MKP-2-01"))  # tell the tracker what changed
    assert [u.action for u in tracker.entries(EntryState.READY)] == ["cancel"]


@given(st.data())
def test_whatever_vtex_did_the_connector_never_sends_what_vtex_refuses(data: st.DataObject) -> None:
    vtex = SimulatedVTEX(seed=data.draw(st.integers(0, 1000)))
    tracker = Tracker(clock=lambda: vtex.now)  # the simulator's virtual clock
    vtex.create("MKP-3-01", hold=data.draw(st.sampled_from([None, "price-divergence-hold"])))
    vtex.process()
    for _ in range(data.draw(st.integers(0, 6))):
        if data.draw(st.booleans()):
            vtex.others_act("MKP-3-01")
        else:
            vtex.advance(1800)
    deliver(vtex, tracker)
    outcome = on_marketplace_change(
        vtex, tracker, "MKP-3-01", data.draw(st.sampled_from(sorted(MARKETPLACE_TO_VTEX)))
    )
    assert not outcome.startswith("failed"), outcome


@given(st.data())
def test_the_connector_follows_any_real_walk_however_vtex_delivers_it(data: st.DataObject) -> None:
    walk = data.draw(walks())
    tracker = Tracker()
    for event in data.draw(deliveries(walk, order_id="MKP-4-01")):
        tracker.apply(event)
    record = tracker.record("MKP-4-01")
    assert record is not None
    assert record.status == walk.final
