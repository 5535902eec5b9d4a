"""Diagrams: every status and transition exactly once in each format (parsed, not grepped),
highlight and verdict maps, escaping, determinism, and the real renderers' verdict."""

from __future__ import annotations

import io
import json
import os
import re
import shutil
import subprocess
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from vtex_order_flow import FlowModel, bundled_model, model_from_mapping
from vtex_order_flow.cli import main
from vtex_order_flow.render import FORMATS, render, render_dot, render_mermaid, render_plantuml
from vtex_order_flow.render._view import EDGE_STYLES, HIGHLIGHT_COLOR, NODE_STYLES
from vtex_order_flow.render.docs import MANIFEST, check_docs, planned_files

VTEX = bundled_model()
ROOT = Path(__file__).resolve().parent.parent
DIAGRAMS = ROOT / "diagrams"
MERMAID_CHECK = Path(__file__).resolve().parent / "mermaid" / "check.mjs"
MARKS = {style.mark for style in EDGE_STYLES.values()}


def need(tool: str) -> str:
    """The tool's path; skip without it, except in CI, where .ci/run installs it: fail there."""
    path = shutil.which(tool)
    if path is None:
        if os.environ.get("CI"):
            pytest.fail(f"{tool} is not installed, but CI must check the diagrams with it")
        pytest.skip(f"{tool} is not installed")
    return path


# -- parsers of the three syntaxes (as much as the renderers write) -------------------------------

QUOTED = r'"((?:[^"\\]|\\.)*)"'


def unquote(text: str) -> str:
    return re.sub(r"\\(.)", lambda m: "\n" if m.group(1) == "n" else m.group(1), text)


def trigger_of(label: str) -> str:
    words = label.replace("»", " ").replace("«", " ").split()
    assert words[0] in MARKS, label
    return words[1]


def _fanned(
    edges: Counter[tuple[str, str, str]],
    boxes: dict[str, str],
    into: list[tuple[str, str]],
    out: dict[str, str],
    br: str = "<br/>",
) -> None:
    """The lines through a box (a fan, or a Mermaid move's label) as the edges they stand for:
    one per line of its text and status with a line into it."""
    for source, box in into:
        for part in boxes[box].split(br):
            edges[(source, out[box], trigger_of(part))] += 1


def mermaid_decoded(text: str) -> str:
    """Mermaid's entity codes (``#quot;``, ``#lt;``, ``#35;``) and Markdown escapes (``\\*``) as
    the characters they stand for."""
    named = {"quot": '"', "lt": "<", "gt": ">", "amp": "&"}
    text = re.sub(r"#(\w+);", lambda m: chr(int(m[1])) if m[1].isdigit() else named.get(m[1], m[0]), text)
    return re.sub(r"\\(.)", r"\1", text)  # and Markdown's backslash escapes


def parse_mermaid(text: str) -> tuple[Counter[str], Counter[tuple[str, str, str]]]:
    names: dict[str, str] = {}
    boxes: dict[str, str] = {}
    nodes: Counter[str] = Counter()
    edges: Counter[tuple[str, str, str]] = Counter()
    into: list[tuple[str, str]] = []
    out: dict[str, str] = {}
    for line in text.splitlines():
        if found := re.fullmatch(r'\s*state "([^"]*)" as (s_\w+)', line):
            parts = found.group(1).split("<br/>")
            status = mermaid_decoded(parts[0].removeprefix("★ "))
            names[found.group(2)] = status
            nodes[status] += 1
            for part in parts[1:]:  # a loop is written in its status's box
                if part.startswith("↻ "):
                    edges[(status, status, trigger_of(part.removeprefix("↻ ")))] += 1
        elif found := re.fullmatch(r'\s*state "([^"]*)" as ((?:fan|move)_\d+)', line):
            boxes[found.group(2)] = found.group(1)
        elif found := re.fullmatch(r"\s*(\w+) --> (\w+): (.*)", line):
            for label in found.group(3).split("<br/>"):
                edges[(names[found.group(1)], names[found.group(2)], trigger_of(label))] += 1
        elif found := re.fullmatch(r"\s*(s_\w+) --> ((?:fan|move)_\d+)", line):
            into.append((names[found.group(1)], found.group(2)))
        elif found := re.fullmatch(r"\s*((?:fan|move)_\d+) --> (s_\w+)", line):
            out[found.group(1)] = names[found.group(2)]
    _fanned(edges, boxes, into, out)
    return nodes, edges


def parse_dot(text: str) -> tuple[Counter[str], Counter[tuple[str, str, str]], dict[str, dict[str, str]]]:
    nodes: Counter[str] = Counter()
    edges: Counter[tuple[str, str, str]] = Counter()
    attrs: dict[str, dict[str, str]] = {}
    fans: dict[str, str] = {}
    into: list[tuple[str, str]] = []
    out: dict[str, str] = {}
    for line in text.splitlines():
        if found := re.fullmatch(rf"\s*{QUOTED} -> {QUOTED} \[(.*)\];", line):
            source, dest = unquote(found.group(1)), unquote(found.group(2))
            look = dict(re.findall(r'(\w+)="?([^",]*)"?', found.group(3)))
            if dest.startswith("__fan_"):
                into.append((source, dest))
                attrs[repr((source, dest))] = look
                continue
            if source.startswith("__fan_"):
                out[source] = dest
                continue
            label = re.search(rf"label={QUOTED}", found.group(3))
            assert label is not None
            for part in unquote(label.group(1)).split("\n"):
                key = (source, dest, trigger_of(part))
                edges[key] += 1
                attrs[repr(key)] = look
        elif found := re.fullmatch(rf"\s*{QUOTED} \[(.*)\];", line):
            name = unquote(found.group(1))
            if name.startswith("__fan_"):
                label = re.search(rf"label={QUOTED}", found.group(2))
                assert label is not None
                fans[name] = unquote(label.group(1))
            elif not name.startswith("__"):
                nodes[name] += 1
                attrs[name] = dict(re.findall(r'(\w+)="?([^",]*)"?', found.group(2)))
    for source, fan in into:  # a fan's edges look like its lines in
        attrs[repr((source, out[fan], trigger_of(fans[fan])))] = attrs.pop(repr((source, fan)))
    _fanned(edges, fans, into, out, "\n")
    return nodes, edges, attrs


def parse_plantuml(text: str) -> tuple[Counter[str], Counter[tuple[str, str, str]]]:
    names: dict[str, str] = {}
    fans: dict[str, str] = {}
    nodes: Counter[str] = Counter()
    edges: Counter[tuple[str, str, str]] = Counter()
    into: list[tuple[str, str]] = []
    out: dict[str, str] = {}
    for line in text.splitlines():
        if found := re.fullmatch(r'state "([^"]*)" as (fan_\d+) <<fan>>', line):
            fans[found.group(2)] = found.group(1)
        elif found := re.fullmatch(r'state "([^"]*)" as (\w+) <<\w+>>', line):
            status = found.group(1).split("\\n")[0].removeprefix("★ ")
            names[found.group(2)] = status
            nodes[status] += 1
        elif found := re.fullmatch(r"(\w+) -\[[^\]]*\]-> (\w+) : (.*)", line):
            for label in found.group(3).split("\\n"):
                edges[(names[found.group(1)], names[found.group(2)], trigger_of(label))] += 1
        elif found := re.fullmatch(r"(s_\w+) -\[[^\]]*\]-> (fan_\d+)", line):
            into.append((names[found.group(1)], found.group(2)))
        elif found := re.fullmatch(r"(fan_\d+) -\[[^\]]*\]-> (s_\w+)", line):
            out[found.group(1)] = names[found.group(2)]
    _fanned(edges, fans, into, out, "\\n")
    return nodes, edges


def expected(model: FlowModel, flow: str) -> tuple[Counter[str], Counter[tuple[str, str, str]]]:
    return Counter(s.id for s in model.statuses_in(flow)), Counter(t.key for t in model.transitions_in(flow))


@pytest.mark.parametrize("flow", list(VTEX.flows))
def test_every_status_and_transition_exactly_once_in_each_format(flow: str) -> None:
    want_nodes, want_edges = expected(VTEX, flow)
    assert parse_mermaid(render_mermaid(VTEX, flow)) == (want_nodes, want_edges)
    nodes, edges, _ = parse_dot(render_dot(VTEX, flow))
    assert (nodes, edges) == (want_nodes, want_edges)
    assert parse_plantuml(render_plantuml(VTEX, flow)) == (want_nodes, want_edges)


def test_edges_are_styled_by_who_moves_the_order() -> None:
    _, _, attrs = parse_dot(render_dot(VTEX, "seller"))
    connector = attrs[repr(("ready-for-handling", "start-handling", "start-handling"))]
    timer = attrs[repr(("window-to-cancel", "ready-for-handling", "grace-period-ends"))]
    seller = attrs[repr(("cancellation-requested", "handling", "seller-denies-cancellation"))]
    assert (connector["color"], connector["style"], connector["penwidth"]) == (
        EDGE_STYLES["connector"].color,
        "solid",
        "2",
    )
    assert (timer["color"], timer["style"]) == (EDGE_STYLES["timer"].color, "dashed")
    assert seller["color"] == EDGE_STYLES["seller"].color
    assert "grace-period-ends (30 min)" in render_mermaid(VTEX, "seller")


def test_terminal_and_auto_statuses_are_marked() -> None:
    _, _, attrs = parse_dot(render_dot(VTEX, "seller"))
    assert attrs["canceled"]["peripheries"] == "2"
    assert "dashed" in render_dot(VTEX, "seller").split('"start-handling" [', 1)[1].split("\n", 1)[0]
    text = render_mermaid(VTEX, "seller")
    assert "s_canceled --> [*]" in text.splitlines()[-40:] or "    s_canceled --> [*]" in text.splitlines()
    assert 'state "★ start-handling<br/>Start handling" as s_start_handling' in text


def test_highlight_makes_a_status_and_its_ways_out_stand_out() -> None:
    _, edges, attrs = parse_dot(render_dot(VTEX, "seller", highlight="cancellation-requested"))
    assert attrs["cancellation-requested"]["fillcolor"] == NODE_STYLES["current"][0]
    for key in edges:
        color = attrs[repr(key)]["color"]
        assert (color == HIGHLIGHT_COLOR) == (key[0] == "cancellation-requested"), key
    mermaid = render_mermaid(VTEX, "seller", highlight="cancellation-requested")
    framed = re.findall(r"» [^«<]+ «", mermaid)
    assert len(framed) == len(VTEX.ways_out("cancellation-requested", "seller"))
    boxes = set(re.findall(r'state "» [^"]*" as (move_\d+)', mermaid))
    assert boxes  # and their boxes are framed in red:
    assert f"classDef wayout fill:#e8e8e8,stroke:{HIGHLIGHT_COLOR}" in mermaid
    assert set(re.search(r"class ([\w,]+) wayout", mermaid).group(1).split(",")) == boxes  # type: ignore[union-attr]


def test_action_map_colours_every_status_by_its_verdict() -> None:
    for action in VTEX.actions:
        _, _, attrs = parse_dot(render_dot(VTEX, "seller", action=action))
        for status in VTEX.statuses_in("seller"):
            verdict = str(VTEX.decide(status.id, action).verdict)
            assert attrs[status.id]["fillcolor"] == NODE_STYLES[verdict][0], (action, status.id)
    text = render_dot(VTEX, "seller", action="approve")
    assert "send: VTEX accepts it now" in text  # the legend
    assert "REJECT (done)" in text


def test_action_map_with_facts() -> None:
    _, _, attrs = parse_dot(render_dot(VTEX, "seller", action="cancel", facts={"partial-invoice": True}))
    assert attrs["handling"]["fillcolor"] == NODE_STYLES["reject"][0]


TRICKY: dict[str, Any] = {
    "name": "tricky",
    "flows": {"f": {"initial": "a-b"}},
    "events": {"go": {"cause": "platform"}, "go-on": {"cause": "seller"}},
    "actions": {"do-it": {"cause": "marketplace"}},
    "statuses": [
        {"id": "a-b", "flows": ["f"], "meaning": "x", "admin_label": 'Say "hi"; <b>&amp;</b> \\ end'},
        {"id": "a.b", "flows": ["f"], "meaning": "x", "admin_label": "end; state"},
        {"id": "a_b", "flows": ["f"], "meaning": "x", "terminal": True},
        {"id": "null", "flows": ["f"], "meaning": "x", "terminal": True},
    ],
    "transitions": [
        {"from": "a-b", "to": "a.b", "trigger": "go", "flows": ["f"]},
        {"from": "a.b", "to": "a_b", "trigger": "go-on", "flows": ["f"]},
        {"from": "a-b", "to": "null", "trigger": "do-it", "flows": ["f"]},
    ],
}


def test_tricky_ids_and_labels_stay_distinct_and_escaped() -> None:
    model = model_from_mapping(TRICKY)
    want_nodes, want_edges = expected(model, "f")
    assert parse_mermaid(render_mermaid(model, "f")) == (want_nodes, want_edges)
    nodes, edges, _ = parse_dot(render_dot(model, "f"))
    assert (nodes, edges) == (want_nodes, want_edges)
    assert parse_plantuml(render_plantuml(model, "f")) == (want_nodes, want_edges)


def test_rendering_is_deterministic() -> None:
    for flow in VTEX.flows:
        for fmt in FORMATS[:3]:
            assert render(VTEX, flow, fmt) == render(bundled_model(), flow, fmt)
    first = [(p.name, p.text) for p in planned_files(VTEX)]
    assert first == [(p.name, p.text) for p in planned_files(VTEX)]


# -- the committed files ---------------------------------------------------------------------------


def test_committed_diagrams_are_up_to_date() -> None:
    # The same check `vtex-order-flow docs --check` makes; it names the stale files.
    out = io.StringIO()
    code = main(["docs", "--check", "--out", str(DIAGRAMS)], out=out)
    assert code == 0, out.getvalue()


def test_check_names_stale_missing_and_leftover_files(tmp_path: Path) -> None:
    shutil.copytree(DIAGRAMS, tmp_path / "d")
    d = tmp_path / "d"
    (d / "seller.mmd").write_text("stale\n", "utf-8")
    (d / "chain.dot").unlink()
    (d / "old-flow.dot").write_text("digraph {}\n", "utf-8")  # written by an older model's docs:
    listed = json.loads((d / MANIFEST).read_text("utf-8"))
    (d / MANIFEST).write_text(json.dumps({"generated": [*listed["generated"], "old-flow.dot"]}), "utf-8")
    (d / "notes.dot").write_text("digraph {}\n", "utf-8")  # a user's: not ours, not reported
    svg = (d / "complete.svg").read_text("utf-8")
    (d / "complete.svg").write_text(svg.replace("sha256: ", "sha256: 0", 1)[:-1], "utf-8")
    stale = {item.name: item.why for item in check_docs(VTEX, d)}
    assert stale == {
        "seller.mmd": "differs from what the model produces",
        "chain.dot": "missing",
        "old-flow.dot": "no longer generated",
        "complete.svg": "drawn from an older model",
        MANIFEST: "lists other files",
    }
    out = io.StringIO()
    assert main(["docs", "--check", "--out", str(d)], out=out) == 1
    assert f"stale: {d / 'chain.dot'}: missing" in out.getvalue()


def test_docs_touches_only_the_files_it_wrote(tmp_path: Path) -> None:
    # Issue 14: `docs --out DIR` deleted a user's NOTES.md and logo.svg; `--out .` replaced a
    # repository's README.md.
    d = tmp_path / "d"
    shutil.copytree(DIAGRAMS, d)
    (d / "NOTES.md").write_text("mine\n", "utf-8")
    (d / "logo.svg").write_text("<svg/>\n", "utf-8")
    listed = json.loads((d / MANIFEST).read_text("utf-8"))
    (d / MANIFEST).write_text(json.dumps({"generated": [*listed["generated"], "gone.dot"]}), "utf-8")
    (d / "gone.dot").write_text("// Generated by vtex-order-flow from the model\n", "utf-8")
    out = io.StringIO()
    assert main(["docs", "--out", str(d)], out=out) == 0, out.getvalue()
    assert (d / "NOTES.md").read_text("utf-8") == "mine\n"
    assert (d / "logo.svg").exists()
    assert not (d / "gone.dot").exists()  # ours, no longer planned: removed
    repo = tmp_path / "repo"
    repo.mkdir()
    (repo / "README.md").write_text("# my project\n", "utf-8")
    assert main(["docs", "--out", str(repo)], out=io.StringIO()) == 2
    assert (repo / "README.md").read_text("utf-8") == "# my project\n"
    assert sorted(p.name for p in repo.iterdir()) == ["README.md"]  # nothing written


def test_names_from_the_model_never_make_paths_outside_out(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Issue 14: a flow named ../../x or /tmp/x became a path outside --out.
    from vtex_order_flow.errors import InvalidArgumentError
    from vtex_order_flow.render import docs as docs_module

    out = tmp_path / "a" / "b"
    for name in ("../../x.mmd", "/tmp/x.dot", ".hidden.md", "x/y.puml"):  # noqa: S108 (a hostile name)
        monkeypatch.setattr(docs_module, "planned_files", lambda model, n=name: [docs_module.Planned(n, "x")])
        with pytest.raises(InvalidArgumentError, match="plain names"):
            docs_module.write_docs(VTEX, out)
    assert not (tmp_path / "x.mmd").exists()
    assert list(out.iterdir()) == []  # nothing written


def test_a_model_change_makes_the_docs_stale(tmp_path: Path) -> None:
    path = tmp_path / "m.toml"
    path.write_text(
        'name = "vtex"\nextends = "vtex"\n[[patch.transitions]]\nfrom = "window-to-cancel"\n'
        'to = "ready-for-handling"\ntrigger = "grace-period-ends"\nafter = 7200\n',
        "utf-8",
    )
    out = io.StringIO()
    assert main(["docs", "--check", "--out", str(DIAGRAMS), "--model", str(path)], out=out) == 1
    assert "seller.mmd" in out.getvalue()
    assert "seller.svg: drawn from an older model" in out.getvalue()


def test_reference_page_has_every_section() -> None:
    page = (DIAGRAMS / "README.md").read_text("utf-8")
    for heading in (
        "## The seller flow",
        "## Verdict matrices",
        "## Statuses",
        "## Transitions",
        "## Connector actions",
        "## Facts",
        "## Result codes",
        "## Inferred and contested facts",
        "## Sources",
    ):
        assert f"\n{heading}" in page
    assert page.count("```mermaid") == len(VTEX.flows)
    assert all(f"| `{status}` |" in page for status in VTEX.statuses)
    assert "(disabled)" in page


def test_the_readme_shows_the_seller_diagram_as_rendered() -> None:
    readme = (ROOT / "README.md").read_text("utf-8")
    block = readme.split("```mermaid\n", 1)[1].split("```", 1)[0]
    assert block == render_mermaid(VTEX, "seller"), (
        "paste `vtex-order-flow diagram --flow seller` into README.md"
    )
    assert "(diagrams/README.md)" in readme


# -- the real renderers -------------------------------------------------------------------------


def test_dot_renders_every_dot_file(tmp_path: Path) -> None:
    dot = need("dot")
    files = sorted(DIAGRAMS.glob("*.dot"))
    extra = tmp_path / "highlight.dot"
    extra.write_text(render_dot(VTEX, "seller", highlight="handling"), "utf-8")
    tricky = tmp_path / "tricky.dot"
    tricky.write_text(render_dot(model_from_mapping(TRICKY), "f", action="do-it"), "utf-8")
    for path in [*files, extra, tricky]:
        done = subprocess.run([dot, "-Tjson", str(path)], capture_output=True, check=False, timeout=120)
        assert done.returncode == 0, (path.name, done.stderr.decode())
        assert done.stderr == b"", (path.name, done.stderr.decode())  # no warnings either
        graph = json.loads(done.stdout)
        names = {o["name"] for o in graph.get("objects", [])} - {"__start", "__legend"}
        assert names, path.name
    assert len(files) == len(VTEX.flows) + len(VTEX.actions)


def test_plantuml_renders_every_puml_file(tmp_path: Path) -> None:
    plantuml = need("plantuml")
    tricky = tmp_path / "tricky.puml"
    tricky.write_text(render_plantuml(model_from_mapping(TRICKY), "f", highlight="a.b"), "utf-8")
    files = [*sorted(DIAGRAMS.glob("*.puml")), tricky]
    done = subprocess.run(
        [plantuml, "-failfast2", "-tsvg", "-o", str(tmp_path / "out"), *map(str, files)],
        capture_output=True,
        check=False,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr.decode() + done.stdout.decode()
    assert len(list((tmp_path / "out").glob("*.svg"))) == len(files)


def test_mermaid_parses_every_mmd_file(tmp_path: Path) -> None:
    node = need("node")
    if not (MERMAID_CHECK.parent / "node_modules" / "mermaid").is_dir():
        if os.environ.get("CI"):
            pytest.fail("tests/mermaid has no node_modules: .ci/run installs them")
        pytest.skip("run `npm ci --prefix tests/mermaid` to check Mermaid files")
    tricky = tmp_path / "tricky.mmd"
    tricky.write_text(render_mermaid(model_from_mapping(TRICKY), "f", action="do-it"), "utf-8")
    highlight = tmp_path / "highlight.mmd"
    highlight.write_text(render_mermaid(VTEX, "seller", highlight="handling"), "utf-8")
    hostile = tmp_path / "hostile.mmd"  # model text with directives, quotes and line breaks
    hostile.write_text(render_mermaid(_hostile_model(), "seller"), "utf-8")
    files = [*sorted(DIAGRAMS.glob("*.mmd")), tricky, highlight, hostile]
    done = subprocess.run(
        [node, str(MERMAID_CHECK), *map(str, files)], capture_output=True, text=True, check=False, timeout=300
    )
    results = [json.loads(line) for line in done.stdout.splitlines()]
    assert [r for r in results if not r["ok"]] == []
    assert len(results) == len(files)
    assert {r["type"] for r in results} == {"stateDiagram"}
    assert done.returncode == 0


MERMAID_RENDER = MERMAID_CHECK.parent / "render.mjs"


def _shown(label: str) -> str:
    """A Mermaid label as the reader sees its text: entity codes decoded, no line breaks, no
    spaces (a rendered <br/> joins its lines without one)."""
    return re.sub(r"\s+", "", mermaid_decoded(label.replace("<br/>", "")))


def _overlap(a: dict[str, float], b: dict[str, float]) -> bool:
    slack = 0.5  # (a shared border is no overlap)
    return (
        a["x"] + a["w"] - slack > b["x"]
        and b["x"] + b["w"] - slack > a["x"]
        and a["y"] + a["h"] - slack > b["y"]
        and b["y"] + b["h"] - slack > a["y"]
    )


def _inside(a: dict[str, float], frame: dict[str, float]) -> bool:
    return (
        a["w"] > 0
        and a["h"] > 0
        and a["x"] >= frame["x"] - 0.5
        and a["y"] >= frame["y"] - 0.5
        and a["x"] + a["w"] <= frame["x"] + frame["w"] + 0.5
        and a["y"] + a["h"] <= frame["y"] + frame["h"] + 0.5
    )


def test_every_mermaid_file_renders_readably_with_the_real_mermaid_cli(tmp_path: Path) -> None:
    """Each Mermaid file, rendered by the Mermaid CLI in Debian's Chromium, then measured in the
    browser from the SVG it wrote: every move's label is drawn, whole, inside the picture, over
    no other label and no status; no line runs under a box it does not join; the legend is
    drawn."""
    node = need("node")
    chromium = os.environ.get("CHROMIUM") or need("chromium")
    if not (MERMAID_RENDER.parent / "node_modules" / "@mermaid-js" / "mermaid-cli").is_dir():
        if os.environ.get("CI"):
            pytest.fail("tests/mermaid has no node_modules: .ci/run installs them")
        pytest.skip("run `PUPPETEER_SKIP_DOWNLOAD=1 npm ci --prefix tests/mermaid` to render Mermaid files")
    extra = {
        "highlight": render_mermaid(VTEX, "seller", highlight="cancellation-requested"),
        "highlight-handling": render_mermaid(VTEX, "seller", highlight="handling"),
        "facts": render_mermaid(VTEX, "seller", action="cancel", facts={"partial-invoice": True}),
        "tricky": render_mermaid(model_from_mapping(TRICKY), "f", action="do-it"),
        "hostile": render_mermaid(_hostile_model(), "seller"),
    }
    for name, text in extra.items():
        (tmp_path / f"{name}.mmd").write_text(text, "utf-8")
    files = [*sorted(DIAGRAMS.glob("*.mmd")), *(tmp_path / f"{name}.mmd" for name in extra)]
    done = subprocess.run(
        [node, str(MERMAID_RENDER), str(tmp_path / "svg"), *map(str, files)],
        capture_output=True,
        text=True,
        check=False,
        timeout=600,
        env={**os.environ, "CHROMIUM": chromium},
    )
    results = {r["file"]: r for r in map(json.loads, done.stdout.splitlines())}
    assert [r for r in results.values() if not r["ok"]] == [], done.stderr[-2000:]
    assert sorted(results) == sorted(map(str, files)), done.stderr[-2000:]
    for file in files:
        result = results[str(file)]
        text = file.read_text("utf-8")
        # What the file asks to be drawn: each move's box (and any edge label), each status.
        boxes = re.findall(r'^\s*state "(.*)" as (?:move|fan)_\d+$', text, re.MULTILINE)
        labels = re.findall(r"^\s*\w+ --> \w+: (.*)$", text, re.MULTILINE)
        drawn = result["labels"] + [
            n for n in result["nodes"] if re.fullmatch(r".*-state-(move|fan)_\d+-\d+", n["id"])
        ]
        assert sorted(_shown(d["text"]) for d in drawn) == sorted(map(_shown, boxes + labels)), file.name
        statuses = [n for n in result["nodes"] if "-state-s_" in n["id"]]
        assert len(statuses) == len(re.findall(r'^\s*state ".*" as s_\w+$', text, re.MULTILINE)), file.name
        shapes = [n for n in result["nodes"] if n["w"] > 10]  # (not the start and end dots)
        for i, label in enumerate(result["labels"]):
            for other in result["labels"][i + 1 :]:
                assert not _overlap(label, other), f"{file.name}: {label['text']!r} over {other['text']!r}"
            for shape in shapes:
                assert not _overlap(label, shape), f"{file.name}: {label['text']!r} over {shape['text']!r}"
        for i, shape in enumerate(shapes):
            assert _inside(shape, result["svg"]), f"{file.name}: {shape['text']!r} is cut off"
            for other in shapes[i + 1 :]:
                assert not _overlap(shape, other), f"{file.name}: {shape['text']!r} over {other['text']!r}"
        for label in result["labels"]:
            assert _inside(label, result["svg"]), f"{file.name}: {label['text']!r} is cut off"
        # No line runs under a box it does not join: it would read as a move through it.
        assert result["crossings"] == [], file.name
        legend = " ".join(n["text"] for n in result["nodes"] if "-state-legend" in n["id"])
        assert "the connector's action" in legend, f"{file.name}: no legend"
        assert (tmp_path / "svg" / (file.stem + ".svg")).read_text("utf-8").startswith("<svg")
    seller = results[str(DIAGRAMS / "seller.mmd")]["nodes"]
    for loop in ("↻ ▶ tracking", "↻ ▶ return-invoice [unless return-invoice-registered]"):
        assert any(loop in n["text"] for n in seller), loop
    fan = "▶ cancel [unless partial-invoice]"  # a guard on the edges that carry it
    assert any(n["text"] == fan for n in seller)


def test_svg_without_graphviz_is_a_one_line_error(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(shutil, "which", lambda name: None)
    assert main(["diagram", "--format", "svg"], out=io.StringIO()) == 3
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1
    assert "apt-get install graphviz" in err


def test_svg_records_its_source(tmp_path: Path) -> None:
    need("dot")
    out = tmp_path / "x.svg"
    assert main(["diagram", "--format", "svg", "--action", "approve", "-o", str(out)], out=io.StringIO()) == 0
    text = out.read_text("utf-8")
    assert text.startswith("<?xml")
    assert "vtex-order-flow source sha256:" in text
    assert "<svg" in text


def test_diagram_cli(capsys: pytest.CaptureFixture[str]) -> None:
    out = io.StringIO()
    assert main(["diagram", "--flow", "complete", "--format", "plantuml"], out=out) == 0
    assert out.getvalue().startswith("@startuml")
    assert main(["diagram", "--highlight", "payment-pending"], out=io.StringIO()) == 2
    assert "not in the seller flow" in capsys.readouterr().err
    assert main(["diagram", "--action", "aprove"], out=io.StringIO()) == 2
    assert "did you mean 'approve'" in capsys.readouterr().err


HOSTILE = (
    "%getenv('HOME')\n!include /etc/passwd\n%%{init: {'theme':'dark'}}%%\"]; evil[\"x <img:/etc/passwd> \\n"
)


def _hostile_model() -> FlowModel:
    import importlib.resources
    import tomllib

    data = tomllib.loads(
        (importlib.resources.files("vtex_order_flow") / "data" / "vtex.toml").read_text("utf-8")
    )
    for status in data["statuses"]:
        if status["id"] == "handling":
            status["admin_label"] = HOSTILE
    return model_from_mapping(data)


def test_hostile_model_text_is_only_text_in_every_format(tmp_path: Path) -> None:
    # Issue 14: a status label `%getenv('HOME')` rendered as the home directory in PlantUML, a
    # newline plus `!include /etc/passwd` put that file into the SVG, `%%{init: ...}%%`
    # restyled the Mermaid render, a newline added states.
    model = _hostile_model()
    puml, mmd = render_plantuml(model, "seller"), render_mermaid(model, "seller")
    for text in (puml, mmd):
        assert not any(line.lstrip().startswith("!include") for line in text.splitlines())
        assert "%getenv" not in text
    assert mmd.count("%%{") == 0
    assert parse_mermaid(mmd)[0] == parse_mermaid(render_mermaid(VTEX, "seller"))[0]  # no new states
    plantuml = need("plantuml")
    source = tmp_path / "hostile.puml"
    source.write_text(puml, "utf-8")
    done = subprocess.run(
        [plantuml, "-failfast2", "-tsvg", "-o", str(tmp_path / "out"), str(source)],
        capture_output=True,
        check=False,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr.decode()
    svg = (tmp_path / "out" / "hostile.svg").read_text("utf-8")
    words = " ".join(re.findall(r">([^<]*)<", svg))
    assert "root:x:0:0" not in svg  # /etc/passwd was not included
    assert str(Path.home()) not in words  # %getenv did not run
    assert "getenv('HOME')" in words  # the name is there, as text
    dot = need("dot")
    dot_file = tmp_path / "hostile.dot"
    dot_file.write_text(render_dot(model, "seller"), "utf-8")
    drawn = subprocess.run([dot, "-Tsvg", str(dot_file)], capture_output=True, check=False, timeout=120)
    assert drawn.returncode == 0, drawn.stderr.decode()
    assert b"root:x:0:0" not in drawn.stdout
    assert b"%getenv(&#39;HOME&#39;)" in drawn.stdout or b"%getenv('HOME')" in drawn.stdout
