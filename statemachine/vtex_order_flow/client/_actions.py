"""The client's verbs: one method per action, named after it, each a call of `send`."""

from __future__ import annotations

import abc
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from ..errors import PayloadError
from ._bodies import Cancellation, Invoice, NewOrder, OrderApproval, ReturnInvoice, Tracking

if TYPE_CHECKING:
    from typing import Unpack

    from ._types import SendOptions

__all__: list[str] = []

R = TypeVar("R")


class _Actions(abc.ABC, Generic[R]):
    """One method per action, named after it; each decides, then sends or holds back."""

    @abc.abstractmethod
    def send(self, action: str, order_id: str, body: Any = None, **options: Unpack[SendOptions]) -> R:
        """Decide, then send `action` for the order (or hold it back: see `Answer.sent`)."""

    def create(self, body: NewOrder | Mapping[str, Any], **options: Unpack[SendOptions]) -> R:
        """Channel Order API: integrate a marketplace order (answer SOI003, then a notification)."""
        order_id = (
            body.marketplaceOrderId if isinstance(body, NewOrder) else (body or {}).get("marketplaceOrderId")
        )
        if not isinstance(order_id, str):
            raise PayloadError("create", [("marketplaceOrderId", "Field required")])
        return self.send("create", order_id, body, **options)

    def approve(
        self,
        marketplace_order_id: str,
        body: OrderApproval | Mapping[str, Any] | None = None,
        **options: Unpack[SendOptions],
    ) -> R:
        """Channel Order API: the marketplace approves the order."""
        return self.send("approve", marketplace_order_id, body, **options)

    def cancel(
        self,
        order_id: str,
        body: Cancellation | Mapping[str, Any] | None = None,
        **options: Unpack[SendOptions],
    ) -> R:
        """Orders API: cancel the order."""
        return self.send("cancel", order_id, body, **options)

    def invoice(self, order_id: str, body: Invoice | Mapping[str, Any], **options: Unpack[SendOptions]) -> R:
        """Orders API: a sales invoice (type Output)."""
        return self.send("invoice", order_id, body, **options)

    def return_invoice(
        self, order_id: str, body: ReturnInvoice | Mapping[str, Any], **options: Unpack[SendOptions]
    ) -> R:
        """Orders API: a return invoice (type Input)."""
        return self.send("return-invoice", order_id, body, **options)

    def tracking(
        self, order_id: str, body: Tracking | Mapping[str, Any], **options: Unpack[SendOptions]
    ) -> R:
        """Orders API: tracking on a registered invoice (`body` names it: ``invoiceNumber``)."""
        return self.send("tracking", order_id, body, **options)

    def start_handling(self, order_id: str, **options: Unpack[SendOptions]) -> R:
        """Orders API: start handling the order."""
        return self.send("start-handling", order_id, None, **options)
