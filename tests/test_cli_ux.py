"""The command line's comforts: shell completion, progress on a terminal, --json everywhere it
means something, a summarised text replay, docs --check in a user's project."""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import select
import shutil
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from vtex_order_flow import bundled_model
from vtex_order_flow.cli import build_parser, main


def shell_path(name: str) -> str:
    """The shell's full path, or a skip where it is not installed (bash always is), except in
    CI, where .ci/run installs zsh and fish: fail there."""
    found = shutil.which(name)
    if found is None:
        if os.environ.get("CI"):
            pytest.fail(f"{name} is not installed, but CI must check its completion script with it")
        pytest.skip(f"{name} is not installed")
    return found


def run(*argv: str) -> tuple[int, str]:
    out = io.StringIO()
    code = main(list(argv), out=out)
    return code, out.getvalue()


# -- shell completion ---------------------------------------------------------------------------

COMMANDS = sorted(
    next(a for a in build_parser()._actions if a.dest == "command").choices  # type: ignore[arg-type]
)


@pytest.fixture(scope="module")
def bash_script(tmp_path_factory: pytest.TempPathFactory) -> Path:
    code, text = run("completion", "bash")
    assert code == 0
    path = tmp_path_factory.mktemp("completion") / "vtex-order-flow.bash"
    path.write_text(text, "utf-8")
    return path


def test_the_bash_script_is_valid_bash(bash_script: Path) -> None:
    subprocess.run([shell_path("bash"), "-n", str(bash_script)], check=True, timeout=60)


def _bash_completes(script: Path, *words: str) -> list[str]:
    """What bash's completion function offers for the command line `words` (the last one being
    completed), as bash itself calls it on TAB."""
    driver = (
        f"source {script}\n"
        'fn=$(complete -p vtex-order-flow | sed -E "s/.* -F ([^ ]+) .*/\\1/")\n'
        'COMP_WORDS=("$@"); COMP_CWORD=$(( $# - 1 )); COMP_LINE="$*"; COMP_POINT=${#COMP_LINE}\n'
        '"$fn" vtex-order-flow "${COMP_WORDS[-1]}" "${COMP_WORDS[-2]}"\n'
        'printf "%s\\n" "${COMPREPLY[@]}"\n'
    )
    done = subprocess.run(
        [shell_path("bash"), "-c", driver, "bash", "vtex-order-flow", *words],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    return done.stdout.split()


def test_bash_completes_commands_options_and_the_models_names(bash_script: Path) -> None:
    assert _bash_completes(bash_script, "de") == ["decide"]
    assert sorted(_bash_completes(bash_script, "")) == COMMANDS
    assert _bash_completes(bash_script, "decide", "--st") == ["--status"]
    assert _bash_completes(bash_script, "decide", "app") == ["approve"]
    assert _bash_completes(bash_script, "decide", "approve", "--status", "ready-for-h") == [
        "ready-for-handling"
    ]
    assert sorted(_bash_completes(bash_script, "replay", "--flow", "")) == sorted(bundled_model().flows)
    assert _bash_completes(bash_script, "completion", "fi") == ["fish"]


@pytest.mark.parametrize("shell", ["zsh", "fish", "tcsh"])
def test_every_shells_script_names_every_command(shell: str) -> None:
    code, text = run("completion", shell)
    assert code == 0
    for command in COMMANDS:
        assert command in text


@pytest.mark.parametrize("shell", ["zsh", "fish"])
def test_the_zsh_and_fish_scripts_parse(shell: str, tmp_path: Path) -> None:
    executable = shell_path(shell)
    path = tmp_path / f"script.{shell}"
    path.write_text(run("completion", shell)[1], "utf-8")
    subprocess.run([executable, "-n", str(path)], check=True, timeout=60)


def test_fish_completes_a_command(tmp_path: Path) -> None:
    fish = shell_path("fish")
    path = tmp_path / "script.fish"
    path.write_text(run("completion", "fish")[1], "utf-8")
    done = subprocess.run(
        [fish, "-c", f"source {path}; complete -C 'vtex-order-flow de'"],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    assert [line.split("\t")[0] for line in done.stdout.splitlines()] == ["decide"]


def test_completion_without_shtab_names_the_extra(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setitem(sys.modules, "shtab", None)  # import shtab: ImportError
    code, out = run("completion", "bash")
    err = capsys.readouterr().err
    assert (code, out) == (2, "")
    assert err.strip() == (
        "vtex-order-flow: error: shell completion needs shtab, the completion extra: "
        "pip install 'vtex-order-flow[completion]' (from a clone: pip install '.[completion]')"
    )


def test_no_other_command_loads_shtab() -> None:
    code = (
        "import io, sys; from vtex_order_flow.cli import main;"
        "main(['decide', 'approve', '--status', 'handling'], out=io.StringIO());"
        "print('shtab' in sys.modules)"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    assert done.stdout.strip() == "False"


# -- --json ---------------------------------------------------------------------------------------


def test_diagram_json_is_the_text_and_what_it_shows(tmp_path: Path) -> None:
    code, text = run("diagram", "--flow", "chain", "--format", "dot", "--json")
    assert code == 0
    data = json.loads(text)
    assert data == {
        "model": "vtex",
        "flow": "chain",
        "format": "dot",
        "highlight": None,
        "action": None,
        "facts": {},
        "text": run("diagram", "--flow", "chain", "--format", "dot")[1],
    }
    target = tmp_path / "x.mmd"
    code, text = run(
        "diagram", "--action", "cancel", "--fact", "partial-invoice", "-o", str(target), "--json"
    )
    data = json.loads(text)
    assert (data["output"], data["facts"], "text" in data) == (str(target), {"partial-invoice": True}, False)
    assert target.read_text("utf-8").startswith("---")


def test_serve_refuses_json_with_a_reason(capsys: pytest.CaptureFixture[str]) -> None:
    code, out = run("serve", "--account", "a", "--db", "unused.db", "--json")
    err = capsys.readouterr().err
    assert (code, out) == (2, "")
    assert (
        err
        == "vtex-order-flow: error: serve has no --json: it logs lines of text; GET /status answers in JSON\n"
    )


@pytest.mark.parametrize("command", [c for c in COMMANDS if c not in ("serve", "completion")])
def test_every_other_command_takes_json(command: str) -> None:
    # (completion prints a shell script; serve is above; schema and decide --batch are JSON anyway)
    options = {a.dest for a in _subparser(command)._actions}
    assert "json" in options


def _subparser(command: str) -> argparse.ArgumentParser:
    sub = next(a for a in build_parser()._actions if a.dest == "command")
    return sub.choices[command]  # type: ignore[index,no-any-return]


# -- a summarised text replay ------------------------------------------------------------------


def _hook(order: str, state: str) -> dict[str, object]:
    return {
        "Domain": "Fulfillment",
        "OrderId": order,
        "State": state,
        "LastState": None,
        "LastChange": "2026-01-05T10:00:00.0000000Z",
        "CurrentChange": "2026-01-05T10:00:01.0000000Z",
        "Origin": {"Account": "store", "Key": "vtexappkey-store"},
    }


@pytest.fixture(scope="module")
def many_dropped(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, str]:
    folder = tmp_path_factory.mktemp("replay")
    orders = [(f"O{i}", "canceled") for i in range(600)] + [(f"P{i}", "handling") for i in range(7)]
    events, defers = folder / "events.jsonl", folder / "defer.jsonl"
    lines = [json.dumps(_hook(order, state)) for order, state in orders] + ["not json"] * 3
    events.write_text("\n".join(lines) + "\n", "utf-8")
    defers.write_text(
        "".join(json.dumps({"orderId": order, "action": "invoice"}) + "\n" for order, _ in orders), "utf-8"
    )
    return str(events), str(defers)


def test_text_replay_counts_each_list_and_shows_its_first_items(many_dropped: tuple[str, str]) -> None:
    # Issue 14: text replay printed every one of 6,000 dropped updates.
    events, defers = many_dropped
    code, text = run("replay", events, "--defer", defers)
    assert code == 1  # the three bad lines
    lines = text.splitlines()
    assert "Dropped: 600 (600 impossible)" in lines
    assert "Ready: 7 (7 invoice)" in lines
    assert "Errors: 3 (3 in events)" in lines
    dropped = lines.index("Dropped: 600 (600 impossible)")
    assert [line.split(":")[0] for line in lines[dropped + 1 : dropped + 6]] == [f"  O{i}" for i in range(5)]
    assert lines[dropped + 6] == "  ... and 595 more (--all lists every one, --limit N the first N)"
    assert len(lines) < 40


def test_text_replay_limit_and_all(many_dropped: tuple[str, str]) -> None:
    events, defers = many_dropped
    counted = run("replay", events, "--defer", defers, "--limit", "0")[1].splitlines()
    assert not [line for line in counted if line.startswith("  ")]  # the counts alone
    assert "Dropped: 600 (600 impossible)" in counted
    two = run("replay", events, "--defer", defers, "--limit", "2")[1]
    assert "  ... and 598 more" in two
    every = run("replay", events, "--defer", defers, "--all")[1]
    assert "more (--all" not in every
    assert sum(line.startswith("  O") for line in every.splitlines()) == 600


@pytest.mark.parametrize(
    ("extra", "says"),
    [
        (["--limit", "-1"], "--limit must be 0 or more, not -1"),
        (["--limit", "3", "--json"], "--json lists every item"),
        (["--all", "--json"], "--json lists every item"),
    ],
)
def test_text_replay_options_refused(
    many_dropped: tuple[str, str], extra: list[str], says: str, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out = run("replay", many_dropped[0], *extra)
    assert (code, out) == (2, "")
    assert says in capsys.readouterr().err


# -- progress on a terminal ----------------------------------------------------------------------

ERASE = "\r\x1b[K"


class SteppedClock:
    """A clock that moves `step` seconds each time it is read: no real time in the tests."""

    def __init__(self, step: float) -> None:
        self.now, self.step = 1000.0, step

    def __call__(self) -> float:
        self.now += self.step
        return self.now


@contextlib.contextmanager
def terminal(columns: int = 0) -> Iterator[Callable[[], str]]:
    """Standard error on a pseudo-terminal (`columns` wide, when given); yields what was written
    there so far. (A context in the test itself: pytest puts its own sys.stderr back between a
    fixture and the test.)"""
    master, slave = os.openpty()
    if columns:
        import fcntl
        import struct
        import termios

        fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 24, columns, 0, 0))
    stderr = open(slave, "w", encoding="utf-8", closefd=True)  # noqa: PTH123, SIM115 (an fd; closed below)
    received = bytearray()

    def written() -> str:
        stderr.flush()
        while select.select([master], [], [], 0)[0]:
            received.extend(os.read(master, 65536))
        return received.decode("utf-8")

    try:
        with contextlib.redirect_stderr(stderr):
            yield written
    finally:
        stderr.close()
        os.close(master)


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> SteppedClock:
    from vtex_order_flow.cli import _progress

    stepped = SteppedClock(0.01)
    monkeypatch.setattr(_progress, "_clock", stepped)
    return stepped


@pytest.fixture(scope="module")
def events_file(tmp_path_factory: pytest.TempPathFactory) -> str:
    path = tmp_path_factory.mktemp("progress") / "events.jsonl"
    path.write_text("".join(json.dumps(_hook(f"O{i}", "handling")) + "\n" for i in range(150)), "utf-8")
    return str(path)


def _draws(text: str) -> list[str]:
    return [part for part in text.split(ERASE) if part]


def test_replay_shows_progress_on_a_terminal_rate_limited_then_erased(
    clock: SteppedClock, events_file: str
) -> None:
    start = clock.now
    with terminal() as written:
        code, out = run("replay", events_file, "--limit", "0")
        shown = written()
    assert code == 0
    draws = _draws(shown)
    assert draws
    assert all(d.startswith("replay: [") and "lines/s" in d for d in draws)
    shares = [int(d.split("]")[1].split("%")[0]) for d in draws]
    assert shares == sorted(shares)
    assert 0 < shares[-1] <= 100
    assert len(draws) <= (clock.now - start) / 0.1 + 1  # at most ten a second (of the clock)
    assert shown.endswith(ERASE)  # erased at the end
    assert out == run("replay", events_file, "--limit", "0", "--no-progress")[1]  # stdout untouched
    assert "\r" not in out


def test_progress_is_never_wider_than_the_terminal(clock: SteppedClock, events_file: str) -> None:
    # An 85-column line on an 80-column terminal wrapped, and each redraw left a row behind.
    with terminal(columns=40) as written:
        assert run("replay", events_file, "--limit", "0")[0] == 0
        draws = _draws(written())
    assert draws
    assert all(len(d) <= 39 for d in draws), draws


def test_a_short_run_on_a_terminal_shows_nothing(clock: SteppedClock, events_file: str) -> None:
    clock.step = 0.001  # 150 lines in 0.15 s: under the half second before the first draw
    with terminal() as written:
        assert run("replay", events_file)[0] == 0
        assert written() == ""


def test_no_progress_on_a_terminal_when_told(clock: SteppedClock, events_file: str) -> None:
    with terminal() as written:
        assert run("replay", events_file, "--no-progress")[0] == 0
        assert written() == ""


def test_no_progress_when_stderr_is_not_a_terminal(
    clock: SteppedClock, events_file: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run("replay", events_file)[0] == 0
    assert capsys.readouterr().err == ""


def test_batch_progress_keeps_one_output_line_per_input_line(clock: SteppedClock, tmp_path: Path) -> None:
    batch = tmp_path / "batch.jsonl"
    rows = [{"status": "handling", "action": "invoice", "id": i} for i in range(150)]
    batch.write_text("".join(json.dumps(r) + "\n" for r in rows) + "not json\n", "utf-8")
    with terminal() as written:
        code, out = run("decide", "--batch", str(batch))
        shown = written()
    assert code == 1
    assert [json.loads(line)["line"] for line in out.splitlines()] == list(range(1, 152))
    assert _draws(shown)
    assert all(d.startswith("decide: [") for d in _draws(shown))
    assert shown.endswith(ERASE)


def test_batch_shows_no_progress_when_stdout_is_the_terminal_too(clock: SteppedClock, tmp_path: Path) -> None:
    class TerminalOut(io.StringIO):
        def isatty(self) -> bool:
            return True

    batch = tmp_path / "batch.jsonl"
    batch.write_text('{"status": "handling", "action": "invoice"}\n' * 150, "utf-8")
    out = TerminalOut()
    with terminal() as written:
        assert main(["decide", "--batch", str(batch)], out=out) == 0
        assert written() == ""
    assert len(out.getvalue().splitlines()) == 150


# -- docs --check in a user's project --------------------------------------------------------------


@pytest.mark.parametrize("with_model", [False, True])
def test_docs_check_where_docs_never_ran_says_how_to_generate(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, with_model: bool
) -> None:
    # Issue 14: in a user's project, docs --check listed every bundled file as "missing".
    monkeypatch.chdir(tmp_path)
    Path("mine.toml").write_text('name = "mine"\nextends = "vtex"\n', "utf-8")
    Path("diagrams").mkdir()
    Path("diagrams/notes.md").write_text("# my own notes\n", "utf-8")  # a user's own folder
    model = ["--model", "mine.toml"] if with_model else []
    code, text = run("docs", "--check", *model)
    generate = "vtex-order-flow docs --model mine.toml" if with_model else "vtex-order-flow docs"
    assert (code, text) == (1, f"nothing generated in diagrams yet: generate it with `{generate}`\n")
    code, text = run("docs", "--check", "--out", "no such dir", "--json", *model)
    assert code == 1
    assert json.loads(text) == {
        "generated": False,
        "stale": [],
        "message": f"nothing generated in no such dir yet: generate it with `{generate} --out 'no such dir'`",
    }
    assert sorted(p.name for p in tmp_path.rglob("*")) == ["diagrams", "mine.toml", "notes.md"]  # untouched


def test_docs_check_checks_what_the_users_docs_generated(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    Path("mine.toml").write_text('name = "mine"\nextends = "vtex"\n', "utf-8")
    assert run("docs", "--model", "mine.toml", "--out", "docs")[0] == 0
    assert run("docs", "--check", "--model", "mine.toml", "--out", "docs") == (0, "up to date: docs\n")
    (tmp_path / "docs" / "chain.mmd").unlink()
    code, text = run("docs", "--check", "--model", "mine.toml", "--out", "docs")
    assert code == 1
    assert text.splitlines() == [
        "stale: docs/chain.mmd: missing",
        "1 stale file(s); regenerate them with `vtex-order-flow docs --model mine.toml --out docs`",
    ]
    assert json.loads(run("docs", "--check", "--model", "mine.toml", "--out", "docs", "--json")[1]) == {
        "generated": True,
        "stale": [{"file": "chain.mmd", "why": "missing"}],
    }


def test_docs_check_of_a_file_is_bad_input(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    target = tmp_path / "x.txt"
    target.write_text("x", "utf-8")
    assert run("docs", "--check", "--out", str(target)) == (2, "")
    assert capsys.readouterr().err == f"vtex-order-flow: error: --out {str(target)!r} is not a folder\n"
