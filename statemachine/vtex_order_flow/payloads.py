"""Pydantic models of what VTEX sends a connector: Channel Order API replies and notifications.

Replies and notifications share one envelope (domain §3.3). Known fields are typed strictly;
fields VTEX may add later are kept (in ``model_extra``), not refused, so that a new field in
production does not stop a connector.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

__all__ = ["ChannelOrderError", "ChannelOrderFields", "ChannelOrderResult"]


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

    code: str = Field(min_length=1, description="SOI001-SOI003, EOI000-EOI011.")
    flow: Literal["PlaceOrder", "ApproveOrder", "Unknown"]
    success: bool
    marketplaceOrderId: str | None = None  # noqa: N815
    accountName: str | None = None  # noqa: N815
    operationId: str | None = None  # noqa: N815
    message: str | None = None
    errors: list[ChannelOrderError] | None = None
    fields: ChannelOrderFields | None = None
