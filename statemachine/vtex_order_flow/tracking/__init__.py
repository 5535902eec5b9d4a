"""Track orders from VTEX's hook and feed events; deferred updates go out the moment they become valid.

>>> from vtex_order_flow.tracking import Tracker, parse_event
>>> tracker = Tracker()
>>> tracker.defer("MKP-1", "start-handling").state
<DeferredState.PENDING: 'pending'>
>>> applied = tracker.apply(parse_event(b'{"Domain": "Fulfillment", "OrderId": "MKP-1", '
...     b'"State": "ready-for-handling", "LastState": "window-to-cancel", '
...     b'"LastChange": "2026-11-27T10:00:00.0000000Z", "CurrentChange": "2026-11-27T10:30:00.1234567Z", '
...     b'"Origin": {"Account": "store", "Key": "vtexappkey-store"}}'))
>>> [(d.order_id, d.action, d.state.value) for d in applied.ready]
[('MKP-1', 'start-handling', 'ready')]
"""

from ._events import TICKS_PER_SECOND, EventError, OrderEvent, Ping, format_ticks, parse_event, parse_ticks
from ._hook import HookEndpoint, HookResponse
from ._replay import ReplayResult, numbered_lines, register_deferred, replay, replay_report
from ._stores import MemoryStore, SQLiteStore, Store
from ._tracker import Tracker
from ._types import Anomaly, Applied, Deferred, DeferredState, OrderRecord, RetryPolicy

__all__ = [
    "TICKS_PER_SECOND",
    "Anomaly",
    "Applied",
    "Deferred",
    "DeferredState",
    "EventError",
    "HookEndpoint",
    "HookResponse",
    "MemoryStore",
    "OrderEvent",
    "OrderRecord",
    "Ping",
    "ReplayResult",
    "RetryPolicy",
    "SQLiteStore",
    "Store",
    "Tracker",
    "format_ticks",
    "numbered_lines",
    "parse_event",
    "parse_ticks",
    "register_deferred",
    "replay",
    "replay_report",
]
