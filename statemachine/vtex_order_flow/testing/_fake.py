"""A fake VTEX on the HTTP paths the client uses: the simulated VTEX behind the Channel Order API
and the Orders API, with marketplace and VTEX order ids apart, credentials checked, and faults."""

from __future__ import annotations

import asyncio
import json
import random
import re
import threading
import time
import uuid
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import httpx

from .. import FollowUp
from .._guards import expect_number
from ._faults import Faults, WireCall
from ._simulator import START, SimulatedVTEX

if TYPE_CHECKING:
    from .. import FlowModel

__all__ = ["FakeVTEX"]

_NOWHERE: tuple[None, None, None] = (None, None, None)
_ORDERS = re.compile(r"^/api/oms/pvt/orders/(?P<order>[^/]+)(?P<rest>/.*)?$")


@dataclass(slots=True)
class _Orders:
    vtex_ids: dict[str, str] = field(default_factory=dict)
    marketplace_ids: dict[str, str] = field(default_factory=dict)
    totals: dict[str, int] = field(default_factory=dict)
    invoiced: dict[str, int] = field(default_factory=dict)
    invoices: dict[str, set[str]] = field(default_factory=dict)


class FakeVTEX:
    """VTEX as the client sees it over HTTP, for tests: `transport()` is an httpx transport (no
    socket). Behind it, `SimulatedVTEX` (the model) answers, with VTEX's own order ids apart from
    the marketplace's (``fields.mainOrderId`` in SOI001 names VTEX's).

    - Channel Order API: ``POST /api/order-integration/orders`` (create),
      ``PUT /api/order-integration/orders/status`` (approve); answered SOI003 (queued), the result
      notified later (`notifications`, after `advance`).
    - Orders API: ``POST .../{orderId}/start-handling``, ``.../cancel``, ``.../invoice`` (type
      Output: invoice, Input: return invoice), ``PATCH .../invoice/{invoiceNumber}`` (tracking),
      ``GET /api/oms/pvt/orders/{orderId}``.
    - Every request needs ``X-VTEX-API-AppKey``/``X-VTEX-API-AppToken`` (401 otherwise).
    - `faults` injects 429s (with ``Retry-After``), 503s and lost answers; `holds` is the
      probability that a new order is held (the model's first hold event, price divergence).
    - `calls` logs every request; `refusals` the ones VTEX refused as the model says it would
      (an error code, not an injected fault): a connector that decides first sees none.
    - Orders and others act through `advance`, `act`, `others_act`; status changes come out of
      `events` (as hook bodies, duplicated and reordered on request).
    """

    def __init__(
        self,
        model: FlowModel | None = None,
        *,
        flow: str | None = None,
        seed: int = 0,
        account: str = "fakestore",
        app_key: str = "vtexappkey-fakestore-FAKE",
        app_token: str = "fake-app-token",  # noqa: S107 (a fake's public test token)
        faults: Faults | None = None,
        holds: float = 0.0,
        start: float = START,
    ) -> None:
        self.sim = SimulatedVTEX(model, flow=flow, seed=seed, start=start)
        self.model = self.sim.model
        self.account = account
        self.app_key = app_key
        self.app_token = app_token
        self.faults = faults or Faults()
        expect_number(holds, "holds", "a probability from 0 to 1", lambda p: 0 <= p <= 1)
        self.holds = holds
        self.rng = random.Random(seed + 1)  # noqa: S311 (reproducible faults, nothing secret)
        self.calls: list[WireCall] = []
        self.refusals: list[WireCall] = []
        self._orders = _Orders()
        self._lock = threading.RLock()
        self._undelivered: list[dict[str, Any]] = []
        self._unposted: list[dict[str, Any]] = []
        self._hold = next((name for name, event in self.model.events.items() if event.hold), None)

    # -- ids -----------------------------------------------------------------------------------

    @property
    def now(self) -> float:
        """The virtual clock (seconds since the epoch)."""
        return self.sim.now

    def order_id(self, marketplace_id: str) -> str | None:
        """VTEX's id for a marketplace order, once created."""
        return self._orders.vtex_ids.get(marketplace_id)

    def marketplace_id(self, order_id: str) -> str | None:
        """The marketplace id of a VTEX order."""
        return self._orders.marketplace_ids.get(order_id)

    def status(self, order_id: str) -> str:
        """A VTEX order's status (the flow's initial one when VTEX does not have it)."""
        return self.sim.status(order_id)

    # -- the world -----------------------------------------------------------------------------

    def advance(self, seconds: float) -> None:
        """Move the clock: queued creations and approvals run, timers fire."""
        with self._lock:
            self.sim.advance(seconds)

    def act(self, order_id: str, event: str) -> bool:
        """Someone other than the connector acts on a VTEX order (see `SimulatedVTEX.act`)."""
        with self._lock:
            return self.sim.act(order_id, event)

    def others_act(self, order_id: str) -> str | None:
        """A random event by the seller, the customer, the gateway or the marketplace."""
        with self._lock:
            return self.sim.others_act(order_id)

    def events(self, *, duplicate: float = 0.0, reorder: bool = False) -> list[dict[str, Any]]:
        """The hook bodies since the last call (VTEX's order ids)."""
        with self._lock:
            return self.sim.events(duplicate=duplicate, reorder=reorder)

    def notifications(self) -> list[dict[str, Any]]:
        """The Channel Order API notifications since the last call, as VTEX posts them: the
        marketplace's id in ``marketplaceOrderId``, VTEX's in ``fields.mainOrderId``."""
        with self._lock:
            out = []
            for posted in self.sim.notifications():
                vtex_id = posted["marketplaceOrderId"]
                note = dict(posted, accountName=self.account)
                note["marketplaceOrderId"] = self._orders.marketplace_ids.get(vtex_id, vtex_id)
                if note.get("fields"):
                    note["fields"] = {"mainOrderId": vtex_id, "franchiseOrderId": None}
                known = self.model.codes.get(note["code"])
                if not note["success"] and (known is None or known.follow_up is not FollowUp.DONE):
                    self.refusals.append(
                        WireCall(
                            "NOTIFY",
                            "",
                            _action_of(self, note["flow"]),
                            vtex_id,
                            note["marketplaceOrderId"],
                            200,
                            note["code"],
                        )
                    )
                out.append(note)
            return out

    # -- HTTP ----------------------------------------------------------------------------------

    def asgi(self) -> Any:
        """The fake as an ASGI app (Starlette), to serve on a real socket (uvicorn) or through
        ``httpx.ASGITransport``. A lost answer is applied, then answered after
        `Faults.slow_seconds` (past the client's timeout)."""
        from starlette.applications import Starlette
        from starlette.concurrency import run_in_threadpool
        from starlette.requests import Request
        from starlette.responses import Response
        from starlette.routing import Route

        async def serve(request: Request) -> Response:
            forwarded = httpx.Request(
                request.method,
                str(request.url),
                headers=[(k.decode("latin-1"), v.decode("latin-1")) for k, v in request.headers.raw],
                content=await request.body(),
            )
            try:
                answer = await run_in_threadpool(self.handle, forwarded)
            except httpx.ReadTimeout:
                await asyncio.sleep(self.faults.slow_seconds)
                return Response(b'{"error":{"message":"too late"}}', status_code=504)
            return Response(answer.content, status_code=answer.status_code, headers=dict(answer.headers))

        methods = ["GET", "POST", "PUT", "PATCH", "DELETE"]
        return Starlette(routes=[Route("/{path:path}", serve, methods=methods)])

    def push(
        self,
        client: httpx.Client,
        hook_url: str,
        notification_url: str | None = None,
        *,
        headers: dict[str, str] | None = None,
        duplicate: float = 0.0,
        reorder: bool = False,
    ) -> list[tuple[int, float]]:
        """Post what VTEX has to tell the connector: notifications (to `notification_url`, with
        ``?an=`` the account) and hook events (to `hook_url`, with `headers`, duplicated and
        reordered on request). Returns each hook delivery's status and seconds to answer; a
        delivery not answered 200 is posted again later, as VTEX does (kept for the next push)."""
        with self._lock:
            notes, self._unposted = self._unposted + self.notifications(), []
        for note in notes:
            if notification_url is None:
                break
            try:
                status = client.post(notification_url, params={"an": self.account}, json=note).status_code
            except httpx.HTTPError:
                status = 0
            if not 200 <= status <= 299:  # posted again next time (VTEX's own policy is undocumented)
                with self._lock:
                    self._unposted.append(note)
        with self._lock:
            bodies = self._undelivered + self.sim.events(duplicate=duplicate, reorder=reorder)
            self._undelivered = []
        answers: list[tuple[int, float]] = []
        for body in bodies:
            started = time.monotonic()
            try:
                status = client.post(hook_url, json=body, headers=headers or {}).status_code
            except httpx.HTTPError:
                status = 0
            answers.append((status, time.monotonic() - started))
            if status != 200:
                with self._lock:
                    self._undelivered.append(body)
        return answers

    def transport(self) -> httpx.MockTransport:
        """An httpx transport that answers as this fake (pass it to `VtexClient`)."""
        return httpx.MockTransport(self.handle)

    def handle(self, request: httpx.Request) -> httpx.Response:
        """Answer one request (raises `httpx.ReadTimeout` for a lost answer)."""
        with self._lock:
            return self._handle(request)

    def _handle(self, request: httpx.Request) -> httpx.Response:
        method, path = request.method, request.url.path
        seen = (method, path, _body(request))
        credentials = (request.headers.get("x-vtex-api-appkey"), request.headers.get("x-vtex-api-apptoken"))
        if credentials != (self.app_key, self.app_token):
            return self._log(seen, _NOWHERE, httpx.Response(401, json={"error": {"message": "Unauthorized"}}))
        route = self._route(method, path, seen[2], request)
        if isinstance(route, httpx.Response):
            return self._log(seen, _NOWHERE, route)
        roll, faults = self.rng.random(), self.faults
        if roll < faults.rate_limit:
            limited = {"error": {"message": "Too Many Requests"}}
            answer = httpx.Response(429, headers={"Retry-After": f"{faults.retry_after:g}"}, json=limited)
            return self._log(seen, route, answer, "rate-limit")
        if roll < faults.rate_limit + faults.server_error:
            return self._log(seen, route, httpx.Response(503, text="Service Unavailable"), "server-error")
        answer = self._apply(*route, seen[2])
        if roll < faults.rate_limit + faults.server_error + faults.lost_answer:
            self._log(seen, route, answer, "lost-answer")
            raise httpx.ReadTimeout("the fake VTEX lost the answer", request=request)
        return self._log(seen, route, answer)

    def _log(
        self,
        seen: tuple[str, str, Any],
        route: tuple[str | None, str | None, str | None],
        response: httpx.Response,
        fault: str | None = None,
    ) -> httpx.Response:
        """Log a call: `seen` is (method, path, body), `route` (action, order id, marketplace id)."""
        (method, path, body), (action, order_id, marketplace_id) = seen, route
        code = None
        try:
            data = json.loads(response.content) if response.content else None
        except ValueError:
            data = None
        if isinstance(data, dict):
            error = data.get("error")
            code = data.get("code") or (error.get("code") if isinstance(error, dict) else None)
        call = WireCall(
            method, path, action, order_id, marketplace_id, response.status_code, code, fault, body
        )
        self.calls.append(call)
        if fault is None and 400 <= response.status_code < 500 and response.status_code not in (401, 429):
            self.refusals.append(call)
        return response

    def _route(  # noqa: PLR0911 (one return per route)
        self, method: str, path: str, body: Any, request: httpx.Request
    ) -> tuple[str, str | None, str | None] | httpx.Response:
        if path in ("/api/order-integration/orders", "/api/order-integration/orders/status"):
            if request.url.params.get("an") != self.account:
                return httpx.Response(400, json={"error": {"message": f"an must be {self.account!r}"}})
            marketplace_id = body.get("marketplaceOrderId") if isinstance(body, dict) else None
            if not isinstance(marketplace_id, str) or not marketplace_id:
                return httpx.Response(400, json={"error": {"message": "marketplaceOrderId is required"}})
            if method == "POST" and path.endswith("/orders"):
                return "create", self._orders.vtex_ids.get(marketplace_id), marketplace_id
            if method == "PUT":
                return "approve", self._orders.vtex_ids.get(marketplace_id), marketplace_id
        match = _ORDERS.match(path)
        if match is not None:
            order_id, rest = match.group("order"), match.group("rest") or ""
            marketplace_id = self._orders.marketplace_ids.get(order_id)
            kinds = {
                ("POST", "/start-handling"): "start-handling",
                ("POST", "/cancel"): "cancel",
                ("GET", ""): "get",
            }
            if (method, rest) in kinds:
                return kinds[method, rest], order_id, marketplace_id
            if method == "POST" and rest == "/invoice":
                kind = body.get("type") if isinstance(body, dict) else None
                if kind not in ("Output", "Input"):
                    return httpx.Response(400, json={"error": {"message": "type must be Output or Input"}})
                return ("invoice" if kind == "Output" else "return-invoice"), order_id, marketplace_id
            if method == "PATCH" and rest.startswith("/invoice/") and rest.count("/") == 2:
                return "tracking", order_id, marketplace_id
        return httpx.Response(404, json={"error": {"message": f"no route for {method} {path}"}})

    def _apply(  # noqa: PLR0911 (one answer per kind of call)
        self, action: str, order_id: str | None, marketplace_id: str | None, body: Any
    ) -> httpx.Response:
        sim = self.sim
        if action == "create":
            marketplace_id = marketplace_id or ""  # (routed: never empty)
            if order_id is None:
                order_id = f"{self.rng.randrange(10**12, 10**13)}-01"
                self._orders.vtex_ids[marketplace_id] = order_id
                self._orders.marketplace_ids[order_id] = marketplace_id
                total = body.get("marketplacePaymentValue") if isinstance(body, dict) else None
                self._orders.totals[order_id] = total if isinstance(total, int) else 0
            hold = self._hold if self._hold is not None and self.rng.random() < self.holds else None
            return self._channel(sim.create(order_id, hold=hold).body, marketplace_id)
        if action == "approve":
            return self._channel(sim.approve(order_id or marketplace_id or "").body, marketplace_id)
        order_id = order_id or ""  # (routed: never empty)
        if action == "get":
            if order_id not in sim.orders:
                return httpx.Response(404, json={"error": {"message": f"order {order_id} not found"}})
            return httpx.Response(
                200,
                json={
                    "orderId": order_id,
                    "status": sim.status(order_id),
                    "marketplaceOrderId": marketplace_id,
                },
            )
        number = body.get("invoiceNumber") if isinstance(body, dict) else None
        if action in ("invoice", "return-invoice") and isinstance(number, str) and order_id in sim.orders:
            seen = self._orders.invoices.setdefault(order_id, set())
            if number in seen:  # VTEX (S8): the same invoiceNumber again only gets a new receipt
                return httpx.Response(
                    200, json={"date": "", "orderId": order_id, "receipt": uuid.uuid4().hex}
                )
        partial = False
        if action == "invoice" and isinstance(body, dict):
            value = body.get("invoiceValue")
            amount = int(value) if isinstance(value, str) and value.isdigit() else 0
            done = self._orders.invoiced.get(order_id, 0) + amount
            self._orders.invoiced[order_id] = done
            partial = done < self._orders.totals.get(order_id, 0)
        result = sim.send(action, order_id, partial=partial)
        if result.ok and action in ("invoice", "return-invoice") and isinstance(number, str):
            self._orders.invoices.setdefault(order_id, set()).add(number)
        if result.status_code == 204:
            return httpx.Response(204)
        return httpx.Response(result.status_code, json=result.body)

    def _channel(self, body: dict[str, Any], marketplace_id: str | None) -> httpx.Response:
        return httpx.Response(
            200, json=dict(body, marketplaceOrderId=marketplace_id, accountName=self.account)
        )


def _action_of(fake: FakeVTEX, operation: str) -> str | None:
    return next((a.name for a in fake.model.actions.values() if a.operation == operation), None)


def _body(request: httpx.Request) -> Any:
    if not request.content:
        return None
    try:
        return json.loads(request.content)
    except ValueError:
        return None
