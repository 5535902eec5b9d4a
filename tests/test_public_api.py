"""The public surface: what `__all__` promises exists, and the caller-side code that mypy checks
(tests/typing_check.py) also runs."""

from __future__ import annotations

import importlib
from pathlib import Path

import pytest

import typing_check

MODULES_WITH_ALL = [
    "vtex_order_flow",
    "vtex_order_flow.model",
    "vtex_order_flow.machine",
    "vtex_order_flow.render",
    "vtex_order_flow.tracking",
    "vtex_order_flow.testing",
    "vtex_order_flow.payloads",
    "vtex_order_flow.errors",
]


@pytest.mark.parametrize("module", MODULES_WITH_ALL)
def test_every_name_in_all_exists(module: str) -> None:
    imported = importlib.import_module(module)
    names = imported.__all__
    # One screen, alphabetised as ruff keeps it: CONSTANTS first, then the rest in order.
    assert names == sorted(names, key=lambda name: (not name.isupper(), name))
    for name in names:
        assert getattr(imported, name) is not None, name


TOP_LEVEL = {
    # the verbs ...
    "decide",
    "decide_lines",
    "load_model",
    "bundled_model",
    "model_from_mapping",
    "interpret_notification",
    "advice_for",
    # ... and what they return
    "Decision",
    "Verdict",
    "Step",
    "Facts",
    "FlowModel",
    "Advice",
    "FollowUp",
    "__version__",
}

MOVED = {
    "vtex_order_flow.errors": [
        "ContradictoryFactsError",
        "InvalidModelError",
        "ModelFileError",
        "ModelTooLargeError",
        "NotificationError",
        "UnknownActionError",
        "UnknownEventError",
        "UnknownFactError",
        "UnknownFlowError",
        "UnknownNameError",
        "UnknownStatusError",
        "VtexOrderFlowError",
    ],
    "vtex_order_flow.model": [
        "Cause",
        "Confidence",
        "Defect",
        "ErrorRule",
        "Fact",
        "Flow",
        "ModelData",
        "Prerequisite",
        "ResultCode",
        "Rule",
        "Source",
        "Status",
        "Transition",
        "Trigger",
        "duration",
        "model_file_json_schema",
    ],
    "vtex_order_flow.machine": ["build_machine", "fire", "may_fire"],
}


def test_the_top_level_is_the_verbs_and_what_they_return() -> None:
    import vtex_order_flow

    assert set(vtex_order_flow.__all__) == TOP_LEVEL
    assert len(vtex_order_flow.__all__) <= 20


def test_every_home_lists_what_moved_there() -> None:
    for home, names in MOVED.items():
        assert set(names) <= set(importlib.import_module(home).__all__), home


@pytest.mark.parametrize(("home", "name"), [(home, name) for home, names in MOVED.items() for name in names])
def test_a_name_that_left_the_top_level_still_resolves_with_a_warning(home: str, name: str) -> None:
    import vtex_order_flow

    with pytest.warns(DeprecationWarning, match=rf"vtex_order_flow\.{name} has moved: import it from {home}"):
        old = getattr(vtex_order_flow, name)
    assert old is getattr(importlib.import_module(home), name)


def test_from_import_of_an_old_name_warns_at_the_callers_line() -> None:
    with pytest.warns(DeprecationWarning, match="vtex_order_flow.Status has moved") as caught:
        from vtex_order_flow import Status  # noqa: F401
    assert caught[0].filename == __file__


def test_an_exception_is_exported_from_errors_only() -> None:
    for module in MODULES_WITH_ALL:
        if module == "vtex_order_flow.errors":
            continue
        imported = importlib.import_module(module)
        exported = [getattr(imported, name) for name in imported.__all__]
        assert not [e for e in exported if isinstance(e, type) and issubclass(e, BaseException)], module


def test_an_unknown_name_is_still_an_attribute_error() -> None:
    import vtex_order_flow

    with pytest.raises(AttributeError, match="no attribute 'Nothing'"):
        vtex_order_flow.Nothing  # noqa: B018


def test_the_typed_caller_code_runs(tmp_path: Path) -> None:
    model = tmp_path / "m.toml"
    model.write_text('name = "m"\nextends = "vtex"\n', "utf-8")
    assert typing_check.caller(model)
    assert typing_check.decider(model)
    assert typing_check.tracker_user(tmp_path / "t.db") > 0
