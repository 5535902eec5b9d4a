"""Every answer VTEX (or the network) gives a request, as one `Advice`: what it means and what to do."""

from __future__ import annotations

import email.utils
import json
import math
import time
from collections.abc import Mapping
from dataclasses import replace
from typing import Any

from .. import Advice, FlowModel, advice_for, interpret_notification
from ..errors import NotificationError

__all__ = ["interpret_answer", "parse_retry_after", "transport_advice"]

_LONGEST_WAIT = 86_400.0  # a Retry-After beyond a day is not believed


def parse_retry_after(value: str | None, now: float | None = None) -> float | None:
    """``Retry-After`` in seconds: delta-seconds or an HTTP date (RFC 9110); None when absent,
    unreadable, negative or not finite. Capped at a day."""
    if value is None:
        return None
    text = value.strip()
    if not text or len(text) > 64:
        return None
    try:
        seconds = float(text)
    except ValueError:
        try:
            moment = email.utils.parsedate_to_datetime(text)
        except (TypeError, ValueError, IndexError, OverflowError):
            return None
        if moment.tzinfo is None:
            return None
        seconds = moment.timestamp() - (time.time() if now is None else now)
    if not math.isfinite(seconds) or seconds < 0:
        return None
    return min(seconds, _LONGEST_WAIT)


def _from_code(
    model: FlowModel,
    code: str,
    *,
    status: int | None,
    order_id: str | None,
    detail: str = "",
    retry_after: float | None = None,
    operation: str = "",
) -> Advice:
    """The model's advice for `code` (`advice_for`), with what the HTTP answer adds."""
    known = model.codes.get(code)
    consistent = known is not None and (
        known.http_status is None or status is None or known.http_status == status
    )
    if code == "HTTP5XX":
        consistent = status is None or 500 <= status <= 599
    return advice_for(
        code,
        model,
        meaning=detail or f"HTTP {status}",
        consistent=consistent,
        operation=operation,
        order_id=order_id,
        errors=(detail,) if detail else (),
        http_status=status,
        retry_after=retry_after,
    )


def _by_status(status: int) -> str:
    if 200 <= status <= 299:
        return "HTTP2XX"
    if 500 <= status <= 599:
        return "HTTP5XX"
    return f"HTTP{status}"


def _http_layer(model: FlowModel, code: str) -> bool:
    """Whether the model files `code` under the HTTP layer (``api = "http"``: HTTP401, HTTP403,
    HTTP429, HTTP5XX, TIMEOUT, NETWORK in the bundled model): an answer about the request's way
    to VTEX (the credentials, the rate, the server, the network), not the API's word on it."""
    known = model.codes.get(code)
    return known is not None and known.api == "http"


def _json(body: bytes | str | Mapping[str, Any] | None) -> Any:
    if body is None or isinstance(body, Mapping):
        return body
    try:
        return json.loads(body)
    except (ValueError, RecursionError):
        return None


def _error_of(data: Any) -> tuple[str | None, str]:
    """The Orders API's ``{"error": {"code", "message"}}`` (code and message, when present)."""
    if not isinstance(data, Mapping):
        return None, ""
    error = data.get("error")
    if isinstance(error, Mapping):
        code, message = error.get("code"), error.get("message")
        return (
            code if isinstance(code, str) and code else None,
            message[:500] if isinstance(message, str) else "",
        )
    message = data.get("message") or data.get("Message")
    return None, message[:500] if isinstance(message, str) else ""


def interpret_answer(
    action: str,
    status: int,
    body: bytes | str | Mapping[str, Any] | None = None,
    *,
    headers: Mapping[str, str] | None = None,
    order_id: str | None = None,
    model: FlowModel | None = None,
) -> Advice:
    """VTEX's HTTP answer to `action` as an `Advice`.

    - Channel Order API (an action with an ``operation``): the envelope's code (SOI003 queued,
      EOI005 invalid, ...) as `interpret_notification` reads it, except where the model has an
      HTTP-layer code (``api = "http"``) for the status: then that code (401, 403, 429 and 5xx
      in the bundled model), whatever the body says.
    - Orders API: 2xx is ``HTTP2XX`` (done); an error body's code the model knows (``OMS003``)
      is that code; anything else is named by its status: ``HTTP400``, ``HTTP404``,
      ``HTTP409``, ``HTTP401``/``HTTP403`` (credentials: needs a person), ``HTTP429`` (with
      ``retry_after`` from ``Retry-After``), ``HTTP5XX``. An answer the model has no code for
      needs a person (``known=False``).
    """
    from .. import bundled_model

    flows = model or bundled_model()
    spec = flows.action(action)
    lowered = {str(k).lower(): v for k, v in (headers or {}).items()}
    retry_after = parse_retry_after(lowered.get("retry-after")) if status == 429 else None
    data = _json(body)
    operation = spec.operation or ""
    # The Channel Order API answers in its envelope, except where the HTTP layer answers for
    # it (the model's HTTP-layer codes: refused credentials, a rate limit, a server error).
    if spec.operation is not None and not _http_layer(flows, _by_status(status)):
        try:
            advice = interpret_notification(data if isinstance(data, Mapping) else body or b"", flows)
        except NotificationError:
            pass  # not an envelope: read by its status below
        else:
            return replace(advice, http_status=status)
    code, message = _error_of(data)
    known = flows.codes.get(code) if code is not None else None
    if (
        code is not None
        and known is not None
        and known.api == "orders"
        and not known.success
        and known.http_status == status  # (a body's code never overrides what the status says)
    ):
        return _from_code(flows, code, status=status, order_id=order_id, detail=message, operation=operation)
    if spec.operation is not None and 200 <= status <= 299:
        # A Channel Order success without its envelope: queued or not, the notification or
        # the order's status will say.
        wait = advice_for("TIMEOUT", flows)  # (the model's word for an outcome still unknown)
        return replace(
            _from_code(flows, "HTTP2XX", status=status, order_id=order_id, operation=operation),
            follow_up=wait.follow_up,
            next_step=wait.next_step,
            consistent=False,
            success=False,
        )
    if status == 408:  # the server gave up reading the request: never applied
        return _from_code(flows, "NETWORK", status=status, order_id=order_id, detail="408 Request Timeout")
    return _from_code(
        flows,
        _by_status(status),
        status=status,
        order_id=order_id,
        detail=message,
        retry_after=retry_after,
        operation=operation,
    )


def transport_advice(
    code: str, detail: str, *, action: str, order_id: str | None = None, model: FlowModel | None = None
) -> Advice:
    """The advice for a request that got no HTTP answer: ``TIMEOUT`` (it may have been applied)
    or ``NETWORK`` (it never reached VTEX)."""
    from .. import bundled_model

    flows = model or bundled_model()
    operation = flows.action(action).operation or ""
    return _from_code(flows, code, status=None, order_id=order_id, detail=detail, operation=operation)
