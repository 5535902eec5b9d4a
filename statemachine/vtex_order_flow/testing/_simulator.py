"""A simulated VTEX: an in-memory stand-in for the calls a connector makes, driven by the model."""

from __future__ import annotations

import random
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from http import HTTPStatus
from typing import TYPE_CHECKING, Any

from .. import FlowModel, FollowUp
from .._guards import expect, expect_id, expect_int, expect_number
from ..errors import SimulationError, UnknownEventError
from ..model import Cause
from ..tracking import TICKS_PER_SECOND, format_ticks

if TYPE_CHECKING:
    from ..model import Transition

__all__ = ["CallResult", "SimulatedOrder", "SimulatedVTEX"]


START = 1_795_000_000.0  # 2026-11-18, seconds since the epoch: the virtual clock's default start


@dataclass(frozen=True, slots=True)
class CallResult:
    """VTEX's synchronous answer to one call."""

    status_code: int
    body: dict[str, Any]
    code: str | None = None
    """The Channel Order API's "queued" code (the real result comes as a notification), or the
    model's code for the Orders API's refusal; None for a plain success."""

    @property
    def ok(self) -> bool:
        """A 2xx answer."""
        return 200 <= self.status_code < 300


@dataclass(slots=True)
class SimulatedOrder:
    """One order in the simulated VTEX: its status, the facts it carries and its history."""

    order_id: str
    status: str
    facts: set[str] = field(default_factory=set)
    entered_at: float = 0.0
    changed_ticks: int = 0
    history: list[str] = field(default_factory=list)
    hold: str | None = None
    """The hold event (``hold = true`` in the model) the platform takes when it can, if any."""
    partial: bool | None = None
    """After an invoice: whether the platform finds it partial (takes the move that sets facts)."""


class SimulatedVTEX:
    """Answers each connector call as VTEX would for the order's status, from the model.

    - Channel Order API (the actions with an `operation` in the model: `create`, `approve`): a
      synchronous "queued" answer; the result (the model's success code for that operation, or
      its error code) is queued as a notification, delivered by `process` and read with
      `notifications`.
    - Orders API (the other actions: `cancel`, `invoice`, `return_invoice`, `tracking`,
      `start_handling`): 200 with a receipt (204 when the action has no body to answer), or the
      model's error code with its HTTP status.
    - Others act through `act` (a named event) or `others_act` (a random one); the platform
      moves orders on by itself; timers fire when the virtual clock is moved with `advance`.
    - Every status change becomes a hook notification, read with `events` (optionally
      duplicated and reordered, as VTEX delivers them).

    No network: it is a plain object. `seed` makes every random choice reproducible.
    """

    def __init__(
        self,
        model: FlowModel | None = None,
        *,
        flow: str | None = None,
        seed: int | None = 0,
        start: float = START,
    ) -> None:
        from .. import bundled_model

        if model is not None:
            expect(model, FlowModel, "SimulatedVTEX's model")
        expect_number(start, "start", "seconds since 1970, before 10000", lambda s: 0 <= s < 253402300800)
        expect_int(seed, "seed", optional=True)
        self.model = model or bundled_model()
        self.flow = self.model.flow_name(flow)
        self.rng = random.Random(seed)  # noqa: S311 (reproducible simulation, nothing secret)
        self.now = start
        self.orders: dict[str, SimulatedOrder] = {}
        self._ticks = int(start * TICKS_PER_SECOND)
        self._outbox: list[dict[str, Any]] = []
        self._jobs: list[tuple[str, str]] = []
        self._notifications: list[dict[str, Any]] = []
        self.calls: list[tuple[str, str, CallResult]] = []
        self._holds: dict[str, str] = {}

    # -- the model ---------------------------------------------------------------------------------

    def _outs(self, order: SimulatedOrder) -> list[Transition]:
        held = frozenset(order.facts)
        return [t for t in self.model.ways_out(order.status, self.flow) if t.holds(held)]

    def _move(self, order: SimulatedOrder, transition: Transition) -> None:
        order.facts = (order.facts | transition.sets) - transition.clears
        if transition.is_self_loop:
            return
        self._ticks = max(self._ticks + 1, int(self.now * TICKS_PER_SECOND))
        last, last_ticks = order.status, order.changed_ticks
        order.status, order.entered_at, order.changed_ticks = transition.dest, self.now, self._ticks
        order.history.append(transition.dest)
        self._outbox.append(
            {
                "Domain": self.model.flow(self.flow).domain,
                "OrderId": order.order_id,
                "State": order.status,
                "LastState": last,
                "LastChange": format_ticks(last_ticks or self._ticks - 1),
                "CurrentChange": format_ticks(self._ticks),
                "Origin": {"Account": "simulated", "Key": "vtexappkey-simulated"},
            }
        )

    def _step(self, order: SimulatedOrder, transition: Transition) -> None:
        """One move, then the platform's own moves until the order waits for someone."""
        self._move(order, transition)
        for _ in range(100):
            candidates = [t for t in self._outs(order) if t.cause is Cause.PLATFORM and not t.by_action]
            if not candidates:
                return
            self._move(order, self._platform_choice(order, candidates))
        raise SimulationError("the platform never settles: a cycle of platform transitions")

    def _platform_choice(self, order: SimulatedOrder, candidates: list[Transition]) -> Transition:
        """The hold asked for, where it can be taken; never another hold; after an invoice, the
        partial or full verification asked for (the one that sets facts is the partial one)."""
        holds = [t for t in candidates if self.model.trigger(t.trigger).hold]
        asked = [t for t in holds if t.trigger == order.hold]
        if asked:
            order.hold = None
            return asked[0]
        options = [t for t in candidates if t not in holds] or candidates
        if order.partial is not None:
            fitting = [t for t in options if bool(t.sets) == order.partial]
            if fitting:
                order.partial = None
                options = fitting
        return self.rng.choice(options)

    def _fire(self, order: SimulatedOrder, trigger: str) -> bool:
        for transition in self._outs(order):
            if transition.trigger == trigger:
                self._step(order, transition)
                return True
        return False

    def _error(self, order: SimulatedOrder | None, action: str) -> str | None:
        status = order.status if order is not None else self.model.flow(self.flow).initial
        facts = frozenset(order.facts) if order is not None else frozenset()
        rule = self.model.action(action).error_for(status, self.model.fact_closure(facts), self.flow)
        return rule.code if rule is not None else None

    def _code(self, operation: str, follow_up: FollowUp) -> str:
        """The model's successful Channel Order API code for `operation` with this follow-up."""
        for code in self.model.codes.values():
            if code.success and code.follow_up is follow_up and operation in code.operations:
                return code.code
        raise SimulationError(f"the model has no successful {follow_up} code for {operation}")

    # -- the connector's calls -----------------------------------------------------------------

    def send(
        self, action: str, order_id: str, *, hold: str | None = None, partial: bool = False
    ) -> CallResult:
        """Any action by its model name (``start-handling``, ``return-invoice``, ...).

        An action with a Channel Order API `operation` is queued (see `process`); any other is
        an Orders API call answered now. `hold` (an event the model marks ``hold``) makes the
        platform hold a created order; `partial` makes the platform find an invoice partial.
        """
        spec = self.model.action(action)
        expect_id(order_id)
        if spec.operation is not None:
            self._jobs.append((spec.name, order_id))
            if hold is not None:
                holds = [name for name, event in self.model.events.items() if event.hold]
                if hold not in holds:
                    raise UnknownEventError(hold, holds)
                self._holds[order_id] = hold
            return self._channel_reply(spec.operation, order_id)
        order = self.orders.get(order_id)
        if order is not None:
            taken = next((t for t in self._outs(order) if t.trigger == spec.name), None)
            # Where the platform then verifies (moves that set facts, such as a partial
            # invoice, against moves that do not), `partial` says which it finds.
            verifies = taken is not None and any(
                t.sets and not t.by_action for t in self.model.ways_out(taken.dest, self.flow)
            )
            order.partial = partial if verifies else None
        return self._orders_api(spec.name, order_id)

    # One method per action of the bundled model, named after it (the model's own names go
    # through `send`).

    def create(self, order_id: str, *, hold: str | None = None) -> CallResult:
        """Channel Order API: integrate an order; `hold` (a hold event of the model, such as
        ``price-divergence-hold``) makes the platform hold it instead."""
        return self.send("create", order_id, hold=hold)

    def approve(self, order_id: str) -> CallResult:
        """Channel Order API: approve (the marketplace authorizes fulfillment)."""
        return self.send("approve", order_id)

    def cancel(self, order_id: str) -> CallResult:
        """Orders API: cancel."""
        return self.send("cancel", order_id)

    def invoice(self, order_id: str, *, partial: bool = False) -> CallResult:
        """Orders API: a sales invoice; `partial` for one whose value is below the order's."""
        return self.send("invoice", order_id, partial=partial)

    def return_invoice(self, order_id: str) -> CallResult:
        """Orders API: a return invoice."""
        return self.send("return-invoice", order_id)

    def tracking(self, order_id: str) -> CallResult:
        """Orders API: tracking on the invoice."""
        return self.send("tracking", order_id)

    def start_handling(self, order_id: str) -> CallResult:
        """Orders API: start handling."""
        return self.send("start-handling", order_id)

    def _channel_reply(self, operation: str, order_id: str | None) -> CallResult:
        code = self._code(operation, FollowUp.WAIT_FOR_NOTIFICATION)
        body = {
            "marketplaceOrderId": order_id,
            "accountName": None,
            "code": code,
            "flow": operation,
            "success": True,
            "operationId": None,
            "message": self.model.codes[code].meaning,
        }
        result = CallResult(200, body, code)
        self.calls.append((operation, order_id or "", result))
        return result

    def _orders_api(self, action: str, order_id: str) -> CallResult:
        order = self.orders.get(order_id)
        if order is None:
            # VTEX does not have the order: the model's answer for the flow's initial status.
            code = self._error(None, action)
            known = self.model.codes.get(code) if code is not None else None
            status = known.http_status if known is not None and known.http_status else HTTPStatus.NOT_FOUND
            message = known.meaning if known is not None else f"order {order_id} not found"
            result = CallResult(status, {"error": {"code": code, "message": message}}, code)
        elif self._fire(order, action):
            answer = self.model.action(action).success_status
            body = {"date": format_ticks(self._ticks), "orderId": order_id, "receipt": uuid.uuid4().hex}
            result = CallResult(answer, body if answer != HTTPStatus.NO_CONTENT else {})
        else:
            code = self._error(order, action)
            known = self.model.codes.get(code) if code is not None else None
            message = known.meaning if known is not None else f"{action} is not accepted now"
            status = known.http_status if known is not None and known.http_status else HTTPStatus.BAD_REQUEST
            result = CallResult(status, {"error": {"code": code, "message": message}}, code)
        self.calls.append((action, order_id, result))
        return result

    # -- time, others, and what VTEX sends back ----------------------------------------------------

    def process(self) -> None:
        """Run the queued Channel Order API jobs; their notifications become available."""
        jobs, self._jobs = self._jobs, []
        initial = self.model.flow(self.flow).initial
        for action, order_id in jobs:
            operation = self.model.action(action).operation or action
            order = self.orders.get(order_id)
            # The order starts to exist where the flow starts and this action moves it from there.
            creates = order is None and any(
                t.trigger == action for t in self.model.ways_out(initial, self.flow)
            )
            if creates:
                order = self.orders[order_id] = SimulatedOrder(order_id, initial, entered_at=self.now)
                order.hold = self._holds.pop(order_id, None)
            if order is not None and self._fire(order, action):
                self._notify(operation, order_id, self._code(operation, FollowUp.DONE), success=True)
            else:
                code = self._error(order, action)
                if code is not None:
                    self._notify(operation, order_id, code, success=False)

    def _notify(self, flow: str, order_id: str, code: str, *, success: bool) -> None:
        known = self.model.codes.get(code)
        self._notifications.append(
            {
                "marketplaceOrderId": order_id,
                "accountName": "simulated",
                "code": code,
                "flow": flow,
                "success": success,
                "operationId": str(uuid.UUID(int=self.rng.getrandbits(128))),
                "message": known.meaning if known else code,
                "errors": None,
                "fields": {"mainOrderId": order_id, "franchiseOrderId": None} if success else None,
            }
        )

    def advance(self, seconds: float) -> None:
        """Move the virtual clock: queued Channel Order API jobs run first (VTEX takes seconds),
        then timers that come due fire (earliest first), each followed by the platform's moves."""
        expect_number(seconds, "the clock only moves forward: seconds", ">= 0", lambda s: s >= 0)
        self.process()
        target = self.now + seconds
        while True:
            due = []
            for order in self.orders.values():
                for t in self._outs(order):
                    if (
                        t.cause is Cause.TIMER
                        and t.after is not None
                        and order.entered_at + t.after <= target
                    ):
                        due.append((order.entered_at + t.after, order.order_id, t))
            if not due:
                break
            at, order_id, transition = min(due, key=lambda item: (item[0], item[1]))
            self.now = max(self.now, at)
            self._step(self.orders[order_id], transition)
        self.now = target
        self.process()

    def act(self, order_id: str, event: str) -> bool:
        """Someone other than the connector acts (``seller-authorizes-divergence``,
        ``cancellation-requested``, ...); False when the model does not allow it now."""
        if event not in self.model.events:  # a typo must not pass for "not allowed now"
            raise UnknownEventError(event, self.model.events)
        order = self.orders.get(order_id)
        if order is None:
            return False
        return self._fire(order, event)

    def others_act(self, order_id: str) -> str | None:
        """A random event by the seller, the customer, the gateway or the marketplace."""
        order = self.orders.get(order_id)
        if order is None:
            return None
        choices = [
            t for t in self._outs(order) if not t.by_action and t.cause not in (Cause.PLATFORM, Cause.TIMER)
        ]
        if not choices:
            return None
        chosen = self.rng.choice(choices)
        self._step(order, chosen)
        return chosen.trigger

    def status(self, order_id: str) -> str:
        """The order's status in the simulation (the flow's initial one before it exists)."""
        order = self.orders.get(order_id)
        return order.status if order is not None else self.model.flow(self.flow).initial

    def events(self, *, duplicate: float = 0.0, reorder: bool = False) -> list[dict[str, Any]]:
        """The hook notifications since the last call, delivered as VTEX does: each duplicated with
        probability `duplicate`, and in any order when `reorder`."""
        events, self._outbox = self._outbox, []
        delivered = [e for e in events for _ in range(2 if self.rng.random() < duplicate else 1)]
        if reorder:
            self.rng.shuffle(delivered)
        return delivered

    def notifications(self) -> list[dict[str, Any]]:
        """The Channel Order API notifications since the last call."""
        out, self._notifications = self._notifications, []
        return out

    def facts(self, order_id: str) -> Mapping[str, bool]:
        """What the connector knows of its order beyond the status (its own invoices)."""
        order = self.orders.get(order_id)
        return dict.fromkeys(sorted(order.facts), True) if order is not None else {}
