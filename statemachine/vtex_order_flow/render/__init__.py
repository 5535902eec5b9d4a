"""Diagrams of a model's flows: Mermaid, Graphviz DOT, PlantUML and SVG, plus the reference page.

Every renderer takes the model and a flow; ``highlight=STATUS`` makes a status and its ways out
stand out, ``action=A`` colours every status by the verdict of A from there (send / defer /
reject), with a legend. The same model always gives byte-identical text.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Literal

from ._view import View, build_view
from .dot import dot_text
from .mermaid import mermaid_text
from .plantuml import plantuml_text
from .svg import GraphvizError, GraphvizNotFoundError, svg_from_dot

if TYPE_CHECKING:
    from .._decide import Facts
    from .._model import FlowModel

__all__ = [
    "FORMATS",
    "GraphvizError",
    "GraphvizNotFoundError",
    "View",
    "build_view",
    "render",
    "render_dot",
    "render_mermaid",
    "render_plantuml",
    "render_svg",
]

Format = Literal["mermaid", "dot", "plantuml", "svg"]
FORMATS: tuple[Format, ...] = ("mermaid", "dot", "plantuml", "svg")


def render_mermaid(
    model: FlowModel,
    flow: str = "seller",
    *,
    highlight: str | None = None,
    action: str | None = None,
    facts: Facts = None,
) -> str:
    """Mermaid ``stateDiagram-v2`` of one flow."""
    return mermaid_text(build_view(model, flow, highlight=highlight, action=action, facts=facts))


def render_dot(
    model: FlowModel,
    flow: str = "seller",
    *,
    highlight: str | None = None,
    action: str | None = None,
    facts: Facts = None,
) -> str:
    """Graphviz DOT of one flow."""
    return dot_text(build_view(model, flow, highlight=highlight, action=action, facts=facts))


def render_plantuml(
    model: FlowModel,
    flow: str = "seller",
    *,
    highlight: str | None = None,
    action: str | None = None,
    facts: Facts = None,
) -> str:
    """PlantUML state diagram of one flow."""
    return plantuml_text(build_view(model, flow, highlight=highlight, action=action, facts=facts))


def render_svg(
    model: FlowModel,
    flow: str = "seller",
    *,
    highlight: str | None = None,
    action: str | None = None,
    facts: Facts = None,
) -> str:
    """SVG of one flow, drawn by Graphviz's `dot` (raises `GraphvizNotFoundError` without it)."""
    return svg_from_dot(render_dot(model, flow, highlight=highlight, action=action, facts=facts))


def render(
    model: FlowModel,
    flow: str,
    fmt: Format,
    *,
    highlight: str | None = None,
    action: str | None = None,
    facts: Facts = None,
) -> str:
    """One diagram in one of `FORMATS`."""
    renderer = {
        "mermaid": render_mermaid,
        "dot": render_dot,
        "plantuml": render_plantuml,
        "svg": render_svg,
    }[fmt]
    return renderer(model, flow, highlight=highlight, action=action, facts=facts)
