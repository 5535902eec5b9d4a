"""The command line's comforts: shell completion, progress on a terminal, --json everywhere it
means something, a summarised text replay, docs --check in a user's project."""

from __future__ import annotations

import argparse
import io
import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from vtex_order_flow import bundled_model
from vtex_order_flow.cli import build_parser, main


def shell_path(name: str) -> str:
    """The shell's full path, or a skip where it is not installed (bash always is)."""
    found = shutil.which(name)
    if found is None:
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
        "vtex-order-flow: error: shell completion needs the completion extra: "
        "pip install 'vtex-order-flow[completion]'"
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
