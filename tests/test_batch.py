"""decide --batch: one output line per input line, in order, whatever the input bytes."""

from __future__ import annotations

import io
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from vtex_order_flow import bundled_model, decide
from vtex_order_flow._batch import decide_lines
from vtex_order_flow.cli import main

VTEX = bundled_model()


def run_lines(data: bytes) -> tuple[int, list[dict[str, Any]]]:
    out = io.StringIO()
    bad = decide_lines(VTEX, io.BytesIO(data), out)
    text = out.getvalue()
    assert text == "" or text.endswith("\n")
    return bad, [json.loads(line) for line in text.splitlines()]


def expected_lines(data: bytes) -> int:
    # Lines as a binary file yields them: split on b"\n" only; a last line without one counts.
    return len(io.BytesIO(data).readlines())


def test_decisions_carry_id_and_line_number() -> None:
    bad, rows = run_lines(
        b'{"status":"handling","action":"invoice","id":"order-1"}\n'
        b'{"status":"invoiced","action":"cancel","facts":{"return-invoice-registered":true},"id":2}\n'
        b'{"status":"payment-approved","action":"cancel","flow":"marketplace"}\n'
    )
    assert bad == 0
    assert [(r["line"], r["id"], r["ok"], r["verdict"]) for r in rows] == [
        (1, "order-1", True, "send"),
        (2, 2, True, "send"),
        (3, None, True, "send"),
    ]
    assert {k: v for k, v in rows[0].items() if k not in {"line", "id", "ok"}} == decide(
        "handling", "invoice"
    ).to_dict()


@pytest.mark.parametrize(
    ("line", "kind"),
    [
        (b"not json", "bad-json"),
        (b"", "bad-json"),
        (b"\xff\xfe{}", "bad-encoding"),
        (b"[1, 2]", "not-an-object"),
        (b'{"status":"handlin","action":"invoice"}', "unknown-status"),
        (b'{"status":"handling","action":"invoce"}', "unknown-action"),
        (b'{"status":"handling","action":"invoice","flow":"sellr"}', "unknown-flow"),
        (b'{"status":"handling","action":"cancel","facts":{"partal-invoice":true}}', "unknown-fact"),
        (b'{"status":"handling","action":"cancel","facts":{"partial-invoice":1}}', "unknown-fact"),
        (b'{"status":"handling","action":"cancel","facts":["partial-invoice"]}', "bad-field"),
        (b'{"status":"handling"}', "missing-field"),
        (b'{"status":7,"action":"cancel"}', "bad-field"),
        (b'{"status":"handling","action":"cancel","orderId":"x"}', "unknown-field"),
        (b'{"status":"payment-pending","action":"cancel"}', "unknown-status"),
    ],
)
def test_a_bad_line_yields_an_error_line_and_the_run_goes_on(line: bytes, kind: str) -> None:
    good = b'{"status":"handling","action":"invoice","id":"g"}'
    bad, rows = run_lines(good + b"\n" + line + b"\n" + good + b"\n")
    assert bad == 1
    assert [r["ok"] for r in rows] == [True, False, True]
    assert rows[1]["line"] == 2
    assert rows[1]["error"]["kind"] == kind
    assert rows[1]["error"]["message"]
    assert rows[2]["verdict"] == "send"


def test_an_error_keeps_the_input_id() -> None:
    _, rows = run_lines(b'{"status":"handlin","action":"invoice","id":{"order":"A-1"}}\n')
    assert rows[0]["id"] == {"order": "A-1"}
    assert rows[0]["error"]["suggestions"][0] == "handling"


def test_cached_results_do_not_leak_between_different_records() -> None:
    _, rows = run_lines(
        b'{"status":"handling","action":"cancel","facts":{"partial-invoice":true}}\n'
        b'{"status":"handling","action":"cancel","facts":{"partial-invoice":1}}\n'
        b'{"status":"handling","action":"cancel","foo":1}\n'
        b'{"status":"handling","action":"cancel","bar":1}\n'
        b'{"status":"handling","action":"cancel","facts":{"partial-invoice":false}}\n'
    )
    assert [r["ok"] for r in rows] == [True, False, False, False, True]
    assert rows[0]["verdict"] == "reject"
    assert "'foo'" in rows[2]["error"]["message"]
    assert "'bar'" in rows[3]["error"]["message"]
    assert rows[4]["verdict"] == "send"


@given(st.binary(max_size=300))
def test_one_output_line_per_input_line_whatever_the_bytes(data: bytes) -> None:
    bad, rows = run_lines(data)
    assert len(rows) == expected_lines(data)
    assert [r["line"] for r in rows] == list(range(1, len(rows) + 1))
    assert bad == sum(1 for r in rows if not r["ok"])


RECORD = st.fixed_dictionaries(
    {"status": st.sampled_from([*VTEX.statuses, "nope"]), "action": st.sampled_from([*VTEX.actions, "x"])},
    optional={
        "flow": st.sampled_from([*VTEX.flows, "nowhere"]),
        "facts": st.dictionaries(st.sampled_from([*VTEX.facts, "bogus"]), st.booleans() | st.integers()),
        "id": st.text() | st.integers() | st.none(),
    },
)


@given(st.lists(RECORD | st.text() | st.integers(), max_size=30))
def test_records_in_order_with_their_ids(records: list[Any]) -> None:
    data = b"".join(json.dumps(r).encode() + b"\n" for r in records)
    _, rows = run_lines(data)
    assert len(rows) == len(records)
    for record, row in zip(records, rows, strict=True):
        if isinstance(record, dict):
            assert row["id"] == record.get("id")
        if row["ok"]:
            assert row["verdict"] in {"send", "defer", "reject"}


def test_cli_batch_from_a_file_exits_1_after_the_whole_input(tmp_path: Path) -> None:
    path = tmp_path / "in.jsonl"
    path.write_bytes(
        b'{"status":"handling","action":"invoice","id":1}\nbroken\n{"status":"ready-for-handling","action":"start-handling","id":3}\n'
    )
    done = subprocess.run(
        [sys.executable, "-m", "vtex_order_flow", "decide", "--batch", str(path)],
        capture_output=True,
        check=False,
        timeout=60,
    )
    assert done.returncode == 1
    rows = [json.loads(line) for line in done.stdout.splitlines()]
    assert [(r["line"], r["ok"]) for r in rows] == [(1, True), (2, False), (3, True)]
    assert done.stderr == b""


def test_cli_batch_from_stdin_all_good_exits_0() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "vtex_order_flow", "decide", "--batch", "-"],
        input=b'{"status":"handling","action":"invoice"}\n{"status":"canceled","action":"cancel"}',
        capture_output=True,
        check=False,
        timeout=60,
    )
    assert done.returncode == 0
    assert [json.loads(line)["verdict"] for line in done.stdout.splitlines()] == ["send", "reject"]


def test_cli_batch_refuses_single_decision_arguments(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["decide", "cancel", "--batch", "-"], out=io.StringIO()) == 2
    assert "drop ACTION" in capsys.readouterr().err


def test_cli_batch_missing_file(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["decide", "--batch", "/no/such.jsonl"], out=io.StringIO()) == 2
    assert "no such file" in capsys.readouterr().err


JSON_TEXT = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=5), inner, max_size=4),
    max_leaves=10,
).map(json.dumps)


@given(
    st.one_of(JSON_TEXT, st.text(max_size=40)),
    st.sampled_from(["", " ", "\t", "\r", " \r"]),
    st.sampled_from(["", " ", "\t"]),
)
def test_fast_parse_equals_json_loads(text: str, tail: str, head: str) -> None:
    from vtex_order_flow._batch import _parse

    line = head + text + tail
    try:
        expected: Any = json.loads(line)
    except ValueError as error:
        with pytest.raises(type(error)):
            _parse(line.encode())
    else:
        # Compared as JSON text: NaN (which json.loads accepts) is not equal to itself.
        assert json.dumps(_parse(line.encode())) == json.dumps(expected)


@pytest.mark.parametrize("ident", ["NaN", "Infinity", "-Infinity", "1e400", "[1, NaN]"])
def test_an_id_that_is_no_json_value_is_written_as_null(ident: str) -> None:
    # Issue 14: `"id": NaN` (and Infinity, 1e400) was echoed as NaN: output that is not JSON.
    line = f'{{"status": "handling", "action": "invoice", "id": {ident}}}\n'
    out = io.StringIO()
    decide_lines(VTEX, [line.encode()], out)
    (written,) = out.getvalue().splitlines()

    def refuse(constant: str) -> None:
        raise AssertionError(f"not JSON: {constant}")

    parsed = json.loads(written, parse_constant=refuse)
    assert parsed["id"] is None
    assert parsed["ok"] is True
