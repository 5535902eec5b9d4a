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
    from vtex_order_flow._loader import _scan_depth

    depth = _depth(tomllib.loads(text))
    _scan_depth(text, "t", depth)
    for tail in ("zz = " + "[" * (depth + 1) + "]" * (depth + 1), "[" + ".".join(["q"] * depth) + "]"):
        with pytest.raises(ModelFileTooDeepError) as caught:
            _scan_depth(text + "\n" + tail + "\n", "t", depth)
        assert caught.value.line == text.count("\n") + 2


def test_the_bundled_model_is_followed_to_its_end_by_the_pre_scan(tmp_path: Path) -> None:
    from vtex_order_flow._loader import _scan_depth

    text = resources.files("vtex_order_flow").joinpath("data", "vtex.toml").read_text("utf-8")
    depth = _depth(tomllib.loads(text))
    _scan_depth(text, "vtex.toml", depth)
    with pytest.raises(ModelFileTooDeepError):
        _scan_depth(text + "\nzz = " + "[" * depth + "]" * depth + "\n", "vtex.toml", depth)
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
