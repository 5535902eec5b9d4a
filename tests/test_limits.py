"""Limits on the work bad input can cause: model files (size, nesting, where `extends` leads, what
kind of file), the defects a model check reports, the suggestions for unknown names, and the
facts a decision's search tracks. Each ends in a typed error naming the bad value and the limit;
no test here times anything: they assert bounded work, or run under a generous timeout."""

from __future__ import annotations

import io
import os
import subprocess
import sys
from contextlib import redirect_stderr
from pathlib import Path

import pytest

from vtex_order_flow import load_model, model_from_mapping
from vtex_order_flow.cli import main
from vtex_order_flow.errors import (
    ExtendsOutsideFolderError,
    InvalidArgumentError,
    ModelFileError,
    ModelFileTooDeepError,
    ModelFileTooLargeError,
    VtexOrderFlowError,
)

SMALL = 'name = "mine"\nextends = "vtex"\n'


def _write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, "utf-8")
    return path


def _cli(args: list[str]) -> tuple[int, str]:
    err = io.StringIO()
    with redirect_stderr(err):
        code = main(args, io.StringIO())
    return code, err.getvalue()


def _one_line_usage_error(args: list[str], says: str) -> None:
    code, err = _cli(args)
    assert code == 2, err
    assert err.count("\n") == 1, err
    assert says in err
    assert "Traceback" not in err


# -- model files ---------------------------------------------------------------------------------


def test_a_model_file_over_the_size_limit_is_refused_naming_its_size_and_the_limit(tmp_path: Path) -> None:
    big = _write(tmp_path / "big.toml", SMALL + "# padding\n" * 120_000)  # 1.2 MB of comments
    size = big.stat().st_size
    with pytest.raises(ModelFileTooLargeError) as caught:
        load_model(big)
    assert caught.value.size == size
    assert caught.value.limit == 1024 * 1024
    assert caught.value.path == str(big)
    assert f"{size:,} bytes" in str(caught.value)
    assert "1,048,576" in str(caught.value)
    assert isinstance(caught.value, ModelFileError)
    assert load_model(big, max_bytes=2 * size).name == "mine"  # the limit is the caller's to raise
    with pytest.raises(ModelFileTooLargeError, match="limit of 10 bytes"):
        load_model(_write(tmp_path / "small.toml", SMALL), max_bytes=10)
    _one_line_usage_error(["validate", str(big)], "over the limit of 1,048,576 bytes")


@pytest.mark.parametrize(
    "nested",
    [
        "x = " + "[" * 100_000 + "]" * 100_000,  # past the TOML parser's stack
        "x = " + "{a = " * 5_000 + "1" + "}" * 5_000,
        "x = " + "[" * 40 + "]" * 40,  # parsed, but over the limit
        "x." + ".".join(["a"] * 50) + " = 1",  # dotted keys nest without any bracket
        "[" + ".".join(["t"] * 50) + "]\nv = 1",
    ],
)
def test_deep_nesting_is_a_typed_error_never_a_recursion_error(tmp_path: Path, nested: str) -> None:
    file = _write(tmp_path / "deep.toml", SMALL + nested + "\n")
    with pytest.raises(ModelFileTooDeepError, match="more than 32 levels deep") as caught:
        load_model(file)
    assert caught.value.limit == 32
    assert caught.value.path == str(file)
    _one_line_usage_error(["validate", str(file)], "more than 32 levels deep")


def test_the_depth_limit_is_a_keyword_and_applies_to_mappings_too(tmp_path: Path) -> None:
    nested: dict[str, object] = {"leaf": 1}
    for _ in range(100_000):
        nested = {"n": nested}
    with pytest.raises(ModelFileTooDeepError):
        model_from_mapping({"name": "x", "extends": "vtex", "x": nested})
    # Seven levels (the document, a table, an array, ...) pass at 7 and are refused at 6.
    data = {"name": "x", "extends": "vtex", "note": {"a": [[{"b": [1]}]]}}
    with pytest.raises(ModelFileTooDeepError, match="more than 5 levels"):
        model_from_mapping(data, max_depth=5)
    with pytest.raises(VtexOrderFlowError, match="schema"):  # past the limit, the schema speaks
        model_from_mapping(data, max_depth=7)


def test_the_bundled_model_fits_the_default_limits(tmp_path: Path) -> None:
    from importlib import resources

    text = resources.files("vtex_order_flow").joinpath("data", "vtex.toml").read_text("utf-8")
    assert load_model(_write(tmp_path / "copy.toml", text)).name == "vtex"
    with pytest.raises(ModelFileTooDeepError):  # its own nesting (an action's error rules)
        load_model(tmp_path / "copy.toml", max_depth=4)


@pytest.mark.parametrize(
    ("settings", "names"),
    [
        ({"max_bytes": 0}, "max_bytes"),
        ({"max_bytes": "1"}, "max_bytes"),
        ({"max_depth": True}, "max_depth"),
        ({"allow_extends_outside": 1}, "allow_extends_outside"),
    ],
)
def test_limits_of_the_wrong_type_are_refused(
    tmp_path: Path, settings: dict[str, object], names: str
) -> None:
    with pytest.raises(InvalidArgumentError, match=names):
        load_model(_write(tmp_path / "m.toml", SMALL), **settings)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("target", "says"),
    [("/dev/zero", "is a character device, not a regular file"), ("folder", "is a directory")],
)
def test_a_model_or_its_base_must_be_a_regular_file(tmp_path: Path, target: str, says: str) -> None:
    if target == "folder":
        target = str(tmp_path / "folder")
        Path(target).mkdir()
    elif not Path(target).exists():
        pytest.skip(f"no {target} here")
    with pytest.raises(ModelFileError, match=says):
        load_model(target)
    extending = _write(tmp_path / "ext.toml", f'name = "x"\nextends = "{target}"\n')
    with pytest.raises(ModelFileError, match=says):
        load_model(extending, allow_extends_outside=True)
    _one_line_usage_error(["validate", str(extending), "--allow-extends-outside"], says)


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no FIFOs here")
def test_a_fifo_is_refused_without_waiting_for_a_writer(tmp_path: Path) -> None:
    fifo = tmp_path / "model.toml"
    os.mkfifo(fifo)
    extending = _write(tmp_path / "ext.toml", 'name = "x"\nextends = "model.toml"\n')
    for path in (fifo, extending):
        # In a child with a timeout: before the limit, reading a FIFO waited for a writer forever.
        run = subprocess.run(
            [sys.executable, "-m", "vtex_order_flow", "validate", str(path)],
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        assert run.returncode == 2, run.stderr
        assert run.stderr.count("\n") == 1, run.stderr
        assert "is a FIFO, not a regular file" in run.stderr


def test_extends_stays_inside_the_models_folder_unless_allowed(tmp_path: Path) -> None:
    _write(tmp_path / "base.toml", 'name = "base"\nextends = "vtex"\n')
    _write(tmp_path / "models" / "parts" / "inner.toml", 'name = "inner"\nextends = "vtex"\n')
    outside = _write(tmp_path / "models" / "up.toml", 'name = "up"\nextends = "../base.toml"\n')
    absolute = _write(
        tmp_path / "models" / "abs.toml", f'name = "abs"\nextends = "{tmp_path / "base.toml"}"\n'
    )
    inside = _write(tmp_path / "models" / "in.toml", 'name = "in"\nextends = "parts/inner.toml"\n')
    (tmp_path / "models" / "link.toml").symlink_to(tmp_path / "base.toml")
    linked = _write(tmp_path / "models" / "via-link.toml", 'name = "l"\nextends = "link.toml"\n')
    for model in (outside, absolute, linked):
        with pytest.raises(ExtendsOutsideFolderError) as caught:
            load_model(model)
        assert caught.value.path == str(model)
        assert caught.value.resolved == str((tmp_path / "base.toml").resolve())
        assert caught.value.folder == str((tmp_path / "models").resolve())
        assert "allow_extends_outside=True" in str(caught.value)
        assert load_model(model, allow_extends_outside=True).name in {"up", "abs", "l"}
    assert load_model(inside).name == "in"
    # A base inside the folder may not lead out of its own folder either.
    _write(tmp_path / "models" / "parts" / "sneaky.toml", 'name = "s"\nextends = "../../base.toml"\n')
    chained = _write(tmp_path / "models" / "chain.toml", 'name = "c"\nextends = "parts/sneaky.toml"\n')
    with pytest.raises(ExtendsOutsideFolderError):
        load_model(chained)
    # From a mapping, the folder is base_dir (the current folder when not given).
    with pytest.raises(ExtendsOutsideFolderError):
        model_from_mapping({"name": "m", "extends": "../base.toml"}, base_dir=tmp_path / "models")
    # The CLI: refused in one line, allowed with the flag, for --model and for validate.
    _one_line_usage_error(["states", "--model", str(outside)], "outside the model's folder")
    _one_line_usage_error(["validate", str(outside)], "--allow-extends-outside")
    code, err = _cli(["states", "--model", str(outside), "--allow-extends-outside"])
    assert (code, err) == (0, "")
    code, err = _cli(["validate", str(outside), "--allow-extends-outside"])
    assert (code, err) == (0, "")


# -- defects ---------------------------------------------------------------------------------------


def _fan(size: int, *, terminal: bool) -> dict[str, object]:
    """`size` moves from one status on one trigger, to as many statuses (dead ends unless terminal)."""
    ends = [f"d{i}" for i in range(size)]
    return {
        "name": "fan",
        "flows": {"f": {"initial": "s0"}},
        "actions": {"go": {"cause": "marketplace"}},
        "statuses": [
            {"id": "s0", "flows": ["f"], "meaning": "start"},
            *({"id": end, "flows": ["f"], "meaning": end, "terminal": terminal} for end in ends),
        ],
        "transitions": [{"from": "s0", "to": end, "trigger": "go", "flows": ["f"]} for end in ends],
    }


def _toml(data: dict[str, object]) -> str:
    """The little TOML these tests need: strings, booleans, lists and tables of those."""
    import json

    def value(v: object) -> str:
        if isinstance(v, bool):
            return "true" if v else "false"
        if isinstance(v, dict):
            return "{" + ", ".join(f"{json.dumps(k)} = {value(x)}" for k, x in v.items()) + "}"
        if isinstance(v, list):
            return "[" + ", ".join(value(x) for x in v) + "]"
        return json.dumps(v)

    scalars, tables = [], []
    for key, v in data.items():
        if isinstance(v, list) and v and isinstance(v[0], dict):
            tables += [f"[[{key}]]\n" + "".join(f"{k} = {value(x)}\n" for k, x in item.items()) for item in v]
        else:
            scalars.append(f"{key} = {value(v)}\n")
    return "".join(scalars) + "\n".join(tables)


def test_same_trigger_moves_are_one_defect_naming_their_count() -> None:
    from vtex_order_flow.errors import InvalidModelError
    from vtex_order_flow.model import Rule

    with pytest.raises(InvalidModelError) as caught:
        model_from_mapping(_fan(2_000, terminal=True))
    (defect,) = caught.value.defects  # was 1,999,000: one per pair
    assert defect.rule is Rule.AMBIGUOUS_TRIGGER
    assert defect.entry == "transition s0 -> d1 [go]"
    assert "2,000 moves leave 's0' on 'go'" in defect.message
    assert "(-> d0, -> d1, -> d2 and 1,997 more)" in defect.message


def test_the_defects_shown_are_capped_in_the_error_and_the_cli(tmp_path: Path) -> None:
    import json

    from vtex_order_flow._text import MAX_DEFECTS_SHOWN
    from vtex_order_flow.errors import InvalidModelError

    data = _fan(500, terminal=False)  # 500 dead ends and one ambiguous trigger
    with pytest.raises(InvalidModelError) as caught:
        model_from_mapping(data)
    assert len(caught.value.defects) == 501  # every one is still there for a program
    lines = str(caught.value).splitlines()
    assert lines[0].endswith(": 501 defects")
    assert len(lines) == 1 + MAX_DEFECTS_SHOWN + 1
    assert lines[-1] == "  ... and 401 more"
    file = tmp_path / "fan.toml"
    file.write_text(_toml(data), "utf-8")
    out = io.StringIO()
    assert main(["validate", str(file)], out) == 1
    assert out.getvalue().splitlines()[-1] == "  ... and 401 more"
    assert len(out.getvalue().splitlines()) == 1 + MAX_DEFECTS_SHOWN + 1
    out = io.StringIO()
    assert main(["validate", str(file), "--json"], out) == 1
    answer = json.loads(out.getvalue())
    assert (len(answer["defects"]), answer["more_defects"]) == (MAX_DEFECTS_SHOWN, 401)
    code, err = _cli(["states", "--model", str(file)])  # another command's usage error: one line
    assert code == 2
    assert err.count("\n") == 1
    assert "501 defects" in err
    assert f"vtex-order-flow validate {file}" in err


# -- suggestions -----------------------------------------------------------------------------------


def _count_ratios(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    import difflib

    calls = [0]
    real = difflib.SequenceMatcher.ratio

    def counted(self: difflib.SequenceMatcher[str]) -> float:
        calls[0] += 1
        return real(self)

    monkeypatch.setattr(difflib.SequenceMatcher, "ratio", counted)
    return calls


def test_a_suggestion_compares_a_few_names_and_none_for_a_long_value(monkeypatch: pytest.MonkeyPatch) -> None:
    from vtex_order_flow import bundled_model
    from vtex_order_flow._text import MAX_SUGGESTED_LENGTH, closest
    from vtex_order_flow.errors import UnknownStatusError

    names = [*bundled_model().statuses]
    assert len(names) > 30
    calls = _count_ratios(monkeypatch)
    assert closest("ready-for-handlin-7", names)[0] == "ready-for-handling"
    assert 0 < calls[0] <= 2 * 6  # at most the shortlist, twice (as written, then case-folded)
    calls[0] = 0
    assert closest("Ready-For-Handlin-7", names)[0] == "ready-for-handling"
    assert calls[0] <= 2 * 6
    calls[0] = 0
    assert closest("handling" + "x" * MAX_SUGGESTED_LENGTH, names) == ()
    with pytest.raises(UnknownStatusError) as caught:
        bundled_model().decide("h" * 10_000_000, "invoice")
    assert caught.value.suggestions == ()
    assert calls[0] == 0  # a 10 MB name costs no matching at all


def test_a_batch_of_distinct_bad_lines_keeps_a_bounded_cache(monkeypatch: pytest.MonkeyPatch) -> None:
    import json

    from vtex_order_flow import _batch, bundled_model

    made: list[_batch._Bodies] = []

    class Recorded(_batch._Bodies):
        def __init__(self) -> None:
            super().__init__()
            made.append(self)

    monkeypatch.setattr(_batch, "_Bodies", Recorded)
    bad = [json.dumps({"status": f"handlin-{i}", "action": "invoice"}).encode() for i in range(3_000)]
    good = [json.dumps({"status": "handling", "action": "invoice", "id": i}).encode() for i in range(100)]
    out = io.StringIO()
    assert _batch.decide_lines(bundled_model(), [*bad, *good, bad[-1]], out) == 3_001
    (bodies,) = made
    assert len(bodies.bad) == _batch._BAD_LIMIT  # was one entry per distinct bad line, forever
    assert len(bodies.good) == 1
    rows = [json.loads(line) for line in out.getvalue().splitlines()]
    assert len(rows) == 3_101
    assert rows[0]["error"]["suggestions"][0] == "handling"
    assert rows[-1]["error"] == rows[2_999]["error"]  # a repeated bad line: the remembered body


# -- facts -----------------------------------------------------------------------------------------


def _clearing(size: int) -> dict[str, object]:
    """Facts only the caller gives, each cleared by a move that a guard lets fire while it holds;
    the action needs a fact nobody gives: a search through every subset of the given facts."""
    names = [f"x{i}" for i in range(size)]
    return {
        "name": "clearing",
        "flows": {"f": {"initial": "s0"}},
        "facts": {n: {"description": n} for n in [*names, "z"]},
        "actions": {"go": {"cause": "marketplace"}},
        "events": {f"drop-{n}": {"cause": "seller"} for n in names},
        "statuses": [
            {"id": "s0", "flows": ["f"], "meaning": "start"},
            {"id": "s1", "flows": ["f"], "meaning": "end", "terminal": True},
        ],
        "transitions": [
            *(
                {
                    "from": "s0",
                    "to": "s0",
                    "trigger": f"drop-{n}",
                    "flows": ["f"],
                    "requires": [n],
                    "clears": [n],
                }
                for n in names
            ),
            {"from": "s0", "to": "s1", "trigger": "go", "flows": ["f"], "requires": ["z"]},
        ],
    }


def test_a_search_past_the_state_limit_is_a_typed_error_not_minutes() -> None:
    import json

    from vtex_order_flow import Verdict, _batch
    from vtex_order_flow.errors import ModelTooLargeError

    small = model_from_mapping(_clearing(6))  # 64 combinations: decided as before
    assert small.decide("s0", "go", facts=[f"x{i}" for i in range(6)]).verdict is Verdict.REJECT
    model = model_from_mapping(_clearing(20))  # loads: no move sets a fact, none is searched yet
    given = [f"x{i}" for i in range(20)]
    # 2**20 combinations: 33 s before the limit, now refused after 10,000.
    with pytest.raises(
        ModelTooLargeError, match=r"more than 10,000 \(status, facts\) combinations"
    ) as caught:
        model.decide("s0", "go", facts=given)
    assert "20 facts are changed by moves and read by guards" in str(caught.value)
    assert model.decide("s0", "go").verdict is Verdict.REJECT  # other questions are still answered
    line = json.dumps({"status": "s0", "action": "go", "facts": dict.fromkeys(given, True)}).encode()
    out = io.StringIO()
    assert _batch.decide_lines(model, [line, b'{"status": "s0", "action": "go"}'], out) == 1
    first, second = (json.loads(row) for row in out.getvalue().splitlines())
    assert first["error"]["kind"] == "too-large"
    assert second["ok"] is True


def test_the_cli_reports_a_search_past_the_limit_in_one_line(tmp_path: Path) -> None:
    file = _write(tmp_path / "clearing.toml", _toml(_clearing(20)))
    facts = [arg for i in range(20) for arg in ("--fact", f"x{i}")]
    _one_line_usage_error(["decide", "go", "--status", "s0", "--model", str(file), *facts], "10,000")
