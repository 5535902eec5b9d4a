"""A testing kit for connector authors: hypothesis strategies and a simulated VTEX.

Test your own retry and status-mapping logic against VTEX's order flow without a VTEX account::

    from hypothesis import given
    from vtex_order_flow.testing import SimulatedVTEX, walks

The simulator (`SimulatedVTEX`) makes no network calls and needs nothing beyond the library.
The strategies (`walks`, `statuses`, ...) need hypothesis (``pip install
'vtex-order-flow[testing]'``), imported on first use: importing this package never does.
`FakeVTEX` serves the simulator on VTEX's HTTP paths (an httpx transport for
`vtex_order_flow.client`); it needs the client extra (httpx), imported on first use too.
"""

from typing import TYPE_CHECKING, Any

from ._faults import Faults, WireCall
from ._simulator import CallResult, SimulatedOrder, SimulatedVTEX

if TYPE_CHECKING:  # (imported on first use at run time: they need httpx, or hypothesis)
    from ._fake import FakeVTEX
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
    from ._web import AppClient

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

_LAZY = {
    "FakeVTEX": ("_fake", "httpx", "client"),
    "AppClient": ("_web", "httpx", "client"),
    **dict.fromkeys(
        (
            "Walk",
            "actions",
            "deliveries",
            "facts",
            "feed_payloads",
            "hook_payloads",
            "notifications",
            "statuses",
            "walks",
        ),
        ("_strategies", "hypothesis", "testing"),
    ),
}
"""The names imported on first use: (their module, what it needs, the extra that installs it)."""


def __getattr__(name: str) -> Any:
    """`FakeVTEX` and `AppClient` (they need httpx) and the strategies (they need hypothesis),
    imported on first use; `MissingExtraError` naming the extra when it is not installed."""
    lazy = _LAZY.get(name)
    if lazy is None:
        raise AttributeError(f"module 'vtex_order_flow.testing' has no attribute {name!r}")
    module, needs, extra = lazy
    import importlib

    try:
        imported = importlib.import_module(f".{module}", __name__)
    except ImportError as error:
        from ..errors import MissingExtraError

        raise MissingExtraError(
            f"vtex_order_flow.testing.{name} needs {needs}: pip install 'vtex-order-flow[{extra}]'"
        ) from error
    return getattr(imported, name)
