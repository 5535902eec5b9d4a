"""Typed request bodies, written from VTEX's OpenAPI files (Channel Order API: ``EnqueueNewOrder``,
``UpdateOrderStatus``; Orders API: ``CancelOrder``, ``InvoiceNotification``,
``Updatepartialinvoice.SendTrackingNumber``; ``StartHandling`` has no body).

Fields the specs require are required; fields VTEX may add later are kept and sent as given
(``extra="allow"``): a new optional field of VTEX's must not need a release of this library.
Money is in cents, as VTEX's APIs take it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Any, Literal, NamedTuple

from pydantic import BaseModel, ConfigDict, Field, StrictInt

__all__ = [
    "Address",
    "Cancellation",
    "ClientProfile",
    "Invoice",
    "InvoiceItem",
    "LogisticsInfo",
    "NewOrder",
    "OrderApproval",
    "OrderItem",
    "RequestBody",
    "ReturnInvoice",
    "Sender",
    "ShippingData",
    "Tracking",
]

Text = Annotated[str, Field(min_length=1)]
# VTEX's known issues (domain K15-K17): an invoice number with '/', '#' or spaces at its ends
# breaks the tracking routes and cannot be corrected afterwards.
InvoiceNumber = Annotated[
    str,
    Field(
        min_length=1,
        pattern=r"^[^/#\s](?:[^/#]*[^/#\s])?$",
        description="No '/', '#' or spaces at its ends: VTEX's tracking routes break on them.",
    ),
]
Cents = Annotated[StrictInt, Field(ge=0)]  # (strict: True is not 1 cent, "100" not 100)
Count = Annotated[StrictInt, Field(gt=0)]


class Sender(NamedTuple):
    """What a body may take from the request it goes in: the order's id (the marketplace's for
    the Channel Order API) and the connector's name and endpoint (the client's settings)."""

    order_id: str
    connector_name: str | None = None
    connector_endpoint: str | None = None


class RequestBody(BaseModel):
    """A request body: validated on construction, sent as JSON with VTEX's field names.

    Each action's body says what it takes from the request (`filled`), what must agree with it
    (`problems_for`) and what it puts in the URL's path (`path_values`); request building
    (`RequestBuilder`) knows no body by its class."""

    model_config = ConfigDict(extra="allow", frozen=True, populate_by_name=True, allow_inf_nan=False)

    def to_json(self) -> dict[str, Any]:
        """The body as sent (fields left unset are left out)."""
        return self.model_dump(mode="json", by_alias=True, exclude_none=True)

    @classmethod
    def filled(cls, given: Any, sender: Sender) -> Any:
        """What the caller gave, with what this body takes from the request filled in (before it
        is validated). As given by default."""
        return given

    def problems_for(self, order_id: str) -> list[tuple[str, str]]:
        """The fields that contradict the request's order id (`PayloadError`'s problems). None
        by default."""
        return []

    def path_values(self) -> dict[str, str]:
        """The values this body puts in the endpoint's path, by placeholder. None by default."""
        return {}


def _same_order(body_id: str, order_id: str) -> list[tuple[str, str]]:
    """A Channel Order body names the order the request is for, or it is refused."""
    if body_id == order_id:
        return []
    return [("marketplaceOrderId", f"{body_id!r} is not the order's id {order_id!r}")]


class OrderItem(RequestBody):
    """One SKU of a new order."""

    id: Text = Field(description="The SKU id in VTEX's catalog.")
    price: Cents = Field(description="Unit price in cents (USD 110.50 is 11050).")
    quantity: Count


class ClientProfile(RequestBody):
    """The customer (``clientProfileData``); the corporate fields only for corporate orders."""

    email: Text
    firstName: Text  # noqa: N815 (VTEX's spelling)
    lastName: Text  # noqa: N815
    phone: Text
    document: Text
    corporateDocument: str | None = None  # noqa: N815
    corporatePhone: str | None = None  # noqa: N815
    corporateName: str | None = None  # noqa: N815
    tradeName: str | None = None  # noqa: N815
    stateInscription: str | None = None  # noqa: N815


class LogisticsInfo(RequestBody):
    """The SLA that delivers one item (``shippingData.logisticsInfo[]``)."""

    price: Cents
    selectedDeliveryChannel: Literal["delivery", "pickup-in-point"]  # noqa: N815
    selectedSla: Text  # noqa: N815
    lockTTL: Text = Field(description="Inventory reservation, e.g. '8d'.")  # noqa: N815
    shippingEstimate: Text = Field(description="Delivery estimate, e.g. '7bd'.")  # noqa: N815
    deliveryIds: list[dict[str, Any]] | None = None  # noqa: N815


class Address(RequestBody):
    """One of ``shippingData.selectedAddresses``."""

    addressType: Text  # noqa: N815
    receiverName: Text  # noqa: N815
    postalCode: Text  # noqa: N815
    country: Annotated[str, Field(min_length=3, max_length=3, description="ISO 3166-1 alpha-3.")]
    addressId: str | None = None  # noqa: N815
    city: str | None = None
    state: str | None = None
    street: str | None = None
    number: str | None = None
    neighborhood: str | None = None
    complement: str | None = None
    geoCoordinates: dict[str, float] | None = None  # noqa: N815


class ShippingData(RequestBody):
    """Where and how the order is delivered."""

    logisticsInfo: list[LogisticsInfo] = Field(min_length=1)  # noqa: N815
    selectedAddresses: list[Address] = Field(min_length=1)  # noqa: N815
    isFob: bool  # noqa: N815
    isMarketplaceFulfillment: bool  # noqa: N815
    trackingHints: list[dict[str, Any]] | None = None  # noqa: N815


class NewOrder(RequestBody):
    """``POST /api/order-integration/orders`` (Channel Order API ``EnqueueNewOrder``): integrate
    a marketplace order into VTEX. VTEX answers SOI003 (queued), then notifies SOI001 with its
    own order id (``fields.mainOrderId``) or an error code."""

    marketplaceOrderId: Text  # noqa: N815
    marketplaceOrderStatus: Literal["new", "approved"] = "new"  # noqa: N815
    marketplacePaymentValue: Cents  # noqa: N815
    allowFranchises: bool = False  # noqa: N815
    items: list[OrderItem] = Field(min_length=1)
    clientProfileData: ClientProfile  # noqa: N815
    shippingData: ShippingData  # noqa: N815
    invoiceData: dict[str, Any] | None = None  # noqa: N815
    connectorName: str | None = None  # noqa: N815
    connectorEndpoint: str | None = Field(  # noqa: N815
        default=None, description="Where VTEX posts the notifications about the order."
    )
    marketplaceInterestValue: Cents | None = None  # noqa: N815
    priceDivergenceAllowanceRate: float | None = None  # noqa: N815
    pickupAccountName: str | None = None  # noqa: N815
    customData: dict[str, Any] | None = None  # noqa: N815
    taxData: list[dict[str, Any]] | None = None  # noqa: N815
    openTextField: str | None = None  # noqa: N815

    @classmethod
    def filled(cls, given: Any, sender: Sender) -> Any:
        """The connector's name and endpoint (the client's) unless the order names its own."""
        if not isinstance(given, Mapping):
            return given
        defaults = {"connectorName": sender.connector_name, "connectorEndpoint": sender.connector_endpoint}
        return {**{k: v for k, v in defaults.items() if v is not None}, **given}

    def problems_for(self, order_id: str) -> list[tuple[str, str]]:
        """The order's ``marketplaceOrderId`` is the request's order id."""
        return _same_order(self.marketplaceOrderId, order_id)


class OrderApproval(RequestBody):
    """``PUT /api/order-integration/orders/status`` (Channel Order API ``UpdateOrderStatus``):
    the marketplace approves the order (VTEX answers SOI003, then notifies SOI002 or an error)."""

    marketplaceOrderId: Text  # noqa: N815
    marketplaceOrderStatus: Literal["approved"] = "approved"  # noqa: N815
    connectorName: Text  # noqa: N815
    connectorEndpoint: Text  # noqa: N815

    @classmethod
    def filled(cls, given: Any, sender: Sender) -> Any:
        """The request's order id and the connector's name and endpoint, under what was given."""
        return {
            "marketplaceOrderId": sender.order_id,
            "connectorName": sender.connector_name,
            "connectorEndpoint": sender.connector_endpoint,
            **(given.to_json() if isinstance(given, RequestBody) else dict(given or {})),
        }

    def problems_for(self, order_id: str) -> list[tuple[str, str]]:
        """The approval's ``marketplaceOrderId`` is the request's order id."""
        return _same_order(self.marketplaceOrderId, order_id)


class Cancellation(RequestBody):
    """``POST /api/oms/pvt/orders/{orderId}/cancel`` (Orders API ``Cancellation``)."""

    reason: str | None = None
    requestedByUser: bool | None = None  # noqa: N815

    @classmethod
    def filled(cls, given: Any, sender: Sender) -> Any:
        """No body is an empty one (VTEX's cancel takes ``{}``)."""
        return {} if given is None else given


class InvoiceItem(RequestBody):
    """One SKU of an invoice."""

    id: Text
    price: Cents = Field(description="Price in cents.")
    quantity: Count
    description: str | None = None


class _InvoiceBase(RequestBody):
    issuanceDate: Text  # noqa: N815
    invoiceNumber: InvoiceNumber  # noqa: N815
    invoiceValue: Annotated[str, Field(pattern=r"^[1-9][0-9]*$")] = Field(  # noqa: N815
        description="The invoiced total in cents, as digits ('12050'); more than 0."
    )
    items: list[InvoiceItem] = Field(min_length=1)
    invoiceKey: str | None = None  # noqa: N815
    invoiceUrl: str | None = None  # noqa: N815
    embeddedInvoice: str | None = None  # noqa: N815
    courier: str | None = None
    trackingNumber: str | None = None  # noqa: N815
    trackingUrl: str | None = None  # noqa: N815
    dispatchedDate: str | None = None  # noqa: N815


class Invoice(_InvoiceBase):
    """``POST /api/oms/pvt/orders/{orderId}/invoice`` with ``type`` Output: a sales invoice
    (the same ``invoiceNumber`` again only gets a new receipt)."""

    type: Literal["Output"] = "Output"


class ReturnInvoice(_InvoiceBase):
    """``POST /api/oms/pvt/orders/{orderId}/invoice`` with ``type`` Input: a return invoice,
    which creates the refund."""

    type: Literal["Input"] = "Input"


class Tracking(RequestBody):
    """``PATCH /api/oms/pvt/orders/{orderId}/invoice/{invoiceNumber}``: tracking on a registered
    invoice. `invoiceNumber` names the invoice in the path; it is not sent in the body."""

    invoiceNumber: InvoiceNumber = Field(exclude=True)  # noqa: N815
    trackingNumber: Text  # noqa: N815
    trackingUrl: Text  # noqa: N815
    dispatchedDate: Text  # noqa: N815
    courier: Text

    def path_values(self) -> dict[str, str]:
        """The invoice the tracking is for names the path: ``{invoiceNumber}``."""
        return {"invoiceNumber": self.invoiceNumber}


# The body each action takes (None: no body): the one registry of actions to bodies.
BODIES: dict[str, type[RequestBody] | None] = {
    "create": NewOrder,
    "approve": OrderApproval,
    "cancel": Cancellation,
    "invoice": Invoice,
    "return-invoice": ReturnInvoice,
    "tracking": Tracking,
    "start-handling": None,
}
