"""A testing kit for connector authors: hypothesis strategies and a simulated VTEX.

Test your own retry and status-mapping logic against VTEX's order flow without a VTEX account::

    from hypothesis import given
    from vtex_order_flow.testing import SimulatedVTEX, walks

The strategies need hypothesis: ``pip install 'vtex-order-flow[testing]'``. The simulator makes
no network calls.
"""

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
    "CallResult",
    "SimulatedOrder",
    "SimulatedVTEX",
    "Walk",
    "actions",
    "deliveries",
    "facts",
    "feed_payloads",
    "hook_payloads",
    "notifications",
    "statuses",
    "walks",
]
