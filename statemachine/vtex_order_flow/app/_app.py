"""The connector's web app: VTEX's order hook, the Channel Order API's notifications, health and
status for operators, and the dispatcher run with the app's lifespan."""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import logging
import time
from collections.abc import AsyncIterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from .. import Advice, interpret_notification
from .._guards import expect
from ..client import Dispatcher, Outcome, VtexClient
from ..errors import InvalidArgumentError, NotificationError, VtexOrderFlowError
from ..tracking import HookEndpoint, HookResponse, Tracker

__all__ = ["AppSettings", "create_app"]

log = logging.getLogger("vtex_order_flow.app")

_MAX_WAITING = 32  # health, status and notification calls waiting for the app's pool at once
_BODY_DEADLINE = 10.0  # seconds a notification's body may take to arrive

NOTIFICATION_PATH = "/order-integration/notification/processing-result"
"""Where VTEX posts Channel Order notifications, under the connector's ``connectorEndpoint``."""

_HEADER_NAME_CHARS = frozenset(
    "!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
)


@dataclass(frozen=True)
class AppSettings:
    """How the app checks what it receives and answers in time.

    - `hook_headers`: the headers (name → value) set in VTEX's hook configuration
      (``hook.headers``); VTEX sends them with every delivery, ping included. A delivery
      without all of them, each equal (constant-time comparison), gets 401 and changes nothing.
      Empty means no check: only for tests and networks you trust.
    - `account`: VTEX's account name; a notification whose ``an`` names another is refused (400).
    - `notification_secret`: when set, notifications are taken only under
      ``/{secret}/order-integration/notification/processing-result`` (give VTEX
      ``connectorEndpoint = https://your.host/{secret}``): VTEX signs nothing it posts there.
    - `hook_timeout`: the most a hook delivery waits for the store before answering 503 (VTEX
      delivers again); under VTEX's 5 s.
    - `max_body`: the largest body taken (bytes); larger ones get 413.
    """

    hook_headers: Mapping[str, str] = field(default_factory=dict)
    account: str | None = None
    notification_secret: str | None = None
    hook_timeout: float = 4.0
    max_body: int = 1_000_000
    health_timeout: float = 2.0

    def __post_init__(self) -> None:
        if not isinstance(self.hook_headers, Mapping):
            raise InvalidArgumentError(
                f"hook_headers must map header names to values, not {self.hook_headers!r}"
            )
        for name, value in self.hook_headers.items():
            if not isinstance(name, str) or not name or not set(name) <= _HEADER_NAME_CHARS:
                raise InvalidArgumentError(f"a hook header name must be an HTTP token, not {name!r}")
            if not isinstance(value, str) or not value or any(not " " <= c <= "~" for c in value):
                raise InvalidArgumentError(f"hook header {name!r} needs a printable ASCII value")
            if value != value.strip():
                raise InvalidArgumentError(
                    f"hook header {name!r}: its value starts or ends with a space, which HTTP drops "
                    "on the way: it could never match"
                )
        if self.notification_secret is not None and (
            not isinstance(self.notification_secret, str)
            or not 16 <= len(self.notification_secret) <= 256
            or not all(c.isalnum() or c in "-_" for c in self.notification_secret)
        ):
            raise InvalidArgumentError(
                "notification_secret must be 16 to 256 letters, digits, '-' or '_' (a path segment)"
            )
        for name in ("hook_timeout", "health_timeout"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int | float) or not 0 < value < 5:
                raise InvalidArgumentError(f"{name} must be seconds between 0 and 5, not {value!r}")
        if isinstance(self.max_body, bool) or not isinstance(self.max_body, int) or self.max_body < 1024:
            raise InvalidArgumentError(f"max_body must be an integer >= 1024, not {self.max_body!r}")


def _error(status: int, message: str) -> JSONResponse:
    return JSONResponse({"ok": False, "error": message}, status_code=status)


async def _body(request: Request, limit: int) -> bytes | Response:
    """The request's body, or 413 when it is larger than `limit` (read no further)."""
    declared = request.headers.get("content-length")
    if declared is not None and (not declared.isdigit() or int(declared) > limit):
        return _error(413, f"the body is larger than {limit} bytes")
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            return _error(413, f"the body is larger than {limit} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


class _Handlers:
    def __init__(self, tracker: Tracker, endpoint: HookEndpoint, settings: AppSettings) -> None:
        self.tracker = tracker
        self.endpoint = endpoint
        self.settings = settings
        self._expected = [(name.lower(), value.encode()) for name, value in settings.hook_headers.items()]
        self._pool = ThreadPoolExecutor(max_workers=4, thread_name_prefix="vof-app")
        self._waiting = 0

    def close(self) -> None:
        """Stop the app's pool (what it runs finishes)."""
        self._pool.shutdown(wait=False)

    def _authorized(self, request: Request) -> bool:
        ok = True
        for name, expected in self._expected:
            given = request.headers.get(name, "").encode("latin-1", "replace")
            ok = hmac.compare_digest(given, expected) and ok  # every one compared, in constant time
        return ok

    async def hook(self, request: Request) -> Response:
        """VTEX's order hook: 401 without the configured headers, 400 for a body that is no
        event, 200 for a ping and for an applied event, 503 when the store is slow or down; in
        every case within `hook_timeout` of the request's arrival (the body's reading counted).
        No thread is held while the event waits for the endpoint's worker."""
        started = time.monotonic()
        deadline = started + self.settings.hook_timeout
        if not self._authorized(request):
            log.warning("hook: refused a delivery without the configured headers (401)")
            return _error(401, "missing or wrong hook headers")
        try:
            body = await asyncio.wait_for(_body(request, self.settings.max_body), deadline - time.monotonic())
        except TimeoutError:
            return _error(503, "the body took too long to arrive; deliver again")
        if isinstance(body, Response):
            return body
        begun = self.endpoint.begin(body)
        if isinstance(begun, HookResponse):
            answer = begun
        else:
            try:
                # shielded: the work is not cancelled when the answer stops waiting for it
                applied = await asyncio.wait_for(
                    asyncio.shield(asyncio.wrap_future(begun)), max(deadline - time.monotonic(), 0.0)
                )
            except TimeoutError:
                answer = HookEndpoint.busy()
            except Exception as error:  # the store failed (logged by the endpoint)
                answer = HookEndpoint.failed(error)
            else:
                answer = HookEndpoint.applied(applied)
        log.info(
            "hook: %d %s in %.1f ms", answer.status, answer.body[:200].decode("utf-8", "replace"),
            (time.monotonic() - started) * 1000,
        )  # fmt: skip
        return Response(answer.body, status_code=answer.status, media_type=answer.content_type)

    async def _blocking(self, call: Any, *args: Any) -> Any:
        """`call` on the app's own small pool (never the hook's worker, never the event loop);
        TimeoutError when it takes longer than `health_timeout`, or when too many wait."""
        # (too many waiting already: a call that answers at once with the same TimeoutError)
        full = self._waiting >= _MAX_WAITING
        self._waiting += 1
        try:
            loop = asyncio.get_running_loop()
            waited = 0.0 if full else self.settings.health_timeout
            work = asyncio.sleep(1) if full else loop.run_in_executor(self._pool, call, *args)
            return await asyncio.wait_for(asyncio.shield(work), waited)
        finally:
            self._waiting -= 1

    def _refused(self, request: Request) -> Response | None:
        """A notification not under the secret path (404) or for another account (400)."""
        secret = self.settings.notification_secret
        if secret is not None:
            given = str(request.path_params.get("secret", "")).encode()
            if not hmac.compare_digest(given, secret.encode()):
                return _error(404, "not found")
        account = self.settings.account
        if account is not None and request.query_params.get("an") != account:
            return _error(400, f"an must name the account {account!r}")
        return None

    async def _notification_of(self, request: Request) -> Advice | Response:
        """The notification in the body, or the answer that refuses it (408, 413, 400)."""
        try:
            body = await asyncio.wait_for(_body(request, self.settings.max_body), _BODY_DEADLINE)
        except TimeoutError:
            return _error(408, "the body took too long to arrive")
        if isinstance(body, Response):
            return body
        try:
            return interpret_notification(body, self.tracker.model)
        except NotificationError as error:
            return _error(400, str(error))

    async def notification(self, request: Request) -> Response:
        """A Channel Order API notification: routed to the outbox entry it answers."""
        refused = self._refused(request)
        if refused is not None:
            return refused
        advice = await self._notification_of(request)
        if isinstance(advice, Response):
            return advice
        try:
            entry = await self._blocking(self.tracker.notify, advice)
        except TimeoutError:
            return _error(503, "busy; post it again")
        except VtexOrderFlowError as error:
            log.error(
                "notification %s for %s not recorded: %s", advice.code, advice.marketplace_order_id, error
            )
            return _error(503, f"not recorded: {error}")
        log.info(
            "notification: %s %s for %s -> %s", advice.operation, advice.code, advice.marketplace_order_id,
            f"{entry.key} {entry.state}" if entry is not None else "no entry on its way",
        )  # fmt: skip
        # Nothing of the entry is answered (its payload holds the customer's data).
        return JSONResponse({"ok": True, "code": advice.code, "matched": entry is not None})

    async def health(self, request: Request) -> Response:
        """Liveness: 200 when the store answers within `health_timeout`, 503 otherwise."""
        try:
            await self._blocking(self.tracker.counts)
        except TimeoutError:
            return _error(503, "the store does not answer")
        except VtexOrderFlowError as error:
            return _error(503, f"the store fails: {error}")
        return JSONResponse({"ok": True})

    async def status(self, request: Request) -> Response:
        """For operators: entries by state, the oldest waiting one, anomalies recorded."""
        try:
            data = await self._blocking(self.tracker.status)
        except TimeoutError:
            return _error(503, "the store does not answer")
        except VtexOrderFlowError as error:
            return _error(503, f"the store fails: {error}")
        return JSONResponse({"ok": True, **data})


def create_app(
    tracker: Tracker,
    client: VtexClient | None = None,
    settings: AppSettings | None = None,
    *,
    concurrency: int = 4,
    lease: float = 120.0,
    routes: Sequence[BaseRoute] = (),
) -> Starlette:
    """The connector's ASGI app (Starlette) on `tracker`:

    - ``POST /hook``: VTEX's order hook (`AppSettings.hook_headers` checked);
    - ``POST /order-integration/notification/processing-result?an=ACCOUNT``: Channel Order
      notifications, routed to the outbox entry they answer (`Tracker.notify`), filling the id map;
    - ``GET /health``: 200 while the store answers; ``GET /status``: entries by state, the
      oldest waiting, anomalies;
    - with a `client`, a `Dispatcher` (`concurrency`, `lease`) started and stopped with the app's
      lifespan, so that what becomes sendable goes to VTEX;
    - the connector's own `routes` (the marketplace's side, say) after these.

    The tracker's blocking work runs on threads, never on the event loop; every hook delivery
    is answered within `hook_timeout` (+ 0.5 s), under VTEX's 5 s.
    """
    expect(tracker, Tracker, "create_app's tracker")
    if client is not None:
        expect(client, VtexClient, "create_app's client")
    settings = settings or AppSettings()
    expect(settings, AppSettings, "create_app's settings")
    endpoint = HookEndpoint(tracker, timeout=settings.hook_timeout, sweep=None)
    handlers = _Handlers(tracker, endpoint, settings)

    def logged(outcome: Outcome) -> None:
        answer = outcome.answer
        log.info(
            "send: %s %s -> %s%s", outcome.entry.action, outcome.entry.order_id, outcome.entry.state,
            f" ({answer.status_code} {answer.advice.code})" if answer is not None and answer.advice else
            f" ({outcome.note})",
        )  # fmt: skip

    dispatcher = (
        Dispatcher(tracker, client, concurrency=concurrency, lease=lease, on_outcome=logged)
        if client is not None
        else None
    )

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        if dispatcher is not None:
            dispatcher.start()
        try:
            yield
        finally:
            if dispatcher is not None:
                await run_in_threadpool(dispatcher.stop)
            endpoint.close()
            handlers.close()

    table: list[BaseRoute] = [
        Route("/hook", handlers.hook, methods=["POST"]),
        Route("/health", handlers.health, methods=["GET"]),
        Route("/status", handlers.status, methods=["GET"]),
    ]
    if settings.notification_secret is None:
        table.append(Route(NOTIFICATION_PATH, handlers.notification, methods=["POST"]))
    else:
        table.append(Route("/{secret}" + NOTIFICATION_PATH, handlers.notification, methods=["POST"]))
    app = Starlette(routes=[*table, *routes], lifespan=lifespan)
    app.state.tracker = tracker
    app.state.dispatcher = dispatcher
    app.state.endpoint = endpoint
    return app
