"""What the outbox benchmarks share: the clock, a hand-written outbox's tables and statements
(the floor), and a fast load of a large backlog into a store through the tables it made.

Loading: a template order is made through the public API (``Tracker.apply``,
``Tracker.register``, ... on the store, so its rows are the store's own), then its rows are
copied raw, once per order with the order id replaced, into whatever tables the store created
(``COPY`` on PostgreSQL, ``executemany`` on SQLite; columns named ``seq`` numbered anew), and
the tables analysed. Nothing here names a column of the stores: it holds across a change of
their schema. (Registering a million entries one transaction each through the API would take
hours on PostgreSQL.)
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import psycopg

from vtex_order_flow.tracking import parse_ticks

T0 = parse_ticks("2026-01-05T10:00:00Z")
SECOND = 10_000_000
NOW = T0 / SECOND + 3600
TEMPLATE = "TPL-0000000-01"

FLOOR_TABLES = (
    "CREATE TABLE orders (order_id TEXT PRIMARY KEY, status TEXT NOT NULL, changed_at BIGINT NOT NULL)",
    "CREATE TABLE entries (key TEXT PRIMARY KEY, order_id TEXT NOT NULL, action TEXT NOT NULL, "
    "state TEXT NOT NULL, due DOUBLE PRECISION, seq BIGINT NOT NULL, owner TEXT)",
    "CREATE INDEX entries_order ON entries (order_id)",
    "CREATE INDEX entries_due ON entries (due, seq) WHERE state IN ('ready', 'retry', 'claimed')",
)
"""A hand-written outbox: the orders' statuses, and the entries with the indexes a claim and an
event need (an event's entries by order: a plain index, which SQLite uses for ``state IN
('pending', 'ready')`` where it would not use a partial one on the five open states)."""


def floor_claim_sql(postgres: bool) -> str:
    """A claim of 100 in one statement: take them (skipping rows another worker holds), lease them."""
    p = "%s" if postgres else "?"
    lock = " FOR UPDATE SKIP LOCKED" if postgres else ""  # (SQLite: the write lock serialises)
    return (
        f"UPDATE entries SET state = 'claimed', owner = {p}, due = {p} WHERE key IN ("
        f"SELECT key FROM entries WHERE state IN ('ready', 'retry', 'claimed') AND due <= {p} "
        f"ORDER BY due, seq LIMIT 100{lock}) RETURNING key, order_id, action"
    )


def floor_upsert_sql(postgres: bool) -> str:
    """An event's upsert of its order's status: an older event does not move it back."""
    p = "%s" if postgres else "?"
    return (
        f"INSERT INTO orders AS r (order_id, status, changed_at) VALUES ({p}, {p}, {p}) "
        "ON CONFLICT (order_id) DO UPDATE SET status = excluded.status, changed_at = excluded.changed_at "
        "WHERE r.changed_at < excluded.changed_at"
    )


FLOOR_EVENT_POSTGRES = (
    f"WITH moved AS ({floor_upsert_sql(True)} RETURNING order_id) "
    "UPDATE entries SET state = %s, due = %s FROM moved "
    "WHERE entries.order_id = moved.order_id AND entries.state IN ('pending', 'ready')"
)
"""An event on PostgreSQL in one statement (one round trip, one transaction): the upsert, then
the order's open entries when it moved. Parameters: order, status, time, new state, due."""

FLOOR_ENTRIES_SQLITE = (
    "UPDATE entries SET state = ?, due = ? WHERE order_id = ? AND state IN ('pending', 'ready')"
)


def floor_event_sqlite(
    conn: sqlite3.Connection, order: str, status: str, changed_at: int, ready: bool
) -> None:
    """An event on SQLite: one transaction, the upsert, then the order's open entries if it moved."""
    conn.execute("BEGIN IMMEDIATE")
    if conn.execute(floor_upsert_sql(False), (order, status, changed_at)).rowcount:
        conn.execute(FLOOR_ENTRIES_SQLITE, ("ready" if ready else "pending", 0.0 if ready else None, order))
    conn.execute("COMMIT")


def sqlite_connect(path: str) -> sqlite3.Connection:
    """As the SQLite store connects: autocommit, WAL, synchronous NORMAL, waiting for the lock."""
    conn = sqlite3.connect(path, isolation_level=None, timeout=120)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=NORMAL")
    return conn


class Clock:
    """A tracker's clock, moved on by the benchmark."""

    def __init__(self, now: float = NOW) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def order_id(n: int) -> str:
    return f"MKP-{n:07d}-01"


def _template_rows(rows: Sequence[Sequence[Any]], template: str) -> list[Sequence[Any]]:
    return [row for row in rows if any(isinstance(value, str) and template in value for value in row)]


def _clones(
    rows: list[Sequence[Any]],
    columns: list[str],
    orders: int,
    template: str,
    name: Callable[[int], str],
    *,
    first_seq: int,
) -> Iterator[tuple[Any, ...]]:
    """Each template row once per order: the order id replaced, ``seq`` columns numbered anew
    from `first_seq` (distinct, should a store make them unique)."""
    for n in range(orders):
        order = name(n)
        for k, row in enumerate(rows):
            yield tuple(
                value.replace(template, order)
                if isinstance(value, str)
                else (first_seq + n * len(rows) + k if column == "seq" and isinstance(value, int) else value)
                for column, value in zip(columns, row, strict=True)
            )


def _first_seq(conn: Any, table: str, columns: list[str]) -> int:
    """Past the table's highest ``seq`` (a store's own rows, or an earlier copy's)."""
    if "seq" not in columns:
        return 0
    (highest,) = conn.execute(f'SELECT COALESCE(MAX("seq"), 0) FROM {table}').fetchone()
    return int(highest) + 1_000


def clone_sqlite(
    path: str, orders: int, template: str = TEMPLATE, name: Callable[[int], str] = order_id
) -> int:
    """Copy the template order's rows `orders` times into every table that holds it; the rows written."""
    written = 0
    conn = sqlite3.connect(path, isolation_level=None)
    try:
        tables = [
            table
            for (table,) in conn.execute(
                "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'"
            )
        ]
        conn.execute("BEGIN IMMEDIATE")
        for table in tables:
            cursor = conn.execute(f'SELECT * FROM "{table}"')
            columns = [d[0] for d in cursor.description]
            rows = _template_rows(cursor.fetchall(), template)
            if rows:
                names = ", ".join(f'"{c}"' for c in columns)
                marks = ", ".join("?" * len(columns))
                first = _first_seq(conn, f'"{table}"', columns)
                conn.executemany(
                    f'INSERT INTO "{table}" ({names}) VALUES ({marks})',
                    _clones(rows, columns, orders, template, name, first_seq=first),
                )
                written += len(rows) * orders
        conn.execute("COMMIT")
        conn.execute("ANALYZE")
    finally:
        conn.close()
    return written


def _copy_type(udt: str) -> str:
    return f"{udt[1:]}[]" if udt.startswith("_") else udt


def clone_postgres(
    dsn: str, schema: str, orders: int, template: str = TEMPLATE, name: Callable[[int], str] = order_id
) -> int:
    """Copy the template order's rows `orders` times (COPY) into every table of the store's schema
    that holds it, then VACUUM ANALYZE them; the rows written."""
    written = 0
    highest = 0
    copied: list[str] = []
    with psycopg.connect(dsn) as conn:
        tables = conn.execute(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = %s "
            "AND table_type = 'BASE TABLE'",
            (schema,),
        ).fetchall()
        for (table,) in tables:
            cursor = conn.execute(f'SELECT * FROM "{schema}"."{table}"')
            columns = [d.name for d in cursor.description or ()]
            rows = _template_rows(cursor.fetchall(), template)
            if not rows:
                continue
            types: dict[str, str] = dict(
                conn.execute(
                    "SELECT column_name, udt_name FROM information_schema.columns "
                    "WHERE table_schema = %s AND table_name = %s",
                    (schema, table),
                ).fetchall()
            )
            names = ", ".join(f'"{c}"' for c in columns)
            first = _first_seq(conn, f'"{schema}"."{table}"', columns)
            with cursor.copy(f'COPY "{schema}"."{table}" ({names}) FROM STDIN') as copy:
                copy.set_types([_copy_type(types[c]) for c in columns])
                for clone in _clones(rows, columns, orders, template, name, first_seq=first):
                    copy.write_row(clone)
            written += len(rows) * orders
            copied.append(table)
            highest = max(highest, first + len(rows) * orders)
        # The schema's sequences past every copied seq: what the store numbers next comes after.
        for (sequence,) in conn.execute(
            "SELECT sequence_name FROM information_schema.sequences WHERE sequence_schema = %s", (schema,)
        ).fetchall():
            qualified = f'"{schema}"."{sequence}"'
            conn.execute(
                f"SELECT setval(%s, GREATEST((SELECT last_value FROM {qualified}), %s))", (qualified, highest)
            )
    with psycopg.connect(dsn, autocommit=True) as conn:
        for table in copied:
            conn.execute(f'VACUUM ANALYZE "{schema}"."{table}"')
    return written


def floor_rows(orders: int, approve: str) -> Iterator[tuple[Any, ...]]:
    """The floor's entries: per order an approve (in state `approve`) and a pending invoice."""
    for n in range(orders):
        order = order_id(n)
        yield (
            f"{order}:approve",
            order,
            "approve",
            approve,
            0.0 if approve == "ready" else None,
            2 * n,
            None,
        )
        yield (f"{order}:invoice", order, "invoice", "pending", None, 2 * n + 1, None)


def floor_postgres(dsn: str, schema: str, orders: int, status: str, approve: str) -> None:
    """The floor's tables in a schema of their own, `orders` orders in `status`, two entries each."""
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(f'CREATE SCHEMA "{schema}"')
        conn.execute(f'SET search_path = "{schema}"')
        for statement in FLOOR_TABLES:
            conn.execute(statement)
        with conn.transaction(), conn.cursor() as cursor:
            with cursor.copy("COPY orders (order_id, status, changed_at) FROM STDIN") as copy:
                for n in range(orders):
                    copy.write_row((order_id(n), status, T0))
            with cursor.copy(
                "COPY entries (key, order_id, action, state, due, seq, owner) FROM STDIN"
            ) as copy:
                for row in floor_rows(orders, approve):
                    copy.write_row(row)
        conn.execute("VACUUM ANALYZE orders")
        conn.execute("VACUUM ANALYZE entries")


def floor_sqlite(path: str, orders: int, status: str, approve: str) -> None:
    """The floor's tables in a file of their own, as `floor_postgres`."""
    conn = sqlite_connect(path)
    try:
        for statement in FLOOR_TABLES:
            conn.execute(statement)
        conn.execute("BEGIN IMMEDIATE")
        conn.executemany(
            "INSERT INTO orders VALUES (?, ?, ?)", ((order_id(n), status, T0) for n in range(orders))
        )
        conn.executemany("INSERT INTO entries VALUES (?, ?, ?, ?, ?, ?, ?)", floor_rows(orders, approve))
        conn.execute("COMMIT")
        conn.execute("ANALYZE")
    finally:
        conn.close()


def percentile(samples: list[float], p: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(len(ordered) * p))]
