"""The public surface: what `__all__` promises exists, and the caller-side code that mypy checks
(tests/typing_check.py) also runs."""

from __future__ import annotations

import importlib
from pathlib import Path

import pytest

import typing_check

MODULES_WITH_ALL = [
    "vtex_order_flow",
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


def test_the_typed_caller_code_runs(tmp_path: Path) -> None:
    model = tmp_path / "m.toml"
    model.write_text('name = "m"\nextends = "vtex"\n', "utf-8")
    assert typing_check.caller(model)
    assert typing_check.decider(model)
    assert typing_check.tracker_user(tmp_path / "t.db") > 0
