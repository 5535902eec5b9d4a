"""A surface a newcomer can hold: the argument checks (`_guards`: one call per check, one wording,
a bool never a number), exceptions only in `errors`, and `errors.py` holds only exceptions."""

from __future__ import annotations

import ast
import math
from pathlib import Path

import pytest

import vtex_order_flow
from vtex_order_flow import _guards, errors
from vtex_order_flow.errors import InvalidArgumentError


@pytest.mark.parametrize(
    ("value", "kwargs", "message"),
    [
        (True, {"minimum": 1}, "batch must be an integer >= 1, not True"),
        (0, {"minimum": 1}, "batch must be an integer >= 1, not 0"),
        (1.0, {}, "batch must be an integer, not 1.0"),
        (10_001, {"minimum": 1, "maximum": 10_000}, "batch must be an integer from 1 to 10000, not 10001"),
        (7, {"maximum": 5}, "batch must be an integer <= 5, not 7"),
        ("1", {"optional": True}, "batch must be an integer or None, not '1'"),
    ],
)
def test_expect_int_refuses_with_one_wording(value: object, kwargs: dict[str, int], message: str) -> None:
    with pytest.raises(InvalidArgumentError) as caught:
        _guards.expect_int(value, "batch", **kwargs)  # type: ignore[call-overload]
    assert str(caught.value) == message


def test_expect_int_returns_what_it_accepts() -> None:
    assert _guards.expect_int(3, "n", minimum=1, maximum=3) == 3
    assert _guards.expect_int(None, "n", optional=True) is None


@pytest.mark.parametrize(
    ("value", "positive", "message"),
    [
        (-1, False, "lease must be a finite number of seconds >= 0, not -1"),
        (math.inf, False, "lease must be a finite number of seconds >= 0, not inf"),
        (True, False, "lease must be a finite number of seconds >= 0, not True"),
        (0, True, "lease must be a finite number of seconds > 0, not 0"),
        ("1", True, "lease must be a finite number of seconds > 0, not '1'"),
    ],
)
def test_expect_seconds_says_the_trackers_words(value: object, positive: bool, message: str) -> None:
    with pytest.raises(InvalidArgumentError) as caught:
        _guards.expect_seconds(value, "lease", positive=positive)
    assert str(caught.value) == message


def test_expect_seconds_says_the_clients_words() -> None:
    with pytest.raises(InvalidArgumentError) as caught:
        _guards.expect_seconds(0, "timeout", positive=True, wording="a number of seconds")
    assert str(caught.value) == "timeout must be a number of seconds > 0, not 0"
    assert _guards.expect_seconds(2, "timeout", positive=True) == 2.0
    assert isinstance(_guards.expect_seconds(2, "timeout"), float)


def test_is_seconds_is_the_notifications_rule() -> None:
    assert _guards.is_seconds(None, optional=True)
    assert not _guards.is_seconds(None)
    assert _guards.is_seconds(0)
    assert not _guards.is_seconds(0, positive=True)
    assert not _guards.is_seconds(False)
    assert not _guards.is_seconds(math.nan)
    assert not _guards.is_seconds(-0.5)


def test_expect_number_keeps_the_value_and_says_what_is_valid() -> None:
    assert _guards.expect_number(1, "holds", "a probability from 0 to 1", lambda p: 0 <= p <= 1) == 1
    with pytest.raises(InvalidArgumentError, match=r"^holds must be a probability from 0 to 1, not 2$"):
        _guards.expect_number(2, "holds", "a probability from 0 to 1", lambda p: 0 <= p <= 1)
    with pytest.raises(InvalidArgumentError, match=r"^x must be a number, not False$"):
        _guards.expect_number(False, "x", "a number")


def test_errors_holds_only_exceptions() -> None:
    names = errors.__all__
    assert all(isinstance(getattr(errors, n), type) for n in names)
    assert all(issubclass(getattr(errors, n), vtex_order_flow.errors.VtexOrderFlowError) for n in names)
    tree = ast.parse(Path(errors.__file__).read_text("utf-8"))
    defined = [node for node in tree.body if isinstance(node, ast.FunctionDef | ast.ClassDef | ast.Assign)]
    assert all(isinstance(node, ast.ClassDef) for node in defined[1:]), "only __all__ and classes"
    assert all(node.name.endswith("Error") for node in defined if isinstance(node, ast.ClassDef))


def test_moved_exceptions_are_still_found_where_they_were() -> None:
    from vtex_order_flow import render, tracking
    from vtex_order_flow.render import svg

    assert tracking.EventError is errors.EventError
    assert render.GraphvizError is vars(svg)["GraphvizError"] is errors.GraphvizError
    assert render.GraphvizNotFoundError is errors.GraphvizNotFoundError
    assert "EventError" not in tracking.__all__
    assert "GraphvizError" not in render.__all__


def test_the_testing_kit_imports_without_hypothesis() -> None:
    # hypothesis made unimportable by a finder in front of sys.meta_path, as if not installed:
    # the simulator and the fake VTEX import and run; only a strategy says what is missing.
    import subprocess
    import sys

    script = (
        "import sys\n"
        "class Blocker:\n"
        "    def find_spec(self, name, path=None, target=None):\n"
        "        if name == 'hypothesis' or name.startswith('hypothesis.'):\n"
        "            raise ModuleNotFoundError(f'No module named {name!r}', name=name)\n"
        "        return None\n"
        "sys.meta_path.insert(0, Blocker())\n"
        "from vtex_order_flow.testing import FakeVTEX, Faults, SimulatedVTEX\n"
        "sim = SimulatedVTEX(seed=1)\n"
        "FakeVTEX(holds=0, faults=Faults())\n"
        "print('hypothesis' in sys.modules, type(sim).__name__)\n"
        "try:\n"
        "    from vtex_order_flow.testing import walks\n"
        "except Exception as error:\n"
        "    print(type(error).__name__, \"pip install 'vtex-order-flow[testing]'\" in str(error))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=60, check=True
    )
    assert out.stdout.split("\n")[:2] == ["False SimulatedVTEX", "MissingExtraError True"]


def test_the_strategies_still_import_from_the_testing_kit() -> None:
    from vtex_order_flow import testing
    from vtex_order_flow.testing import _strategies

    assert testing.walks is _strategies.walks
    assert testing.Walk is _strategies.Walk


def test_a_node_kind_is_an_enum_that_compares_with_the_old_strings() -> None:
    from vtex_order_flow import bundled_model
    from vtex_order_flow.render import NodeKind, build_view

    view = build_view(bundled_model(), "seller", action="cancel", highlight="handling")
    kinds = {node.id: node.kind for node in view.nodes}
    assert all(isinstance(kind, NodeKind) for kind in kinds.values())
    assert kinds["handling"] == "current"
    assert kinds["handling"] is NodeKind.CURRENT
    assert {"send", "reject"} <= set(kinds.values())
    assert view.node_keys == [kind for kind in NodeKind if kind in set(kinds.values())]
