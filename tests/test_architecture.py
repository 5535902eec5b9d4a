"""The architecture as checked rules: VTEX facts only in the model, one error root, small CLI
modules, help texts from the model. (The layering itself is import-linter's contract in
pyproject.toml, run by the test command.)"""

from __future__ import annotations

import ast
import builtins
import io
import re
from collections.abc import Iterator
from contextlib import redirect_stdout
from pathlib import Path

import pytest

import vtex_order_flow
from test_public_api import MODULES_WITH_ALL
from vtex_order_flow import bundled_model
from vtex_order_flow.cli import main
from vtex_order_flow.errors import VtexOrderFlowError

PACKAGE = Path(vtex_order_flow.__file__).parent
SOURCES = sorted(p for p in PACKAGE.rglob("*.py") if "data" not in p.relative_to(PACKAGE).parts)
VTEX = bundled_model()
CODE = re.compile(r"\b(?:SOI|EOI|OMS)\d{3}\b|\bHTTP\d{3}\b")


def _docstrings(tree: ast.AST) -> set[int]:
    """The ids of the string nodes that document: every string standing alone as a statement
    (module, class and function docstrings, and attribute docstrings after a field), and the
    `description=` of a schema field or the `help=` of a command-line option."""
    found = set()
    for node in ast.walk(tree):
        if (
            isinstance(node, ast.Expr)
            and isinstance(node.value, ast.Constant)
            and isinstance(node.value.value, str)
        ):
            found.add(id(node.value))
        elif isinstance(node, ast.keyword) and node.arg in {"description", "help"}:
            found |= {id(part) for part in ast.walk(node.value) if isinstance(part, ast.Constant)}
    return found


def _strings(path: Path) -> Iterator[tuple[int, str]]:
    """Every string (or bytes) constant of a module that is code, not documentation, f-strings'
    literal parts included (line, text)."""
    tree = ast.parse(path.read_text("utf-8"))
    docs = _docstrings(tree)
    for node in ast.walk(tree):
        if isinstance(node, ast.Constant) and isinstance(node.value, str | bytes) and id(node) not in docs:
            text = node.value.decode("utf-8", "replace") if isinstance(node.value, bytes) else node.value
            yield node.lineno, text


def _vtex_words() -> re.Pattern[str]:
    """The model's own words, as tokens: status ids and aliases, event names, Channel Order
    operations and event domains. Words that are also plain English or an action's name (which
    the testing kit's methods are named after) are left out: `invoice`, `cancel`, `null`, ..."""
    words = {alias for s in VTEX.statuses.values() for alias in (s.id, *s.aliases)}
    words |= set(VTEX.events)
    words |= {a.operation for a in VTEX.actions.values() if a.operation}
    words |= {f.domain for f in VTEX.flows.values() if f.domain}
    words -= set(VTEX.actions) | set(VTEX.flows) | set(VTEX.facts)
    words = {w for w in words if "-" in w or w[0].isupper()}  # hyphenated ids, CamelCase names
    alternatives = "|".join(map(re.escape, sorted(words, key=len, reverse=True)))
    return re.compile(r"(?<![\w-])(?:" + alternatives + r")(?![\w-])")


def test_vtex_facts_live_only_in_the_model() -> None:
    # Result codes, status ids, event names, operations and domains belong to data/vtex.toml,
    # wherever they would stand in code: a value, a dict key, inside a message or an f-string.
    words = _vtex_words()
    found = [
        f"{path.relative_to(PACKAGE)}:{line}: {text!r}"
        for path in SOURCES
        for line, text in _strings(path)
        if CODE.search(text) or words.search(text)
    ]
    assert not found, "VTEX facts outside the model:\n" + "\n".join(found)


def test_the_literal_search_would_find_them() -> None:
    # The rule above is not vacuous: it reads code strings and skips only documentation.
    source = (
        '"""EOI011 and ready-for-handling in a docstring are fine."""\n'
        'CODE = "EOI011"\n'
        'KEY = {"price-divergence-hold": 1}\n'
        'MESSAGE = f"{x}: ready-for-handling"\n'
        'RAW = b"PlaceOrder"\n'
    )
    tree = ast.parse(source)
    docs = _docstrings(tree)
    texts = [
        n.value.decode() if isinstance(n.value, bytes) else n.value
        for n in ast.walk(tree)
        if isinstance(n, ast.Constant) and isinstance(n.value, str | bytes) and id(n) not in docs
    ]
    words = _vtex_words()
    assert [bool(CODE.search(t) or words.search(t)) for t in texts] == [True, True, True, True]
    assert not words.search("start-handling-ish")
    assert not words.search("the invoice is handled")


def _defined_exceptions() -> Iterator[tuple[str, type[BaseException]]]:
    import importlib

    for path in SOURCES:
        parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
        if parts[-1] == "__main__":
            continue
        module = importlib.import_module(".".join(p for p in parts if p != "__init__"))
        for name, value in vars(module).items():
            if (
                isinstance(value, type)
                and issubclass(value, BaseException)
                and value.__module__ == module.__name__
            ):
                yield f"{module.__name__}.{name}", value


def test_every_exception_the_library_defines_derives_from_the_root() -> None:
    defined = dict(_defined_exceptions())
    assert len(defined) > 10
    assert all(issubclass(error, VtexOrderFlowError) for error in defined.values()), [
        name for name, error in defined.items() if not issubclass(error, VtexOrderFlowError)
    ]


def test_the_library_raises_only_its_own_errors() -> None:
    # A `raise` of a builtin exception escapes the hierarchy; the only ones allowed are
    # AttributeError from a module's __getattr__ and SystemExit from the entry points.
    allowed = {"AttributeError", "SystemExit"}
    found = []
    for path in SOURCES:
        for node in ast.walk(ast.parse(path.read_text("utf-8"))):
            if isinstance(node, ast.Raise) and node.exc is not None:
                target = node.exc.func if isinstance(node.exc, ast.Call) else node.exc
                name = target.id if isinstance(target, ast.Name) else None
                if name and isinstance(getattr(builtins, name, None), type) and name not in allowed:
                    found.append(f"{path.relative_to(PACKAGE)}:{node.lineno}: raise {name}")
    # The replay reader raises ValueError inside its own try, to report the line: not escaping.
    escaping = [f for f in found if not f.startswith("tracking/_replay.py")]
    assert not escaping, "\n".join(escaping)


def test_no_module_of_the_package_is_over_400_lines() -> None:
    """One kind of thing per module: a module past 400 lines is split by job (issue 21)."""
    sizes = {
        str(p.relative_to(PACKAGE)): len(p.read_text("utf-8").splitlines()) for p in PACKAGE.rglob("*.py")
    }
    assert len(sizes) >= 40
    assert {name: size for name, size in sizes.items() if size > 400} == {}


def test_cli_modules_stay_small() -> None:
    sizes = {p.name: len(p.read_text("utf-8").splitlines()) for p in (PACKAGE / "cli").glob("*.py")}
    assert len(sizes) >= 5
    assert max(sizes.values()) <= 300, sizes


@pytest.mark.parametrize("command", ["decide", "diagram"])
def test_help_lists_the_models_flows_and_actions(command: str) -> None:
    out = io.StringIO()
    with redirect_stdout(out), pytest.raises(SystemExit):
        main([command, "--help"])
    text = " ".join(out.getvalue().split())
    for name in (*VTEX.flows, *VTEX.actions):
        assert name in text, name
    assert f"default: {VTEX.default_flow}" in text


def test_version_is_the_distributions() -> None:
    from importlib.metadata import version

    assert vtex_order_flow.__version__ == version("vtex-order-flow")


# -- one load path, one set of defaults ----------------------------------------------------------


def test_the_builder_and_the_schema_agree_on_every_default() -> None:
    # The bundled model is built without pydantic; every field a file leaves out must get the
    # schema's default there too. The minimal model leaves out every optional field of every
    # kind of entry, so this compares them all, not only those the bundled file omits.
    from conftest import MINIMAL
    from vtex_order_flow import model_from_mapping
    from vtex_order_flow._loader import build_model

    assert build_model(MINIMAL, "<mapping>") == model_from_mapping(MINIMAL)


def test_an_extends_cycle_through_parent_folders_is_a_defect(tmp_path: Path) -> None:
    from vtex_order_flow import load_model
    from vtex_order_flow.errors import InvalidModelError
    from vtex_order_flow.model import Rule

    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    (tmp_path / "a" / "m.toml").write_text('name = "a"\nextends = "../b/m.toml"\n', "utf-8")
    (tmp_path / "b" / "m.toml").write_text('name = "b"\nextends = "../a/m.toml"\n', "utf-8")
    with pytest.raises(InvalidModelError) as caught:  # `../` must be allowed to get this far
        load_model(tmp_path / "a" / "m.toml", allow_extends_outside=True)
    assert caught.value.rules == {Rule.BAD_OVERRIDE}
    assert "circular extends" in str(caught.value)


def test_confidence_is_ordered_by_strength() -> None:
    from vtex_order_flow.model import Confidence

    assert Confidence.CONTESTED < Confidence.INFERRED < Confidence.DOCUMENTED
    assert max(Confidence) is Confidence.DOCUMENTED
    assert sorted(Confidence, reverse=True)[0] is Confidence.DOCUMENTED


# -- a docstring on every public definition --------------------------------------------------------

PUBLIC_MODULES = [*MODULES_WITH_ALL, "vtex_order_flow.cli"]


def _undocumented() -> Iterator[str]:
    import importlib
    import inspect

    from vtex_order_flow.tracking.stores._protocol import RowStore as Store  # (Store and its rows)

    for module_name in PUBLIC_MODULES:
        module = importlib.import_module(module_name)
        for name in module.__all__:
            value = getattr(module, name)
            if not (inspect.isclass(value) or inspect.isfunction(value)):
                continue
            doc = (value.__doc__ or "").strip()
            if not doc or doc.startswith(f"{value.__name__}("):  # a dataclass's generated signature
                yield f"{module_name}.{name}"
            if not inspect.isclass(value):
                continue
            for attr, member in vars(value).items():
                if attr.startswith("_"):
                    continue
                function = (
                    member.fget if isinstance(member, property) else getattr(member, "__func__", member)
                )
                if not inspect.isfunction(function) or (function.__doc__ or "").strip():
                    continue
                documented_by_store = getattr(Store, attr, None) is not None and getattr(Store, attr).__doc__
                if not documented_by_store:  # a store's methods are documented once, on `Store`
                    yield f"{module_name}.{name}.{attr}"


def test_every_public_definition_has_a_docstring() -> None:
    # ruff's pydocstyle rules skip private modules; this walks what `__all__` exports instead.
    missing = sorted(set(_undocumented()))
    assert not missing, "\n".join(missing)
