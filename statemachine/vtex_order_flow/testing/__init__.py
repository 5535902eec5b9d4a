"""A testing kit for connector authors: hypothesis strategies and a simulated VTEX.

Test your own retry and status-mapping logic against VTEX's order flow without a VTEX account::

    from hypothesis import given
    from vtex_order_flow.testing import SimulatedVTEX, walks

The strategies need hypothesis: ``pip install 'vtex-order-flow[testing]'``. The simulator makes
no network calls. `FakeVTEX` serves the simulator on VTEX's HTTP paths (an httpx transport for
`vtex_order_flow.client`); it needs the client extra (httpx), imported on first use.
"""

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # (imported on first use at run time: they need httpx)
    from ._fake import FakeVTEX, Faults, WireCall
    from ._web import AppClient

from ._simulator import CallResult, SimulatedOrder, SimulatedVTEX

try:
    from ._strategies import (
        Walk,
        actions,
        deliveries,
        facts,
        feed_payloads,
        hook_payloads,
        notifications,
        statuses,
        walks,
    )
except ImportError as error:  # pragma: no cover - exercised only without hypothesis
    from ..errors import MissingExtraError

    raise MissingExtraError(
        "vtex_order_flow.testing needs hypothesis: pip install 'vtex-order-flow[testing]'"
    ) from error

__all__ = [
    "AppClient",
    "CallResult",
    "FakeVTEX",
    "Faults",
    "SimulatedOrder",
    "SimulatedVTEX",
    "Walk",
    "WireCall",
    "actions",
    "deliveries",
    "facts",
    "feed_payloads",
    "hook_payloads",
    "notifications",
    "statuses",
    "walks",
]

_FAKE = frozenset({"FakeVTEX", "Faults", "WireCall"})
_WEB = frozenset({"AppClient"})


def __getattr__(name: str) -> Any:
    """`FakeVTEX` and its kin, imported on first use (they need httpx)."""
    if name not in _FAKE | _WEB:
        raise AttributeError(f"module 'vtex_order_flow.testing' has no attribute {name!r}")
    try:
        from . import _fake, _web
    except ImportError as error:
        from ..errors import MissingExtraError

        raise MissingExtraError(
            "vtex_order_flow.testing.FakeVTEX needs httpx: pip install 'vtex-order-flow[client]'"
        ) from error
    return getattr(_web if name in _WEB else _fake, name)
