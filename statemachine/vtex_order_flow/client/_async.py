"""The asyncio client, on ``httpx.AsyncClient``."""

from __future__ import annotations

from collections.abc import Awaitable
from typing import TYPE_CHECKING, Any

import httpx

from .. import Verdict
from ._actions import _Actions
from ._core import _Core
from ._retries import Transient, is_transient
from ._types import Answer, Request

if TYPE_CHECKING:
    from typing import Unpack

    from ..tracking import Entry
    from ._types import SendOptions

__all__ = ["AsyncVtexClient"]


class AsyncVtexClient(_Core, _Actions[Awaitable[Answer]]):
    """`VtexClient` for asyncio (same settings and answers; every call is awaited)."""

    def __init__(
        self,
        account: str,
        app_key: str,
        app_token: str,
        *,
        transport: httpx.AsyncBaseTransport | None = None,
        **settings: Any,
    ) -> None:
        super().__init__(account, app_key, app_token, **settings)
        self._http = httpx.AsyncClient(timeout=self.timeout, transport=transport)

    async def aclose(self) -> None:
        """Close the connection pool."""
        await self._http.aclose()

    async def __aenter__(self) -> AsyncVtexClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def send(
        self, action: str, order_id: str, body: Any = None, **options: Unpack[SendOptions]
    ) -> Answer:
        """Decide, then send `action` for the order (or hold it back: see `Answer.sent`)."""
        request = self.request(action, order_id, body)
        decision, forced = self._gate(request.action, order_id, options)
        if decision is not None and decision.verdict is not Verdict.SEND and forced is None:
            return self._held_back(request, order_id, decision, options)
        return await self._exchange(request, order_id, decision=decision, forced=forced)

    async def send_entry(
        self, entry: Entry, marketplace_id: str | None = None, *, request: Request | None = None
    ) -> Answer:
        """`VtexClient.send_entry`, awaited."""
        if request is None:
            request = self.entry_request(entry, marketplace_id)
        return await self._exchange(request, entry.order_id, decision=None, forced=None)

    async def _exchange(self, request: Request, order_id: str, **extra: Any) -> Answer:
        tries = 0
        try:
            async for attempt in self._retrying():
                with attempt:
                    tries += 1
                    response = await self._http.send(self._httpx_request(self._http, request))
                    if is_transient(response):
                        await response.aread()
                        raise Transient(response)
        except Transient as last:
            response = last.response
        except Exception as error:
            return self._failed(request, order_id, error, tries, **extra)
        return self._answer(request, order_id, response, tries, **extra)
