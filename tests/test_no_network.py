"""The library never opens a socket: loading, checking, firing and the CLI all run offline."""

from __future__ import annotations

import contextlib
import io
from typing import Any

from vtex_order_flow import fire, load_model
from vtex_order_flow._loader import _bundled
from vtex_order_flow.cli import main


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
