"""The `vtex-order-flow` command line: a thin face over the library (the library never prints).

One module per command group (`_model`: states, explain, validate, schema; `_decide`: decide,
notification; `_diagrams`: diagram, docs; `_replay`: replay; `_send`: send, which imports the
HTTP client only when it runs), each adding its commands to the parser; `_common` holds what
they share.
"""

from __future__ import annotations

import argparse
import sqlite3
import sys
import textwrap
from collections.abc import Callable, Sequence
from typing import Any, NoReturn, TextIO, cast

from ..errors import (
    GraphvizNotFoundError,
    InvalidModelError,
    ModelFileError,
    UnknownNameError,
    VtexOrderFlowError,
)
from . import _completion, _decide, _diagrams, _model, _replay, _send, _serve
from ._common import EXIT_MISSING_TOOL, EXIT_OK, EXIT_USAGE, PROG, UsageError, add_model_option, clipped

__all__ = ["build_parser", "main"]


class _Formatter(argparse.HelpFormatter):
    """argparse's help, never wrapped inside a name: ``return-invoice``, not ``return-`` and
    ``invoice`` on two lines."""

    def _split_lines(self, text: str, width: int) -> list[str]:
        return textwrap.wrap(" ".join(text.split()), width, break_on_hyphens=False)


class _RawFormatter(argparse.RawDescriptionHelpFormatter, _Formatter):
    """`_Formatter`, with a description laid out by hand."""


class _Parser(argparse.ArgumentParser):
    """argparse's parser, whose own refusals (an unknown option, a missing value) are one line,
    like every other error of the command line, pointing at ``--help`` instead of printing the
    usage, and whose help never breaks a name at its hyphen. (Its subcommands' parsers are of
    the same class.)"""

    def __init__(self, **kwargs: Any) -> None:
        formatter = kwargs.pop("formatter_class", _Formatter)
        if formatter is argparse.RawDescriptionHelpFormatter:
            formatter = _RawFormatter
        super().__init__(formatter_class=formatter, **kwargs)

    def error(self, message: str) -> NoReturn:
        line = " ".join(message.split())
        self.exit(EXIT_USAGE, f"{self.prog}: error: {line} (see `{self.prog} --help`)\n")


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of every command."""
    parser = _Parser(
        prog=PROG,
        description=(
            "Decide before any network call whether a status update to VTEX should be sent, "
            "deferred or rejected, from one declarative model of VTEX's order flow."
        ),
        epilog=(
            "Exit status: 0 done (whatever the verdict), 1 an invalid model file (validate), a "
            "bad batch line (decide --batch), stale docs (docs --check) or an update held back or "
            "not accepted (send), 2 bad input, 3 a tool is missing (Graphviz for SVG)."
        ),
    )
    from .. import __version__

    parser.add_argument("--version", action="version", version=f"{PROG} {__version__}")
    common = _Parser(add_help=False)
    add_model_option(common)
    common.add_argument("--json", action="store_true", help="print JSON for machines")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for group in (_model, _decide, _diagrams, _replay, _send, _serve, _completion):
        group.add_commands(sub, common)
    return parser


def main(argv: Sequence[str] | None = None, out: TextIO | None = None) -> int:
    """Run the command line; returns the exit status (the console script exits with it)."""
    shown = cast("TextIO", _Printable(out or sys.stdout))
    args = build_parser().parse_args(argv)
    run: Callable[[argparse.Namespace, TextIO], int] = args.run
    try:
        return run(args, shown)
    except (UnknownNameError, ModelFileError, InvalidModelError, UsageError) as error:
        _error_line(str(error))
        return EXIT_USAGE
    except GraphvizNotFoundError as error:
        _error_line(str(error))
        return EXIT_MISSING_TOOL
    except BrokenPipeError:
        # The reader went away (`| head`): not an error worth a traceback.
        sys.stderr.close()
        return EXIT_OK
    except (VtexOrderFlowError, OSError, sqlite3.Error) as error:
        # A file that cannot be written or read (`-o` in a missing folder, `--db` that is not a
        # database), a store or a renderer that fails: one line, never a traceback.
        where = f" {error.filename!r}:" if isinstance(error, OSError) and error.filename else ""
        reason = error.strerror if isinstance(error, OSError) and error.strerror else str(error)
        _error_line(f"{where.lstrip()} {reason}".lstrip())
        return EXIT_USAGE


# What a terminal would run rather than show (ESC starts its colour, title and clear-screen
# sequences): every control character but tab and the line breaks, written as an escape.
_CONTROLS = {
    code: f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"
    for code in [*range(9), 11, 12, 13, *range(14, 32), *range(0x7F, 0xA0), 0x2028, 0x2029]
}


_LONGEST_ERROR = 2000


class _Printable:
    """The output stream, with the model's text made safe for a terminal: `explain` and the
    others print descriptions from the model file, which could hold ESC sequences."""

    def __init__(self, stream: TextIO) -> None:
        self._stream = stream

    def write(self, text: str) -> int:
        return self._stream.write(text.translate(_CONTROLS))

    def __getattr__(self, name: str) -> Any:
        return getattr(self._stream, name)


def _error_line(message: str) -> None:
    """``vtex-order-flow: error: ...`` on one line, whatever the message holds (a model's
    defects, a value with a line break)."""
    line = " ".join(part.strip() for part in message.splitlines() if part.strip())
    sys.stderr.write(f"{PROG}: error: {clipped(line, _LONGEST_ERROR).translate(_CONTROLS)}\n")


if __name__ == "__main__":
    raise SystemExit(main())
