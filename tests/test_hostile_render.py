"""A property: model text, however hostile, is only text in every format, drawn by the real
tools (Graphviz, PlantUML, the Mermaid CLI in Chromium).

Hypothesis makes the text from pieces of each syntax's directives and markup (PlantUML's
%functions, !include and creole, Mermaid's %%{init}%%, entities and Markdown, DOT's escapes),
line breaks and control characters, and puts it in the labels of three statuses and the
model's title. Each example is rendered by the three tools; in every picture each text
appears as text (as one line: control characters are spaces), no directive ran (no home
folder, no /etc/passwd, no link), and no status was added.
"""

from __future__ import annotations

import importlib.resources
import json
import os
import re
import subprocess
import tomllib
from pathlib import Path
from typing import Any
from xml.etree import ElementTree

import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from test_render import MERMAID_RENDER, need
from vtex_order_flow import model_from_mapping
from vtex_order_flow.render import render_dot, render_mermaid, render_plantuml
from vtex_order_flow.render._view import one_line

FRAGMENTS = [
    "%getenv('HOME')",
    "%load_json('/etc/passwd')",
    "!include /etc/passwd",
    "\n!include /etc/passwd\n",
    "%%{init: {'theme':'dark'}}%%",
    "\r",
    "\u2028",
    "\x0b",
    "\x00",
    "\x1b[2J",
    "\ud800",
    '"',
    "'",
    ";",
    "\\n",
    "\\",
    "<br/>",
    "<b>x</b>",
    "<img src=x onerror=alert(1)>",
    "&amp;",
    "&lt;",
    "#quot;",
    "#35;",
    "**b**",
    "__u__",
    "--s--",
    "~~w~~",
    "//i//",
    '""m""',
    "~",
    "`",
    "[[http://evil.example/x y]]",
    "{{",
    "}}",
    "end note",
    "@enduml",
    "-->",
    "[*]",
    "state X",
    "★",
    "é",
]
hostile = st.lists(
    st.one_of(st.sampled_from(FRAGMENTS), st.text(alphabet="abXY 09-", min_size=1, max_size=4)),
    min_size=1,
    max_size=4,
).map("".join)
LABELLED = ("handling", "invoiced", "ready-for-handling")
EXAMPLES = 8 if os.environ.get("CI") else 3  # each example runs three real renderers


def _key(text: str) -> str:
    """Text as compared: as the renderers write it (one line), without any whitespace (tools
    wrap and pad lines their own way)."""
    return re.sub(r"\s+", "", one_line(text))


def _svg_text(svg: str) -> str:
    """All the text an SVG shows, parsed as XML (so it must be well formed)."""
    return "".join(ElementTree.fromstring(svg).itertext())  # noqa: S314 (our own renders, here)


def _model(title: str, labels: list[str]) -> Any:
    bundled = importlib.resources.files("vtex_order_flow") / "data" / "vtex.toml"
    data = tomllib.loads(bundled.read_text("utf-8"))
    data["title"] = title
    for status in data["statuses"]:
        if status["id"] in LABELLED:
            status["admin_label"] = labels[LABELLED.index(status["id"])]
    return model_from_mapping(data)


@settings(
    max_examples=EXAMPLES,
    deadline=None,
    phases=[Phase.explicit, Phase.reuse, Phase.generate],  # no shrinking: each try renders 3 times
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(title=hostile, labels=st.lists(hostile, min_size=3, max_size=3))
def test_hostile_model_text_is_only_text_through_the_real_tools(
    tmp_path_factory: pytest.TempPathFactory, title: str, labels: list[str]
) -> None:
    dot, plantuml, node = need("dot"), need("plantuml"), need("node")
    chromium = os.environ.get("CHROMIUM") or need("chromium")
    if not (MERMAID_RENDER.parent / "node_modules" / "@mermaid-js" / "mermaid-cli").is_dir():
        if os.environ.get("CI"):
            pytest.fail("tests/mermaid has no node_modules: .ci/run installs them")
        pytest.skip("run `PUPPETEER_SKIP_DOWNLOAD=1 npm ci --prefix tests/mermaid` to render Mermaid files")
    folder = tmp_path_factory.mktemp("hostile")
    model = _model(title, labels)
    texts = [title, *labels]
    home = str(Path.home())

    # Graphviz.
    source = render_dot(model, "seller").encode()
    drawn = subprocess.run([dot, "-Tsvg"], input=source, capture_output=True, check=False, timeout=120)
    assert drawn.returncode == 0, drawn.stderr.decode()
    shown = _key(_svg_text(drawn.stdout.decode()))
    for text in texts:
        assert _key(text) in shown, ("dot", text)

    # PlantUML.
    puml = folder / "hostile.puml"
    puml.write_text(render_plantuml(model, "seller"), "utf-8")
    done = subprocess.run(
        [plantuml, "-failfast2", "-tsvg", "-o", str(folder), str(puml)],
        capture_output=True,
        check=False,
        timeout=180,
    )
    assert done.returncode == 0, done.stderr.decode()
    svg = (folder / "hostile.svg").read_text("utf-8")
    shown = _svg_text(svg)
    for text in texts:
        assert _key(text) in _key(shown), ("plantuml", text)
    assert "root:x:0:0" not in svg  # !include did not run
    assert home not in shown or any(home in text for text in texts)  # nor %getenv
    assert "<a " not in svg  # nor a creole link

    # Mermaid, through the CLI in Chromium.
    mmd = folder / "hostile.mmd"
    mmd.write_text(render_mermaid(model, "seller"), "utf-8")
    ran = subprocess.run(
        [node, str(MERMAID_RENDER), str(folder / "mermaid"), str(mmd)],
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
        env={**os.environ, "CHROMIUM": chromium},
    )
    result = json.loads(ran.stdout.splitlines()[0])
    assert result["ok"], result
    svg = (folder / "mermaid" / "hostile.svg").read_text("utf-8")
    shown = _key(_svg_text(svg))
    for text in texts:
        assert _key(text) in shown, ("mermaid", text)
    statuses = [n for n in result["nodes"] if "-state-s_" in n["id"]]
    assert len(statuses) == len(model.statuses_in("seller"))  # no state added
    for status, label in zip(LABELLED, labels, strict=True):  # each label in its own status's box
        box = next(n for n in statuses if f"-state-s_{status.replace('-', '_')}-" in n["id"])
        assert _key(label) in _key(box["text"]), (status, label)
