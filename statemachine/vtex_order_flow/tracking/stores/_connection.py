"""The SQLite store's connection: one whose statements fail with `StoreError`, and what a closed
store holds instead."""

from __future__ import annotations

import sqlite3
from typing import Any

from ...errors import StoreError

__all__ = ["ClosedConnection", "Typed"]


class Typed:
    """An SQLite connection whose statements fail with `StoreError` (a missing table, a file
    that is not a database, a full disk), never with sqlite3's own errors."""

    def __init__(self, db: sqlite3.Connection, path: str) -> None:
        self._db = db
        self._path = path

    def execute(self, sql: str, params: Any = ()) -> sqlite3.Cursor:
        try:
            return self._db.execute(sql, params)
        except sqlite3.Error as error:
            raise StoreError(f"{self._path!r}: {error}") from error

    def executemany(self, sql: str, rows: Any) -> sqlite3.Cursor:
        try:
            return self._db.executemany(sql, rows)
        except sqlite3.Error as error:
            raise StoreError(f"{self._path!r}: {error}") from error

    @property
    def in_transaction(self) -> bool:
        return self._db.in_transaction

    def set_trace_callback(self, callback: Any) -> None:
        self._db.set_trace_callback(callback)

    def close(self) -> None:
        self._db.close()


class ClosedConnection:
    """What a closed SQLite store holds instead of its connection: every use is a StoreError."""

    in_transaction = False

    def __init__(self, error: StoreError) -> None:
        self.error = error

    def execute(self, *args: Any) -> Any:
        raise self.error

    def executemany(self, *args: Any) -> Any:
        raise self.error

    def set_trace_callback(self, callback: Any) -> None:
        raise self.error

    def close(self) -> None:
        return None
