"""Hardening against hostile input found by an adversarial review: model files the TOML parser
would spend quadratic time and memory on, long `extends` chains, arguments of the wrong kind or
range, error messages and reports that grow with the bad input, a byte-order mark on line 1.
Each ends in a typed error (or a bounded answer); nothing here times anything: work is bounded
by a memory limit and a generous timeout in a subprocess, or by counting."""

from __future__ import annotations

import io
import subprocess
import sys
import textwrap
import tomllib
from contextlib import redirect_stderr
from importlib import resources
from pathlib import Path
from typing import Any

import pytest

from vtex_order_flow import load_model
from vtex_order_flow.cli import main
from vtex_order_flow.errors import (
    ExtendsChainTooLongError,
    InvalidArgumentError,
    ModelFileTooDeepError,
)


def _write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, "utf-8")
    return path


def _cli(args: list[str]) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with redirect_stderr(err):
        code = main(args, out)
    return code, out.getvalue(), err.getvalue()


def _one_line_usage_error(args: list[str], says: str) -> None:
    code, _, err = _cli(args)
    assert code == 2, err
    assert err.count("\n") == 1, err
    assert says in err
    assert "Traceback" not in err


# -- 1. dotted keys and headers the TOML parser is quadratic in -----------------------------------

_BOUNDED = textwrap.dedent(
    """
    import resource, sys
    limit = 1 << 30  # 1 GiB of address space: the unguarded parser wanted 24 GB
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    from vtex_order_flow.cli import main
    sys.exit(main(sys.argv[1:]))
    """
)


@pytest.mark.parametrize(
    "hostile",
    [
        'name = "x"\n' + ".".join(["a"] * 100_000) + " = 1\n",  # one key of 100,000 parts
        'name = "x"\n[' + ".".join(["a"] * 100_000) + "]\nv = 1\n",  # a table header of as many
        'name = "x"\n[[' + " . ".join(['"a"'] * 100_000) + "]]\n",  # quoted parts, spaced dots
        'name = "x"\nt = { ' + ".".join(["a"] * 100_000) + " = 1 }\n",  # in an inline table
    ],
)
def test_a_key_of_100000_parts_is_refused_before_parsing(tmp_path: Path, hostile: str) -> None:
    file = _write(tmp_path / "f.toml", hostile)
    run = subprocess.run(  # first, and bounded: unguarded, this process would be killed
        [sys.executable, "-c", _BOUNDED, "validate", str(file)],
        check=False,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert run.returncode == 2, run.stderr[-2000:]
    assert "more than 32 levels deep" in run.stderr
    assert run.stderr.count("\n") == 1
    with pytest.raises(ModelFileTooDeepError, match=r"more than 32 levels deep \(at line 2;") as caught:
        load_model(file)
    assert caught.value.line == 2


def _depth(data: object) -> int:
    """How deep parsed TOML nests, counted as the loader counts (the document is level 1)."""
    children = data.values() if isinstance(data, dict) else data if isinstance(data, list) else ()
    return 1 + max((_depth(c) for c in children if isinstance(c, dict | list)), default=0)


_VALID = [
    "a = \"x.y.z\"\nb = 'p.q[r]{'\nc = 3.14\nd = 1979-05-27T07:32:00Z\ne = 1979-05-27 07:32:00\n",
    'a = """\nmulti [ { line\n"" ""\\"""\n"""\nb = \'\'\'\n[[x]] \'\' \n\'\'\'\n',
    "a = \"\"\"x\"\"\"\"\"\nb = '''y'''''\nc = 1\n",
    'p = { x = 1, y.z = [1, {w = 2}], "q.r" = "s" }\n',
    "[[t.u]]\nv = 1\n[[t.u]]\nv = [ # a comment ]\n 1,\n [2, 3], # ]]\n]\n",
    '[ "a.b" . c ]\nd . "e" . f = 1 # c\n',
    "x = {}\ny = []\nz = [{}, []]\n",
    'a = 1\r\n[b]\r\nc = "d"\r\n',
    'str = "with \\" escaped [ and # hash"\nlit = \'C:\\path\\\'\n',
    "f1 = inf\nf2 = -nan\nf3 = 6.626e-34\nhex = 0xDEAD_beef\nb = true\nt = 07:32:00\n",
    "a.b.c = 1\na.b.d = [[[1]]]\n",
]


@pytest.mark.parametrize("text", _VALID)
def test_the_pre_scan_follows_valid_toml_to_its_end(text: str) -> None:
    """Valid TOML at exactly its depth passes the scan; the same with a deeper line appended is
    refused: the scan read every line (a string, float, date or comment did not derail it)."""
    from vtex_order_flow._toml_guard import scan_depth

    depth = _depth(tomllib.loads(text))
    scan_depth(text, "t", depth)
    for tail in ("zz = " + "[" * (depth + 1) + "]" * (depth + 1), "[" + ".".join(["q"] * depth) + "]"):
        with pytest.raises(ModelFileTooDeepError) as caught:
            scan_depth(text + "\n" + tail + "\n", "t", depth)
        assert caught.value.line == text.count("\n") + 2


def test_the_bundled_model_is_followed_to_its_end_by_the_pre_scan(tmp_path: Path) -> None:
    from vtex_order_flow._toml_guard import scan_depth

    text = resources.files("vtex_order_flow").joinpath("data", "vtex.toml").read_text("utf-8")
    depth = _depth(tomllib.loads(text))
    scan_depth(text, "vtex.toml", depth)
    with pytest.raises(ModelFileTooDeepError):
        scan_depth(text + "\nzz = " + "[" * depth + "]" * depth + "\n", "vtex.toml", depth)
    assert load_model(_write(tmp_path / "copy.toml", text)).name == "vtex"


# -- 2. extends chains ------------------------------------------------------------------------------


def _chain(folder: Path, count: int) -> Path:
    """`count` models, m0 extending m1 extending ... the last extending the bundled model."""
    for i in range(count):
        base = f"m{i + 1}.toml" if i < count - 1 else "vtex"
        _write(folder / f"m{i}.toml", f'name = "m{i}"\nextends = "{base}"\n')
    return folder / "m0.toml"


def test_a_chain_of_1500_extends_is_refused_naming_its_length_and_the_file(tmp_path: Path) -> None:
    first = _chain(tmp_path, 1500)
    with pytest.raises(ExtendsChainTooLongError, match="over the limit of 16 links") as caught:
        load_model(first)
    assert caught.value.length == 17
    assert caught.value.limit == 16
    assert caught.value.path == str(tmp_path / "m16.toml")  # the file whose extends is too many
    _one_line_usage_error(["validate", str(first)], "over the limit of 16 links")


def test_the_extends_limit_is_a_keyword(tmp_path: Path) -> None:
    first = _chain(tmp_path, 16)  # 16 links: the last file's to the bundled model
    assert load_model(first).name == "m0"
    with pytest.raises(ExtendsChainTooLongError, match="limit of 15 links"):
        load_model(first, max_extends=15)
    with pytest.raises(InvalidArgumentError, match="max_extends"):
        load_model(first, max_extends=0)


# -- 3. arguments of the wrong kind or range -----------------------------------------------------


@pytest.mark.parametrize(
    ("settings", "names"),
    [
        ({"max_bytes": 10**100}, "max_bytes must be at most"),
        ({"max_bytes": 2**62}, "max_bytes must be at most"),
        ({"max_depth": 10**6}, "max_depth must be at most"),
        ({"max_extends": 10**6}, "max_extends must be at most"),
    ],
)
def test_limits_past_their_ceiling_are_refused(tmp_path: Path, settings: dict[str, Any], names: str) -> None:
    with pytest.raises(InvalidArgumentError, match=names):
        load_model(_write(tmp_path / "m.toml", 'name = "m"\nextends = "vtex"\n'), **settings)


def test_the_largest_byte_limit_allocates_nothing_up_front(tmp_path: Path) -> None:
    """A small file read with the largest limit, in 1 GiB of address space: no buffer the size
    of the limit is allocated (the file is read a chunk at a time)."""
    file = _write(tmp_path / "m.toml", 'name = "m"\nextends = "vtex"\n')
    code = _BOUNDED.replace("from vtex_order_flow.cli import main", "from vtex_order_flow import load_model")
    code = code.replace(
        "sys.exit(main(sys.argv[1:]))", "print(load_model(sys.argv[1], max_bytes=1 << 30).name)"
    )
    run = subprocess.run(
        [sys.executable, "-c", code, str(file)], check=False, capture_output=True, text=True, timeout=120
    )
    assert run.returncode == 0, run.stderr[-2000:]
    assert run.stdout == "m\n"


def _tracker() -> Any:
    from vtex_order_flow.tracking import Tracker

    return Tracker()


@pytest.mark.parametrize(
    ("call", "names"),
    [
        (lambda t: __import__("vtex_order_flow.tracking").tracking.replay(None, []), "replay's tracker"),
        (lambda t: __import__("vtex_order_flow.tracking").tracking.replay(t, None), "replay's lines"),
        (lambda t: __import__("vtex_order_flow.tracking").tracking.replay(t, [b"{}"]), "replay's lines"),
        (lambda t: __import__("vtex_order_flow.tracking").tracking.replay(t, [], batch=0), "replay's batch"),
        (
            lambda t: __import__("vtex_order_flow.tracking").tracking.replay_report(None),
            "replay_report's tracker",
        ),
        (
            lambda t: __import__("vtex_order_flow.tracking").tracking.replay_report(t, result=5),
            "replay_report's result",
        ),
        (
            lambda t: __import__("vtex_order_flow.tracking").tracking.register_deferred(t, None),
            "register_deferred's lines",
        ),
        (
            lambda t: __import__("vtex_order_flow.tracking").tracking.numbered_lines(None),
            "numbered_lines's source",
        ),
        (lambda t: t.entries("bogus"), "valid: pending, ready, claimed, sent, done, retry, dropped"),
    ],
)
def test_tracking_functions_refuse_wrong_arguments_naming_them(call: Any, names: str) -> None:
    with pytest.raises(InvalidArgumentError, match=names):
        list(call(_tracker()))


def test_entries_takes_state_names_too() -> None:
    from vtex_order_flow.tracking import EntryState

    tracker = _tracker()
    tracker.register("A", "approve")
    assert tracker.entries("pending") == tracker.entries(EntryState.PENDING) != []


@pytest.mark.parametrize("seconds", [float("nan"), float("inf"), -1, True, "60"])
def test_duration_refuses_what_is_no_duration(seconds: object) -> None:
    from vtex_order_flow._vocabulary import duration

    with pytest.raises(InvalidArgumentError, match="duration's seconds"):
        duration(seconds)  # type: ignore[arg-type]
    assert duration(1800) == "30 minutes"
    assert duration(90.5) == "90.5 s"


@pytest.mark.parametrize(
    ("fields", "names"),
    [
        ({"http_status": "x"}, "advice_for's http_status"),
        ({"retry_after": float("nan")}, "advice_for's retry_after"),
        ({"retry_after": -1}, "advice_for's retry_after"),
        ({"errors": 5}, "advice_for's errors"),
        ({"success": "yes"}, "advice_for's success"),
        ({"bogus": 1}, "advice_for has no field 'bogus'; valid fields: follow_up"),
    ],
)
def test_advice_for_refuses_fields_of_the_wrong_kind(fields: dict[str, Any], names: str) -> None:
    from vtex_order_flow import advice_for

    with pytest.raises(InvalidArgumentError, match=names):
        advice_for("EOI011", **fields)
    assert advice_for("EOI011", errors=["a"], http_status=429, retry_after=3).errors == ("a",)


def test_fire_and_past_goal_refuse_what_is_not_facts_or_an_action() -> None:
    from vtex_order_flow import bundled_model
    from vtex_order_flow.errors import UnknownActionError, UnknownFactError
    from vtex_order_flow.machine import fire

    model = bundled_model()
    with pytest.raises(UnknownFactError, match="fire's facts are a mapping"):
        fire(model.machine("seller"), "handling", "approve", facts=5)  # type: ignore[arg-type]
    with pytest.raises(UnknownActionError):
        model.past_goal("seller", None)  # type: ignore[arg-type]
    with pytest.raises(UnknownActionError, match="unknown action 'aprove'"):
        model.past_goal("seller", "aprove")


def test_a_dsn_that_is_not_valid_unicode_is_refused_without_echoing_it() -> None:
    from vtex_order_flow.tracking import PostgresStore

    for dsn in ("host=x password=s\ud800", "host=x\x00"):
        with pytest.raises(InvalidArgumentError, match="dsn must be valid Unicode") as caught:
            PostgresStore(dsn)  # refused before any connection or import
        assert "password" not in str(caught.value)


# -- 4. messages and reports bounded whatever the bad input ---------------------------------------


def test_a_10_mb_status_in_a_batch_line_makes_a_short_output_line() -> None:
    import json

    from vtex_order_flow import bundled_model, decide_lines

    out = io.StringIO()
    status = "x" * 10_000_000
    assert (
        decide_lines(bundled_model(), [json.dumps({"status": status, "action": "approve"}).encode()], out)
        == 1
    )
    line = out.getvalue()
    assert len(line) < 1_000
    error = json.loads(line)["error"]
    assert error["kind"] == "unknown-status"
    assert error["value"] == "x" * 200
    assert error["value_length"] == 10_000_000
    short = io.StringIO()
    decide_lines(bundled_model(), [b'{"status": "x", "action": "approve"}'], short)
    assert "value_length" not in json.loads(short.getvalue())["error"]


@pytest.mark.parametrize(
    "line",
    [
        b'{"' + b"k" * 1_000_000 + b'": 1, "status": "x", "action": "approve"}',
        b'{"status": ["' + b"z" * 1_000_000 + b'"], "action": "approve"}',
        b'{"status": "ready-for-handling", "action": "approve", "facts": [' + b"1," * 500_000 + b"1]}",
        b'{"status": "ready-for-handling", "action": "approve", "facts": {"'
        + b"y" * 1_000_000
        + b'": true}}',
    ],
)
def test_other_bad_values_are_cut_in_batch_errors(line: bytes) -> None:
    from vtex_order_flow import bundled_model, decide_lines

    out = io.StringIO()
    assert decide_lines(bundled_model(), [line], out) == 1
    assert len(out.getvalue()) < 1_000


def test_an_unknown_name_error_message_is_cut() -> None:
    from vtex_order_flow import bundled_model
    from vtex_order_flow.errors import UnknownStatusError

    with pytest.raises(UnknownStatusError) as caught:
        bundled_model().decide("s" * 1_000_000, "approve")
    assert len(str(caught.value)) < 500
    assert caught.value.value == "s" * 1_000_000  # the field keeps it whole


def _junk(path: Path, count: int) -> Path:
    path.write_bytes(b"".join(b"junk %d\n" % i for i in range(count)))
    return path


def test_replay_keeps_the_first_thousand_bad_lines_and_counts_the_rest(tmp_path: Path) -> None:
    from vtex_order_flow.tracking import MAX_ERRORS_KEPT, numbered_lines, replay, replay_report

    tracker = _tracker()
    result = replay(tracker, numbered_lines(_junk(tmp_path / "e.jsonl", 5_000).open("rb")))
    assert len(result.errors) == MAX_ERRORS_KEPT == 1_000
    assert result.errors[-1]["line"] == 1_000
    assert result.errors_omitted == 4_000
    report = replay_report(tracker, result.errors, result)
    assert report["errors_omitted"] == 4_000
    assert "errors_omitted" not in replay_report(tracker, [], replay(tracker, []))


def test_the_replay_command_says_how_many_bad_lines_were_not_kept(tmp_path: Path) -> None:
    import json

    events = _junk(tmp_path / "e.jsonl", 1_500)
    code, out, _ = _cli(["replay", str(events)])
    assert code == 1  # a line was bad
    assert "1500 bad line(s)" in out
    assert "Errors: 1500 (1500 in events)" in out
    assert "... and 500 more bad line(s) in events, counted only (a replay keeps the first 1,000)" in out
    code, out, _ = _cli(["replay", "--json", str(events)])
    assert code == 1
    report = json.loads(out)
    assert len(report["errors"]) == 1_000
    assert report["errors_omitted"] == 500


# -- 5. a byte-order mark on line 1 ---------------------------------------------------------------

BOM = b"\xef\xbb\xbf"


def test_a_batch_file_may_start_with_a_byte_order_mark(tmp_path: Path) -> None:
    import json

    batch = tmp_path / "b.jsonl"
    line = b'{"status": "ready-for-handling", "action": "start-handling"}\n'
    batch.write_bytes(BOM + line + BOM + line)
    code, out, _ = _cli(["decide", "--batch", str(batch)])
    first, second = (json.loads(text) for text in out.splitlines())
    assert first["ok"] is True
    assert second["ok"] is False  # a mark past line 1 is data
    assert second["error"]["kind"] == "bad-json"
    assert code == 1


def test_an_events_file_may_start_with_a_byte_order_mark(tmp_path: Path) -> None:
    """(JSON bytes with a mark were read already, json.loads detecting it; a line of the mark
    alone was a bad line.)"""
    events = tmp_path / "e.jsonl"
    events.write_bytes(BOM + b'{"hookConfig": "ping"}\n')
    code, out, _ = _cli(["replay", str(events)])
    assert code == 0, out
    assert "1 ping(s); 0 bad line(s)" in out
    events.write_bytes(BOM + b'\n{"hookConfig": "ping"}\n')
    code, out, _ = _cli(["replay", str(events)])
    assert code == 0, out
    assert "1 ping(s); 0 bad line(s)" in out


# -- what a second look at the fixes found ---------------------------------------------------------


def test_max_depth_is_capped_below_what_overflows_the_stack(tmp_path: Path) -> None:
    """At max_depth=10,000 a 1,000-part key got past the loader's check and overflowed the
    stack in pydantic's report (a bare RecursionError): the cap is 256, well under that."""
    from vtex_order_flow.errors import InvalidArgumentError, VtexOrderFlowError

    with pytest.raises(InvalidArgumentError, match="max_depth must be at most 256"):
        load_model(tmp_path / "m.toml", max_depth=1000)
    deep = tmp_path / "deep.toml"
    deep.write_text('name = "x"\n' + ".".join(["a"] * 255) + " = 1\n", "utf-8")
    with pytest.raises(VtexOrderFlowError):  # a model with defects, but typed
        load_model(deep, max_depth=256)


def test_the_reference_page_holds_a_lone_surrogate_as_the_replacement_character(tmp_path: Path) -> None:
    from vtex_order_flow import model_from_mapping
    from vtex_order_flow.render.docs import write_docs

    data = tomllib.loads((resources.files("vtex_order_flow") / "data" / "vtex.toml").read_text("utf-8"))
    data["title"] = "T\ud800itle"
    write_docs(model_from_mapping(data), tmp_path / "out")
    assert "T\ufffditle" in (tmp_path / "out" / "README.md").read_text("utf-8")


def test_the_replay_summary_is_bounded_whatever_an_event_names(tmp_path: Path) -> None:
    events = tmp_path / "e.jsonl"
    huge = "s" * 1_000_000
    events.write_text(
        '{"Domain": "Fulfillment", "OrderId": "' + "o" * 500_000 + '", "State": "' + huge + '", '
        '"LastState": null, "LastChange": "2026-01-05T10:00:00Z", "CurrentChange": "2026-01-05T10:00:01Z", '
        '"Origin": {"Account": "a", "Key": "k"}}\n',
        "utf-8",
    )
    out = io.StringIO()
    main(["replay", str(events)], out)
    assert max(map(len, out.getvalue().splitlines())) < 1000
    assert "(1,000,000 characters in all)" in out.getvalue()


def test_a_carriage_return_or_a_huge_value_never_reaches_the_terminal_raw(tmp_path: Path) -> None:
    model = tmp_path / "m.toml"
    model.write_text(
        'extends = "vtex"\nname = "cr"\n[patch.statuses.handling]\n'
        'admin_label = "Handling\\rFAKE: all fine"\n',
        "utf-8",
    )
    out = io.StringIO()
    assert main(["explain", "handling", "--model", str(model)], out) == 0
    assert "\r" not in out.getvalue()
    assert "Handling\\x0dFAKE: all fine" in out.getvalue()
    err = io.StringIO()
    with redirect_stderr(err):
        assert main(["notification", "x" * 120_000], io.StringIO()) == 2
    assert len(err.getvalue()) < 2100
    assert err.getvalue().count("\n") == 1
    assert "(120,0" in err.getvalue()


def test_duration_refuses_a_number_too_large_to_be_a_delay() -> None:
    from vtex_order_flow.errors import InvalidArgumentError
    from vtex_order_flow.model import duration

    with pytest.raises(InvalidArgumentError, match="too large to show"):
        duration(10**5000)
    with pytest.raises(InvalidArgumentError, match="at most"):
        duration(10**20)
    assert duration(30 * 86400) == "30 days"
