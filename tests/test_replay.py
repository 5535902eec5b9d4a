"""vtex-order-flow replay, and durability: a writer killed with SIGKILL loses nothing."""

from __future__ import annotations

import io
import json
import os
import random
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from vtex_order_flow import decide
from vtex_order_flow.cli import main
from vtex_order_flow.tracking import format_ticks, parse_event, parse_ticks

T0 = parse_ticks("2026-01-05T10:00:00Z")
SECOND = 10_000_000
# The seller flow's happy path, from the model: every status on the way to invoiced.
WALK = [step.dest for step in decide("not-integrated", "tracking").path]


def hook(order: str, state: str, at: int, last: str | None = None) -> dict[str, Any]:
    return {
        "Domain": "Fulfillment",
        "OrderId": order,
        "State": state,
        "LastState": last,
        "LastChange": format_ticks(T0 + (at - 1) * SECOND),
        "CurrentChange": format_ticks(T0 + at * SECOND),
        "Origin": {"Account": "store", "Key": "vtexappkey-store"},
    }


def feed(order: str, state: str, at: int) -> dict[str, Any]:
    return {
        "eventId": f"{order}-{at}",
        "handle": f"h-{order}-{at}",
        "domain": "Fulfillment",
        "state": state,
        "lastState": "x",
        "orderId": order,
        "lastChange": format_ticks(T0),
        "currentChange": format_ticks(T0 + at * SECOND),
    }


def write_jsonl(path: Path, rows: list[Any]) -> Path:
    path.write_text("".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in rows), "utf-8")
    return path


def run_json(*argv: str) -> tuple[int, dict[str, Any]]:
    out = io.StringIO()
    code = main([*argv, "--json"], out=out)
    return code, json.loads(out.getvalue())


def test_replay_reports_orders_updates_anomalies_and_errors(tmp_path: Path) -> None:
    events = write_jsonl(
        tmp_path / "events.jsonl",
        [
            {"hookConfig": "ping"},
            hook("A", "window-to-cancel", 1),
            feed("A", "ready-for-handling", 2),
            hook("A", "window-to-cancel", 1),  # duplicate, and older
            hook("B", "canceled", 1),
            hook("B", "cancel", 2, last="canceled"),  # VTEX's flip
            "not json",
            {"OrderId": "C"},
        ],
    )
    defers = write_jsonl(
        tmp_path / "defer.jsonl",
        [
            {"orderId": "A", "action": "start-handling"},
            {"orderId": "B", "action": "invoice"},
            {"orderId": "D", "action": "approve", "facts": {}},
        ],
    )
    code, report = run_json("replay", str(events), "--defer", str(defers))
    assert code == 1  # some lines were bad; the rest was applied
    assert set(report) == {
        "orders",
        "ready",
        "pending",
        "claimed",
        "sent",
        "done",
        "dropped",
        "anomalies",
        "errors",
        "outcomes",
        "pings",
    }
    assert report["outcomes"]["first"] == 2
    assert report["orders"] == {
        "A": {"status": "ready-for-handling", "changed_at": format_ticks(T0 + 2 * SECOND)},
        "B": {"status": "cancel", "changed_at": format_ticks(T0 + 2 * SECOND)},
    }
    assert [(u["orderId"], u["action"]) for u in report["ready"]] == [("A", "start-handling")]
    assert [(u["orderId"], u["action"]) for u in report["pending"]] == [("D", "approve")]
    assert [(u["orderId"], u["action"]) for u in report["dropped"]] == [("B", "invoice")]
    assert "can never be accepted" in report["dropped"][0]["reason"]
    assert report["anomalies"] == [
        {
            "orderId": "B",
            "from": "canceled",
            "to": "cancel",
            "kind": "from-terminal",
            "changed_at": format_ticks(T0 + 2 * SECOND),
        }
    ]
    assert [(e["file"], e["line"]) for e in report["errors"]] == [("events", 7), ("events", 8)]
    assert all(e["error"] for e in report["errors"])


def test_replay_reports_impossible_times_by_line_and_goes_on(tmp_path: Path) -> None:
    bad = [
        {**hook("X", "handling", 1), "CurrentChange": when}
        for when in (
            "2026-13-01T00:00:00Z",
            "2026-02-30T00:00:00Z",
            "2026-01-01T99:99:99Z",
            "2026-01-01T00:00:00+99:99",
        )
    ]
    events = write_jsonl(tmp_path / "e.jsonl", [*bad, hook("A", "ready-for-handling", 1)])
    code, report = run_json("replay", str(events))
    assert code == 1
    assert [e["line"] for e in report["errors"]] == [1, 2, 3, 4]
    assert list(report["orders"]) == ["A"]  # the good line after them was applied


def test_a_line_no_store_can_hold_is_reported_and_the_rest_applied(tmp_path: Path) -> None:
    events = write_jsonl(tmp_path / "e.jsonl", [hook("A\u0000", "handling", 1), hook("B", "handling", 1)])
    code, report = run_json("replay", str(events), "--db", str(tmp_path / "t.db"))
    assert code == 1
    assert [e["line"] for e in report["errors"]] == [1]
    assert list(report["orders"]) == ["B"]


def test_replay_refuses_bad_arguments_before_writing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    events = write_jsonl(tmp_path / "e.jsonl", [hook("A", "handling", 1)])
    db = tmp_path / "new.db"
    assert main(["replay", str(events), "--db", str(db), "--batch", "0"]) == 2
    assert main(["replay", str(events), "--db", str(db), "--defer", str(tmp_path / "missing.jsonl")]) == 2
    assert not db.exists()
    assert "--batch" in capsys.readouterr().err


def test_replay_json_lists_claimed_sent_and_done_entries(tmp_path: Path) -> None:
    from vtex_order_flow.tracking import SQLiteStore, Tracker

    db = tmp_path / "t.db"
    with Tracker(store=SQLiteStore(db)) as tracker:
        for order in ("A", "B", "C"):
            tracker.apply(parse_event(hook(order, "ready-for-handling", 1)))  # type: ignore[arg-type]
            tracker.register(order, "start-handling")
        _a, b, c = tracker.claim(3, 3600, owner="w1")
        tracker.sent(b.key)
        tracker.sent(c.key)
        tracker.apply(parse_event(hook("C", "handling", 2)))  # type: ignore[arg-type]
    events = write_jsonl(tmp_path / "e.jsonl", [])
    code, report = run_json("replay", str(events), "--db", str(db))
    assert code == 0
    assert [(e["key"], e["owner"]) for e in report["claimed"]] == [("A:start-handling", "w1")]
    assert [e["key"] for e in report["sent"]] == ["B:start-handling"]
    assert [e["key"] for e in report["done"]] == ["C:start-handling"]


def test_replay_text_and_bad_defer_lines(tmp_path: Path) -> None:
    events = write_jsonl(tmp_path / "e.jsonl", [hook("A", "ready-for-handling", 1)])
    defers = write_jsonl(tmp_path / "d.jsonl", [{"orderId": "A", "action": "aprove"}, {"order": "A"}])
    out = io.StringIO()
    assert main(["replay", str(events), "--defer", str(defers)], out=out) == 1
    text = out.getvalue()
    assert "did you mean 'approve'" in text
    assert "Orders: 1" in text
    # The events line counts the events file's bad lines only; the defer file's are its own.
    assert "; 0 bad line(s)" in text.splitlines()[0]
    assert "Errors: 2 (2 in defer)" in text


def test_replay_text_shows_no_python_none(tmp_path: Path) -> None:
    events = write_jsonl(tmp_path / "e.jsonl", [hook("Z", "invoicd", 1), {"bad": 1}])
    out = io.StringIO()
    assert main(["replay", str(events)], out=out) == 1
    text = out.getvalue()
    assert "; 1 bad line(s)" in text.splitlines()[0]
    assert "  Z: - -> invoicd (unknown-status)" in text.splitlines()
    assert "None" not in text


def test_replay_missing_file(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["replay", "/no/such.jsonl"], out=io.StringIO()) == 2
    assert "cannot read '/no/such.jsonl'" in capsys.readouterr().err


def test_replay_into_sqlite_twice_changes_nothing(tmp_path: Path) -> None:
    events = write_jsonl(tmp_path / "e.jsonl", [hook("A", s, i + 1) for i, s in enumerate(WALK)])
    defers = write_jsonl(tmp_path / "d.jsonl", [{"orderId": "A", "action": "tracking"}])
    db = tmp_path / "t.db"
    first = run_json("replay", str(events), "--defer", str(defers), "--db", str(db))
    second = run_json("replay", str(events), "--defer", str(defers), "--db", str(db))
    assert second[1].pop("outcomes") == {"duplicate": 1, "stale": len(WALK) - 1}  # every one seen before
    assert first[1].pop("outcomes") == {"first": 1, "moved": len(WALK) - 1}
    assert first == second
    assert first[1]["ready"][0]["action"] == "tracking"


# -- SIGKILL in the middle of a long ingest ------------------------------------------------------


def big_history(tmp_path: Path, orders: int) -> tuple[Path, Path, list[tuple[str, str]]]:
    rng = random.Random(20261127)
    rows: list[dict[str, Any]] = []
    for n in range(orders):
        order = f"MKP-{n:06d}"
        walk = [hook(order, state, i + 1) for i, state in enumerate(WALK[: rng.randint(2, len(WALK))])]
        walk += rng.sample(walk, k=min(2, len(walk)))  # duplicates
        rng.shuffle(walk)  # unordered delivery
        rows += walk
    events = write_jsonl(tmp_path / "events.jsonl", rows)
    registered = [
        (f"MKP-{n:06d}", rng.choice(["start-handling", "invoice", "tracking", "approve"]))
        for n in range(0, orders, 7)
    ]
    defers = write_jsonl(tmp_path / "defer.jsonl", [{"orderId": o, "action": a} for o, a in registered])
    return events, defers, registered


def dump(db: Path) -> dict[str, Any]:
    with sqlite3.connect(db) as con:
        return {
            "records": con.execute("SELECT * FROM records ORDER BY order_id").fetchall(),
            "entries": con.execute(
                "SELECT key, order_id, action, facts, state, drop_class, reason, status, attempts "
                "FROM entries ORDER BY key"
            ).fetchall(),
            "facts": con.execute("SELECT * FROM order_facts ORDER BY order_id").fetchall(),
            "anomalies": con.execute(
                "SELECT order_id, from_status, to_status, kind FROM anomalies ORDER BY seq"
            ).fetchall(),
            "applied": con.execute("SELECT value FROM counters WHERE name = 'applied'").fetchone(),
        }


def applied_so_far(db: Path) -> int:
    try:
        with sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=1) as con:
            row = con.execute("SELECT value FROM counters WHERE name = 'applied'").fetchone()
            return int(row[0]) if row else 0
    except sqlite3.Error:
        return 0


def replay_argv(events: Path, defers: Path, db: Path) -> list[str]:
    return [
        sys.executable,
        "-m",
        "vtex_order_flow",
        "replay",
        str(events),
        "--defer",
        str(defers),
        "--db",
        str(db),
        "--batch",
        "50",
        "--json",
    ]


def test_a_writer_killed_mid_ingest_loses_nothing_and_applies_nothing_twice(tmp_path: Path) -> None:
    events, defers, registered = big_history(tmp_path, orders=6000)
    total_events = len(events.read_text("utf-8").splitlines())

    clean = tmp_path / "clean.db"
    subprocess.run(replay_argv(events, defers, clean), stdout=subprocess.DEVNULL, check=True, timeout=600)
    expected = dump(clean)
    assert expected["applied"][0] < total_events  # duplicates and stale events were not applied

    crashed = tmp_path / "crashed.db"
    writer = subprocess.Popen(replay_argv(events, defers, crashed), stdout=subprocess.DEVNULL)
    deadline = time.monotonic() + 300
    while applied_so_far(crashed) < expected["applied"][0] // 4:
        assert writer.poll() is None, "the writer finished before it could be killed: make the ingest longer"
        assert time.monotonic() < deadline
        time.sleep(0.01)
    os.kill(writer.pid, signal.SIGKILL)
    writer.wait(timeout=60)
    assert writer.returncode == -signal.SIGKILL

    after_kill = dump(crashed)
    assert 0 < after_kill["applied"][0] < expected["applied"][0]  # killed in the middle
    registered_now = {(o, a) for _, o, a, *_ in after_kill["entries"]}
    assert registered_now == set(registered)  # every registered update survived the kill

    subprocess.run(replay_argv(events, defers, crashed), stdout=subprocess.DEVNULL, check=True, timeout=600)
    assert dump(crashed) == expected  # the same state: nothing lost, nothing applied twice
