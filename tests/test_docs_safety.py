"""`docs` writes and removes only its own files: never through a symbolic link, never a user's
file that only mentions vtex-order-flow, never a traceback or a hang on what else is there, and
a failure leaves the manifest listing what was written; the reference page keeps model text text."""

from __future__ import annotations

import io
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from vtex_order_flow import FlowModel, bundled_model, model_from_mapping
from vtex_order_flow.cli import main
from vtex_order_flow.errors import GraphvizError
from vtex_order_flow.render import docs as docs_module
from vtex_order_flow.render.docs import MANIFEST, check_docs, planned_files, write_docs
from vtex_order_flow.render.reference import reference_page
from vtex_order_flow.render.reference import text as md_text
from vtex_order_flow.render.svg import source_hash

VTEX = bundled_model()
ROOT = Path(__file__).resolve().parent.parent
DIAGRAMS = ROOT / "diagrams"
NOT_UTF8 = b"\xff\xfe not utf-8\n"


def _docs(*args: str) -> tuple[int, str, str]:
    """Run the command as a user does, in a process of its own (a hang is a timeout, not a stuck suite)."""
    done = subprocess.run(
        [sys.executable, "-m", "vtex_order_flow", "docs", *args],
        capture_output=True,
        check=False,
        timeout=120,
        text=True,
    )
    return done.returncode, done.stdout, done.stderr


def _copy(tmp_path: Path) -> Path:
    d = tmp_path / "d"
    shutil.copytree(DIAGRAMS, d)
    return d


def _listed(folder: Path) -> list[str]:
    names: list[str] = json.loads((folder / MANIFEST).read_text("utf-8"))["generated"]
    return names


@pytest.fixture
def no_graphviz(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """A stand-in for Graphviz (fast, and the same everywhere); the DOT texts drawn."""
    drawn: list[str] = []

    def fake(dot: str) -> str:
        drawn.append(dot)
        return f"<!-- vtex-order-flow source sha256: {source_hash(dot)} -->\n<svg/>\n"

    monkeypatch.setattr(docs_module, "svg_from_dot", fake)
    return drawn


# -- 1. symbolic links ---------------------------------------------------------------------------


def test_a_dangling_link_at_a_planned_name_is_refused_and_not_followed(tmp_path: Path) -> None:
    d2, outside = tmp_path / "d2", tmp_path / "x" / "outside.dot"
    d2.mkdir()
    outside.parent.mkdir()
    (d2 / "seller.dot").symlink_to(outside)
    code, _, err = _docs("--out", str(d2))
    assert code == 2, err
    assert err.count("\n") == 1
    assert "Traceback" not in err
    assert "seller.dot" in err
    assert "symbolic link" in err
    assert not outside.exists()
    assert [p.name for p in d2.iterdir()] == ["seller.dot"]  # nothing written


def test_a_link_put_in_place_of_a_generated_file_is_refused(tmp_path: Path) -> None:
    d1 = _copy(tmp_path)
    victim = tmp_path / "victim.mmd"
    victim.write_text("the victim's\n", "utf-8")
    (d1 / "seller.mmd").unlink()
    (d1 / "seller.mmd").symlink_to("../victim.mmd")
    before = {p.name: p.read_bytes() for p in d1.iterdir() if not p.is_symlink()}
    code, _, err = _docs("--out", str(d1))
    assert code == 2, err
    assert "seller.mmd" in err, err
    assert victim.read_text("utf-8") == "the victim's\n"
    assert {p.name: p.read_bytes() for p in d1.iterdir() if not p.is_symlink()} == before
    # --check says what is there, and follows nothing either
    assert {s.name: s.why for s in check_docs(VTEX, d1)} == {
        "seller.mmd": "a symbolic link, not a file docs writes (docs refuses to replace it)"
    }


def test_a_link_at_the_manifest_is_refused(tmp_path: Path) -> None:
    d = _copy(tmp_path)
    victim = tmp_path / "victim.json"
    victim.write_text("{}\n", "utf-8")
    (d / MANIFEST).unlink()
    (d / MANIFEST).symlink_to(victim)
    code, _, err = _docs("--out", str(d))
    assert code == 2, err
    assert MANIFEST in err, err
    assert victim.read_text("utf-8") == "{}\n"


def test_a_listed_file_turned_link_is_left_alone_and_unlisted(tmp_path: Path, no_graphviz: list[str]) -> None:
    d = _copy(tmp_path)
    target = tmp_path / "keep.dot"
    target.write_text("digraph {}\n", "utf-8")
    (d / MANIFEST).write_text(json.dumps({"generated": [*_listed(d), "gone.dot"]}), "utf-8")
    (d / "gone.dot").symlink_to(target)
    changed = write_docs(VTEX, d)
    assert changed == [MANIFEST]
    assert target.read_text("utf-8") == "digraph {}\n"  # nothing outside removed
    assert (d / "gone.dot").is_symlink()  # the link: left alone, as not ours
    assert "gone.dot" not in _listed(d)


def test_a_write_replaces_a_link_that_appears_meanwhile(tmp_path: Path) -> None:
    # The race: a link put at a name after the check. The write goes to a new file in the
    # folder, renamed over the link: the link's target is never opened.
    victim = tmp_path / "victim.mmd"
    victim.write_text("the victim's\n", "utf-8")
    d = tmp_path / "d"
    d.mkdir()
    (d / "seller.mmd").symlink_to(victim)
    docs_module._write(d, "seller.mmd", b"generated\n")
    assert victim.read_text("utf-8") == "the victim's\n"
    assert not (d / "seller.mmd").is_symlink()
    assert (d / "seller.mmd").read_bytes() == b"generated\n"
    assert [p.name for p in d.iterdir()] == ["seller.mmd"]  # no temporary file left


# -- 2. what is ours -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        "# My project\n\nIts diagrams are Generated by vtex-order-flow (see below).\n",
        "# Notes\n\nGenerated by `vtex-order-flow docs` from the model; do not edit: change the model, then"
        " run\n",
        "# Notes\n\n```mermaid\n" + (DIAGRAMS / "seller.mmd").read_text("utf-8") + "```\n",
        "# Notes: reference\n\nmine, vtex-order-flow source sha256: " + "0" * 64 + "\n",
    ],
)
def test_a_users_readme_that_mentions_the_marker_is_not_replaced(tmp_path: Path, text: str) -> None:
    repo = tmp_path / "repo"
    repo.mkdir()
    (repo / "README.md").write_text(text, "utf-8")
    code, _, err = _docs("--out", str(repo))
    assert code == 2, err
    assert "README.md" in err, err
    assert (repo / "README.md").read_text("utf-8") == text
    assert [p.name for p in repo.iterdir()] == ["README.md"]
    code, out, _ = _docs("--check", "--out", str(repo))
    assert code == 1
    assert "nothing generated" in out


def test_a_users_diagram_with_the_marker_elsewhere_is_not_ours(tmp_path: Path) -> None:
    mine = (
        "digraph mine {\n  a -> b;\n"
        "  // Generated by vtex-order-flow from the model; do not edit (vtex-order-flow docs).\n}\n"
    )
    d = tmp_path / "d"
    d.mkdir()
    (d / "seller.dot").write_text(mine, "utf-8")
    code, _, err = _docs("--out", str(d))
    assert code == 2, err
    assert "seller.dot" in err, err
    assert (d / "seller.dot").read_text("utf-8") == mine


def test_every_generated_file_is_known_by_its_header(tmp_path: Path, no_graphviz: list[str]) -> None:
    # A folder from before the manifest: every file of it is still recognised as generated,
    # by the header of its kind, at its place.
    for item in planned_files(VTEX):
        path = DIAGRAMS / item.name
        assert docs_module._has_header(path.suffix, path.read_bytes()), item.name
        if not item.svg_of:
            assert docs_module._has_header(path.suffix, item.text.encode("utf-8")), item.name
    d = _copy(tmp_path)
    (d / MANIFEST).unlink()
    assert write_docs(VTEX, d) == [MANIFEST]


# -- 3. bytes that are not UTF-8, FIFOs, and failures --------------------------------------------


def test_bytes_that_are_not_utf8_are_a_report_not_a_traceback(tmp_path: Path, no_graphviz: list[str]) -> None:
    d = _copy(tmp_path)
    for name in ("seller.mmd", "seller.svg", "README.md", MANIFEST):
        (d / name).write_bytes(NOT_UTF8)
    assert {s.name: s.why for s in check_docs(VTEX, d)} == {
        "seller.mmd": "differs from what the model produces",
        "seller.svg": "drawn from an older model",
        "README.md": "differs from what the model produces",
        MANIFEST: "lists other files",
    }
    code, out, err = _docs("--check", "--out", str(d))
    assert code == 1, err
    assert "Traceback" not in err, err
    assert "stale: " in out, err
    fresh = tmp_path / "fresh"
    fresh.mkdir()
    (fresh / "seller.puml").write_bytes(NOT_UTF8)  # not listed, no header: a user's
    code, _, err = _docs("--out", str(fresh))
    assert code == 2, err
    assert err.count("\n") == 1, err
    assert "seller.puml" in err, err
    assert (fresh / "seller.puml").read_bytes() == NOT_UTF8


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no FIFOs here")
def test_a_fifo_at_a_planned_name_is_reported_not_opened(tmp_path: Path) -> None:
    d = _copy(tmp_path)
    (d / "seller.mmd").unlink()
    os.mkfifo(d / "seller.mmd")
    code, out, err = _docs("--check", "--out", str(d))  # hung on open() before
    assert code == 1, err
    assert f"stale: {d / 'seller.mmd'}: a FIFO" in out
    code, _, err = _docs("--out", str(d))
    assert code == 2, err
    assert "seller.mmd (a FIFO)" in err, err
    assert err.count("\n") == 1, err
    fresh = tmp_path / "fresh"
    fresh.mkdir()
    os.mkfifo(fresh / MANIFEST)
    code, out, err = _docs("--check", "--out", str(fresh))
    assert code == 1, err
    assert "Traceback" not in err, err


def test_graphviz_refusing_a_label_writes_nothing(tmp_path: Path) -> None:
    if shutil.which("dot") is None:
        pytest.skip("dot is not installed")
    model = tmp_path / "m.toml"
    model.write_text(
        f'name = "vtex"\nextends = "vtex"\n[patch.statuses.handling]\nadmin_label = "{"x" * 17000}"\n',
        "utf-8",
    )
    out = tmp_path / "out"
    code, _, err = _docs("--model", str(model), "--out", str(out))
    assert code == 2, err
    assert err.count("\n") == 1, err
    assert "dot failed" in err, err
    assert list(out.iterdir()) == []  # the .mmd, .dot and .puml before the SVG too


def test_a_failure_midway_leaves_the_manifest_listing_what_was_written(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, no_graphviz: list[str]
) -> None:
    real = docs_module._write
    written: list[str] = []

    def failing(out: Path, name: str, data: bytes) -> None:
        if name != MANIFEST and len(written) == 3:
            raise OSError(28, "No space left on device", str(out / name))
        real(out, name, data)
        written.append(name)

    monkeypatch.setattr(docs_module, "_write", failing)
    out = tmp_path / "out"
    with pytest.raises(OSError, match="No space"):
        write_docs(VTEX, out)
    files = sorted(p.name for p in out.iterdir())
    assert files == sorted([*written[:3], MANIFEST])  # no temporary file left either
    assert _listed(out) == sorted(written[:3])
    monkeypatch.setattr(docs_module, "_write", real)
    write_docs(VTEX, out)  # the next run goes on from there
    assert check_docs(VTEX, out) == []


def test_graphviz_failing_midway_keeps_a_written_folder_as_it_was(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    d = _copy(tmp_path)
    before = {p.name: p.read_bytes() for p in d.iterdir()}

    def refuse(dot: str) -> str:
        raise GraphvizError("dot failed (1): too long")

    monkeypatch.setattr(docs_module, "svg_from_dot", refuse)
    model = tmp_path / "m.toml"
    model.write_text('name = "vtex"\nextends = "vtex"\ntitle = "Another title"\n', "utf-8")
    stderr = io.StringIO()
    monkeypatch.setattr(sys, "stderr", stderr)
    assert main(["docs", "--model", str(model), "--out", str(d)], out=io.StringIO()) == 2
    assert "dot failed" in stderr.getvalue()
    assert {p.name: p.read_bytes() for p in d.iterdir()} == before


# -- 4. model text in the reference page ---------------------------------------------------------

EVIL = "<img src=x onerror=alert(1)> & *b* _i_ [l](javascript:alert(2)) `c` | ~s~ $m$ &lt;"
OPENERS = ("# heading\n", "```\n", "- item ", "1. item ", "> quote ")


def _hostile_page_model() -> FlowModel:
    import importlib.resources
    import tomllib

    data = tomllib.loads(
        (importlib.resources.files("vtex_order_flow") / "data" / "vtex.toml").read_text("utf-8")
    )
    data["title"] = "# T " + EVIL
    data["description"] = "```\n" + EVIL + "\n# not a heading"
    data["flows"]["seller"]["description"] = "- " + EVIL + "\n```js"
    for status in data["statuses"]:
        if status["id"] == "handling":
            status["meaning"] = "1. " + EVIL
            status["admin_label"] = "> " + EVIL
    next(iter(data["facts"].values()))["description"] = "## " + EVIL
    next(iter(data["codes"].values()))["meaning"] = "<script>alert(3)</script>"
    first = next(iter(data["sources"].values()))
    first["title"] = "[t](javascript:x) " + EVIL
    first["url"] = "javascript:alert(1)"
    data["sources"]['Z" onmouseover="alert(4)'] = {"title": "evil id", "url": "https://x.test/a b)c|d"}
    return model_from_mapping(data)


def _outside_fences(page: str) -> list[str]:
    """The page's lines outside fenced code blocks (CommonMark: a fence closes only on a run of
    the same character at least as long)."""
    lines, fence = [], ""
    for line in page.splitlines():
        run = re.match(r"^ {0,3}(`{3,}|~{3,})", line)
        if fence:
            if (
                run
                and run.group(1)[0] == fence[0]
                and len(run.group(1)) >= len(fence)
                and not line.strip(run.group(1)[0]).strip()
            ):
                fence = ""
        elif run:
            fence = run.group(1)
        else:
            lines.append(line)
    assert not fence, "a fence is left open"
    return lines


def test_model_text_in_the_reference_page_is_only_text() -> None:
    # Review 14: title, descriptions, meanings, fact and code text, source titles went in raw:
    # HTML, a heading, an unclosed fence that swallowed the rest; a javascript: URL a link.
    model = _hostile_page_model()
    page = reference_page(model, {"seller": ["seller.mmd"]})
    outside = _outside_fences(page)
    text = "\n".join(outside)
    assert re.search(r"(?<!\\)<(img|script)", text) is None  # no HTML forms
    assert "&lt;" not in text.replace("&amp;lt;", "")  # & is &amp;: no entity forms either
    assert "](javascript" not in text.replace("\\](javascript", "")
    assert re.search(r"(?<!\\)\]\(\s*<?javascript:", text) is None  # no link to it
    assert "javascript:alert(1)" in text  # the URL is shown, as text
    headings = [line for line in outside if line.startswith("#")]
    assert headings[0].startswith("# \\# T \\<img")
    assert all(line.startswith(("# ", "## ", "### ")) for line in headings)
    assert not any("heading" in line or "EVIL" in line for line in headings)
    for section in ("## Statuses", "## Facts", "## Sources"):  # nothing swallowed them
        assert section in outside
    assert not any(line.startswith(("- \\<", "1. ", "> ", "```js")) for line in outside)
    assert '<a id="source-z--onmouseover--alert-4-"></a>' in page
    assert "(https://x.test/a%20b%29c%7Cd)" in page


def test_markdown_text_escapes_everything_markdown_reads() -> None:
    assert md_text("a\nb\r\n c") == "a b c"
    assert md_text("# h") == "\\# h"
    assert md_text("- x") == "\\- x"
    assert md_text("12. x") == "12\\. x"
    assert md_text("<b>&amp;</b>") == "\\<b\\>&amp;amp;\\</b\\>"
    assert md_text("a|b`c*_[]~$\\") == "a\\|b\\`c\\*\\_\\[\\]\\~\\$\\\\"
    assert md_text(None) == ""
