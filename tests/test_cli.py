"""The command line: every command, readable and --json, exit codes, one-line errors."""

from __future__ import annotations

import io
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from contract import DECISION_KEYS
from vtex_order_flow import bundled_model
from vtex_order_flow.cli import main


def run(*argv: str) -> tuple[int, str]:
    out = io.StringIO()
    code = main(list(argv), out=out)
    return code, out.getvalue()


def run_json(*argv: str) -> Any:
    code, text = run(*argv, "--json")
    assert code == 0, text
    return json.loads(text)


def test_states_lists_every_status() -> None:
    code, text = run("states")
    assert code == 0
    ids = [line.split()[0] for line in text.splitlines()]
    assert ids == list(bundled_model().statuses)


def test_states_of_one_flow_json() -> None:
    data = run_json("states", "--flow", "seller")
    assert data["flow"] == "seller"
    assert data["initial"] == "not-integrated"
    ids = [s["id"] for s in data["statuses"]]
    assert ids == [s.id for s in bundled_model().statuses_in("seller")]
    handling = next(s for s in data["statuses"] if s["id"] == "handling")
    assert handling["admin_label"] == "Handling shipping"
    assert set(handling) == {
        "id",
        "aliases",
        "admin_label",
        "my_account_label",
        "flows",
        "auto",
        "terminal",
        "meaning",
        "confidence",
        "sources",
        "note",
    }


def test_explain_text_names_ways_in_and_out_with_causes() -> None:
    code, text = run("explain", "window-to-cancel", "--flow", "seller")
    assert code == 0
    assert "to ready-for-handling by grace-period-ends (timer) (after 30 minutes)" in text
    assert "to cancel by customer-cancels-in-window (customer)" in text
    assert "from authorize-fulfillment by reservation-confirmed (platform)" in text


def test_explain_json() -> None:
    data = run_json("explain", "ready-for-handling")
    assert data["status"]["id"] == "ready-for-handling"
    assert set(data["flows"]) == {"seller", "complete"}
    outs = {(t["to"], t["trigger"], t["cause"]) for t in data["flows"]["seller"]["ways_out"]}
    assert ("start-handling", "start-handling", "seller") in outs
    ins = {t["from"] for t in data["flows"]["seller"]["ways_in"]}
    assert ins == {"window-to-cancel", "cancellation-requested"}


def test_explain_accepts_an_alias() -> None:
    data = run_json("explain", "cancelation-request")
    assert data["status"]["id"] == "cancellation-requested"


def test_explain_initial_status() -> None:
    data = run_json("explain", "not-integrated")
    assert data["flows"]["seller"]["initial"] is True


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (["explain", "handlin"], ["unknown status 'handlin'", "'handling'"]),
        (
            ["states", "--flow", "sellr"],
            ["unknown flow 'sellr'", "'seller'", "Valid: seller, marketplace"],
        ),
        (["explain", "handling", "--flow", "chain"], ["not in the chain flow", "seller, complete"]),
        (["explain", "handling", "--flow", "chian"], ["unknown flow 'chian'", "'chain'"]),
        (["validate", "/no/such/model.toml"], ["cannot read model file", "no such file"]),
        (["states", "--model", "/no/such/model.toml"], ["cannot read model file"]),
    ],
)
def test_bad_input_is_one_line_and_exit_2(
    argv: list[str], expected: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    code, out = run(*argv)
    err = capsys.readouterr().err
    assert code == 2
    assert out == ""
    assert err.startswith("vtex-order-flow: error: ")
    assert len(err.strip().splitlines()) == 1
    for fragment in expected:
        assert fragment in err


def test_unknown_command_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as caught:
        main(["decid"])
    assert caught.value.code == 2
    assert "invalid choice: 'decid'" in capsys.readouterr().err


def test_validate_good_and_bad(tmp_path: Path) -> None:
    good = tmp_path / "good.toml"
    good.write_text('name = "mine"\nextends = "vtex"\n', "utf-8")
    code, text = run("validate", str(good))
    assert code == 0
    assert text.startswith("ok: model 'mine'")
    assert run_json("validate", str(good))["valid"] is True

    bad = tmp_path / "bad.toml"
    bad.write_text(
        'name = "bad"\nextends = "vtex"\n[patch.statuses.canceled]\nterminal = false\n'
        '[[transitions]]\nfrom = "handling"\nto = "nowhere"\ntrigger = "teleport"\nflows = ["seller"]\n',
        "utf-8",
    )
    code, text = run("validate", str(bad))
    assert code == 1
    assert "[dead-end]" in text
    assert "[unknown-status]" in text
    assert "[undeclared-trigger]" in text
    code, text = run("validate", str(bad), "--json")
    data = json.loads(text)
    assert code == 1
    assert data["valid"] is False
    rules = {d["rule"] for d in data["defects"]}
    assert {"dead-end", "unknown-status", "undeclared-trigger"} <= rules
    assert all(d["entry"] and d["message"] for d in data["defects"])


def test_an_invalid_model_option_is_bad_input(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text('name = "bad"\nextends = "vtex"\n[patch.statuses.canceled]\nterminal = false\n', "utf-8")
    code, _ = run("states", "--model", str(bad))
    assert code == 2
    assert "[dead-end]" in capsys.readouterr().err


def test_custom_model_option(tmp_path: Path) -> None:
    path = tmp_path / "final.toml"
    path.write_text(
        'name = "final"\nextends = "vtex"\n'
        '[[remove.transitions]]\nfrom = "invoiced"\nto = "cancel"\ntrigger = "cancel"\n'
        "[patch.statuses.invoiced]\nterminal = true\n",
        "utf-8",
    )
    data = run_json("explain", "invoiced", "--flow", "seller", "--model", str(path))
    assert data["model"] == "final"
    assert "cancel" not in {t["trigger"] for t in data["flows"]["seller"]["ways_out"]}


def test_schema_command_prints_the_json_schema() -> None:
    data = run_json("schema")
    assert data["title"] == "ModelFile"
    assert "statuses" in data["properties"]


def test_console_script_runs_without_a_traceback() -> None:
    # The real process: python -m, as installed; an unknown status exits 2 with one line.
    done = subprocess.run(
        [sys.executable, "-m", "vtex_order_flow", "explain", "invoiced-x"],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    assert done.returncode == 2
    assert done.stdout == ""
    assert "Traceback" not in done.stderr
    assert done.stderr.strip() == (
        "vtex-order-flow: error: unknown status 'invoiced-x'; did you mean 'invoiced' or 'invoice'? "
        "(41 valid names; list them with `vtex-order-flow states`.)"
    )


def test_help_lists_every_command() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "vtex_order_flow", "--help"],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    for command in ("states", "explain", "validate", "schema"):
        assert command in done.stdout


def test_decide_json_has_the_documented_keys() -> None:
    data = run_json("decide", "approve", "--status", "waiting-for-manual-authorization")
    assert set(data) >= DECISION_KEYS
    assert (data["verdict"], data["expected_error"], data["flow"]) == ("defer", "EOI011", "seller")


@pytest.mark.parametrize(
    "verdict_case", [("approve", "handling"), ("cancel", "invoiced"), ("invoice", "handling")]
)
def test_decide_exits_0_whatever_the_verdict(verdict_case: tuple[str, str]) -> None:
    action, status = verdict_case
    code, text = run("decide", action, "--status", status)
    assert code == 0
    assert text.split(":")[0] in {"SEND", "DEFER", "REJECT"}


def test_decide_text_explains() -> None:
    code, text = run("decide", "start-handling", "--status", "waiting-ffmt-authorization")
    assert code == 0
    assert (
        text.splitlines()[0]
        == "DEFER: start-handling on an order in waiting-ffmt-authorization (seller flow)"
    )
    assert "The connector can unblock it by sending: approve" in text
    assert "If sent now, VTEX would answer: OMS003" in text
    assert "Look again in about 30 minutes." in text


def test_decide_with_facts() -> None:
    data = run_json("decide", "cancel", "--status", "invoiced", "--fact", "return-invoice-registered=true")
    assert data["verdict"] == "send"
    data = run_json("decide", "cancel", "--status", "handling", "--fact", "partial-invoice")
    assert data["verdict"] == "reject"
    data = run_json("decide", "cancel", "--status", "handling", "--fact", "partial-invoice=no")
    assert data["verdict"] == "send"


@pytest.mark.parametrize(
    ("argv", "fragment"),
    [
        (["decide", "aprove", "--status", "handling"], "unknown action 'aprove'; did you mean 'approve'?"),
        (["decide", "approve", "--status", "handlin"], "unknown status 'handlin'"),
        (["decide", "approve", "--status", "handling", "--flow", "sellr"], "unknown flow 'sellr'"),
        (
            ["decide", "cancel", "--status", "handling", "--fact", "partal-invoice"],
            "unknown fact 'partal-invoice'",
        ),
        (["decide", "cancel", "--status", "handling", "--fact", "partial-invoice=maybe"], "bad --fact"),
        (["decide", "cancel"], "decide needs ACTION and --status"),
    ],
)
def test_decide_bad_input_exits_2_with_one_line(
    argv: list[str], fragment: str, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out = run(*argv)
    err = capsys.readouterr().err
    assert (code, out) == (2, "")
    assert fragment in err
    assert len(err.strip().splitlines()) == 1


def test_explain_gives_every_action_verdict() -> None:
    code, text = run("explain", "waiting-for-manual-authorization")
    assert code == 0
    assert (
        "approve: defer (VTEX would answer EOI011; accepted in waiting-ffmt-authorization after 1 step(s))"
        in text
    )
    data = run_json("explain", "handling", "--flow", "seller")
    decisions = data["flows"]["seller"]["decisions"]
    assert set(decisions) == set(bundled_model().actions)
    assert decisions["approve"]["already_done"] is True


@pytest.mark.parametrize("payload", ["channel-order", "hook", "hook-ping", "feed", "broadcast"])
def test_schema_of_each_payload(payload: str) -> None:
    data = run_json("schema", "--payload", payload)
    assert data["type"] == "object"
    assert data["required"]


def test_schema_of_an_unknown_payload(capsys: pytest.CaptureFixture[str]) -> None:
    code, _ = run("schema", "--payload", "hok")
    assert code == 2
    assert "did you mean 'hook'" in capsys.readouterr().err


def test_a_payload_named_by_a_double_dash_is_an_unknown_name(capsys: pytest.CaptureFixture[str]) -> None:
    # argparse hands `--payload=--` over as an empty list (found by the fuzz test): a typed error.
    code, _ = run("schema", "--payload=--")
    assert code == 2
    assert "unknown name '--'" in capsys.readouterr().err


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    # Issue 14: no --version.
    from vtex_order_flow import __version__

    with pytest.raises(SystemExit) as exited:
        main(["--version"])
    assert exited.value.code == 0
    assert capsys.readouterr().out.strip() == f"vtex-order-flow {__version__}"
