"""Custom models: load from a file, extend the bundled VTEX model, override single facts."""

from __future__ import annotations

import tomllib
from importlib import resources
from pathlib import Path

import pytest

from vtex_order_flow import bundled_model, load_model
from vtex_order_flow.errors import InvalidModelError, ModelFileError
from vtex_order_flow.model import Confidence, Rule


def write(tmp_path: Path, text: str, name: str = "model.toml") -> Path:
    path = tmp_path / name
    path.write_text(text, "utf-8")
    return path


def test_a_copy_of_the_bundled_file_loads_as_a_custom_model(tmp_path: Path) -> None:
    text = resources.files("vtex_order_flow").joinpath("data", "vtex.toml").read_text("utf-8")
    model = load_model(write(tmp_path, text))
    assert model.origin.endswith("model.toml")
    assert model.statuses == bundled_model().statuses
    assert model.transitions == bundled_model().transitions


def test_extending_with_nothing_changes_nothing(tmp_path: Path) -> None:
    model = load_model(write(tmp_path, 'name = "mine"\nextends = "vtex"\n'))
    assert model.name == "mine"
    assert model.transitions == bundled_model().transitions


def test_treat_invoiced_as_final(tmp_path: Path) -> None:
    # The other reading of domain A4: no cancel after invoicing, so invoiced becomes terminal.
    model = load_model(
        write(
            tmp_path,
            """
name = "invoiced-is-final"
extends = "vtex"

[[remove.transitions]]
from = "invoiced"
to = "cancel"
trigger = "cancel"

[patch.statuses.invoiced]
terminal = true
confidence = "documented"
note = "Our account refuses cancellation after invoicing."
""",
        )
    )
    assert model.status("invoiced").terminal
    assert not [t for t in model.ways_out("invoiced", "seller") if t.trigger == "cancel"]
    assert bundled_model().status("invoiced").terminal is False  # the bundled model is untouched


def test_removing_the_way_out_without_marking_terminal_is_refused(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """
name = "half-done"
extends = "vtex"
[[remove.transitions]]
from = "invoiced"
to = "cancel"
trigger = "cancel"
""",
    )
    with pytest.raises(InvalidModelError) as caught:
        load_model(path)
    assert {(d.rule, d.entry) for d in caught.value.defects} == {(Rule.DEAD_END, "status 'invoiced'")}


def test_patch_the_grace_period_of_one_account(tmp_path: Path) -> None:
    model = load_model(
        write(
            tmp_path,
            """
name = "two-hour-grace"
extends = "vtex"
[[patch.transitions]]
from = "window-to-cancel"
to = "ready-for-handling"
trigger = "grace-period-ends"
after = 7200
""",
        )
    )
    (timer,) = [t for t in model.ways_out("window-to-cancel", "seller") if t.trigger == "grace-period-ends"]
    assert timer.after == 7200
    assert timer.sources == ("S1", "S20")  # the fields left out keep their value


def test_enable_a_contested_alternative(tmp_path: Path) -> None:
    # Domain A8: an account that invoices straight from ready-for-handling.
    model = load_model(
        write(
            tmp_path,
            """
name = "invoice-early"
extends = "vtex"
[[patch.transitions]]
from = "ready-for-handling"
to = "invoice"
trigger = "invoice"
enabled = true
""",
        )
    )
    assert ("ready-for-handling", "invoice", "invoice") in {t.key for t in model.transitions_in("seller")}


def test_add_a_status_and_transitions(tmp_path: Path) -> None:
    model = load_model(
        write(
            tmp_path,
            """
name = "with-review"
extends = "vtex"

[sources.OPS]
title = "Our operations runbook"

[events.fraud-review-starts]
cause = "platform"

[events.fraud-review-clears]
cause = "platform"

[[statuses]]
id = "fraud-review"
flows = ["seller"]
meaning = "Our anti-fraud team looks at the order."
sources = ["OPS"]

[[transitions]]
from = "order-accepted"
to = "fraud-review"
trigger = "fraud-review-starts"
flows = ["seller"]

[[transitions]]
from = "fraud-review"
to = "waiting-ffmt-authorization"
trigger = "fraud-review-clears"
flows = ["seller"]
""",
        )
    )
    assert model.status("fraud-review").sources == ("OPS",)
    assert [t.source for t in model.ways_in("fraud-review", "seller")] == ["order-accepted"]


def test_remove_a_status_removes_its_transitions(tmp_path: Path) -> None:
    model = load_model(
        write(
            tmp_path,
            """
name = "no-wms"
extends = "vtex"
[remove]
statuses = ["waiting-for-fulfillment"]
""",
        )
    )
    assert "waiting-for-fulfillment" not in model.statuses
    assert not [t for t in model.transitions if "waiting-for-fulfillment" in (t.source, t.dest)]
    assert "waiting-for-fulfillment" not in model.past_goal("seller", "create")


def test_removing_the_only_status_of_an_error_rule_drops_the_rule(tmp_path: Path) -> None:
    # approve's EOI011 rule names only waiting-for-manual-authorization: it must go, not widen.
    model = load_model(
        write(
            tmp_path,
            """
name = "no-divergence"
extends = "vtex"
[remove]
statuses = ["waiting-for-manual-authorization"]
""",
        )
    )
    codes = [rule.code for rule in model.action("approve").errors]
    assert "EOI011" not in codes
    assert codes[-1] == "EOI009"
    assert model.decide("canceled", "approve").expected_error == "EOI009"


def test_patch_a_status_confidence(tmp_path: Path) -> None:
    model = load_model(
        write(
            tmp_path,
            """
name = "checked"
extends = "vtex"
[patch.statuses.waiting-ffmt-authorization]
confidence = "documented"
note = "Checked against our production account on 2026-11-01."
""",
        )
    )
    status = model.status("waiting-ffmt-authorization")
    assert status.confidence is Confidence.DOCUMENTED
    assert status.meaning == bundled_model().status("waiting-ffmt-authorization").meaning


@pytest.mark.parametrize(
    ("override", "entry"),
    [
        ('[patch.statuses.nope]\nnote = "x"', "patch.statuses"),
        (
            '[[patch.transitions]]\nfrom = "a"\nto = "b"\ntrigger = "c"\nnote = "x"',
            "patch.transitions",
        ),
        ('[[remove.transitions]]\nfrom = "a"\nto = "b"\ntrigger = "c"', "remove.transitions"),
        ('[remove]\nstatuses = ["nope"]', "remove.statuses"),
        ('[patch.flows.nope]\ninitial = "null"', "patch.flows"),
    ],
)
def test_overriding_what_the_base_lacks_is_refused(tmp_path: Path, override: str, entry: str) -> None:
    path = write(tmp_path, f'name = "bad"\nextends = "vtex"\n{override}\n')
    with pytest.raises(InvalidModelError) as caught:
        load_model(path)
    assert [(d.rule, d.entry) for d in caught.value.defects] == [(Rule.BAD_OVERRIDE, entry)]


def test_redeclaring_a_base_status_is_refused(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """
name = "dup"
extends = "vtex"
[[statuses]]
id = "handling"
flows = ["seller"]
meaning = "Mine."
""",
    )
    with pytest.raises(InvalidModelError) as caught:
        load_model(path)
    assert caught.value.rules == {Rule.DUPLICATE_STATUS}


def test_a_patch_is_validated_like_the_file(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """
name = "bad-patch"
extends = "vtex"
[patch.statuses.handling]
confidence = "certain"
""",
    )
    with pytest.raises(InvalidModelError) as caught:
        load_model(path)
    assert caught.value.rules == {Rule.SCHEMA}


def test_extends_a_file_relative_to_the_extending_file(tmp_path: Path) -> None:
    base = (tmp_path / "base").resolve()
    base.mkdir()
    write(
        base,
        'name = "middle"\nextends = "vtex"\n[patch.statuses.handling]\nnote = "middle"\n',
        "middle.toml",
    )
    top = write(
        tmp_path,
        'name = "top"\nextends = "base/middle.toml"\n[patch.statuses.invoice]\nnote = "top"\n',
    )
    model = load_model(top)
    assert model.status("handling").note == "middle"
    assert model.status("invoice").note == "top"


def test_circular_extends_is_refused(tmp_path: Path) -> None:
    write(tmp_path, 'name = "a"\nextends = "b.toml"\n', "a.toml")
    write(tmp_path, 'name = "b"\nextends = "a.toml"\n', "b.toml")
    with pytest.raises(InvalidModelError) as caught:
        load_model(tmp_path / "a.toml")
    assert caught.value.rules == {Rule.BAD_OVERRIDE}


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ModelFileError) as caught:
        load_model(tmp_path / "absent.toml")
    assert "no such file" in str(caught.value)
    assert caught.value.path.endswith("absent.toml")


def test_missing_base_file(tmp_path: Path) -> None:
    with pytest.raises(ModelFileError):
        load_model(write(tmp_path, 'name = "x"\nextends = "gone.toml"\n'))


def test_not_toml(tmp_path: Path) -> None:
    with pytest.raises(ModelFileError) as caught:
        load_model(write(tmp_path, "name = \n"))
    assert "not valid TOML" in str(caught.value)


def test_not_utf8(tmp_path: Path) -> None:
    path = tmp_path / "latin1.toml"
    path.write_bytes(b'name = "caf\xe9"\n')
    with pytest.raises(ModelFileError):
        load_model(path)


def test_the_bundled_file_parses_with_tomllib_alone() -> None:
    # No third-party TOML reader is needed to read (or write) a model.
    text = resources.files("vtex_order_flow").joinpath("data", "vtex.toml").read_text("utf-8")
    assert len(tomllib.loads(text)["statuses"]) == len(bundled_model().statuses)
