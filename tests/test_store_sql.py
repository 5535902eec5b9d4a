"""The stores' SQL lives in .sql files (tracking/stores/sql/<dialect>/), never in Python: named
queries with every placeholder filled, state lists that agree with the enums, numbered
migrations that every SQL store runs the same way."""

from __future__ import annotations

import ast
import re
import sqlite3
from pathlib import Path

import pytest

from vtex_order_flow.tracking import CLAIMABLE, IN_FLIGHT, OPEN_STATES, EntryState
from vtex_order_flow.tracking.stores import _sql

TRACKING = Path(__file__).resolve().parent.parent / "statemachine" / "vtex_order_flow" / "tracking"
SQL_WORDS = re.compile(
    r"\b(SELECT|INSERT|UPDATE|DELETE|CREATE|DROP|ALTER|PRAGMA|BEGIN|COMMIT|ROLLBACK|LISTEN|NOTIFY)\b"
)
DIALECTS = ("sqlite", "postgres")
LIST = r"state IN \(('[a-z]+'(?:, '[a-z]+')*)\)"


def _docstrings(tree: ast.AST) -> set[int]:
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef):
            body = node.body
            if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
                found.add(id(body[0].value))
        if isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant):
            found.add(id(node.value))  # an attribute's docstring
    return found


def test_no_python_module_under_tracking_holds_sql_text() -> None:
    offenders = []
    modules = sorted(TRACKING.rglob("*.py"))
    assert len(modules) > 10
    for path in modules:
        tree = ast.parse(path.read_text(encoding="utf-8"))
        documentation = _docstrings(tree)
        for node in ast.walk(tree):
            text = node.value if isinstance(node, ast.Constant) else None
            if isinstance(text, str) and id(node) not in documentation and SQL_WORDS.search(text):
                offenders.append(f"{path.relative_to(TRACKING)}: {text[:60]!r}")
    assert offenders == []


@pytest.mark.parametrize("dialect", DIALECTS)
def test_every_placeholder_is_filled(dialect: str) -> None:
    texts = list(_sql.queries(dialect, "a_schema").values())
    texts += [s for m in _sql.migrations(dialect, "a_schema") for s in m.statements]
    assert texts
    for text in texts:
        assert not re.search(r"\{[a-z_]*\}", text), text
    assert '"a_schema".entries' in _sql.queries("postgres", "a_schema")["claimable"]


def test_an_unknown_placeholder_is_an_error_not_text() -> None:
    from vtex_order_flow.errors import StoreError

    with pytest.raises(StoreError, match=r"\{nope\}"):
        _sql._fill("SELECT {nope}", {}, "test")


def test_the_state_lists_agree_with_the_enums() -> None:
    lists = _sql.state_lists()
    assert lists["open_states"] == OPEN_STATES
    assert lists["claimable_states"] == CLAIMABLE
    assert lists["in_flight_states"] == IN_FLIGHT
    assert lists["finished_states"] == frozenset(EntryState) - OPEN_STATES
    assert lists["waiting_states"] == {EntryState.PENDING, EntryState.RETRY}
    fill = _sql._fillers("sqlite", None)
    for name, states in lists.items():
        assert set(re.findall(r"'([a-z]+)'", fill[name])) == {s.value for s in states}, name


@pytest.mark.parametrize("dialect", DIALECTS)
def test_every_state_list_in_the_sql_is_one_of_the_enums(dialect: str) -> None:
    # Queries: the lists the enums make; the latest index definitions: the same lists, in the
    # same order (SQLite uses a partial index only for the very list it was made with).
    made = {frozenset(s.value for s in states) for states in _sql.state_lists().values()}
    rendered = set(_sql._fillers(dialect, None).values())
    queries = " ".join(_sql.queries(dialect, "s").values())
    lists = re.findall(LIST, queries)
    assert len(lists) >= 6
    for found in lists:
        assert frozenset(re.findall(r"'([a-z]+)'", found)) in made, found
        assert found in rendered, found
    indexes: dict[str, str] = {}
    for migration in _sql.migrations(dialect, "s"):
        for statement in migration.statements:
            match = re.search(r"CREATE INDEX (?:IF NOT EXISTS )?(\w+) .*" + LIST, statement, re.S)
            if match:
                indexes[match.group(1)] = match.group(2)  # the latest definition
    for name, found in indexes.items():
        if name.startswith("entries_"):
            assert found in rendered, (name, found)


def test_migrations_are_numbered_and_the_versions_follow_them() -> None:
    from vtex_order_flow.tracking import POSTGRES_SCHEMA_VERSION, SCHEMA_VERSION

    assert [m.version for m in _sql.migrations("sqlite")] == list(range(1, SCHEMA_VERSION + 1))
    assert [m.version for m in _sql.migrations("postgres", "s")] == list(
        range(1, POSTGRES_SCHEMA_VERSION + 1)
    )


def test_the_runner_is_idempotent_and_refuses_a_newer_schema(tmp_path: Path) -> None:
    from vtex_order_flow.errors import StoreError

    con = sqlite3.connect(tmp_path / "x.db", isolation_level=None)
    run = lambda sql, params: con.execute(sql, params).fetchall()  # noqa: E731

    import contextlib

    @contextlib.contextmanager
    def transaction():  # type: ignore[no-untyped-def]
        con.execute("BEGIN IMMEDIATE")
        try:
            yield
            con.execute("COMMIT")
        except BaseException:
            con.execute("ROLLBACK")
            raise

    assert _sql.migrate(run, transaction, "sqlite", what="x") == _sql.latest("sqlite")
    tables = {row[0] for row in con.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    assert {"meta", "records", "entries", "order_ids", "counters"} <= tables
    assert "deferred" not in tables
    assert _sql.migrate(run, transaction, "sqlite", what="x") == _sql.latest("sqlite")
    con.execute("UPDATE meta SET value = '99' WHERE name = 'schema_version'")
    with pytest.raises(StoreError, match="newer"):
        _sql.migrate(run, transaction, "sqlite", what="x")
