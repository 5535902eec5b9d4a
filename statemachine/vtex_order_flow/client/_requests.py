"""Request building: the HTTP request an action makes for an order, validated, nothing sent.

The endpoint and method come from the model; the body is the action's `RequestBody` (the
`BODIES` registry), which fills in what it takes from the request and says what must agree with
it. The clients build their requests with a `RequestBuilder`; the dispatcher builds an outbox
entry's with `RequestBuilder.for_entry` (through `VtexClient.entry_request`).

>>> from vtex_order_flow import bundled_model
>>> builder = RequestBuilder(bundled_model(), "https://store.vtexcommercestable.com.br", "store")
>>> request = builder.build("start-handling", "1234-01")
>>> request.method, request.url
('POST', 'https://store.vtexcommercestable.com.br/api/oms/pvt/orders/1234-01/start-handling')
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import quote, urlsplit

import httpx
from pydantic import ValidationError

from .. import FlowModel
from .._guards import expect, expect_id
from .._text import validation_problems
from ..errors import InvalidArgumentError, PayloadError
from ._bodies import BODIES, RequestBody, Sender
from ._types import Request

if TYPE_CHECKING:
    from ..tracking import Entry

__all__ = ["RequestBuilder", "check_account", "check_base_url"]

_ACCOUNT = re.compile(r"^[A-Za-z0-9][A-Za-z0-9-]{0,62}$")


def check_account(value: object, what: str, example: str) -> str:
    """A host label (a VTEX account or environment name)."""
    if not isinstance(value, str) or not _ACCOUNT.match(value):
        raise InvalidArgumentError(f"{what} must be {example}, not {value!r}")
    return value


def check_base_url(base_url: object) -> str:
    """An http(s) URL with a host and nothing after its path: no query, no fragment, and no
    credentials in it (they would be printed). Returned without its trailing slashes."""
    problem = None
    try:
        parts = None
        if isinstance(base_url, str):
            parts = urlsplit(base_url)
            httpx.URL(base_url)  # what httpx would refuse (a bad port, say)
    except (ValueError, httpx.InvalidURL):
        parts, problem = None, "not a URL"
    if parts is None or parts.scheme not in ("http", "https") or not parts.hostname:
        problem = problem or "an http(s) URL with a host"
    elif parts.query or parts.fragment or "#" in str(base_url) or "?" in str(base_url):
        problem = "no query or fragment"
    elif parts.username is not None or parts.password is not None:
        problem = "no credentials in it (the app key and token go in headers)"
    if problem is not None or not isinstance(base_url, str):
        shown = base_url if isinstance(base_url, str) and "@" not in base_url else type(base_url).__name__
        raise InvalidArgumentError(f"base_url must be {problem}, not {shown!r}")
    return base_url.rstrip("/")


def _body(action: str, given: Any, sender: Sender) -> RequestBody | None:
    """The action's body from what the caller gave (a body, a mapping, or None), validated:
    `PayloadError` names each bad field."""
    kind = BODIES.get(action)
    if kind is None:
        if action not in BODIES:
            raise InvalidArgumentError(
                f"the client has no request for action {action!r}; it sends {sorted(BODIES)}"
            )
        if given not in (None, {}):
            raise PayloadError(action, [("", "this action takes no body")])
        return None
    data = kind.filled(given, sender)
    if isinstance(data, RequestBody):
        if not isinstance(data, kind):
            raise PayloadError(action, [("", f"a {type(data).__name__}, not a {kind.__name__}")])
        return data
    if data is None:
        raise PayloadError(action, [("", f"{action} needs a request body (a {kind.__name__})")])
    if not isinstance(data, Mapping):
        raise PayloadError(action, [("", f"a {kind.__name__} or a mapping, not {type(data).__name__}")])
    try:
        made = kind.model_validate(data)
    except ValidationError as error:
        raise PayloadError(action, validation_problems(error, with_input=True)) from None
    try:  # NaN and Infinity are no JSON: refused, not sent as null
        json.dumps(made.model_dump(mode="python", by_alias=True), allow_nan=False, default=str)
    except ValueError:
        raise PayloadError(action, [("", "NaN and Infinity are not JSON numbers")]) from None
    problems = made.problems_for(sender.order_id)
    if problems:
        raise PayloadError(action, problems)
    return made


@dataclass(frozen=True, slots=True)
class RequestBuilder:
    """Builds the request each action makes against one VTEX account: the endpoint and method
    from `model`, the path under `base_url`, the body typed and validated. The connector's name
    and endpoint fill the Channel Order API bodies that take them (``approve``, ``create``)."""

    model: FlowModel
    base_url: str
    account: str
    connector_name: str | None = None
    connector_endpoint: str | None = None

    def __post_init__(self) -> None:
        expect(self.model, FlowModel, "the request builder's model")
        check_account(self.account, "account", "a VTEX account name (letters, digits, hyphens)")
        object.__setattr__(self, "base_url", check_base_url(self.base_url))

    def build(self, action: str, order_id: str, body: Any = None) -> Request:
        """The request `action` makes for the order (validated; nothing sent): the endpoint and
        method from the model, the body typed (`PayloadError` names each bad field). For
        ``create`` and ``approve`` the order id is the marketplace's; for the Orders API, VTEX's."""
        spec = self.model.action(action)
        expect_id(order_id)
        made = _body(spec.name, body, Sender(order_id, self.connector_name, self.connector_endpoint))
        if spec.endpoint is None:
            raise InvalidArgumentError(f"action {spec.name!r} has no endpoint in the model")
        method, _, template = spec.endpoint.partition(" ")
        values = {"orderId": order_id, **(made.path_values() if made is not None else {})}
        for name, value in values.items():
            if value in (".", "..") or "/" in value or "\\" in value:
                raise PayloadError(
                    spec.name,
                    [(name, f"{value!r} cannot name a resource in a URL path (VTEX's ids have no '/')")],
                )
        path = re.sub(r"\{(\w+)\}", lambda m: quote(values[m.group(1)], safe=""), template)
        params = {"an": self.account} if spec.operation is not None else {}
        return Request(
            spec.name, method, self.base_url + path, made.to_json() if made is not None else None, params
        )

    def for_entry(self, entry: Entry, marketplace_id: str | None = None) -> Request:
        """The request for an outbox entry, from its stored payload: the marketplace's order id
        (`marketplace_id`, when the tracker has linked one) for the Channel Order API, VTEX's
        for the Orders API."""
        channel = self.model.action(entry.action).operation is not None
        order_id = (marketplace_id or entry.order_id) if channel else entry.order_id
        return self.build(entry.action, order_id, entry.payload)
