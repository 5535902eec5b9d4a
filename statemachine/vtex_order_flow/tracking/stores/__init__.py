"""Where the tracker keeps its records and its outbox: `Store` (the protocol) and one module per
store: `MemoryStore` (the default), `SQLiteStore` (one file), `PostgresStore` (many workers on
many machines).

Every store keeps nothing that decides correctness in the process: every answer comes from the
store's data, so several trackers (threads, processes) on one SQLite file or PostgreSQL schema
agree.

A store of your own implements `Store`; its domain operations read a `Snapshot` or a
`ClaimSnapshot` and write a `Changes` set, each in one call.
"""

from .._changes import Changes, ClaimSnapshot, OrderState, Snapshot
from ._protocol import Store
from .memory import MemoryStore
from .postgres import POSTGRES_SCHEMA_VERSION, PostgresStore
from .sqlite import SCHEMA_VERSION, SQLiteStore

__all__ = [
    "POSTGRES_SCHEMA_VERSION",
    "SCHEMA_VERSION",
    "Changes",
    "ClaimSnapshot",
    "MemoryStore",
    "OrderState",
    "PostgresStore",
    "SQLiteStore",
    "Snapshot",
    "Store",
]
