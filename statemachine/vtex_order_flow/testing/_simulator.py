"""A simulated VTEX: an in-memory stand-in for the calls a connector makes, driven by the model."""

from __future__ import annotations

import random
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from .. import Cause
from ..tracking import TICKS_PER_SECOND, format_ticks

if TYPE_CHECKING:
    from .. import FlowModel, Transition

__all__ = ["CallResult", "SimulatedOrder", "SimulatedVTEX"]

START = 1_795_000_000.0  # 2026-11-18, seconds since the epoch: the virtual clock's default start
HTTP_STATUS = {"OMS003": 409, "HTTP400": 400}


@dataclass(frozen=True, slots=True)
class CallResult:
    """VTEX's synchronous answer to one call."""

    status_code: int
    body: dict[str, Any]
    code: str | None = None
    """``SOI003`` for the Channel Order API (the real result comes as a notification), or the
    Orders API's error code (``OMS003``, ``HTTP400``); None for a plain success."""

    @property
    def ok(self) -> bool:
        return 200 <= self.status_code < 300


@dataclass(slots=True)
class SimulatedOrder:
    order_id: str
    status: str
    facts: set[str] = field(default_factory=set)
    entered_at: float = 0.0
    changed_ticks: int = 0
    history: list[str] = field(default_factory=list)
    prefer: dict[str, str] = field(default_factory=dict)
    """Status -> the platform event to take there (otherwise the simulator draws one)."""


class SimulatedVTEX:
    """Answers each connector call as VTEX would for the order's status, from the model.

    - Channel Order API (`create`, `approve`): a synchronous ``SOI003``; the result
      (``SOI001``/``SOI002`` or the model's error code) is queued as a notification, delivered by
      `process` and read with `notifications`.
    - Orders API (`cancel`, `invoice`, `return_invoice`, `tracking`, `start_handling`):
      200 (204 for start-handling), or the model's error as HTTP (409 ``OMS003``, 400).
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
        order.facts |= transition.sets
        if transition.is_self_loop:
            return
        self._ticks = max(self._ticks + 1, int(self.now * TICKS_PER_SECOND))
        last, last_ticks = order.status, order.changed_ticks
        order.status, order.entered_at, order.changed_ticks = transition.dest, self.now, self._ticks
        order.history.append(transition.dest)
        self._outbox.append(
            {
                "Domain": "Fulfillment",
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
            preferred = order.prefer.get(order.status)
            chosen = next((t for t in candidates if t.trigger == preferred), None)
            self._move(order, chosen or self.rng.choice(candidates))
        raise RuntimeError("the platform never settles: a cycle of platform transitions")

    def _fire(self, order: SimulatedOrder, trigger: str) -> bool:
        for transition in self._outs(order):
            if transition.trigger == trigger:
                self._step(order, transition)
                return True
        return False

    def _error(self, order: SimulatedOrder | None, action: str) -> str:
        status = order.status if order is not None else self.model.flow(self.flow).initial
        facts = frozenset(order.facts) if order is not None else frozenset()
        rule = self.model.action(action).error_for(status, self.model.fact_closure(facts), self.flow)
        return rule.code if rule is not None else "HTTP400"

    # -- the connector's calls -----------------------------------------------------------------

    def create(self, order_id: str, *, hold: str | None = None) -> CallResult:
        """Channel Order API: integrate an order. `hold` ("price-divergence-hold", "wms-hold")
        makes the platform hold it instead of waiting for the marketplace's approval."""
        self._jobs.append(("create", order_id))
        if hold is not None:
            self._holds[order_id] = hold
        return self._channel_reply("PlaceOrder", None)

    def approve(self, order_id: str) -> CallResult:
        """Channel Order API: approve (the marketplace authorizes fulfillment)."""
        self._jobs.append(("approve", order_id))
        return self._channel_reply("ApproveOrder", order_id)

    def _channel_reply(self, flow: str, order_id: str | None) -> CallResult:
        body = {
            "marketplaceOrderId": order_id,
            "accountName": None,
            "code": "SOI003",
            "flow": flow,
            "success": True,
            "operationId": None,
            "message": "Order successfully enqueued",
        }
        result = CallResult(200, body, "SOI003")
        self.calls.append((flow, order_id or "", result))
        return result

    def cancel(self, order_id: str) -> CallResult:
        return self._orders_api("cancel", order_id)

    def invoice(self, order_id: str, *, partial: bool = False) -> CallResult:
        """Orders API: a sales invoice; `partial` for one whose value is below the order's."""
        order = self.orders.get(order_id)
        if order is not None:
            order.prefer["invoice"] = "partial-invoice-verified" if partial else "invoice-verified"
        return self._orders_api("invoice", order_id)

    def return_invoice(self, order_id: str) -> CallResult:
        return self._orders_api("return-invoice", order_id)

    def tracking(self, order_id: str) -> CallResult:
        return self._orders_api("tracking", order_id)

    def start_handling(self, order_id: str) -> CallResult:
        return self._orders_api("start-handling", order_id)

    def send(self, action: str, order_id: str) -> CallResult:
        """Any action by its model name (``start-handling``, ``return-invoice``, ...)."""
        method = {
            "create": self.create,
            "approve": self.approve,
            "cancel": self.cancel,
            "invoice": self.invoice,
            "return-invoice": self.return_invoice,
            "tracking": self.tracking,
            "start-handling": self.start_handling,
        }[self.model.action(action).name]
        return method(order_id)

    def _orders_api(self, action: str, order_id: str) -> CallResult:
        order = self.orders.get(order_id)
        if order is None:
            result = CallResult(404, {"error": {"code": "404", "message": f"order {order_id} not found"}})
        elif self._fire(order, action):
            if action == "start-handling":
                result = CallResult(204, {})
            else:
                result = CallResult(
                    200, {"date": format_ticks(self._ticks), "orderId": order_id, "receipt": uuid.uuid4().hex}
                )
        else:
            code = self._error(order, action)
            message = self.model.codes[code].meaning if code in self.model.codes else code
            result = CallResult(
                HTTP_STATUS.get(code, 400), {"error": {"code": code, "message": message}}, code
            )
        self.calls.append((action, order_id, result))
        return result

    # -- time, others, and what VTEX sends back ----------------------------------------------------

    def process(self) -> None:
        """Run the queued Channel Order API jobs; their notifications become available."""
        jobs, self._jobs = self._jobs, []
        for kind, order_id in jobs:
            order = self.orders.get(order_id)
            if kind == "create":
                if order is not None:
                    self._notify("PlaceOrder", order_id, "EOI007", success=False)
                    continue
                initial = self.model.flow(self.flow).initial
                order = self.orders[order_id] = SimulatedOrder(order_id, initial, entered_at=self.now)
                hold = self._holds.pop(order_id, None)
                order.prefer["order-accepted"] = hold or "order-processed"
                self._fire(order, "create")
                self._notify("PlaceOrder", order_id, "SOI001", success=True)
            elif order is not None and self._fire(order, "approve"):
                self._notify("ApproveOrder", order_id, "SOI002", success=True)
            else:
                self._notify("ApproveOrder", order_id, self._error(order, "approve"), success=False)

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
        order = self.orders.get(order_id)
        if order is None or event in self.model.actions:
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
