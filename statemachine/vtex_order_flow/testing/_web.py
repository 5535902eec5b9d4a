"""An ASGI app driven in-process from synchronous code, its lifespan run: for tests."""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Coroutine
from typing import Any, TypeVar

import httpx

from ..errors import InvalidArgumentError

__all__ = ["AppClient"]

T = TypeVar("T")


class AppClient:
    """Your ASGI app (the connector's, `FakeVTEX.asgi()`) in-process, called synchronously:
    ``with AppClient(app) as web: web.post("/hook", json=...)``. Its lifespan runs (the app's
    dispatcher starts and stops), requests go through httpx's ASGI transport (no socket), and
    its event loop runs on a thread of its own, so that the app's own threads and the caller's
    blocking code never wait for each other. `get`, `post` and `request` take httpx's options;
    `run` awaits any coroutine on the app's loop (``web.client`` is the ``httpx.AsyncClient``).
    """

    def __init__(self, app: Any, base_url: str = "http://connector.test", timeout: float = 30.0) -> None:
        self.app = app
        self.base_url = base_url
        self.timeout = timeout
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, name="vof-app-client", daemon=True)
        self._stack = contextlib.AsyncExitStack()
        self.client: httpx.AsyncClient | None = None

    def run(self, coroutine: Coroutine[Any, Any, T]) -> T:
        """Await `coroutine` on the app's loop; its result (at most `timeout` seconds)."""
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result(self.timeout)

    def __enter__(self) -> AppClient:
        self._thread.start()

        async def enter() -> httpx.AsyncClient:
            await self._stack.enter_async_context(self.app.router.lifespan_context(self.app))
            transport = httpx.ASGITransport(app=self.app)
            return await self._stack.enter_async_context(
                httpx.AsyncClient(transport=transport, base_url=self.base_url)
            )

        self.client = self.run(enter())
        return self

    def __exit__(self, *exc: object) -> None:
        try:
            self.run(self._stack.aclose())
        finally:
            self.loop.call_soon_threadsafe(self.loop.stop)
            self._thread.join(10)
            self.loop.close()

    def request(self, method: str, url: str, **options: Any) -> httpx.Response:
        """One request to the app."""
        if self.client is None:
            raise InvalidArgumentError("use AppClient as a context manager: `with AppClient(app) as web:`")
        return self.run(self.client.request(method, url, **options))

    def get(self, url: str, **options: Any) -> httpx.Response:
        """GET `url` from the app."""
        return self.request("GET", url, **options)

    def post(self, url: str, **options: Any) -> httpx.Response:
        """POST to `url` of the app."""
        return self.request("POST", url, **options)
