"""`vtex-order-flow serve`: bad input is one line and exit 2; a real run answers on 127.0.0.1."""

from __future__ import annotations

import io
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from vtex_order_flow.cli import main


def serve(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str]:
    code = main(["serve", *argv], out=io.StringIO())
    return code, capsys.readouterr().err


@pytest.mark.parametrize(
    ("argv", "said"),
    [
        (["--account", "store", "--no-send"], "--db FILE (SQLite) or --postgres"),
        (["--db", "x.db", "--postgres", "postgresql://x", "--account", "store", "--no-send"], "one of them"),
        (["--db", "x.db", "--account", "store"], "VTEX_APP_KEY"),
        (["--db", "x.db", "--account", "store", "--no-send", "--port", "70000"], "--port"),
        (["--db", "x.db", "--account", "store", "--no-send", "--hook-header", "X"], "--hook-header"),
        (["--db", "x.db", "--account", "store", "--no-send", "--hook-header", "X=env:NOPE_VOF"], "NOPE_VOF"),
        (["--db", "x.db", "--account", "store", "--no-send", "--host", "0.0.0.0"], "--hook-header"),  # noqa: S104
        (
            ["--db", "x.db", "--account", "store", "--no-send", "--host", "0.0.0.0", "--hook-header", "X=y"],  # noqa: S104
            "VOF_NOTIFICATION_SECRET",
        ),
    ],
)
def test_bad_input_is_one_line_and_exit_2(
    argv: list[str],
    said: str,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    monkeypatch.chdir(tmp_path)
    for name in ("VTEX_APP_KEY", "VTEX_APP_TOKEN", "VOF_NOTIFICATION_SECRET", "NOPE_VOF"):
        monkeypatch.delenv(name, raising=False)
    code, err = serve(capsys, *argv)
    assert code == 2, err
    assert said in err
    assert err.count("\n") == 1


def test_an_address_in_use_is_one_line(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        code, err = serve(
            capsys, "--db", str(tmp_path / "o.db"), "--account", "store", "--no-send", "--port", str(port)
        )
    assert code == 2
    assert f"cannot listen on 127.0.0.1:{port}" in err


@pytest.mark.parametrize("stop", [signal.SIGINT, signal.SIGTERM])
def test_serve_answers_vtex_on_127_0_0_1_and_stops_cleanly(tmp_path: Path, stop: signal.Signals) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    env = {**os.environ, "HOOK_SECRET": "from-the-environment"}
    process = subprocess.Popen(
        [
            sys.executable, "-m", "vtex_order_flow", "serve", "--db", str(tmp_path / "outbox.db"),
            "--account", "store", "--no-send", "--port", str(port), "--hook-header", "X-Hook=env:HOOK_SECRET",
        ],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )  # fmt: skip
    try:
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 20
        while True:
            try:
                if httpx.get(f"{url}/health", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert time.monotonic() < deadline, "serve did not start"
            assert process.poll() is None, process.communicate()
            time.sleep(0.1)
        ping = {"hookConfig": "ping"}
        assert httpx.post(f"{url}/hook", json=ping, timeout=5).status_code == 401
        assert (
            httpx.post(
                f"{url}/hook", json=ping, headers={"X-Hook": "from-the-environment"}, timeout=5
            ).status_code
            == 200
        )
        status = httpx.get(f"{url}/status", timeout=5).json()
        assert status["entries"]["pending"] == 0
    finally:
        process.send_signal(stop)  # (our own process, by its pid)
        try:
            _, err = process.communicate(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            _, err = process.communicate()
    assert b"Traceback" not in err
    assert process.returncode == 0, err  # a graceful stop, the store closed
    assert f"serving on http://127.0.0.1:{port}".encode() in err
    assert b"hook: 200" in err  # one log line per delivery
    assert not (tmp_path / "outbox.db-wal").exists()  # closed: the log folded back


def test_the_served_connections_have_tcp_nodelay() -> None:
    """serve's own listening socket says TCP (IPPROTO_TCP), so that asyncio sets TCP_NODELAY on
    every connection it accepts: with protocol 0 it did not, and Nagle with the client's delayed
    ACK added 40 ms to every answer (issue 22's measurement: 721 deliveries/s against 9,203)."""
    import asyncio

    from vtex_order_flow.cli._serve import _listen

    listening = _listen("127.0.0.1", 0)
    port = listening.getsockname()[1]
    seen: list[int] = []

    async def check() -> None:
        async def accepted(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            sock = writer.get_extra_info("socket")
            seen.append(sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY))
            writer.close()

        server = await asyncio.start_server(accepted, sock=listening)
        async with server:
            _, writer = await asyncio.open_connection("127.0.0.1", port)
            for _ in range(100):
                if seen:
                    break
                await asyncio.sleep(0.01)
            writer.close()

    asyncio.run(asyncio.wait_for(check(), 10))
    assert seen == [1]
