"""What a diagram shows, independent of its syntax: nodes, edges, their styles, and the legend."""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING

from .. import FlowModel
from .._guards import expect
from ..errors import ContradictoryFactsError, UnknownStatusError
from ..model import duration as spelled_duration

if TYPE_CHECKING:
    from .. import Facts
    from ..model import Transition

__all__ = [
    "EDGE_STYLES",
    "FAN_FILL",
    "FAN_LEGEND",
    "NODE_STYLES",
    "Bundle",
    "Edge",
    "EdgeStyle",
    "Fan",
    "Node",
    "NodeKind",
    "View",
    "arrange",
    "build_view",
    "duration",
    "node_lines",
    "one_line",
]


@dataclass(frozen=True, slots=True)
class EdgeStyle:
    """How one kind of move is drawn in every syntax."""

    key: str
    mark: str
    """A symbol put before the trigger in labels (Mermaid cannot colour single edges)."""
    color: str
    dashed: bool
    bold: bool
    legend: str


# By who moves the order: the connector's own actions stand out; moves the platform and timers
# make by themselves are dashed and grey; other parties' decisions are solid, in their colour.
EDGE_STYLES: dict[str, EdgeStyle] = {
    "connector": EdgeStyle(
        "connector", "▶", "#1565c0", dashed=False, bold=True, legend="the connector's action"
    ),
    "platform": EdgeStyle(
        "platform", "⚙", "#757575", dashed=True, bold=False, legend="the platform, by itself"
    ),
    "timer": EdgeStyle("timer", "◷", "#757575", dashed=True, bold=False, legend="a timer"),
    "seller": EdgeStyle("seller", "✎", "#e65100", dashed=False, bold=False, legend="the seller (Admin, ERP)"),
    "customer": EdgeStyle("customer", "☺", "#6a1b9a", dashed=False, bold=False, legend="the customer"),
    "gateway": EdgeStyle("gateway", "$", "#00695c", dashed=False, bold=False, legend="the payment gateway"),
    "marketplace": EdgeStyle(
        "marketplace", "⇄", "#00695c", dashed=False, bold=False, legend="the marketplace (not the connector)"
    ),
}


class NodeKind(enum.StrEnum):
    """What a status box shows: what the status is, or the verdict of the mapped action there
    (a `StrEnum`: ``node.kind == "send"`` holds as before)."""

    PLAIN = "plain"
    """A status that waits."""
    AUTO = "auto"
    """The platform moves the order on by itself."""
    TERMINAL = "terminal"
    """The order never leaves it."""
    CURRENT = "current"
    """The status highlighted as the order's current one."""
    SEND = "send"
    """The mapped action is sent from here."""
    DEFER = "defer"
    """The mapped action is deferred here."""
    REJECT = "reject"
    """The mapped action is rejected here."""


# Fill and border of a node by what it is, or by the verdict of the mapped action (keyed by
# NodeKind; a plain string, ``NODE_STYLES["send"]``, finds the same entry).
NODE_STYLES: dict[str, tuple[str, str, str]] = {
    NodeKind.PLAIN: ("#ffffff", "#424242", "a status that waits"),
    NodeKind.AUTO: ("#f5f5f5", "#9e9e9e", "★ the platform moves it on by itself"),
    NodeKind.TERMINAL: ("#e0e0e0", "#212121", "terminal: the order never leaves it"),
    NodeKind.CURRENT: ("#fff59d", "#f57f17", "the current status"),
    NodeKind.SEND: ("#c8e6c9", "#2e7d32", "send: VTEX accepts it now"),
    NodeKind.DEFER: ("#ffe0b2", "#ef6c00", "defer: possible later"),
    NodeKind.REJECT: ("#ffcdd2", "#c62828", "reject: never from here"),
}
HIGHLIGHT_COLOR = "#d50000"


def duration(seconds: int) -> str:
    """A timer's delay as diagrams show it: ``30 min``, ``30 d``."""
    return spelled_duration(seconds, short=True)


@dataclass(frozen=True, slots=True)
class Node:
    """A status as drawn: its id, a name safe in every syntax, its label and its kind."""

    id: str
    ident: str
    """A name safe in every syntax (letters, digits, underscores)."""
    label: str
    """The Admin label, when VTEX gives one."""
    initial: bool
    terminal: bool
    auto: bool
    kind: NodeKind
    """How it is styled (a key of NODE_STYLES)."""
    already_done: bool = False


@dataclass(frozen=True, slots=True)
class Edge:
    """A transition as drawn: its ends, its trigger, its style and its label."""

    source: Node
    dest: Node
    trigger: str
    style: EdgeStyle
    text: str
    """The edge's label: the trigger, its guards and its typical delay."""
    highlighted: bool
    confidence: str


@dataclass(frozen=True, slots=True)
class View:
    """One diagram, whatever the syntax: its nodes, its edges and its legend."""

    model_name: str
    flow: str
    title: str
    nodes: tuple[Node, ...]
    edges: tuple[Edge, ...]
    highlight: str | None
    action: str | None

    @property
    def edge_keys(self) -> list[str]:
        """The edge styles used, in legend order."""
        used = {edge.style.key for edge in self.edges}
        return [key for key in EDGE_STYLES if key in used]

    @property
    def node_keys(self) -> list[NodeKind]:
        """The node kinds the view uses, in legend order."""
        used = {node.kind for node in self.nodes}
        return [kind for kind in NodeKind if kind in used]


def identifier(status_id: str) -> str:
    """``s_`` and the id with every other character as ``_``: no syntax reads it as a keyword."""
    return "s_" + re.sub(r"[^A-Za-z0-9]", "_", status_id)


def _edge_text(transition: Transition) -> str:
    text = transition.trigger
    # Every guard on the edge that carries it, the action's own included (a reader of one edge
    # must not need the legend to know when it holds).
    guards = [f"if {f}" for f in sorted(transition.requires)]
    guards += [f"unless {f}" for f in sorted(transition.unless)]
    if guards:
        text += f" [{', '.join(guards)}]"
    if transition.after is not None:
        text += f" ({duration(transition.after)})"
    return text


def _style(transition: Transition) -> EdgeStyle:
    if transition.by_action:
        return EDGE_STYLES["connector"]
    return EDGE_STYLES[str(transition.cause)]


def build_view(
    model: FlowModel,
    flow: str | None,
    *,
    highlight: str | None = None,
    action: str | None = None,
    facts: Facts = None,
) -> View:
    """The diagram of one flow; `highlight` makes a status and its ways out stand out, `action`
    colours every status by the verdict of that action from there."""
    expect(model, FlowModel, "a diagram's model")
    flow = model.flow_name(flow)
    flow_def = model.flow(flow)
    current = None
    if highlight is not None:
        current = model.status(highlight).id
        if flow not in model.status(current).flows:
            raise UnknownStatusError(
                highlight,
                [s.id for s in model.statuses_in(flow)],
                detail=f"not in the {flow} flow (it is in: {', '.join(model.flows_of(current))})",
                flow=flow,
            )
    mapped = model.action(action).name if action is not None else None
    if mapped is not None:
        facts = model.normalize_facts(facts)  # unknown or self-contradictory facts: a typed error now
    nodes: dict[str, Node] = {}
    idents: set[str] = set()
    for status in model.statuses_in(flow):
        ident = identifier(status.id)
        while ident in idents:  # "a-b" and "a.b" both fold to s_a_b: keep each distinct
            ident += "_"
        idents.add(ident)
        kind = NodeKind.TERMINAL if status.terminal else NodeKind.AUTO if status.auto else NodeKind.PLAIN
        done = False
        if mapped is not None:
            try:
                decision = model.decide(status.id, mapped, flow, facts)
            except ContradictoryFactsError:
                pass  # an order there cannot carry these facts: no verdict to colour it with
            else:
                kind = NodeKind(decision.verdict)
                done = decision.already_done
        if status.id == current:
            kind = NodeKind.CURRENT
        nodes[status.id] = Node(
            id=status.id,
            ident=ident,
            label=status.admin_label or "",
            initial=status.id == flow_def.initial,
            terminal=status.terminal,
            auto=status.auto,
            kind=kind,
            already_done=done,
        )
    edges = tuple(
        Edge(
            source=nodes[t.source],
            dest=nodes[t.dest],
            trigger=t.trigger,
            style=_style(t),
            text=_edge_text(t),
            highlighted=t.source == current,
            confidence=str(t.confidence),
        )
        for t in model.transitions_in(flow)
    )
    title = f"{model.title or model.name}: {flow} flow"
    if mapped is not None:
        title += f", where can the connector {mapped}?"
    if current is not None:
        title += f", from {current}"
    return View(model.name, flow, title, tuple(nodes.values()), edges, current, mapped)


def node_lines(node: Node, view: View) -> list[str]:
    """A status's box, one item a line, as model text (each syntax escapes it): its id (★ when
    the platform moves it on), its Admin label, and on a verdict map the action's verdict."""
    lines = [("★ " if node.auto else "") + node.id]
    if node.label:
        lines.append(node.label)
    if view.action is not None and node.kind in {NodeKind.SEND, NodeKind.DEFER, NodeKind.REJECT}:
        lines.append(node.kind.upper() + (" (done)" if node.already_done else ""))
    return lines


def legend_lines(view: View) -> list[str]:
    """The legend, one plain-text line per item."""
    lines = [f"{EDGE_STYLES[key].mark} {EDGE_STYLES[key].legend}" for key in view.edge_keys]
    lines += [NODE_STYLES[key][2] for key in view.node_keys]
    if any(node.already_done for node in view.nodes):
        lines.append("(done) its goal is already reached")
    return lines


_BREAKS = {
    **dict.fromkeys([*range(32), 127, 133, 8232, 8233, 0xFFFE, 0xFFFF], " "),
    **dict.fromkeys(range(0xD800, 0xE000), "\ufffd"),  # a lone surrogate: no file can hold it
}


def one_line(text: str) -> str:
    """Model text as one line: line breaks and other control characters become spaces (a
    renderer's own line breaks are its own; a model's never start a line of the diagram's
    source, where a directive would run; and no SVG may hold a control character, XML forbids
    them), a lone surrogate the replacement character."""
    return text.translate(_BREAKS)


@dataclass(frozen=True, slots=True)
class Fan:
    """One move (same trigger, guards and destination) made from many statuses, drawn once: an
    unlabelled line from each source into a small box that carries the label, one line on."""

    ident: str
    sources: tuple[Node, ...]
    dest: Node
    style: EdgeStyle
    text: str


@dataclass(frozen=True, slots=True)
class Bundle:
    """The edges between one pair of statuses, drawn as one line with one label per move: two
    labels on parallel lines (or on two loops of one status) are laid over each other."""

    source: Node
    dest: Node
    edges: tuple[Edge, ...]


FAN_IN = 3
"""From how many statuses one move is drawn as a fan."""
FAN_FILL = "#e3f2fd"
FAN_LEGEND = "a blue box: one move, made from each status with a line into it"


def arrange(
    view: View, *, by_style: bool, fan_in: int = FAN_IN
) -> tuple[tuple[Bundle, ...], tuple[Fan, ...]]:
    """The view's edges as drawn: a move made from `fan_in` or more statuses as one fan (13
    lines into one status, each with the same label, hide everything around it), the rest
    bundled by pair of statuses, and also by style when the syntax can colour single edges.
    A highlighted edge is never folded into a fan: it must stand out on its own."""
    groups: dict[tuple[str, str, str, str], list[Edge]] = {}
    for edge in view.edges:
        if not edge.highlighted and edge.source is not edge.dest:
            groups.setdefault((edge.dest.id, edge.trigger, edge.text, edge.style.key), []).append(edge)
    fanned: set[int] = set()
    fans: list[Fan] = []
    for members in groups.values():
        if len({edge.source.id for edge in members}) < fan_in:
            continue
        fanned.update(id(edge) for edge in members)
        first = members[0]
        sources = tuple(dict.fromkeys(edge.source for edge in members))
        fans.append(Fan(f"fan_{len(fans) + 1}", sources, first.dest, first.style, first.text))
    pairs: dict[tuple[str, str, str, bool], list[Edge]] = {}
    for edge in view.edges:
        if id(edge) not in fanned:
            style = (edge.style.key, edge.highlighted) if by_style else ("", False)
            pairs.setdefault((edge.source.id, edge.dest.id, *style), []).append(edge)
    bundles = tuple(Bundle(edges[0].source, edges[0].dest, tuple(edges)) for edges in pairs.values())
    return bundles, tuple(fans)
