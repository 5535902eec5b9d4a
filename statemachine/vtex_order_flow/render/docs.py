"""`vtex-order-flow docs`: every generated file of diagrams/, written or checked for staleness."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from ._view import build_view
from .dot import dot_text
from .mermaid import mermaid_text
from .plantuml import plantuml_text
from .reference import reference_page
from .svg import embedded_source_hash, source_hash, svg_from_dot

if TYPE_CHECKING:
    from .. import FlowModel

__all__ = ["Stale", "check_docs", "planned_files", "write_docs"]


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


def write_docs(model: FlowModel, out: Path) -> list[str]:
    """Write every file (SVGs through Graphviz's `dot`), remove generated files no longer
    planned, and return the names of the files whose content changed."""
    out.mkdir(parents=True, exist_ok=True)
    changed = []
    planned = planned_files(model)
    for item in planned:
        path = out / item.name
        if item.svg_of:
            current = path.read_text("utf-8") if path.exists() else ""
            if embedded_source_hash(current) == source_hash(item.text):
                continue  # drawn from the same DOT already; keep the bytes Graphviz made then
            text = svg_from_dot(item.text)
        else:
            text = item.text
        if not path.exists() or path.read_text("utf-8") != text:
            path.write_text(text, "utf-8")
            changed.append(item.name)
    names = {item.name for item in planned}
    for path in sorted(out.iterdir()):
        if path.is_file() and path.name not in names and path.suffix in _GENERATED:
            path.unlink()
            changed.append(path.name)
    return changed


_GENERATED = {".mmd", ".dot", ".puml", ".svg", ".md"}


def check_docs(model: FlowModel, out: Path) -> list[Stale]:
    """The generated files that differ from what the model produces (no Graphviz needed: an
    SVG records the hash of the DOT text it was drawn from)."""
    stale = []
    planned = planned_files(model)
    for item in planned:
        path = out / item.name
        if not path.exists():
            stale.append(Stale(item.name, "missing"))
            continue
        current = path.read_text("utf-8")
        if item.svg_of:
            if embedded_source_hash(current) != source_hash(item.text):
                stale.append(Stale(item.name, "drawn from an older model"))
        elif current != item.text:
            stale.append(Stale(item.name, "differs from what the model produces"))
    names = {item.name for item in planned}
    if out.is_dir():
        stale += [
            Stale(path.name, "no longer generated")
            for path in sorted(out.iterdir())
            if path.is_file() and path.name not in names and path.suffix in _GENERATED
        ]
    return stale
