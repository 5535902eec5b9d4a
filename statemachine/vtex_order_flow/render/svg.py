"""SVG through Graphviz's `dot` (the one place the library runs another program)."""

from __future__ import annotations

import hashlib
import re
import shutil
import subprocess

from ..errors import GraphvizError, GraphvizNotFoundError  # (their home is errors; still found here)

__all__ = ["embedded_source_hash", "source_hash", "svg_from_dot"]

_MARK = "vtex-order-flow source sha256:"


def source_hash(dot: str) -> str:
    """The sha256 of a DOT text, which an SVG drawn from it records."""
    return hashlib.sha256(dot.encode("utf-8")).hexdigest()


def embedded_source_hash(svg: str) -> str | None:
    """The hash of the DOT text an SVG of ours was made from, or None."""
    found = re.search(re.escape(_MARK) + r" ([0-9a-f]{64})", svg)
    return found.group(1) if found else None


def svg_from_dot(dot: str, timeout: float = 60) -> str:
    """Render DOT text to SVG with `dot`, and record the DOT's hash in the SVG.

    The hash lets `vtex-order-flow docs --check` tell a stale SVG without running Graphviz.
    """
    executable = shutil.which("dot")
    if executable is None:
        raise GraphvizNotFoundError
    done = subprocess.run(  # noqa: S603 (a fixed argv; the DOT text goes to stdin)
        [executable, "-Tsvg"], input=dot.encode("utf-8"), capture_output=True, timeout=timeout, check=False
    )
    if done.returncode != 0:
        raise GraphvizError(f"dot failed ({done.returncode}): {done.stderr.decode(errors='replace').strip()}")
    svg = done.stdout.decode("utf-8")
    comment = f"<!-- {_MARK} {source_hash(dot)} -->\n"
    head, sep, rest = svg.partition("?>\n")
    return head + sep + comment + rest if sep else comment + svg
