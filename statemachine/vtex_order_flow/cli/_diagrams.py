"""Commands that draw: diagram (one flow) and docs (every file of diagrams/)."""

from __future__ import annotations

import argparse
import shlex
from pathlib import Path
from typing import Any, TextIO

from ._common import (
    EXIT_INVALID,
    EXIT_OK,
    PROG,
    UsageError,
    add_flow_option,
    dump,
    model_of,
    names,
    parse_facts,
)

__all__ = ["add_commands"]


def _cmd_diagram(args: argparse.Namespace, out: TextIO) -> int:
    from ..render import render

    model = model_of(args)
    flow = model.flow_name(args.flow)
    if args.fact and args.action is None:
        raise UsageError("--fact colours a verdict map: give --action A too")
    text = render(
        model, flow, args.format, highlight=args.highlight, action=args.action, facts=parse_facts(args.fact)
    )
    if args.output:
        Path(args.output).write_text(text, "utf-8")
    if args.json:
        # The diagram's text in a JSON object with what it shows (with -o, the file it went to).
        shown = {"model": model.name, "flow": flow, "format": args.format}
        shown |= {"highlight": args.highlight, "action": args.action, "facts": parse_facts(args.fact)}
        dump(shown | ({"output": args.output} if args.output else {"text": text}), out)
    elif not args.output:
        out.write(text)
    return EXIT_OK


def _cmd_docs(args: argparse.Namespace, out: TextIO) -> int:
    from ..render.docs import check_docs, write_docs

    model = model_of(args)
    target = Path(args.out)
    if args.check:
        if target.exists() and not target.is_dir():
            raise UsageError(f"--out {args.out!r} is not a folder")
        again = " ".join(
            [f"{PROG} docs"]
            + ([f"--model {shlex.quote(args.model)}"] if args.model else [])
            + ([f"--out {shlex.quote(args.out)}"] if args.out != _DEFAULT_OUT else [])
        )
        if not _generated_in(target):
            # A user's project where `docs` never ran: nothing to compare, and every file the
            # model would make is not "stale". Say so, and how to generate them (exit 1 all the
            # same: the check asked for is not passed).
            message = f"nothing generated in {target} yet: generate it with `{again}`"
            if args.json:
                dump({"generated": False, "stale": [], "message": message}, out)
            else:
                out.write(f"{message}\n")
            return EXIT_INVALID
        stale = check_docs(model, target)
        if args.json:
            dump({"generated": True, "stale": [{"file": s.name, "why": s.why} for s in stale]}, out)
            return EXIT_INVALID if stale else EXIT_OK
        for item in stale:
            out.write(f"stale: {target / item.name}: {item.why}\n")
        if stale:
            out.write(f"{len(stale)} stale file(s); regenerate them with `{again}`\n")
            return EXIT_INVALID
        out.write(f"up to date: {target}\n")
        return EXIT_OK
    changed = write_docs(model, target)
    if args.json:
        dump({"changed": changed}, out)
    else:
        out.write("".join(f"wrote {target / name}\n" for name in changed) or f"up to date: {target}\n")
    return EXIT_OK


_DEFAULT_OUT = "diagrams"


def _generated_in(folder: Path) -> bool:
    """Whether `docs` wrote in `folder` (its manifest, or a file with a generated header)."""
    from ..render.docs import generated_in

    return generated_in(folder)


def add_commands(sub: Any, common: argparse.ArgumentParser) -> None:
    """Add diagram and docs to the parser."""
    diagram = sub.add_parser(
        "diagram",
        parents=[common],
        help="one diagram of a flow: mermaid, dot, plantuml or svg",
        description=(
            "Draw one flow. --highlight S makes status S and every way out of it stand out; "
            "--action A colours every status by the verdict of A from there (send / defer / reject). "
            "SVG needs Graphviz's `dot`."
        ),
    )
    add_flow_option(diagram, "the flow")
    diagram.add_argument("--format", choices=["mermaid", "dot", "plantuml", "svg"], default="mermaid")
    diagram.add_argument("--highlight", metavar="S", help="the current status: it and its ways out stand out")
    diagram.add_argument(
        "--action",
        metavar="A",
        help=f"a verdict map: every status coloured by A's verdict ({names('actions')})",
    )
    diagram.add_argument(
        "--fact", metavar="NAME=VALUE", action="append", default=[], help="facts for the verdict map"
    )
    diagram.add_argument("-o", "--output", metavar="FILE", help="write to FILE instead of standard output")
    diagram.set_defaults(run=_cmd_diagram)

    docs = sub.add_parser(
        "docs", parents=[common], help="regenerate every file of diagrams/ (or --check that none is stale)"
    )
    docs.add_argument(
        "--check",
        action="store_true",
        help="exit 1 and name the stale files, writing nothing (or, where docs never wrote, say how to)",
    )
    docs.add_argument(
        "--out", metavar="DIR", default=_DEFAULT_OUT, help=f"the folder (default: {_DEFAULT_OUT})"
    )
    docs.set_defaults(run=_cmd_docs)
