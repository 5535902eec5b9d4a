"""The synchronous client, on ``httpx.Client``."""

from __future__ import annotations

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

__all__ = ["VtexClient"]


class VtexClient(_Core, _Actions[Answer]):
    """A synchronous client of the VTEX calls a connector makes, on httpx.

    Each call decides first (from `status`, or the `tracker`'s record of the order) and puts on
    the wire only what the model says VTEX will accept; otherwise it returns the unsent
    `Answer` with the decision (or raises `NotSendableError` with ``strict=True``).
    ``force=True`` with a `reason` sends anyway. Every answer becomes an `Advice`; 429 (after
    its ``Retry-After``), 5xx and failed connections are sent again with exponential backoff
    and jitter (stamina), at most `attempts` times within `retry_timeout` seconds. A request
    with no answer (a read timeout) is not sent again here: VTEX may have applied it.

    `transport` replaces the network (an ``httpx.MockTransport``, a fake VTEX). Close it, or
    use it as a context manager.
    """

    def __init__(
        self,
        account: str,
        app_key: str,
        app_token: str,
        *,
        transport: httpx.BaseTransport | None = None,
        **settings: Any,
    ) -> None:
        super().__init__(account, app_key, app_token, **settings)
        self._http = httpx.Client(timeout=self.timeout, transport=transport)

    def close(self) -> None:
        """Close the connection pool."""
        self._http.close()

    def __enter__(self) -> VtexClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def send(self, action: str, order_id: str, body: Any = None, **options: Unpack[SendOptions]) -> Answer:
        """Decide, then send `action` for the order (or hold it back: see `Answer.sent`)."""
        request = self.request(action, order_id, body)
        decision, forced = self._gate(request.action, order_id, options)
        if decision is not None and decision.verdict is not Verdict.SEND and forced is None:
            return self._held_back(request, order_id, decision, options)
        return self._exchange(request, order_id, decision=decision, forced=forced)

    def send_entry(
        self, entry: Entry, marketplace_id: str | None = None, *, request: Request | None = None
    ) -> Answer:
        """Send an outbox entry its claim has just decided (the dispatcher's call): no decision
        again here, the claim made it under the order's lock. `request` is the entry's request
        when the caller has built it already (`entry_request`)."""
        if request is None:
            request = self.entry_request(entry, marketplace_id)
        return self._exchange(request, entry.order_id, decision=None, forced=None)

    def _exchange(self, request: Request, order_id: str, **extra: Any) -> Answer:
        tries = 0
        try:
            for attempt in self._retrying():
                with attempt:
                    tries += 1
                    response = self._http.send(self._httpx_request(self._http, request))
                    if is_transient(response):
                        response.read()
                        raise Transient(response)
        except Transient as last:
            response = last.response
        except Exception as error:
            return self._failed(request, order_id, error, tries, **extra)
        return self._answer(request, order_id, response, tries, **extra)
