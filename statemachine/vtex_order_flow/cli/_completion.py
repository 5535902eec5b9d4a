"""The completion command: a shell's completion script, made from the parser by shtab.

shtab (the ``completion`` extra) is imported only when the command runs: no other command
loads it, and the rest of the command line works without it.
"""

from __future__ import annotations

import argparse
import shlex
from typing import Any, TextIO

from ..errors import MissingExtraError
from ._common import EXIT_OK, PROG

__all__ = ["SHELLS", "add_commands"]

SHELLS = ("bash", "zsh", "fish", "tcsh")

# What each argument completes to, by command and dest: the bundled model's names, files or
# folders (a custom model may have other names: the shell still takes anything typed).
_FILES = {
    "*": ("model",),
    "decide": ("batch",),
    "diagram": ("output",),
    "notification": ("file",),
    "replay": ("events", "defer", "db"),
    "send": ("payload", "db"),
    "serve": ("db",),
    "validate": ("file",),
}
_FOLDERS = {"docs": ("out",)}


def _words(shtab: Any, words: list[str]) -> Any:
    return shtab.cmd("printf '%s\\n' " + " ".join(shlex.quote(word) for word in words))


def _annotate(parser: argparse.ArgumentParser, shtab: Any) -> None:
    """Tell shtab what each argument completes to (it reads a ``complete`` attribute)."""
    from .. import bundled_model
    from ._model import PAYLOADS

    model = bundled_model()
    statuses = _words(shtab, list(model.statuses))
    names = {
        "action": _words(shtab, list(model.actions)),
        "status": statuses,
        "highlight": statuses,
        "flow": _words(shtab, list(model.flows)),
    }
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    for command, subparser in sub.choices.items():
        for action in subparser._actions:  # (argparse keeps them here; shtab reads them there)
            complete: Any = None
            if action.dest in _FILES["*"] + _FILES.get(command, ()):
                complete = shtab.FILE
            elif action.dest in _FOLDERS.get(command, ()):
                complete = shtab.DIRECTORY
            elif command == "schema" and action.dest == "payload":
                complete = _words(shtab, list(PAYLOADS))
            elif action.dest in names:
                complete = names[action.dest]
            if complete is not None:
                action.complete = complete


def _cmd_completion(args: argparse.Namespace, out: TextIO) -> int:
    try:
        import shtab
    except ImportError:
        raise MissingExtraError(
            f"shell completion needs shtab, the completion extra: pip install '{PROG}[completion]' "
            "(from a clone: pip install '.[completion]')"
        ) from None
    from . import build_parser

    parser = build_parser()
    _annotate(parser, shtab)
    out.write(shtab.complete(parser, shell=args.shell))
    out.write("\n")
    return EXIT_OK


def add_commands(sub: Any, common: argparse.ArgumentParser) -> None:
    """Add completion to the parser (it takes neither --model nor --json: it prints a script)."""
    completion = sub.add_parser(
        "completion",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        help="print a shell completion script (bash, zsh, fish, tcsh; needs the 'completion' extra)",
        description=(
            "Print the completion script of a shell: commands, options, the bundled model's\n"
            "actions, statuses and flows, and files. Needs the completion extra:\n"
            f"pip install '{PROG}[completion]'.\n"
            "\n"
            "Install it:\n"
            f"  bash  {PROG} completion bash > ~/.local/share/bash-completion/completions/{PROG}\n"
            f"  zsh   {PROG} completion zsh > ~/.zfunc/_{PROG}   (with fpath+=~/.zfunc before compinit)\n"
            f"  fish  {PROG} completion fish > ~/.config/fish/completions/{PROG}.fish\n"
            f"  tcsh  {PROG} completion tcsh > ~/.{PROG}.tcsh; echo 'source ~/.{PROG}.tcsh' >> ~/.tcshrc"
        ),
    )
    completion.add_argument("shell", choices=SHELLS, help="the shell: %(choices)s")
    completion.set_defaults(run=_cmd_completion)
