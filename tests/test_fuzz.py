"""Fuzzing the command line and the public functions: whatever the arguments, the input files
and standard input, no traceback and no untyped exception.

The CLI runs in process through `main(argv)`, in a fresh folder per example, with standard
input, output and error captured: it exits 0, 1 or 2 (3 only for a missing Graphviz), never
writes "Traceback", and its own errors are one line. The public functions (`__all__`), called
with values of the wrong type or shape, raise a `VtexOrderFlowError` or a `TypeError` /
`ValueError` that names the argument. `serve` only gets arguments it refuses at once.
"""

from __future__ import annotations

import argparse
import contextlib
import inspect
import io
import os
import re
import socket
import sys
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from unittest import mock

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import vtex_order_flow
import vtex_order_flow.machine
import vtex_order_flow.model
from vtex_order_flow import bundled_model
from vtex_order_flow.cli import build_parser, main
from vtex_order_flow.errors import VtexOrderFlowError

VTEX = bundled_model()
PARSER = build_parser()
SUBPARSERS: dict[str, argparse.ArgumentParser] = next(
    a for a in PARSER._actions if isinstance(a, argparse._SubParsersAction)
).choices
FUZZED = sorted(set(SUBPARSERS) - {"serve"})  # serve: only refused arguments (below)

# -- values --------------------------------------------------------------------------------------

HOSTILE = [
    "",
    " ",
    "-",
    "--",
    "-1",
    "0",
    "1e400",
    "NaN",
    "\x00",
    "a\nb",
    "é",
    "\u202e",
    "%getenv('HOME')",
    "!include /etc/passwd",
    "x" * 3000,
    "../../x",
    "=",
    "a=b=c",
]
text = st.one_of(st.sampled_from(HOSTILE), st.text(max_size=20))
names = {
    "status": st.sampled_from([*VTEX.statuses, "handlin", "HANDLING"]),
    "action": st.sampled_from([*VTEX.actions, "aprove"]),
    "flow": st.sampled_from([*VTEX.flows, "sellr"]),
    "fact": st.builds(
        lambda name, value: f"{name}{value}",
        st.sampled_from([*VTEX.facts, "partal-invoice", ""]),
        st.sampled_from(["", "=true", "=no", "=maybe", "="]),
    ),
}
names["highlight"] = names["status"]

# Files made in each example's folder: what the commands read.
READ = ["model.toml", "random.bin", "lines.jsonl", "payload.json", "a-folder", "missing.txt", "-"]
# Where the commands may write: only inside the example's folder (or the null device).
WRITE = ["out", "a-folder", "missing/x", "random.bin", ".", "/dev/null", ""]
READ_DESTS = {"model", "file", "events", "defer", "payload"}
WRITE_DESTS = {"output", "out", "db"}
NUMBER_DESTS = {"limit", "timeout", "port", "concurrency", "limit_concurrency", "max_age"}


def _value(command: str, action: argparse.Action) -> st.SearchStrategy[str]:  # noqa: PLR0911 (one per kind)
    dest = action.dest
    if command == "decide" and dest == "batch":
        dest = "file"
    if command == "replay" and dest == "batch":
        dest = "limit"
    if command == "schema" and dest == "payload":
        return st.one_of(st.sampled_from(["hook", "feed", "hok"]), text)
    if action.choices:
        return st.one_of(st.sampled_from(sorted(action.choices)), text)
    if dest in names:
        return st.one_of(names[dest], text)
    if dest in READ_DESTS:
        return st.one_of(st.sampled_from(READ), text.filter(_harmless_path))
    if dest in WRITE_DESTS:
        return st.sampled_from(WRITE)
    if dest in NUMBER_DESTS:
        return st.one_of(st.integers(-(10**20), 10**20).map(str), text)
    return text


def _harmless_path(value: str) -> bool:
    """A random text read as a path stays in the example's folder (and is no device)."""
    return not value.startswith(("/", "~", ".")) and "\x00" not in value and ".." not in value


@st.composite
def command_lines(draw: st.DrawFn) -> list[str]:
    """A command, its required arguments (mostly) and some of its options, with good, bad and
    hostile values; now and then a stray word, or the words in another order."""
    command = draw(st.sampled_from(FUZZED))
    parser = SUBPARSERS[command]
    argv: list[str] = []
    for action in parser._actions:
        if isinstance(action, argparse._HelpAction):
            continue
        needed = action.required or (not action.option_strings and action.nargs != "?")
        if not draw(st.integers(0, 9)) < (9 if needed else 4):
            continue
        if action.nargs == 0:
            argv.append(draw(st.sampled_from(action.option_strings)))
            continue
        value = draw(_value(command, action))
        if not action.option_strings:
            argv.append(value)
        elif value.startswith("-") or not value:  # `--opt=-x`: a value, not an option
            argv.append(f"{max(action.option_strings, key=len)}={value}")
        else:
            argv += [draw(st.sampled_from(action.option_strings)), value]
    if draw(st.integers(0, 19)) == 0:
        argv.append(draw(st.sampled_from(["--help", "--bogus", "extra", "--"])))
    if draw(st.integers(0, 9)) == 0:
        argv = draw(st.permutations(argv))
    return [command, *argv]


def _prepare(folder: Path, model_text: str, data: bytes) -> None:
    (folder / "model.toml").write_text(model_text, "utf-8", errors="surrogatepass")
    (folder / "random.bin").write_bytes(data)
    (folder / "lines.jsonl").write_bytes(
        b'{"status":"handling","action":"invoice"}\n' + data + b'\n{"hookConfig":"ping"}\n'
    )
    (folder / "payload.json").write_bytes(data or b"{}")
    (folder / "a-folder").mkdir()


MODELS = st.one_of(
    st.just('name = "mine"\nextends = "vtex"\n'),
    st.text(max_size=200),
    st.builds(
        lambda extra: 'name = "mine"\nextends = "vtex"\n' + extra,
        st.sampled_from(
            [
                "[patch.statuses.canceled]\nterminal = false\n",
                'extends = "/dev/zero"\n',
                "[[transitions]]\nfrom = 1\n",
                'name = "x\\ny"\n',
                "[flows.a]\ninitial = 5\n",
            ]
        ),
    ),
)

_CLI_ERROR = re.compile(r"^vtex-order-flow( [a-z]+)?: error: ")


def _refuse(*args: Any, **kwargs: Any) -> Any:
    raise AssertionError(f"network access attempted: {args!r}")


@contextlib.contextmanager
def _sandbox(stdin: bytes) -> Iterator[Path]:
    """A fresh working folder, standard input from `stdin`, no credentials, no network."""
    cleared = {k: v for k, v in os.environ.items() if not k.startswith(("VTEX_", "VOF_"))}
    with (
        tempfile.TemporaryDirectory() as folder,
        mock.patch.dict(os.environ, cleared, clear=True),
        mock.patch.object(socket.socket, "connect", _refuse),
        mock.patch.object(socket, "create_connection", _refuse),
        mock.patch.object(sys, "stdin", io.TextIOWrapper(io.BytesIO(stdin))),
    ):
        previous = Path.cwd()
        os.chdir(folder)
        try:
            yield Path(folder)
        finally:
            os.chdir(previous)


def run_cli(argv: list[str], stdin: bytes = b"") -> tuple[int, str, str]:
    """Run the CLI in process; its exit status, standard output and standard error."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(out):
        try:
            code = main(argv, out=out)
        except SystemExit as exited:  # argparse: --help, --version, a usage error
            code = exited.code if isinstance(exited.code, int) else 2
    return code, out.getvalue(), err.getvalue()


def check_outcome(argv: list[str], code: int, err: str) -> None:
    """The contract: a known exit status, no traceback, our own errors on one line."""
    assert "Traceback" not in err, (argv, err)
    assert code in (0, 1, 2) or (code == 3 and "Graphviz" in err), (argv, code, err)
    if code == 2 and err:
        lines = err.rstrip("\n").split("\n")
        assert _CLI_ERROR.match(lines[-1]), (argv, err)
        assert len(lines) == 1, (argv, err)  # argparse's own refusals included


@settings(deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(argv=command_lines(), model_text=MODELS, data=st.binary(max_size=300), stdin=st.binary(max_size=200))
def test_the_cli_never_raises_whatever_the_arguments(
    argv: list[str], model_text: str, data: bytes, stdin: bytes
) -> None:
    with _sandbox(stdin) as folder:
        _prepare(folder, model_text, data)
        code, _out, err = run_cli(argv, stdin)
    check_outcome(argv, code, err)


JSONISH = st.lists(
    st.one_of(
        st.binary(max_size=40),
        st.sampled_from(
            [
                b'{"status":"handling","action":"invoice","id":1}',
                b'{"status":"handling","action":"invoice","facts":5}',
                b'{"orderId":"A","action":"invoice","facts":{"x":1}}',
                b'{"OrderId":"A","State":"handling","Domain":"Fulfillment"}',
                b'{"hookConfig":"ping"}',
                b'{"id":NaN}',
                b"[" * 5000,
                b"\xff\xfe",
            ]
        ),
    ),
    max_size=6,
)


@settings(deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    lines=JSONISH,
    argv=st.sampled_from(
        [
            ["decide", "--batch", "lines.jsonl"],
            ["decide", "--batch", "-"],
            ["replay", "lines.jsonl"],
            ["replay", "lines.jsonl", "--defer", "lines.jsonl", "--json"],
            ["replay", "lines.jsonl", "--db", "t.db", "--all"],
            ["notification", "lines.jsonl"],
            ["notification", "-", "--json"],
        ]
    ),
)
def test_the_readers_take_any_bytes(lines: list[bytes], argv: list[str]) -> None:
    data = b"\n".join(lines)
    with _sandbox(data) as folder:
        (folder / "lines.jsonl").write_bytes(data)
        code, out, err = run_cli(argv, data)
    check_outcome(argv, code, err)
    if argv[:2] == ["decide", "--batch"]:  # exactly one output line per input line
        assert code in (0, 1)
        assert len(out.splitlines()) == len(io.BytesIO(data).readlines())


@settings(deadline=None)
@given(argv=st.lists(text, max_size=6))
def test_the_cli_never_raises_whatever_the_words(argv: list[str]) -> None:
    with _sandbox(b""):
        code, _out, err = run_cli(argv)
    check_outcome(argv, code, err)


@pytest.mark.parametrize(
    "argv",
    [
        ["serve"],
        ["serve", "--json", "--account", "a", "--db", "x.db"],
        ["serve", "--account", "a"],
        ["serve", "--account", "a", "--db", "x.db", "--postgres", "dsn"],
        ["serve", "--account", "a", "--db", "x.db", "--port", "70000", "--no-send"],
        ["serve", "--account", "a", "--db", "x.db", "--port", "x"],
        ["serve", "--account", "a", "--db", "x.db", "--hook-header", "\x00", "--no-send"],
        ["serve", "--account", "a", "--db", "x.db"],  # no credentials
        ["serve", "--account", "a", "--db", "x.db", "--host", "0.0.0.0", "--no-send"],  # noqa: S104 (refused)
        ["serve", "--account", "a", "--db", "x.db", "--flow", "sellr", "--no-send"],
        ["serve", "--account", "a", "--db", "x.db", "--model", "random.bin", "--no-send"],
    ],
)
def test_serve_refuses_bad_arguments_at_once(argv: list[str]) -> None:
    with _sandbox(b"") as folder:
        _prepare(folder, "not = [toml", b"\xff\x00")
        code, out, err = run_cli(argv)
    check_outcome(argv, code, err)
    assert (code, out) == (2, "")


# -- the public functions --------------------------------------------------------------------------

MACHINE = VTEX.machine()


class Ref:
    """An object too large to show in hypothesis's report (the model, its machine), by name."""

    def __init__(self, name: str) -> None:
        self.name = name

    def __repr__(self) -> str:
        return self.name

    def resolve(self) -> object:
        made = {"<model>": VTEX, "<machine>": MACHINE, "<object>": object(), "<stream>": io.StringIO()}
        return made[self.name]


def _resolved(value: Any) -> Any:
    return value.resolve() if isinstance(value, Ref) else value


WRONG = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(),
    st.text(max_size=10),
    st.binary(max_size=10),
    st.lists(st.text(max_size=5), max_size=3),
    st.dictionaries(st.text(max_size=5), st.one_of(st.booleans(), st.integers(), st.text()), max_size=3),
    st.sampled_from([*VTEX.statuses, *VTEX.actions, *VTEX.flows, *VTEX.facts, "vtex", "1x"]),
    st.sampled_from(["<model>", "<machine>", "<object>", "<stream>"]).map(Ref),
    st.just([b'{"status":"handling","action":"invoice"}']),
)
FUNCTIONS: dict[str, Callable[..., Any]] = {
    name: getattr(vtex_order_flow, name)
    for name in vtex_order_flow.__all__
    if inspect.isfunction(getattr(vtex_order_flow, name))
}


def _parameters(function: Callable[..., Any]) -> list[inspect.Parameter]:
    return [
        p
        for p in inspect.signature(function).parameters.values()
        if p.kind in (p.POSITIONAL_OR_KEYWORD, p.POSITIONAL_ONLY, p.KEYWORD_ONLY)
    ]


@st.composite
def calls(draw: st.DrawFn) -> tuple[str, dict[str, Any]]:
    """A public function and keyword arguments for all its required parameters and some of its
    optional ones, each of any type."""
    name = draw(st.sampled_from(sorted(FUNCTIONS)))
    arguments = {
        p.name: draw(WRONG)
        for p in _parameters(FUNCTIONS[name])
        if p.default is inspect.Parameter.empty or draw(st.booleans())
    }
    return name, arguments


@settings(deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(call=calls())
def test_public_functions_raise_only_typed_errors(call: tuple[str, dict[str, Any]]) -> None:
    name, arguments = call[0], {key: _resolved(value) for key, value in call[1].items()}
    if name == "load_model":  # a path: only in a folder of its own (it reads what it names)
        arguments["path"] = _safe_path(arguments["path"])
    untyped: TypeError | ValueError | None = None
    try:
        with _sandbox(b""):
            FUNCTIONS[name](**arguments)
    except VtexOrderFlowError:
        pass
    except (TypeError, ValueError) as error:  # allowed when it names the argument
        untyped = error
    if untyped is not None:
        named = [p.name for p in _parameters(FUNCTIONS[name])]
        assert any(p in str(untyped) for p in named), (name, arguments, untyped)


def _safe_path(value: Any) -> Any:
    if isinstance(value, str) and not _harmless_path(value):
        return "relative-" + value.replace("/", "_").replace(".", "_")
    return value


# -- what the fuzz found, each case pinned --------------------------------------------------------


@pytest.mark.parametrize(
    ("call", "names"),
    [
        (lambda: vtex_order_flow.machine.fire(None, "handling", "invoice"), "fire's machine"),  # type: ignore[arg-type]
        (lambda: vtex_order_flow.machine.may_fire("x", "handling", "invoice"), "fire's machine"),  # type: ignore[arg-type]
        (lambda: vtex_order_flow.machine.build_machine(None, "seller"), "build_machine's model"),  # type: ignore[arg-type]
        (lambda: vtex_order_flow.decide_lines(None, [], io.StringIO()), "decide_lines's model"),  # type: ignore[arg-type]
        (lambda: vtex_order_flow.decide_lines(VTEX, None, io.StringIO()), "decide_lines's lines"),  # type: ignore[arg-type]
        (lambda: vtex_order_flow.decide_lines(VTEX, "0", io.StringIO()), "decide_lines's lines"),  # type: ignore[arg-type]
        (lambda: vtex_order_flow.decide_lines(VTEX, ["{}"], io.StringIO()), "decide_lines's lines"),  # type: ignore[list-item]
        (lambda: vtex_order_flow.decide_lines(VTEX, [b"{}"], None), "decide_lines's out"),  # type: ignore[arg-type]
        (lambda: vtex_order_flow.advice_for(["SOI001"]), "advice_for's code"),  # type: ignore[arg-type]
        (lambda: vtex_order_flow.advice_for("SOI001", model=MACHINE), "advice_for's model"),  # type: ignore[arg-type]
        (lambda: vtex_order_flow.model_from_mapping({}, base_dir=False), "model_from_mapping's base_dir"),  # type: ignore[arg-type]
    ],
)
def test_wrong_types_found_by_the_fuzz_are_typed_errors(call: Callable[[], object], names: str) -> None:
    with pytest.raises(VtexOrderFlowError, match=names):
        call()


def test_duration_of_no_number_names_its_argument() -> None:
    with pytest.raises(VtexOrderFlowError, match="duration's seconds must be an int or float, not NoneType"):
        vtex_order_flow.model.duration(None)  # type: ignore[arg-type]
    assert vtex_order_flow.model.duration(1800) == "30 minutes"


def test_an_invalid_model_option_is_one_line(tmp_path: Path) -> None:
    # Found by the fuzz: `--model` with defects printed them on lines of their own.
    bad = tmp_path / "bad.toml"
    bad.write_text('name = "bad"\nextends = "vtex"\n[patch.statuses.canceled]\nterminal = false\n', "utf-8")
    code, out, err = run_cli(["decide", "approve", "--status", "handling", "--model", str(bad)])
    assert (code, out) == (2, "")
    assert err == (
        f"vtex-order-flow: error: invalid model {bad}: 4 defects, the first: status 'canceled': is not "
        "terminal but has no way out to another status in flow 'seller' [dead-end] "
        f"(check it with `vtex-order-flow validate {bad}`)\n"
    )
    (tmp_path / "empty.toml").write_text("", "utf-8")
    code, _, err = run_cli(["states", "--model", str(tmp_path / "empty.toml")])
    assert code == 2
    assert len(err.splitlines()) == 1
    assert "name: Field required [schema]" in err
