"""The library never opens a socket: loading, checking, firing and the CLI all run offline."""

from __future__ import annotations

import contextlib
import io
from typing import Any

from vtex_order_flow import load_model
from vtex_order_flow._loader import _bundled
from vtex_order_flow.cli import main
from vtex_order_flow.machine import fire


def test_everything_runs_with_the_network_refused(no_network: list[Any], tmp_path: Any) -> None:
    _bundled.cache_clear()  # load for real under the guard, not from the cache
    for argv in (["states"], ["explain", "invoiced", "--json"], ["schema"]):
        assert main(argv, out=io.StringIO()) == 0
    path = tmp_path / "m.toml"
    path.write_text('name = "m"\nextends = "vtex"\n', "utf-8")
    model = load_model(path)
    assert fire(model.machine("seller"), "ready-for-handling", "start-handling") == "start-handling"
    assert no_network == []


def test_the_guard_itself_catches_a_connection(no_network: list[Any]) -> None:
    import socket

    with contextlib.suppress(AssertionError):
        socket.create_connection(("127.0.0.1", 9))
    assert len(no_network) == 1


def test_the_decision_path_loads_neither_pydantic_nor_transitions() -> None:
    # Not a timing: which modules a fresh interpreter has loaded after deciding.
    import subprocess
    import sys

    code = (
        "import sys, vtex_order_flow as v; v.decide('handling', 'invoice');"
        "v.decide('invoiced', 'cancel', facts={'return-invoice-registered': True});"
        "print(sorted(m for m in ('pydantic', 'transitions', 'tomllib', 'httpx', 'stamina', 'starlette',"
        " 'uvicorn', 'vtex_order_flow.client', 'vtex_order_flow.app') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60)
    assert out.stdout.strip() == "['tomllib']"  # nor the client's or the app's libraries


def test_tracking_hook_replay_and_simulator_run_with_the_network_refused(
    no_network: list[Any], tmp_path: Any
) -> None:
    import json

    from vtex_order_flow.testing import SimulatedVTEX
    from vtex_order_flow.tracking import HookEndpoint, SQLiteStore, Tracker

    vtex = SimulatedVTEX(seed=4)
    vtex.create("A")
    vtex.advance(3600)
    events = vtex.events()
    tracker = Tracker(store=SQLiteStore(tmp_path / "t.db"))
    endpoint = HookEndpoint(tracker)
    try:
        assert endpoint.handle(b'{"hookConfig":"ping"}').status == 200
        assert all(endpoint.handle(json.dumps(e)).status == 200 for e in events)
    finally:
        endpoint.close()
        tracker.store.close()
    path = tmp_path / "events.jsonl"
    path.write_text("".join(json.dumps(e) + "\n" for e in events), "utf-8")
    assert main(["replay", str(path), "--db", str(tmp_path / "r.db")], out=io.StringIO()) == 0
    assert main(["diagram", "--format", "plantuml"], out=io.StringIO()) == 0
    assert no_network == []


def test_the_decide_command_loads_only_what_deciding_needs() -> None:
    import subprocess
    import sys

    code = (
        "import io, sys; from vtex_order_flow.cli import main;"
        "main(['decide', 'approve', '--status', 'handling'], out=io.StringIO());"
        "print(sorted(m for m in ('pydantic', 'transitions', 'vtex_order_flow.render',"
        " 'vtex_order_flow.tracking') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60)
    assert out.stdout.strip() == "[]"
