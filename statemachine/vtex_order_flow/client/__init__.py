"""Send to VTEX only what the model says VTEX will accept: an HTTP client gated by the decisions,
and a dispatcher that drains the outbox through it. Needs the extra: ``pip install
'vtex-order-flow[client]'`` (httpx, stamina).

>>> import httpx
>>> from vtex_order_flow.client import VtexClient
>>> def vtex(request: httpx.Request) -> httpx.Response:
...     return httpx.Response(204)
>>> client = VtexClient("store", "vtexappkey-store-X", "token", transport=httpx.MockTransport(vtex))
>>> client.start_handling("1234-01", status="ready-for-handling").advice.code
'HTTP2XX'
>>> held = client.start_handling("1234-01", status="window-to-cancel")
>>> held.sent, held.decision.verdict.value
(False, 'defer')
"""

try:
    import httpx as _httpx  # noqa: F401
    import stamina as _stamina  # noqa: F401
except ImportError:  # pragma: no cover (the extra is installed wherever the tests run)
    from ..errors import MissingExtraError

    raise MissingExtraError(
        "vtex_order_flow.client needs httpx and stamina: pip install 'vtex-order-flow[client]'"
    ) from None

import logging as _logging

from ._answers import interpret_answer, parse_retry_after, transport_advice
from ._async import AsyncVtexClient
from ._bodies import (
    Address,
    Cancellation,
    ClientProfile,
    Invoice,
    InvoiceItem,
    LogisticsInfo,
    NewOrder,
    OrderApproval,
    OrderItem,
    RequestBody,
    ReturnInvoice,
    Sender,
    ShippingData,
    Tracking,
)
from ._dispatcher import Dispatcher, Outcome
from ._requests import RequestBuilder
from ._sync import VtexClient
from ._types import Answer, Request, SendOptions

# A library's loggers stay quiet until the application configures logging.
_logging.getLogger("vtex_order_flow.client").addHandler(_logging.NullHandler())
_logging.getLogger("vtex_order_flow.dispatcher").addHandler(_logging.NullHandler())

__all__ = [
    "Address",
    "Answer",
    "AsyncVtexClient",
    "Cancellation",
    "ClientProfile",
    "Dispatcher",
    "Invoice",
    "InvoiceItem",
    "LogisticsInfo",
    "NewOrder",
    "OrderApproval",
    "OrderItem",
    "Outcome",
    "Request",
    "RequestBody",
    "RequestBuilder",
    "ReturnInvoice",
    "SendOptions",
    "Sender",
    "ShippingData",
    "Tracking",
    "VtexClient",
    "interpret_answer",
    "parse_retry_after",
    "transport_advice",
]
