"""`vtex-order-flow docs`: every generated file of diagrams/, written or checked for staleness."""

from __future__ import annotations

import contextlib
import json
import os
import re
import secrets
import stat
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from ..errors import InvalidArgumentError
from ._view import build_view
from .dot import HEADER as DOT_HEADER
from .dot import dot_text
from .mermaid import HEADER as MERMAID_HEADER
from .mermaid import mermaid_text
from .plantuml import HEADER as PLANTUML_HEADER
from .plantuml import plantuml_text
from .reference import GENERATED_LINE, reference_page
from .svg import embedded_source_hash, source_hash, svg_from_dot

if TYPE_CHECKING:
    from .. import FlowModel

__all__ = ["MANIFEST", "Stale", "check_docs", "generated_in", "planned_files", "write_docs"]


@dataclass(frozen=True, slots=True)
class Planned:
    """One generated file: its text, or for an SVG the DOT text it is drawn from."""

    name: str
    text: str
    svg_of: bool = False


@dataclass(frozen=True, slots=True)
class Stale:
    """A file of the folder that differs from what the model produces, and why."""

    name: str
    why: str

    def __str__(self) -> str:
        return f"{self.name}: {self.why}"


def planned_files(model: FlowModel) -> list[Planned]:
    """Every file of diagrams/, in a stable order."""
    planned: list[Planned] = []
    files: dict[str, list[str]] = {}
    for flow in model.flows:
        view = build_view(model, flow)
        dot = dot_text(view)
        planned += [
            Planned(f"{flow}.mmd", mermaid_text(view)),
            Planned(f"{flow}.dot", dot),
            Planned(f"{flow}.puml", plantuml_text(view)),
            Planned(f"{flow}.svg", dot, svg_of=True),
        ]
        files[flow] = [f"{flow}.mmd", f"{flow}.dot", f"{flow}.puml", f"{flow}.svg"]
    if model.default_flow in model.flows:  # the verdict maps: of the flow the connector acts on
        for action in model.actions:
            view = build_view(model, model.default_flow, action=action)
            dot = dot_text(view)
            stem = f"{model.default_flow}-{action}"
            planned += [
                Planned(f"{stem}.mmd", mermaid_text(view)),
                Planned(f"{stem}.dot", dot),
                Planned(f"{stem}.svg", dot, svg_of=True),
            ]
    planned.append(Planned("README.md", reference_page(model, files)))
    return planned


MANIFEST = ".vtex-order-flow-docs.json"
"""The list of the files `docs` wrote in a folder: the only ones it replaces or removes there."""

_SAFE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,150}$")
_GENERATED = {".mmd", ".dot", ".puml", ".svg", ".md"}
_HEAD = 65536
"""How much of a file `_has_header` reads: the header lines (a Mermaid title among them)."""
_SVG_MARK = re.compile(r"<!-- vtex-order-flow source sha256: [0-9a-f]{64} -->")


def _checked_names(planned: list[Planned]) -> None:
    """Every planned name is a plain file name in the folder: a flow or action named
    ``../x`` or ``/tmp/x`` in a model never becomes a path outside it."""
    bad = [item.name for item in planned if not _SAFE_NAME.match(item.name) or ".." in item.name]
    if bad:
        raise InvalidArgumentError(
            f"the model's flow or action names make file names that are not plain names in the "
            f"folder: {', '.join(map(repr, bad[:5]))}; use letters, digits, '-', '_' and '.'"
        )


def _what(path: Path) -> str:
    """``file`` for a regular file, ``absent``, or what else is there (never followed: a
    symbolic link is one, whatever it points at, even nothing)."""
    try:
        mode = os.lstat(path).st_mode
    except (FileNotFoundError, NotADirectoryError):
        return "absent"
    if stat.S_ISREG(mode):
        return "file"
    if stat.S_ISLNK(mode):
        return "a symbolic link"
    if stat.S_ISDIR(mode):
        return "a folder"
    if stat.S_ISFIFO(mode):
        return "a FIFO"
    return "not a regular file"


def _read(path: Path, limit: int = -1) -> bytes | None:
    """The bytes of a regular file (up to `limit`), or None for anything else: opened without
    following a link and without blocking on a FIFO, then checked to be a regular file."""
    flags = os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0)
    try:
        fd = os.open(path, flags)
    except OSError:
        return None
    with os.fdopen(fd, "rb") as file:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            return None
        return file.read(limit)


def _dot_header(lines: list[str]) -> bool:
    return lines[0].startswith("digraph ") and lines[1].strip() == DOT_HEADER


def _plantuml_header(lines: list[str]) -> bool:
    return lines[0] == "@startuml" and lines[1] == PLANTUML_HEADER


def _mermaid_header(lines: list[str]) -> bool:
    if lines[0] == "---":  # a front matter first: ---, its lines, ---
        end = lines.index("---", 1) if "---" in lines[1:] else len(lines)
        lines = lines[end + 1 :]
    return len(lines) > 1 and lines[0] == "stateDiagram-v2" and lines[1].strip() == MERMAID_HEADER


def _svg_header(lines: list[str]) -> bool:
    if lines[0].startswith("<?xml") and lines[0].endswith("?>"):
        lines = lines[1:]
    return _SVG_MARK.fullmatch(lines[0]) is not None


def _page_header(lines: list[str]) -> bool:
    title = lines[0].startswith("# ") and lines[0].endswith(": reference")
    return title and lines[1] == "" and lines[2] == GENERATED_LINE


_HEADERS = {
    ".dot": _dot_header,
    ".puml": _plantuml_header,
    ".mmd": _mermaid_header,
    ".svg": _svg_header,
    ".md": _page_header,
}


def _has_header(suffix: str, head: bytes) -> bool:
    """Whether a file starts the way `docs` starts a file of its kind: the generated-by line
    at its exact place (a mention of vtex-order-flow elsewhere, or a Mermaid block's header
    inside a page, is not one)."""
    lines = head.decode("utf-8", errors="replace").split("\n")
    check = _HEADERS.get(suffix)
    return check is not None and len(lines) >= 3 and check(lines)


def _manifest(out: Path) -> set[str]:
    data_bytes = _read(out / MANIFEST)
    try:
        data = json.loads(data_bytes or b"")
    except ValueError:
        return set()
    names = data.get("generated") if isinstance(data, dict) else None
    return (
        {n for n in names if isinstance(n, str) and _SAFE_NAME.match(n)} if isinstance(names, list) else set()
    )


def _ours(path: Path, listed: set[str]) -> bool:
    """Whether `docs` wrote this regular file: listed in the folder's manifest, or starting
    with the header `docs` gives a file of its kind (a folder from before the manifest)."""
    if path.name in listed:
        return True
    head = _read(path, _HEAD)
    return head is not None and _has_header(path.suffix, head)


def generated_in(folder: Path) -> bool:
    """Whether `docs` wrote in `folder`: its manifest is there, or a file that starts with
    the header of a generated file (a folder from before the manifest)."""
    if _what(folder / MANIFEST) == "file":
        return True
    try:
        paths = sorted(folder.iterdir()) if _what(folder) == "a folder" else []
    except OSError:
        return False
    return any(p.suffix in _GENERATED and _what(p) == "file" and _ours(p, set()) for p in paths)


def _up_to_date(item: Planned, current: bytes | None) -> bool:
    """Whether a file's bytes are what the model makes: for an SVG, drawn from the same DOT
    (its recorded hash: no Graphviz needed, and the bytes Graphviz made then are kept)."""
    if current is None:
        return False
    if item.svg_of:
        return embedded_source_hash(current.decode("utf-8", errors="replace")) == source_hash(item.text)
    return current == item.text.encode("utf-8")


def _manifest_bytes(names: set[str]) -> bytes:
    text = json.dumps({"generated": sorted(names), "by": "vtex-order-flow docs"}, indent=2) + "\n"
    return text.encode("utf-8")


def _write(out: Path, name: str, data: bytes) -> None:
    """Write `data` to a new file in `out`, then rename it to `name`: the rename replaces
    whatever is at `name` (a link that appeared meanwhile too) and never writes through it."""
    temp = out / f".{name}.{secrets.token_hex(8)}.tmp"
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0)
    fd = os.open(temp, flags, 0o666)
    try:
        with os.fdopen(fd, "wb") as file:
            file.write(data)
        temp.replace(out / name)
    except BaseException:
        with contextlib.suppress(OSError):
            temp.unlink()
        raise


def _save_manifest(out: Path, names: set[str]) -> bool:
    data = _manifest_bytes(names)
    if _read(out / MANIFEST) == data:
        return False
    _write(out, MANIFEST, data)
    return True


def write_docs(model: FlowModel, out: Path) -> list[str]:
    """Write every file (SVGs through Graphviz's `dot`), remove the files it generated before
    that are no longer planned, and return the names of the files whose content changed.

    It touches only its own files: those listed in the folder's manifest (`MANIFEST`) or
    starting with the header it gives a file of that kind. A file of the same name that it did
    not write (a user's ``README.md`` where ``--out .`` points), or a symbolic link, a folder
    or a FIFO at one of its names, is an `InvalidArgumentError` before anything is written;
    anything else in the folder is left alone. Every file is made in memory first (a Graphviz
    failure writes nothing), then written to a temporary file in the folder and renamed over
    its name, so a link never redirects a write. A listed file no longer planned is removed
    when it is a regular file; a link there is left alone (and no longer listed). If writing
    fails midway, the manifest lists what is there of its own."""
    out.mkdir(parents=True, exist_ok=True)
    planned = planned_files(model)
    _checked_names(planned)
    listed = _manifest(out)
    kinds = {name: _what(out / name) for name in [*(item.name for item in planned), MANIFEST]}
    links = [name for name, kind in kinds.items() if kind == "a symbolic link"]
    if links:
        raise InvalidArgumentError(
            f"{out} has symbolic links where vtex-order-flow docs writes its files: "
            f"{', '.join(links[:5])}; nothing was written (docs never writes through a link: "
            f"remove them or choose another --out)"
        )
    foreign = [
        name if kind == "file" else f"{name} ({kind})"
        for name, kind in kinds.items()
        if kind != "absent" and (kind != "file" or (name != MANIFEST and not _ours(out / name, listed)))
    ]
    if foreign:
        raise InvalidArgumentError(
            f"{out} holds files that vtex-order-flow docs did not write and would replace: "
            f"{', '.join(foreign[:5])}; nothing was written (choose another --out)"
        )
    writes: list[tuple[str, bytes]] = []
    for item in planned:  # every file made before the first is written
        if not _up_to_date(item, _read(out / item.name) if kinds[item.name] == "file" else None):
            text = svg_from_dot(item.text) if item.svg_of else item.text
            writes.append((item.name, text.encode("utf-8")))
    names = {item.name for item in planned}
    owned = {name for name in listed if _what(out / name) == "file"} | (names - {n for n, _ in writes})
    changed = []
    try:
        for name, data in writes:
            _write(out, name, data)
            owned.add(name)
            changed.append(name)
        for name in sorted(listed - names):  # generated before, no longer planned: only those
            path = out / name
            if _what(path) == "file" and path.suffix in _GENERATED:
                path.unlink()
                changed.append(name)
            owned.discard(name)  # removed, or not a file of ours any more (a link: left alone)
    except BaseException:
        with contextlib.suppress(OSError):
            _save_manifest(out, owned)
        raise
    if _save_manifest(out, owned):
        changed.append(MANIFEST)
    return changed


def check_docs(model: FlowModel, out: Path) -> list[Stale]:
    """The generated files that differ from what the model produces (no Graphviz needed: an
    SVG records the hash of the DOT text it was drawn from). Nothing is followed or opened
    but regular files: a link, a folder or a FIFO at a planned name is reported as such."""
    stale = []
    planned = planned_files(model)
    for item in planned:
        path = out / item.name
        kind = _what(path)
        current = _read(path) if kind == "file" else None
        if kind == "absent":
            stale.append(Stale(item.name, "missing"))
        elif current is None:
            shown = kind if kind != "file" else "not a regular file"
            stale.append(Stale(item.name, f"{shown}, not a file docs writes (docs refuses to replace it)"))
        elif not _up_to_date(item, current):
            why = "drawn from an older model" if item.svg_of else "differs from what the model produces"
            stale.append(Stale(item.name, why))
    names = {item.name for item in planned}
    listed = _manifest(out)
    stale += [
        Stale(name, "no longer generated") for name in sorted(listed - names) if _what(out / name) == "file"
    ]
    kind = _what(out / MANIFEST)
    if kind == "absent":
        stale.append(Stale(MANIFEST, "missing"))
    elif kind != "file":
        stale.append(Stale(MANIFEST, f"{kind}, not a file docs writes (docs refuses to replace it)"))
    elif _read(out / MANIFEST) != _manifest_bytes(names):
        stale.append(Stale(MANIFEST, "lists other files"))
    return stale
