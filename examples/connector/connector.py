"""A minimal VTEX marketplace connector: the library's app (VTEX's order hook, the Channel Order
notifications, health, status, and the dispatcher that sends the outbox) plus one route where the
marketplace posts its own status changes::

    POST /marketplace/orders/{order_id}/events     {"status": "paid"}

Each status change becomes the VTEX update(s) it asks for. Each update is decided first
(`Tracker.decide`: the model says whether VTEX accepts it now, later, or never) and registered in
the outbox (`Tracker.register`); the app's dispatcher sends it the moment it is valid. The
marketplace's order id names the order everywhere: once VTEX's SOI001 notification names VTEX's
own id, the tracker moves the order's updates to it.

Run: ``python examples/connector/connector.py`` (the environment variables are in README.md).
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
from dataclasses import dataclass
from typing import Any

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from vtex_order_flow import Decision, Verdict
from vtex_order_flow.app import AppSettings, create_app
from vtex_order_flow.client import VtexClient
from vtex_order_flow.errors import InvalidArgumentError, PayloadError, UnknownNameError, VtexOrderFlowError
from vtex_order_flow.tracking import DropClass, Entry, EntryState, SQLiteStore, Tracker

__all__ = ["HOOK_HEADER", "MARKETPLACE_PATH", "STATUSES", "Change", "build", "main"]

log = logging.getLogger("connector")

MARKETPLACE_PATH = "/marketplace/orders/{order_id}/events"
HOOK_HEADER = "X-Hook-Secret"
"""The header of VTEX's hook configuration (``hook.headers``) whose value is ``HOOK_SECRET``."""


@dataclass(frozen=True)
class Change:
    """What one marketplace status asks of VTEX: `actions` in order (the last one is the status's
    own; those before it prepare it, and take no body), and the field of the marketplace's
    request that holds the last action's body (`body`; `required` when the action needs one)."""

    actions: tuple[str, ...]
    body: str | None = None
    required: bool = False


STATUSES: dict[str, Change] = {
    "new": Change(("create",), "order", required=True),  # a NewOrder body
    "paid": Change(("approve",)),  # the client adds connectorName and connectorEndpoint
    "canceled": Change(("cancel",), "cancellation"),  # an optional Cancellation body
    # The marketplace fulfils the order (it invoices and ships): handling starts first.
    "invoiced": Change(("start-handling", "invoice"), "invoice", required=True),  # an Invoice
    "shipped": Change(("tracking",), "tracking", required=True),  # a Tracking (names its invoice)
    "returned": Change(("return-invoice",), "invoice", required=True),  # a ReturnInvoice
}


def _entry(entry: Entry) -> dict[str, Any]:
    return {"action": entry.action, "key": entry.key, "state": str(entry.state), "reason": entry.reason}


class _Marketplace:
    """The marketplace's route: parse, validate, decide, register (blocking: run on a thread)."""

    def __init__(self, tracker: Tracker, client: VtexClient) -> None:
        self.tracker = tracker
        self.client = client

    def _parse(self, order_id: str, data: object) -> tuple[str, Change, dict[str, Any] | None]:
        if not isinstance(data, dict):
            raise InvalidArgumentError(f"the body must be a JSON object, not {type(data).__name__}")
        status = data.get("status")
        if not isinstance(status, str) or status not in STATUSES:
            raise InvalidArgumentError(f"unknown status {status!r}; known: {', '.join(STATUSES)}")
        change = STATUSES[status]
        extra = sorted(set(data) - {"status", change.body})
        if extra:
            raise InvalidArgumentError(f"status {status!r} takes no {', '.join(map(repr, extra))}")
        payload = data.get(change.body) if change.body is not None else None
        if payload is None and change.required:
            raise InvalidArgumentError(
                f"status {status!r} needs {change.body!r}: the {change.actions[-1]} body"
            )
        if payload is not None and not isinstance(payload, dict):
            raise InvalidArgumentError(f"{change.body!r} must be a JSON object")
        if change.actions[-1] == "create" and payload is not None:
            payload = {
                "marketplaceOrderId": order_id,
                "connectorName": self.client.connector_name,
                "connectorEndpoint": self.client.connector_endpoint,  # where VTEX notifies
                **payload,
            }
        # The body as VTEX takes it, checked now: PayloadError names each bad field.
        self.client.request(change.actions[-1], order_id, payload)
        return status, change, payload

    def _register(self, order_id: str, action: str, payload: dict[str, Any] | None) -> Entry:
        """Register the update. Its key is ``order:action`` (idempotent: the same request
        twice is one entry). A key whose entry was dropped (it gave up, expired) answers with
        that entry; the decision just made says VTEX takes the update now or later, so it goes
        in again under the next key of the chain ``order:action:again-N``."""
        entry = self.tracker.register(order_id, action, payload=payload)
        base, n = entry.key, 0
        while entry.state is EntryState.DROPPED and entry.drop is not DropClass.ALREADY_DONE:
            n += 1
            key = f"{base}:again-{n}"
            fresh = self.tracker.entry(key) is None
            entry = self.tracker.register(order_id, action, payload=payload, key=key)
            if fresh:
                break
        return entry

    def handle(self, order_id: str, data: object) -> tuple[int, dict[str, Any]]:
        """The answer (HTTP status, JSON body) to one marketplace status change."""
        status, change, payload = self._parse(order_id, data)
        decisions: list[tuple[str, Decision | None]] = [
            (action, self.tracker.decide(order_id, action)) for action in change.actions
        ]
        action, decision = decisions[-1]
        answer: dict[str, Any] = {"ok": True, "order_id": order_id, "status": status, "action": action}
        if decision is not None and decision.verdict is Verdict.REJECT:
            # VTEX would refuse it whatever happens next: nothing is registered.
            answer.update(verdict=str(decision.verdict), reason=decision.reason, key=None, state=None)
            answer.update(already_done=decision.already_done, updates=[])
            if decision.already_done:  # a repeated status change: nothing left to do
                return 200, answer
            answer["ok"] = False
            return 409, answer
        entries = [
            self._register(order_id, name, payload if name == action else None)
            for name, made in decisions
            # a preparatory update VTEX will not take (it is past it) is left out
            if name == action or made is None or made.verdict is not Verdict.REJECT
        ]
        entry = entries[-1]
        if decision is None:
            # No event has named the order yet (VTEX does not have it, or has not said so):
            # the outbox decides it at the order's first event.
            verdict, reason = str(Verdict.DEFER), entry.reason
        else:
            verdict, reason = str(decision.verdict), decision.reason
        answer.update(verdict=verdict, reason=reason, key=entry.key, state=str(entry.state))
        answer.update(already_done=False, updates=[_entry(e) for e in entries])
        log.info("marketplace %s of %s: %s %s -> %s", status, order_id, action, verdict, entry.state)
        if entry.state is EntryState.DROPPED:  # the outbox decided otherwise meanwhile
            answer.update(verdict=str(Verdict.REJECT), reason=entry.reason)
            if entry.drop is DropClass.ALREADY_DONE:
                answer["already_done"] = True
                return 200, answer
            answer["ok"] = False
            return 409, answer
        return 202, answer


def _error(status: int, message: str) -> JSONResponse:
    return JSONResponse({"ok": False, "error": message}, status_code=status)


async def _read(request: Request, limit: int) -> bytes | None:
    """The body, or None when it is larger than `limit` bytes (read no further)."""
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            return None
        chunks.append(chunk)
    return b"".join(chunks)


def build(tracker: Tracker, client: VtexClient, settings: AppSettings) -> Starlette:
    """The connector's ASGI app: `vtex_order_flow.app.create_app` (``POST /hook``, the Channel
    Order notifications, ``GET /health``, ``GET /status``, the dispatcher in its lifespan) with
    ``POST /marketplace/orders/{order_id}/events`` for the marketplace's status changes.

    That route answers 202 with the decision's verdict and reason and the outbox entry's key
    and state (the update goes when it is valid); 200 when the update is already done; 409 when
    VTEX would never take it (the reason says why); 400 for an unknown status or a bad body (the
    message names the field); 413 for a body over `settings.max_body`; 503 when the store is
    slow or failing. `client` needs `connector_name` and `connector_endpoint` (approvals carry
    them, and new orders get them unless their body has its own).
    """
    if not client.connector_name or not client.connector_endpoint:
        raise InvalidArgumentError(
            "the client needs connector_name and connector_endpoint: VTEX's approvals carry them"
        )
    marketplace = _Marketplace(tracker, client)

    async def events(request: Request) -> Response:
        order_id = str(request.path_params["order_id"])
        raw = await _read(request, settings.max_body)
        if raw is None:
            return _error(413, f"the body is larger than {settings.max_body} bytes")
        try:
            data = json.loads(raw)
        except (ValueError, RecursionError):
            return _error(400, "the body is not JSON")
        try:
            status, answer = await asyncio.wait_for(
                run_in_threadpool(marketplace.handle, order_id, data), settings.hook_timeout + 0.5
            )
        except (PayloadError, InvalidArgumentError, UnknownNameError) as error:
            return _error(400, str(error))
        except TimeoutError:
            return _error(503, "busy; post it again")
        except VtexOrderFlowError as error:  # the store failed: nothing was registered
            log.error("marketplace event for %s not recorded: %s", order_id, error)
            return _error(503, f"not recorded: {error}")
        return JSONResponse(answer, status_code=status)

    app = create_app(tracker, client, settings)
    app.add_route(MARKETPLACE_PATH, events, methods=["POST"])
    return app


def main() -> None:
    """Serve the connector on 127.0.0.1 (``PORT``, default 8000) from environment variables:
    ``VTEX_ACCOUNT``, ``VTEX_APP_KEY``, ``VTEX_APP_TOKEN``, ``OUTBOX_DB`` (the outbox's SQLite
    file), ``HOOK_SECRET`` (the value of the hook configuration's ``X-Hook-Secret`` header),
    ``CONNECTOR_ENDPOINT`` (the public URL VTEX posts Channel Order notifications under);
    optional ``CONNECTOR_NAME`` and ``NOTIFICATION_SECRET``."""
    import uvicorn

    required = ("VTEX_ACCOUNT", "VTEX_APP_KEY", "VTEX_APP_TOKEN", "OUTBOX_DB", "HOOK_SECRET")
    env = {name: os.environ.get(name, "") for name in (*required, "CONNECTOR_ENDPOINT")}
    missing = [name for name, value in env.items() if not value]
    if missing:
        raise SystemExit(f"set the environment variables {', '.join(missing)} (see README.md)")
    secret = os.environ.get("NOTIFICATION_SECRET") or None
    endpoint = env["CONNECTOR_ENDPOINT"].rstrip("/")
    if secret is not None and not endpoint.endswith("/" + secret):
        raise SystemExit(
            "with NOTIFICATION_SECRET set, CONNECTOR_ENDPOINT must end with /NOTIFICATION_SECRET"
        )
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    tracker = Tracker(store=SQLiteStore(env["OUTBOX_DB"]), max_age=30 * 86_400)
    client = VtexClient(
        env["VTEX_ACCOUNT"],
        env["VTEX_APP_KEY"],
        env["VTEX_APP_TOKEN"],
        tracker=tracker,
        connector_name=os.environ.get("CONNECTOR_NAME") or "example-connector",
        connector_endpoint=endpoint,
        base_url=os.environ.get("VTEX_BASE_URL") or None,  # a proxy, or a fake VTEX
    )
    settings = AppSettings(
        hook_headers={HOOK_HEADER: env["HOOK_SECRET"]},
        account=env["VTEX_ACCOUNT"],
        notification_secret=secret,
    )
    try:
        app = build(tracker, client, settings)
        uvicorn.run(app, host="127.0.0.1", port=int(os.environ.get("PORT", "8000")), access_log=False)
    finally:
        client.close()
        tracker.close()


if __name__ == "__main__":
    main()
