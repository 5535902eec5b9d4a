"""What the PostgreSQL store needs beside its statements: its arguments checked, DSNs kept out
of error messages, and the listener that hears other processes' ready entries (NOTIFY)."""

from __future__ import annotations

import contextlib
import re
import select
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

from ..._text import shown
from ...errors import InvalidArgumentError, StoreError
from ._sql import Queries

__all__ = ["Listener", "SeqBlocks", "check_arguments", "errors", "rows_of", "safe", "unbroken"]

_NAME = re.compile(r"[a-z_][a-z0-9_]{0,62}\Z")


def check_arguments(
    dsn: object,
    schema: object,
    *,
    min_size: object,
    max_size: object,
    timeout: object,
    synchronous_commit: object,
) -> None:
    """Refuse a bad argument of `PostgresStore` (with or without the extra: the caller's mistake)."""
    if not isinstance(dsn, str) or not dsn:
        raise InvalidArgumentError(f"dsn must be a PostgreSQL connection string, not {shown(dsn)}")
    if "\x00" in dsn or not _encodable(dsn):  # (not echoed: a DSN may hold a password)
        raise InvalidArgumentError(
            "dsn must be valid Unicode text without NUL characters (it has a lone surrogate or a NUL)"
        )
    if not isinstance(schema, str) or not _NAME.match(schema):
        raise InvalidArgumentError(
            f"schema must be a lower-case SQL name (letters, digits, _; at most 63), not {schema!r}"
        )
    for name, value in (("min_size", min_size), ("max_size", max_size)):
        if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= 1000:
            raise InvalidArgumentError(f"{name} must be an integer from 0 to 1000, not {value!r}")
    if isinstance(min_size, int) and isinstance(max_size, int) and max_size < max(min_size, 1):
        raise InvalidArgumentError(f"max_size ({max_size}) must be at least min_size and 1")
    if isinstance(timeout, bool) or not isinstance(timeout, int | float) or not 0 < timeout < 1e6:
        raise InvalidArgumentError(f"timeout must be a number of seconds > 0, not {timeout!r}")
    if not isinstance(synchronous_commit, bool):
        raise InvalidArgumentError(f"synchronous_commit must be True or False, not {synchronous_commit!r}")


@contextlib.contextmanager
def errors(psycopg: Any, what: str) -> Iterator[None]:
    """psycopg's errors and the pool's (a timeout, a closed pool) as `StoreError`."""
    try:
        yield
    except StoreError:
        raise
    except psycopg.Error as error:
        raise StoreError(f"PostgreSQL: cannot {what}: {error}") from error
    except Exception as error:
        if type(error).__module__.startswith("psycopg_pool"):  # PoolTimeout, PoolClosed
            raise StoreError(f"PostgreSQL: cannot {what}: {error}") from error
        raise


def unbroken(psycopg: Any) -> Callable[[Any], None]:
    """The pool's check of a connection it hands out, without a round trip (psycopg_pool's
    `check_connection` costs one on every checkout): an idle connection the server closed (a
    restart, a terminated backend) has the server's last words, or the end of the stream, to
    read; it is refused, and the pool hands out another. (A connection lost some other way
    fails its first statement: that call raises `StoreError`, the pool drops the connection.)"""

    def check(conn: Any) -> None:
        if conn.closed or conn.broken or _readable(conn.fileno()):
            conn.close()  # (a closed connection is discarded, not put back)
            raise psycopg.OperationalError("the server closed this connection")

    return check


def _readable(fd: int) -> bool:
    if hasattr(select, "poll"):
        poller = select.poll()
        poller.register(fd, select.POLLIN)
        return bool(poller.poll(0))
    return bool(select.select([fd], [], [], 0)[0])  # pragma: no cover - Windows


def rows_of(cursor: Any) -> list[Any]:
    """A cursor's rows (none for a statement that returns none)."""
    return cursor.fetchall() if cursor.description is not None else []


def safe(dsn: str) -> str:
    """A DSN as an error message shows it: without its password (a quoted one with spaces, a
    URL's with an unencoded @ in it)."""
    dsn = re.sub(r"(password\s*=\s*)('(?:[^'\\]|\\.)*'|\S+)", r"\1***", dsn)
    return re.sub(r"(://[^:/@]*:).*@", r"\1***@", dsn)


def _encodable(text: str) -> bool:
    """Whether `text` is valid Unicode (no lone surrogate), as psycopg must encode it."""
    try:
        text.encode()
    except UnicodeEncodeError:
        return False
    return True


class SeqBlocks:
    """Sequence numbers from blocks of the store's sequence that this process takes (the
    sequence's increment is `size`): increasing within a process; across processes, roughly in
    the order of the changes. As many blocks as a call needs come in one round trip."""

    def __init__(self, size: int) -> None:
        self._size = size
        self._ranges: list[tuple[int, int]] = []  # (next, end) of the blocks taken, in order
        self._lock = threading.Lock()

    def take(self, count: int, fetch: Callable[[int], list[int]]) -> list[int]:
        """`count` numbers; `fetch(n)` takes the starts of `n` new blocks."""
        taken: list[int] = []
        with self._lock:
            held = sum(end - start for start, end in self._ranges)
            if held < count:
                starts = fetch(-(-(count - held) // self._size))
                self._ranges += [(start, start + self._size) for start in sorted(starts)]
            while len(taken) < count:
                start, end = self._ranges[0]
                take = min(count - len(taken), end - start)
                taken += range(start, start + take)
                if start + take == end:
                    self._ranges.pop(0)
                else:
                    self._ranges[0] = (start + take, end)
        return taken


class Listener:
    """A connection of its own that LISTENs for the store's NOTIFY (entries became ready)."""

    def __init__(self, psycopg: Any, dsn: str, schema: str, sql: Queries) -> None:
        self._psycopg = psycopg
        self._dsn = dsn
        self._schema = schema
        self._sql = sql
        self._conn: Any = None
        self._lock = threading.Lock()

    def wait(self, timeout: float, closed: StoreError | None) -> bool:
        """Wait up to `timeout` seconds for a NOTIFY that entries of this schema became ready (in
        any process); whether one came. Starting to listen answers True at once (what was
        notified before cannot be known: claim); a server that cannot be reached is waited for,
        not spun on."""
        if closed is not None:
            raise closed
        deadline = time.monotonic() + timeout
        with self._lock:
            try:
                if self._conn is None or self._conn.closed:
                    self._conn = self._psycopg.connect(self._dsn, autocommit=True, connect_timeout=5)
                    self._conn.execute(self._sql["listen_ready"])
                    return True
                while (left := deadline - time.monotonic()) > 0:
                    for note in self._conn.notifies(timeout=left, stop_after=1):
                        if note.payload == self._schema:
                            return True
                return False
            except self._psycopg.Error:
                if self._conn is not None:
                    self._conn.close()
                self._conn = None
        time.sleep(max(0.0, deadline - time.monotonic()))  # unreachable: wait, do not spin
        return False

    def close(self) -> None:
        """Stop listening."""
        with self._lock:
            if self._conn is not None:
                self._conn.close()
                self._conn = None
