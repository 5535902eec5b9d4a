"""What every command shares: exit codes, usage errors, the model to use, output, fact flags."""

from __future__ import annotations

import argparse
import json
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, TextIO

from ..errors import InvalidModelError, VtexOrderFlowError

if TYPE_CHECKING:
    from .. import FlowModel

__all__ = [
    "EXIT_INVALID",
    "EXIT_MISSING_TOOL",
    "EXIT_OK",
    "EXIT_USAGE",
    "PROG",
    "UsageError",
    "add_flow_option",
    "add_model_option",
    "clipped",
    "dump",
    "model_of",
    "open_lines",
    "parse_facts",
]

PROG = "vtex-order-flow"
EXIT_OK, EXIT_INVALID, EXIT_USAGE, EXIT_MISSING_TOOL = 0, 1, 2, 3


class UsageError(VtexOrderFlowError):
    """Bad input on the command line: one line on stderr, exit status 2."""


def model_of(args: argparse.Namespace) -> FlowModel:
    """The model a command works on: ``--model FILE``, or the bundled one."""
    from .. import bundled_model, load_model

    if args.model is None:
        return bundled_model()
    try:
        return load_model(args.model, allow_extends_outside=args.allow_extends_outside)
    except InvalidModelError as error:
        # One line: the count and the first defect; `validate` lists them all.
        count, first = len(error.defects), error.defects[0] if error.defects else "no defect listed"
        defects = f"{count} defects, the first: {first}" if count > 1 else f"{first}"
        raise UsageError(
            f"invalid model {error.origin}: {defects} (check it with `{PROG} validate {args.model}`)"
        ) from None


def dump(payload: object, out: TextIO) -> None:
    """Indented JSON and a newline."""
    json.dump(payload, out, ensure_ascii=False, indent=2)
    out.write("\n")


_TRUE = {"true", "yes", "1", "on"}
_FALSE = {"false", "no", "0", "off"}


def parse_facts(items: Sequence[str]) -> dict[str, bool]:
    """``--fact NAME=VALUE`` flags (``NAME`` alone means true) as a mapping."""
    facts: dict[str, bool] = {}
    for item in items:
        name, sep, value = item.partition("=")
        flag = value.strip().lower()
        if not name or (sep and flag not in _TRUE | _FALSE):
            raise UsageError(f"bad --fact {item!r}: write NAME=true or NAME=false (or just NAME for true)")
        key, holds = name.strip(), (not sep) or flag in _TRUE
        if facts.get(key, holds) != holds:
            raise UsageError(f"--fact {key} is given both true and false")
        facts[key] = holds
    return facts


def open_lines(path: str) -> Iterator[tuple[int, bytes]]:
    """The numbered non-blank lines of a file, read as they are consumed (the file is open only
    while they are); a file that cannot be opened is a usage error now, before anything runs."""
    try:
        open(path, "rb").close()  # noqa: PTH123 (fail early, with the reason)
    except OSError as error:
        raise UsageError(f"cannot read {path!r}: {error.strerror or error}") from None
    return _lines(path)


def _lines(path: str) -> Iterator[tuple[int, bytes]]:
    from ..tracking import numbered_lines

    yield from numbered_lines(open(path, "rb"))  # noqa: PTH123, SIM115 (closed by numbered_lines)


def names(kind: str) -> str:
    """The bundled model's flows or actions, for help texts (a custom model may have others)."""
    from .. import bundled_model

    model = bundled_model()
    found = model.flows if kind == "flows" else model.actions
    return ", ".join(found)


def clipped(value: object, longest: int) -> str:
    """Text for a person (a summary's item, an error line) at most about `longest` characters:
    the input names what it likes (an event's 5 MB status, a 120 KB fact)."""
    text = "-" if value is None else str(value)
    return text if len(text) <= longest else f"{text[: longest - 40]}... ({len(text):,} characters in all)"


def add_model_option(parser: argparse.ArgumentParser) -> None:
    """``--model FILE``, which every command that reads the model takes."""
    parser.add_argument(
        "--model",
        metavar="FILE",
        help="use this model file (it may extend the bundled 'vtex' model) instead of the bundled one",
    )
    parser.add_argument(
        "--allow-extends-outside",
        action="store_true",
        help="let the model file's `extends` name a file outside its own folder (refused by default)",
    )


def add_flow_option(parser: argparse.ArgumentParser, what: str) -> None:
    """``--flow F``, its help listing the model's flows and its default flow."""
    parser.add_argument("--flow", metavar="F", help=f"{what}: {names('flows')} (default: {default_flow()})")


def default_flow() -> str:
    """The bundled model's default flow, for help texts."""
    from .. import bundled_model

    return bundled_model().default_flow
