"""Track orders from VTEX's hook and feed events; an outbox releases each update the moment the
model says VTEX will accept it.

>>> from vtex_order_flow.tracking import Tracker, parse_event
>>> tracker = Tracker(owner="worker-1")
>>> tracker.register("MKP-1", "start-handling").state
<EntryState.PENDING: 'pending'>
>>> applied = tracker.apply(parse_event(b'{"Domain": "Fulfillment", "OrderId": "MKP-1", '
...     b'"State": "ready-for-handling", "LastState": "window-to-cancel", '
...     b'"LastChange": "2026-01-05T10:00:00.0000000Z", "CurrentChange": "2026-01-05T10:30:00.1234567Z", '
...     b'"Origin": {"Account": "store", "Key": "vtexappkey-store"}}'))
>>> [(e.key, e.state.value) for e in applied.ready]
[('MKP-1:start-handling', 'ready')]
>>> [(e.key, e.state.value, e.owner) for e in tracker.claim(limit=10, lease=30)]
[('MKP-1:start-handling', 'claimed', 'worker-1')]
>>> tracker.sent("MKP-1:start-handling").state
<EntryState.SENT: 'sent'>
"""

from ..errors import EventError as EventError  # (its home; still found here)
from ._events import TICKS_PER_SECOND, OrderEvent, Ping, format_ticks, parse_event, parse_ticks
from ._hook import HookEndpoint, HookResponse
from ._replay import MAX_ERRORS_KEPT, ReplayResult, numbered_lines, register_deferred, replay, replay_report
from ._results import credentials_refused
from ._tracker import Tracker
from ._types import (
    CLAIMABLE,
    IN_FLIGHT,
    OPEN_STATES,
    Anomaly,
    AnomalyKind,
    Applied,
    DropClass,
    Entry,
    EntryState,
    EventOutcome,
    OrderRecord,
    RetryPolicy,
)
from .stores import POSTGRES_SCHEMA_VERSION, SCHEMA_VERSION, MemoryStore, PostgresStore, SQLiteStore, Store

__all__ = [
    "CLAIMABLE",
    "IN_FLIGHT",
    "MAX_ERRORS_KEPT",
    "OPEN_STATES",
    "POSTGRES_SCHEMA_VERSION",
    "SCHEMA_VERSION",
    "TICKS_PER_SECOND",
    "Anomaly",
    "AnomalyKind",
    "Applied",
    "DropClass",
    "Entry",
    "EntryState",
    "EventOutcome",
    "HookEndpoint",
    "HookResponse",
    "MemoryStore",
    "OrderEvent",
    "OrderRecord",
    "Ping",
    "PostgresStore",
    "ReplayResult",
    "RetryPolicy",
    "SQLiteStore",
    "Store",
    "Tracker",
    "credentials_refused",
    "format_ticks",
    "numbered_lines",
    "parse_event",
    "parse_ticks",
    "register_deferred",
    "replay",
    "replay_report",
]
