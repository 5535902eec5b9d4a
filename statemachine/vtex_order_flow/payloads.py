"""Pydantic models of what VTEX sends a connector.

- Channel Order API replies and notifications share one envelope (domain §3.3). Known fields
  are typed strictly; fields VTEX may add later are kept (in ``model_extra``), not refused.
- Order status events (hook, feed, VTEX IO broadcast) are strict on the fields they know (types,
  required fields; only the fields VTEX's own documents disagree on are optional), and keep any
  field VTEX adds (in ``model_extra``): one new field must not stall every order.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

__all__ = [
    "BroadcastEvent",
    "ChannelOrderError",
    "ChannelOrderFields",
    "ChannelOrderResult",
    "FeedItem",
    "HookNotification",
    "HookOrigin",
    "HookPing",
]


class _Payload(BaseModel):
    model_config = ConfigDict(extra="allow", frozen=True, strict=True)


class ChannelOrderError(_Payload):
    """One entry of ``errors``: the source system's own code (``FMT005``, ...) and text."""

    source: str | None = Field(default=None, description="Fulfillment, Checkout or Order Integration.")
    code: str | None = None
    description: str | None = None


class ChannelOrderFields(_Payload):
    """``fields``, present on success: the VTEX order ids."""

    mainOrderId: str | None = None  # noqa: N815 (VTEX's spelling)
    franchiseOrderId: str | None = None  # noqa: N815


class ChannelOrderResult(_Payload):
    """The synchronous reply to create/approve, and the asynchronous notification that follows.

    VTEX posts the notification to
    ``{connectorEndpoint}/order-integration/notification/processing-result?an={accountName}``.
    """

    code: str = Field(min_length=1, description="The result code (the model's [codes] say what each means).")
    flow: str = Field(description="The operation: an action's `operation` in the model, or Unknown.")
    success: bool
    marketplaceOrderId: str | None = None  # noqa: N815
    accountName: str | None = None  # noqa: N815
    operationId: str | None = None  # noqa: N815
    message: str | None = None
    errors: list[ChannelOrderError] | None = None
    fields: ChannelOrderFields | None = None


# -- order status events: the hook, the feed, VTEX IO's broadcast ---------------------------------

# VTEX writes ISO 8601 UTC times with up to 7 fractional digits ("2019-08-14T17:12:48.0965893Z").
TIMESTAMP = r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,9})?(Z|[+-]\d{2}:?\d{2})$"
Timestamp = Annotated[
    str, Field(pattern=TIMESTAMP, description="ISO 8601, e.g. 2019-08-14T17:12:48.0965893Z")
]
NonEmpty = Annotated[str, Field(min_length=1)]


class _Event(BaseModel):
    model_config = ConfigDict(extra="allow", frozen=True, strict=True)


class HookOrigin(_Event):
    """Which account and app key a hook delivery comes from."""

    Account: NonEmpty
    Key: str


class HookNotification(_Event):
    """What VTEX posts to an order hook (Orders API ``HookConfiguration``; the orders-feed guide).

    The OpenAPI schema requires every field; the guide's own example leaves out ``LastState``
    and ``CurrentChange`` (domain §8 A11), so those two are optional here, and only those.
    """

    Domain: NonEmpty = Field(description="Marketplace or Fulfillment.")
    OrderId: NonEmpty
    State: NonEmpty
    LastState: str | None = None
    LastChange: Timestamp
    CurrentChange: Timestamp | None = None
    Origin: HookOrigin


class HookPing(_Event):
    """VTEX's check when a hook is configured: answer 200 or the configuration fails."""

    hookConfig: Literal["ping"]  # noqa: N815


class FeedItem(_Event):
    """One item of ``GET /api/orders/feed`` (Feed v3); commit its ``handle`` once applied."""

    eventId: NonEmpty  # noqa: N815
    handle: NonEmpty
    domain: NonEmpty
    state: NonEmpty
    lastState: str  # noqa: N815
    orderId: NonEmpty  # noqa: N815
    lastChange: Timestamp  # noqa: N815
    currentChange: Timestamp  # noqa: N815


class BroadcastEvent(_Event):
    """A VTEX IO ``vtex.orders-broadcast`` order status event (as the marketplace app template reads it)."""

    domain: NonEmpty
    orderId: NonEmpty  # noqa: N815
    currentState: NonEmpty  # noqa: N815
    lastState: str | None = None  # noqa: N815
    currentChangeDate: Timestamp  # noqa: N815
    lastChangeDate: Timestamp | None = None  # noqa: N815
