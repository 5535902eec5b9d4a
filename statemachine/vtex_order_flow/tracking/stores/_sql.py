"""The SQL stores' statements, from files: named queries (`sql/<dialect>/queries.sql`, each
under a ``-- name --`` header, as procrastinate's) and numbered migrations
(`sql/<dialect>/migrations/NNN_name.sql`), and the one migration runner both SQL stores use.

Placeholders in the text are filled when loaded: ``{schema}`` (PostgreSQL's configured schema,
quoted), the entry row's columns (``{entry_columns}``, ``{entry_values}``, ``{entry_updates}``)
and the state lists, made from the enums in `tracking/_types.py` (``{open_states}``,
``{claimable_states}``, ``{in_flight_states}``, ``{waiting_states}``, ``{finished_states}``). A
placeholder nobody fills is an error, never text sent to a database.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from importlib import resources
from typing import Any

from ...errors import StoreError
from .._types import CLAIMABLE, IN_FLIGHT, OPEN_STATES, EntryState
from ._rows import COLUMNS, WAITING

__all__ = ["Migration", "Queries", "latest", "migrate", "migrations", "queries", "state_lists"]

_HEADER = re.compile(r"^-- ([a-z0-9_]+) --$", re.MULTILINE)
_PLACEHOLDER = re.compile(r"\{([a-z_]+)\}")
_MIGRATION = re.compile(r"(\d{3})_([a-z0-9_]+)\.sql")
_MARKS = {"sqlite": "?", "postgres": "%s"}

# The order each list is written in: the enum's, but the claimable states in the order the
# SQLite index `entries_due` was created with (SQLite uses a partial index only when the
# query's IN list is the index's, in the same order).
_CLAIM_ORDER = (EntryState.READY, EntryState.RETRY, EntryState.CLAIMED, EntryState.SENT)


def state_lists() -> dict[str, frozenset[EntryState]]:
    """Each state-list placeholder and the states it stands for (from `tracking/_types.py`)."""
    return {
        "open_states": OPEN_STATES,
        "claimable_states": CLAIMABLE,
        "in_flight_states": IN_FLIGHT,
        "waiting_states": frozenset(WAITING),
        "finished_states": frozenset(EntryState) - OPEN_STATES,
    }


def _state_text(states: frozenset[EntryState]) -> str:
    order = [*_CLAIM_ORDER, *EntryState] if states == CLAIMABLE else list(EntryState)
    return ", ".join(f"'{state.value}'" for state in dict.fromkeys(order) if state in states)


def _fillers(dialect: str, schema: str | None) -> dict[str, str]:
    fill = {name: _state_text(states) for name, states in state_lists().items()}
    fill["entry_columns"] = ", ".join(COLUMNS)
    fill["entry_values"] = ", ".join([_MARKS[dialect]] * len(COLUMNS))
    fill["entry_updates"] = ", ".join(f"{c} = excluded.{c}" for c in COLUMNS[1:])
    if schema is not None:
        fill["schema"] = f'"{schema}"'
    return fill


def _fill(text: str, fill: dict[str, str], where: str) -> str:
    def one(match: re.Match[str]) -> str:
        try:
            return fill[match.group(1)]
        except KeyError:
            raise StoreError(f"{where}: no value for the placeholder {match.group(0)}") from None

    return _PLACEHOLDER.sub(one, text)


def _text(dialect: str, *parts: str) -> str:
    return resources.files(__package__).joinpath("sql", dialect, *parts).read_text(encoding="utf-8")


def _without_comments(text: str) -> str:
    return "\n".join(line for line in text.splitlines() if not line.lstrip().startswith("--")).strip()


class Queries(dict[str, str]):
    """A dialect's named queries, placeholders filled (``queries["load_record"]``)."""

    def __missing__(self, name: str) -> str:
        raise StoreError(f"no query named {name!r} in the store's queries.sql")


@functools.cache
def queries(dialect: str, schema: str | None = None) -> Queries:
    """The dialect's named queries (`schema`: PostgreSQL's configured schema, unquoted)."""
    parts = _HEADER.split(_text(dialect, "queries.sql"))
    fill = _fillers(dialect, schema)
    found = Queries()
    for name, body in zip(parts[1::2], parts[2::2], strict=True):
        if name in found:
            raise StoreError(f"{dialect}/queries.sql names {name!r} twice")
        found[name] = _fill(_without_comments(body), fill, f"{dialect}/queries.sql: {name}")
    return found


@dataclass(frozen=True, slots=True)
class Migration:
    """One numbered step of a schema: to `version`, by its `statements` (in order)."""

    version: int
    name: str
    statements: tuple[str, ...]


@functools.cache
def migrations(dialect: str, schema: str | None = None) -> tuple[Migration, ...]:
    """The dialect's migrations, in order: version 1 to the latest, with no gap."""
    folder = resources.files(__package__).joinpath("sql", dialect, "migrations")
    fill = _fillers(dialect, schema)
    found = []
    for item in folder.iterdir():
        match = _MIGRATION.fullmatch(item.name)
        if match is None:
            continue
        text = _fill(_without_comments(item.read_text(encoding="utf-8")), fill, f"{dialect}/{item.name}")
        statements = tuple(part.strip() for part in text.split(";") if part.strip())
        found.append(Migration(int(match.group(1)), match.group(2), statements))
    found.sort(key=lambda migration: migration.version)
    if [m.version for m in found] != list(range(1, len(found) + 1)):
        raise StoreError(f"{dialect}'s migrations are not numbered 1 to {len(found)}")
    return tuple(found)


def latest(dialect: str) -> int:
    """The schema version the dialect's migrations lead to (the number of their files)."""
    folder = resources.files(__package__).joinpath("sql", dialect, "migrations")
    return sum(1 for item in folder.iterdir() if _MIGRATION.fullmatch(item.name))


def migrate(
    run: Callable[[str, Sequence[Any]], list[Any]],
    transaction: Callable[[], AbstractContextManager[Any]],
    dialect: str,
    *,
    schema: str | None = None,
    what: str,
    table_params: Sequence[Any] = (),
    lock_params: Sequence[Any] = (),
) -> int:
    """Bring a database to the latest schema version, in one transaction: the version recorded
    in the ``meta`` table (none, no table: 0) is read, every migration after it is applied in
    order, the new version is recorded. Idempotent: at the latest version nothing is run. A
    version newer than this library's, or not a number, is refused with `StoreError` (`what`
    names the database in the message). Returns the version."""
    sql = queries(dialect, schema)
    steps = migrations(dialect, schema)
    newest = len(steps)
    with transaction():
        if "migration_lock" in sql:
            run(sql["migration_lock"], lock_params)
        tables = {row[0] for row in run(sql["tables"], table_params)}
        version = 0
        if "meta" in tables:
            rows = run(sql["schema_version"], ())
            if rows and not str(rows[0][0]).isdigit():
                raise StoreError(f"{what} has schema version {rows[0][0]!r}, not a number: not a tracker's?")
            version = int(rows[0][0]) if rows else 0
        if version > newest:
            raise StoreError(
                f"{what} is at schema version {version}, newer than this library's {newest}; "
                "upgrade vtex-order-flow"
            )
        if version == newest:
            return version
        for step in steps[version:]:
            for statement in step.statements:
                run(statement, ())
        run(sql["create_version_table"], ())
        run(sql["set_schema_version"], (str(newest),))
    return newest
