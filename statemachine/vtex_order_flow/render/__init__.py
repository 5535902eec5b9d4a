"""Diagrams of a model's flows: Mermaid, Graphviz DOT, PlantUML and SVG, plus the reference page.

Every renderer takes the model and a flow; ``highlight=STATUS`` makes a status and its ways out
stand out, ``action=A`` colours every status by the verdict of A from there (send / defer /
reject), with a legend. The same model always gives byte-identical text.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Literal, TypedDict, Unpack

from .. import Facts
from ..errors import GraphvizError as GraphvizError  # (its home is errors; still found here)
from ..errors import GraphvizNotFoundError as GraphvizNotFoundError
from ..errors import UnknownFormatError
from ._view import NodeKind, View, build_view
from .dot import dot_text
from .mermaid import mermaid_text
from .plantuml import plantuml_text
from .svg import svg_from_dot

if TYPE_CHECKING:
    from .. import FlowModel

__all__ = [
    "FORMATS",
    "NodeKind",
    "Options",
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


class Options(TypedDict, total=False):
    """What every renderer takes besides the model and the flow."""

    highlight: str | None
    """A status: it and every way out of it stand out."""
    action: str | None
    """An action: every status coloured by its verdict from there (a verdict map)."""
    facts: Facts
    """Facts for the verdict map."""


def render_mermaid(model: FlowModel, flow: str | None = None, **options: Unpack[Options]) -> str:
    """Mermaid ``stateDiagram-v2`` of one flow."""
    return mermaid_text(build_view(model, flow, **options))


def render_dot(model: FlowModel, flow: str | None = None, **options: Unpack[Options]) -> str:
    """Graphviz DOT of one flow."""
    return dot_text(build_view(model, flow, **options))


def render_plantuml(model: FlowModel, flow: str | None = None, **options: Unpack[Options]) -> str:
    """PlantUML state diagram of one flow."""
    return plantuml_text(build_view(model, flow, **options))


def render_svg(model: FlowModel, flow: str | None = None, **options: Unpack[Options]) -> str:
    """SVG of one flow, drawn by Graphviz's `dot` (raises `GraphvizNotFoundError` without it)."""
    return svg_from_dot(render_dot(model, flow, **options))


_RENDERERS = {"mermaid": render_mermaid, "dot": render_dot, "plantuml": render_plantuml, "svg": render_svg}


def render(model: FlowModel, flow: str, fmt: Format, **options: Unpack[Options]) -> str:
    """One diagram in one of `FORMATS`."""
    renderer = _RENDERERS.get(fmt) if isinstance(fmt, str) else None
    if renderer is None:
        raise UnknownFormatError(fmt, _RENDERERS)
    return renderer(model, flow, **options)
