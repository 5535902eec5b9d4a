"""Bad input at the entry points a connector author touches: a typed error that names the bad
value, never a traceback and never silence."""

from __future__ import annotations

import io
from collections.abc import Callable
from contextlib import redirect_stderr
from pathlib import Path
from typing import Any

import pytest

from vtex_order_flow import decide, model_from_mapping
from vtex_order_flow.cli import main
from vtex_order_flow.errors import (
    EventError,
    InvalidModelError,
    UnknownActionError,
    UnknownEventError,
    UnknownFlowError,
    UnknownNameError,
    UnknownStatusError,
    VtexOrderFlowError,
)
from vtex_order_flow.testing import SimulatedVTEX
from vtex_order_flow.tracking import parse_ticks


@pytest.mark.parametrize(
    ("status", "action", "flow", "error", "names"),
    [
        (None, "approve", None, UnknownStatusError, "not NoneType"),
        (42, "approve", None, UnknownStatusError, "not int"),
        ("handling", ["approve"], None, UnknownActionError, "not list"),
        ("handling", None, None, UnknownActionError, "an action is named by a string"),
        ("handling", "tracking", 3, UnknownFlowError, "not int"),
    ],
)
def test_names_of_the_wrong_type(
    status: object, action: object, flow: object, error: type, names: str
) -> None:
    with pytest.raises(error, match=names):
        decide(status, action, flow, None)  # type: ignore[arg-type]


def test_a_name_in_the_wrong_case_gets_a_suggestion() -> None:
    with pytest.raises(UnknownStatusError, match="did you mean 'handling'"):
        decide("HANDLING", "invoice")


@pytest.mark.parametrize(
    "text",
    [
        "2026-13-01T00:00:00Z",
        "2026-02-30T00:00:00Z",
        "2026-04-00T00:00:00Z",
        "2026-02-28T24:00:00Z",
        "2026-02-28T10:60:00Z",
        "2026-02-28T10:00:00+99:99",
        "0000-01-01T00:00:00Z",
    ],
)
def test_impossible_times_are_event_errors(text: str) -> None:
    with pytest.raises(EventError, match="not a"):
        parse_ticks(text)


def test_a_real_leap_day_is_a_time() -> None:
    assert parse_ticks("2024-02-29T23:59:59Z") - parse_ticks("2024-02-29T00:00:00Z") == 86399 * 10**7


def _cli(args: list[str]) -> tuple[int, str]:
    err = io.StringIO()
    with redirect_stderr(err):
        code = main(args, io.StringIO())
    return code, err.getvalue()


def test_cli_files_that_cannot_be_written_or_read(tmp_path: Path) -> None:
    folder = tmp_path / "a-folder"
    folder.mkdir()
    not_a_db = tmp_path / "not.db"
    not_a_db.write_bytes(b"garbage, not SQLite" * 100)
    events = tmp_path / "events.jsonl"
    events.write_text('{"hookConfig": "ping"}\n', "utf-8")
    for args, says in [
        (["diagram", "-o", str(tmp_path / "missing" / "x.mmd")], "No such file or directory"),
        (["diagram", "-o", str(folder)], "Is a directory"),
        (["docs", "--out", str(not_a_db)], "File exists"),
        (["replay", str(events), "--db", str(not_a_db)], "not a database"),
    ]:
        code, err = _cli(args)
        assert code == 2, args
        assert err.startswith("vtex-order-flow: error:"), (args, err)
        assert says in err, (args, err)
        assert "Traceback" not in err


def test_cli_facts_that_would_be_ignored_or_contradict() -> None:
    assert _cli(["diagram", "--fact", "invoce=true"])[0] == 2
    code, err = _cli(
        ["diagram", "--action", "tracking", "--fact", "partial-invoice", "--fact", "invoice-exists=false"]
    )
    assert code == 2
    assert "contradictory facts" in err
    code, err = _cli(
        [
            "decide",
            "cancel",
            "--status",
            "handling",
            "--fact",
            "partial-invoice",
            "--fact",
            "partial-invoice=false",
        ]
    )
    assert code == 2
    assert "both true and false" in err


@pytest.mark.parametrize(
    ("field", "value"),
    [("enabled", "yes"), ("enabled", 1), ("after", "7200"), ("after", 7200.0)],
)
def test_model_values_are_not_coerced(minimal: dict[str, object], field: str, value: object) -> None:
    minimal["transitions"][1][field] = value  # type: ignore[index]
    with pytest.raises(InvalidModelError, match=f"transitions\\[1\\].{field}"):
        model_from_mapping(minimal)


def test_the_simulator_refuses_what_it_cannot_simulate() -> None:
    vtex = SimulatedVTEX()
    with pytest.raises(UnknownEventError, match="did you mean 'seller-authorizes-divergence'"):
        vtex.act("X", "seller-authorises-divergence")
    with pytest.raises(VtexOrderFlowError, match="forward"):
        vtex.advance(-10)
    with pytest.raises(UnknownEventError, match="price-divergence-hold"):
        vtex.create("X", hold="price-hold")


def test_constructors_and_calls_refuse_arguments_of_the_wrong_type(tmp_path: Path) -> None:
    from vtex_order_flow import bundled_model, interpret_notification
    from vtex_order_flow.machine import fire
    from vtex_order_flow.render import render, render_mermaid
    from vtex_order_flow.tracking import HookEndpoint, RetryPolicy, SQLiteStore, Tracker

    model = bundled_model()
    not_a_db = tmp_path / "x.db"
    not_a_db.write_bytes(b"not SQLite" * 200)
    calls: list[Callable[[], object]] = [
        lambda: bundled_model(1),  # type: ignore[arg-type]
        lambda: render(model, "seller", "png"),  # type: ignore[arg-type]
        lambda: SQLiteStore(tmp_path / "missing" / "x.db"),
        lambda: SQLiteStore(not_a_db),
        lambda: SQLiteStore(":memory:", synchronous=1),  # type: ignore[arg-type]
        lambda: fire(model.machine(), "nope", "approve"),
        lambda: Tracker(store=1),  # type: ignore[arg-type]
        lambda: HookEndpoint(1),  # type: ignore[arg-type]
        lambda: RetryPolicy(-1),
        lambda: Tracker().result("a", None),  # type: ignore[arg-type]
        lambda: render_mermaid(None),  # type: ignore[arg-type]
        lambda: SimulatedVTEX(1),  # type: ignore[arg-type]
        lambda: interpret_notification(None),  # type: ignore[arg-type]
    ]
    for call in calls:
        with pytest.raises(VtexOrderFlowError):
            call()


def test_fire_takes_facts_as_names_too() -> None:
    from vtex_order_flow import bundled_model
    from vtex_order_flow.machine import fire

    machine = bundled_model().machine()
    assert fire(machine, "handling", "tracking", ["invoice-exists"]) == "handling"
    assert fire(machine, "handling", "tracking", {"invoice-exists": True}) == "handling"
    assert fire(machine, "handling", "tracking") is None


def test_more_wrong_arguments_are_typed_errors(tmp_path: Path) -> None:
    from vtex_order_flow import bundled_model, interpret_notification, load_model
    from vtex_order_flow.tracking import OrderEvent, Tracker, format_ticks, parse_ticks

    good = {"code": "SOI001", "flow": "PlaceOrder", "success": True}
    calls: list[Callable[[], object]] = [
        lambda: decide("handling", "cancel", ["seller"]),  # type: ignore[arg-type]
        lambda: load_model(None),  # type: ignore[arg-type]
        lambda: load_model("bad\x00name.toml"),
        lambda: parse_ticks(None),  # type: ignore[arg-type]
        lambda: format_ticks(10**30),
        lambda: format_ticks(1.5),  # type: ignore[arg-type]
        lambda: interpret_notification(good, model="vtex"),  # type: ignore[arg-type]
        lambda: Tracker().apply(None),  # type: ignore[arg-type]
        lambda: Tracker().apply(OrderEvent([], "handling", 1)),  # type: ignore[arg-type]
        lambda: Tracker().apply_many(None),  # type: ignore[arg-type]
        lambda: Tracker().apply_many([], batch=0),
        lambda: Tracker(max_age="x"),  # type: ignore[arg-type]
        lambda: Tracker(clock="x"),  # type: ignore[arg-type]
        lambda: Tracker().register([], "cancel"),  # type: ignore[arg-type]
        lambda: SimulatedVTEX(start="x"),  # type: ignore[arg-type]
        lambda: SimulatedVTEX(seed=[1]),  # type: ignore[arg-type]
        lambda: SimulatedVTEX().create([]),  # type: ignore[arg-type]
        lambda: SimulatedVTEX().advance(None),  # type: ignore[arg-type]
    ]
    for call in calls:
        with pytest.raises(VtexOrderFlowError):
            call()
    assert bundled_model().decide("handling", "cancel").verdict.value == "send"


def test_a_deeply_nested_defer_line_is_reported_not_a_traceback(tmp_path: Path) -> None:
    events = tmp_path / "events.jsonl"
    events.write_text('{"hookConfig": "ping"}\n', "utf-8")
    deep = tmp_path / "defer.jsonl"
    deep.write_text('{"a":' * 100_000 + "\n", "utf-8")
    code, err = _cli(["replay", str(events), "--defer", str(deep)])
    assert code == 1  # the line is an error of the run, the rest is applied
    assert "Traceback" not in err


def test_a_model_with_too_many_fact_combinations_is_refused_quickly() -> None:
    from vtex_order_flow.errors import ModelTooLargeError

    size = 14  # facts each set by a self-loop and all read by one guard: 2**14 combinations
    names = [f"x{i}" for i in range(size)]
    data = {
        "name": "wide",
        "flows": {"f": {"initial": "s0"}},
        "facts": {n: {"description": n} for n in names},
        "actions": {"go": {"cause": "marketplace"}},
        "events": {**{f"set-{n}": {"cause": "seller"} for n in names}, "end": {"cause": "platform"}},
        "statuses": [
            {"id": "s0", "flows": ["f"], "meaning": "start"},
            {"id": "s1", "flows": ["f"], "meaning": "end", "terminal": True},
        ],
        "transitions": [
            *({"from": "s0", "to": "s0", "trigger": f"set-{n}", "flows": ["f"], "sets": [n]} for n in names),
            {"from": "s0", "to": "s1", "trigger": "go", "flows": ["f"], "requires": names},
        ],
    }
    with pytest.raises(ModelTooLargeError, match="14 facts are both set by moves and read by guards"):
        model_from_mapping(data)


@pytest.mark.parametrize("when", ["CREATE", "INSERT INTO entries"])
def test_a_full_disk_is_named_as_such(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, when: str) -> None:
    """A disk that fills up, setting a store up or writing to it, fails with SQLite's own words.
    On a full disk SQLite rolls the transaction back itself: a second ROLLBACK used to replace
    them with "cannot rollback - no transaction is active" (seen on a full tmpfs)."""
    import sqlite3

    from vtex_order_flow.errors import StoreError
    from vtex_order_flow.tracking import SQLiteStore, Tracker

    connect = sqlite3.connect

    class Filling:
        def __init__(self, connection: sqlite3.Connection) -> None:
            self.connection = connection

        def __getattr__(self, name: str) -> Any:
            return getattr(self.connection, name)

        def execute(self, sql: str, params: Any = ()) -> sqlite3.Cursor:
            if sql.lstrip().startswith(when):
                self.connection.execute("ROLLBACK")  # what SQLite does on SQLITE_FULL
                raise sqlite3.OperationalError("database or disk is full")
            return self.connection.execute(sql, params)

        def executemany(self, sql: str, rows: Any) -> sqlite3.Cursor:
            if sql.lstrip().startswith(when):
                self.connection.execute("ROLLBACK")
                raise sqlite3.OperationalError("database or disk is full")
            return self.connection.executemany(sql, rows)

    monkeypatch.setattr(sqlite3, "connect", lambda *a, **k: Filling(connect(*a, **k)))
    with pytest.raises(StoreError, match="database or disk is full") as caught:
        Tracker(store=SQLiteStore(tmp_path / "t.db")).register("order-1", "cancel")
    assert "cannot rollback" not in str(caught.value)


@pytest.mark.parametrize(
    "argv",
    [
        ["decide", "cancel", "--status", "handling", "--flow", "marketplace"],
        ["diagram", "--flow", "marketplace", "--highlight", "handling"],
    ],
)
def test_a_status_of_another_flow_points_at_that_flows_list(argv: list[str]) -> None:
    err = io.StringIO()
    with redirect_stderr(err):
        assert main(argv, io.StringIO()) == 2
    assert err.getvalue().count("\n") == 1
    assert "not in the marketplace flow (it is in: seller, complete)" in err.getvalue()
    assert "list them with `vtex-order-flow states --flow marketplace`" in err.getvalue()


def test_a_fact_value_that_is_no_bool_is_named_with_its_fact() -> None:
    with pytest.raises(UnknownNameError) as caught:
        decide("handling", "cancel", facts={"partial-invoice": "yes"})
    assert str(caught.value).startswith("fact 'partial-invoice': its value must be true or false, not 'yes'.")
    assert caught.value.value == "partial-invoice"


def test_model_text_reaches_a_terminal_as_text(tmp_path: Path) -> None:
    """`explain` prints the model's descriptions: ESC sequences in them (clear the screen, set
    the window title) are written as escapes, never sent to the terminal."""
    model = tmp_path / "m.toml"
    model.write_text(
        'extends = "vtex"\nname = "ansi"\n[patch.statuses.handling]\n'
        'meaning = "Packing \\u001b[2J\\u001b]0;pwned\\u0007 now"\n',
        "utf-8",
    )
    out = io.StringIO()
    assert main(["explain", "handling", "--model", str(model)], out) == 0
    assert "\x1b" not in out.getvalue()
    assert "\x07" not in out.getvalue()
    assert "Packing \\x1b[2J\\x1b]0;pwned\\x07 now" in out.getvalue()
