"""The testing kit: its strategies produce what VTEX could really send, and the simulated VTEX
answers as the model says; the library's own stateful test runs a connector against it."""

from __future__ import annotations

from typing import Any

from hypothesis import event, given, settings
from hypothesis import strategies as st
from hypothesis.stateful import Bundle, RuleBasedStateMachine, initialize, invariant, rule

from conftest import orders_api_advice
from vtex_order_flow import Verdict, bundled_model, decide, interpret_notification
from vtex_order_flow.machine import fire
from vtex_order_flow.testing import (
    SimulatedVTEX,
    Walk,
    actions,
    deliveries,
    facts,
    feed_payloads,
    hook_payloads,
    notifications,
    statuses,
    walks,
)
from vtex_order_flow.tracking import EntryState, OrderEvent, Tracker, parse_event

VTEX = bundled_model()


@given(walks())
def test_walks_are_what_the_machine_allows(walk: Walk) -> None:
    machine = VTEX.machine("seller")
    held: set[str] = set()
    assert walk.statuses[0] == "not-integrated"
    for transition in walk.transitions:
        assert (
            fire(machine, transition.source, transition.trigger, dict.fromkeys(held, True)) == transition.dest
        )
        held = (held | transition.sets) - transition.clears
    assert held == walk.facts


@given(walks(flow="marketplace", connector=False))
def test_walks_of_other_flows_without_the_connector(walk: Walk) -> None:
    assert walk.statuses[0] == "null"
    assert not any(t.by_action for t in walk.transitions[1:])


@given(st.data())
def test_deliveries_of_a_walk_end_in_its_last_status(data: st.DataObject) -> None:
    walk = data.draw(walks())
    events = data.draw(deliveries(walk))
    tracker = Tracker()
    tracker.apply_many(events)
    record = tracker.record("MKP-1-01")
    assert record is not None
    assert record.status == walk.final
    assert 1 <= tracker.applied <= len(walk.transitions)  # reordered: older events are skipped


@given(hook_payloads(), feed_payloads())
def test_payloads_parse(hook: dict[str, Any], feed: dict[str, Any]) -> None:
    assert isinstance(parse_event(hook), OrderEvent)
    assert isinstance(parse_event(feed), OrderEvent)


@given(notifications())
def test_notifications_are_consistent_with_their_codes(payload: dict[str, Any]) -> None:
    advice = interpret_notification(payload)
    assert advice.known
    assert advice.consistent


@given(st.data(), actions())
def test_scalar_strategies_feed_decide(data: st.DataObject, action: str) -> None:
    status = data.draw(statuses())
    known = data.draw(facts(status=status))  # facts an order there can carry: decide never refuses them
    assert decide(status, action, facts=known).verdict in set(Verdict)


@given(facts())
def test_facts_come_with_what_they_imply(known: dict[str, bool]) -> None:
    held = {name for name, value in known.items() if value}
    assert VTEX.fact_closure(held) == held
    assert not any(value is False and name in held for name, value in known.items())


def test_simulated_vtex_answers_like_vtex() -> None:
    vtex = SimulatedVTEX(seed=3)
    assert vtex.approve("X").code == "SOI003"
    vtex.process()
    assert [n["code"] for n in vtex.notifications()] == ["EOI008"]  # not integrated yet
    vtex.create("X", hold="price-divergence-hold")
    vtex.process()
    assert vtex.status("X") == "waiting-for-manual-authorization"
    vtex.approve("X")
    vtex.process()
    assert [n["code"] for n in vtex.notifications()] == ["SOI001", "EOI011"]
    assert vtex.act("X", "seller-authorizes-divergence")
    assert vtex.start_handling("X").status_code == 409
    vtex.approve("X")
    vtex.process()
    assert vtex.notifications()[0]["code"] == "SOI002"
    assert vtex.status("X") == "window-to-cancel"
    vtex.advance(1799)
    assert vtex.status("X") == "window-to-cancel"
    vtex.advance(1)
    assert vtex.status("X") == "ready-for-handling"  # the grace period's timer, on the virtual clock
    assert vtex.start_handling("X").status_code == 204
    assert vtex.status("X") == "handling"
    assert vtex.invoice("X", partial=True).status_code == 200
    assert vtex.cancel("X").body["error"]["code"] == "HTTP400"  # partially invoiced: never
    assert vtex.invoice("X").ok
    assert vtex.status("X") == "invoiced"
    assert vtex.cancel("Y").status_code == 404
    states = [e["State"] for e in vtex.events()]
    assert states[-1] == "invoiced"
    assert vtex.events() == []


def test_events_can_be_duplicated_and_reordered() -> None:
    vtex = SimulatedVTEX(seed=5)
    vtex.create("A")
    vtex.process()
    vtex.approve("A")
    vtex.process()
    delivered = vtex.events(duplicate=1.0, reorder=True)
    assert len(delivered) == 2 * len({e["CurrentChange"] for e in delivered})
    tracker = Tracker(clock=lambda: vtex.now)
    for payload in delivered:
        event = parse_event(payload)
        assert isinstance(event, OrderEvent)
        tracker.apply(event)
    assert tracker.record("A").status == vtex.status("A")  # type: ignore[union-attr]


# -- the library's own stateful test ---------------------------------------------------------


ACCEPTED = orders_api_advice()
"""VTEX's answer to an update it accepted (what the client reports for a 200)."""


class ConnectorAgainstSimulatedVTEX(RuleBasedStateMachine):
    """A connector that follows decide(), fed by the simulator's hook events, while the seller,
    the customer and the clock act on their own."""

    orders = Bundle("orders")

    def __init__(self) -> None:
        super().__init__()
        self.vtex = SimulatedVTEX(seed=0)
        self.tracker = Tracker(clock=lambda: self.vtex.now)  # the simulator's virtual clock
        self.count = 0

    @initialize(target=orders, seed=st.integers(0, 2**32 - 1))
    def start(self, seed: int) -> str:
        self.vtex = SimulatedVTEX(seed=seed)
        return self.new_order(None)

    def send(self, order: str, action: str) -> tuple[bool, str | None]:
        """The connector sends; True with the code when VTEX accepted it."""
        result = self.vtex.send(action, order)
        if action in {"create", "approve"}:
            assert result.code == "SOI003"
            self.vtex.process()
            (note,) = [n for n in self.vtex.notifications() if n["marketplaceOrderId"] == order]
            return bool(note["success"]), note["code"]
        return result.ok, result.code

    def drain(self, duplicate: float = 0.0, reorder: bool = False) -> None:
        """Deliver VTEX's events until none is left, sending every update that became ready."""
        for _ in range(50):
            delivered = self.vtex.events(duplicate=duplicate, reorder=reorder)
            for payload in delivered:
                event = parse_event(payload)
                assert isinstance(event, OrderEvent)
                self.tracker.apply(event)
            for order in self.vtex.orders:  # drained: the tracker agrees with VTEX
                record = self.tracker.record(order)
                assert record is not None
                assert record.status == self.vtex.status(order)
            ready = self.tracker.claim(limit=1000, lease=60)
            for update in ready:  # what became sendable is sent, and VTEX accepts it
                ok, code = self.send(update.order_id, update.action)
                assert ok, (update, code)
                self.tracker.sent(update.key)
                self.tracker.result(update.key, ACCEPTED)  # (a return invoice records its fact)
            if not delivered and not ready:
                return
        raise AssertionError("events kept coming")

    @rule(target=orders, hold=st.sampled_from([None, "price-divergence-hold", "wms-hold"]))
    def another_order(self, hold: str | None) -> str:
        return self.new_order(hold)

    def new_order(self, hold: str | None) -> str:
        order = f"MKP-{self.count}-01"
        self.count += 1
        assert decide("not-integrated", "create").verdict is Verdict.SEND
        self.vtex.create(order, hold=hold)
        self.vtex.process()
        assert [n["code"] for n in self.vtex.notifications()] == ["SOI001"]
        self.drain()
        return order

    @rule(order=orders, action=actions(), anyway=st.booleans())
    def connector_acts(self, order: str, action: str, anyway: bool) -> None:
        self.drain()
        record = self.tracker.record(order)
        assert record is not None
        known = dict(self.vtex.facts(order))
        decision = decide(record.status, action, facts=known)
        event(f"connector: {decision.verdict}{' (sent anyway)' if anyway and not decision.send else ''}")
        if decision.verdict is Verdict.SEND:
            ok, code = self.send(order, action)
            assert ok, (decision, code)
        elif anyway:  # sent against the advice: VTEX answers exactly what the decision predicted
            ok, code = self.send(order, action)
            assert not ok
            assert code == decision.expected_error, (decision, code)
        elif decision.verdict is Verdict.DEFER:
            self.tracker.register(order, action, known)
        self.drain()

    @rule(order=orders)
    def someone_else_acts(self, order: str) -> None:
        self.vtex.others_act(order)

    @rule(seconds=st.sampled_from([60, 1800, 86_400, 31 * 86_400]))
    def time_passes(self, seconds: int) -> None:
        self.vtex.advance(seconds)

    @rule(duplicate=st.floats(0, 0.5), reorder=st.booleans())
    def vtex_delivers(self, duplicate: float, reorder: bool) -> None:
        self.drain(duplicate, reorder)

    @rule(order=orders)
    def follow_the_path(self, order: str) -> None:
        """Make the decision's path happen: a deferred update becomes sendable (or is dropped);
        it is never stuck while a path exists."""
        self.drain()
        for update in self.tracker.entries(EntryState.PENDING):
            if update.order_id != order:
                continue
            for _ in range(25):
                # The connector tells the tracker what its own actions changed (a return invoice).
                current = self.tracker.register(order, update.action, dict(self.vtex.facts(order)))
                if current.state is not EntryState.PENDING:
                    break
                record = self.tracker.record(order)
                assert record is not None
                decision = decide(record.status, update.action, facts=current.facts)
                step = decision.path[0]
                if step.actor == "connector":
                    ok, code = self.send(order, step.trigger)
                    assert ok, (step, code)
                elif step.actor == "timer":
                    self.vtex.advance(step.after or 0)
                else:
                    assert self.vtex.act(order, step.trigger), step
                self.drain()
            mine = self.tracker.entry(update.key)
            assert mine is not None
            assert mine.state is not EntryState.PENDING, mine
            event(f"followed the path: {mine.state}")

    @invariant()
    def open_updates_match_their_decision(self) -> None:
        for update in self.tracker.entries(EntryState.PENDING, EntryState.READY):
            decision = self.tracker.decide(update.order_id, update.action, update.facts)
            if decision is None:
                continue
            verdict = decision.verdict
            expected = Verdict.DEFER if update.state is EntryState.PENDING else Verdict.SEND
            assert verdict is expected, (update, verdict)


ConnectorAgainstSimulatedVTEX.TestCase.settings = settings(stateful_step_count=40, deadline=None)
TestConnectorAgainstSimulatedVTEX = ConnectorAgainstSimulatedVTEX.TestCase
