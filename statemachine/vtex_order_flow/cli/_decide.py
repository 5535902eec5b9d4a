"""Commands that decide: decide (one update, or a JSON Lines batch) and notification."""

from __future__ import annotations

import argparse
import sys
from typing import TYPE_CHECKING, Any, BinaryIO, TextIO

from ..errors import NotificationError
from ..model import duration
from ._common import EXIT_INVALID, EXIT_OK, UsageError, add_flow_option, dump, model_of, names, parse_facts
from ._progress import file_size, progress_on_terminal

if TYPE_CHECKING:
    from .. import Decision, FlowModel

__all__ = ["add_commands"]


def _decision_text(decision: Decision, model: FlowModel, out: TextIO) -> None:
    out.write(
        f"{decision.verdict.upper()}: {decision.action} on an order in {decision.status} "
        f"({decision.flow} flow)\n"
    )
    out.write(f"  {decision.reason}\n")
    if decision.path:
        out.write("  Path:\n")
        for step in decision.path:
            after = f", typically after {duration(step.after)}" if step.after else ""
            out.write(f"    {step.source} -> {step.dest} by {step.trigger} ({step.actor}{after})\n")
    if decision.next_actor and decision.verdict != "send":
        out.write(f"  Next to act: {decision.next_actor}\n")
    if decision.remedy:
        out.write(f"  The connector can unblock it by sending: {', '.join(decision.remedy)}\n")
    if decision.expected_error:
        code = model.codes.get(decision.expected_error)
        meaning = f" ({code.meaning})" if code else ""
        out.write(f"  If sent now, VTEX would answer: {decision.expected_error}{meaning}\n")
    if decision.already_done:
        out.write("  Its goal is already reached.\n")
    if decision.retry_after:
        out.write(f"  Look again in about {duration(decision.retry_after)}.\n")
    if decision.facts:
        out.write(f"  Facts: {', '.join(sorted(decision.facts))}\n")
    out.write(f"  Confidence: {decision.confidence}\n")


def _cmd_decide(args: argparse.Namespace, out: TextIO) -> int:
    model = model_of(args)
    if args.batch is not None:
        given = [
            name
            for name, value in (("ACTION", args.action), ("--status", args.status), ("--flow", args.flow))
            if value is not None
        ] + (["--fact"] if args.fact else [])
        if given:
            raise UsageError(f"--batch takes each record's values from the file; drop {', '.join(given)}")
        return _decide_batch(model, args.batch, out, not args.no_progress)
    if args.action is None or args.status is None:
        raise UsageError("decide needs ACTION and --status S (or --batch FILE)")
    decision = model.decide(args.status, args.action, args.flow, parse_facts(args.fact))
    if args.json:
        dump(decision.to_dict(), out)
    else:
        _decision_text(decision, model, out)
    return EXIT_OK


def _decide_batch(model: FlowModel, source: str, out: TextIO, show_progress: bool) -> int:
    from .. import decide_lines

    def run(lines: BinaryIO) -> int:
        # A progress line only when stderr is a terminal and stdout is not (lines would break it).
        progress = progress_on_terminal("decide", file_size(lines), wanted=show_progress, out=out)
        if progress is None:
            return decide_lines(model, lines, out)
        with progress:
            return decide_lines(model, progress.track(lines), out)

    if source == "-":
        bad = run(sys.stdin.buffer)
    else:
        try:
            with open(source, "rb") as lines:  # noqa: PTH123 (a plain binary stream)
                bad = run(lines)
        except FileNotFoundError:
            raise UsageError(f"no such file {source!r}") from None
        except IsADirectoryError:
            raise UsageError(f"{source!r} is a directory") from None
    return EXIT_INVALID if bad else EXIT_OK


def _cmd_notification(args: argparse.Namespace, out: TextIO) -> int:
    from .. import interpret_notification

    model = model_of(args)
    if args.file == "-":
        body = sys.stdin.buffer.read()
    else:
        try:
            with open(args.file, "rb") as payload:  # noqa: PTH123
                body = payload.read()
        except OSError as error:
            raise UsageError(f"cannot read {args.file!r}: {error.strerror or error}") from None
    try:
        advice = interpret_notification(body, model)
    except NotificationError as error:
        raise UsageError(str(error)) from None
    if args.json:
        dump(advice.to_dict(), out)
        return EXIT_OK
    out.write(f"{advice.code} ({advice.operation}): {advice.follow_up}\n")
    out.write(f"  {advice.meaning}\n" if advice.meaning else "")
    out.write(f"  Next: {advice.next_step}.\n")
    if advice.order_id or advice.marketplace_order_id:
        out.write(
            f"  Order: {advice.order_id or '-'} (marketplace order {advice.marketplace_order_id or '-'})\n"
        )
    for detail in advice.errors:
        out.write(f"  Error: {detail}\n")
    if not advice.consistent:
        out.write("  Warning: the payload's success flag or flow does not match this code.\n")
    out.write(f"  Confidence: {advice.confidence}\n")
    return EXIT_OK


def add_commands(sub: Any, common: argparse.ArgumentParser) -> None:
    """Add decide and notification to the parser."""
    decide = sub.add_parser(
        "decide",
        parents=[common],
        help="send, defer or reject one update (or a JSON Lines batch), and why",
        description=(
            "Decide whether ACTION may go to VTEX now for an order in status S. Exit 0 whenever a "
            "decision was made, whatever the verdict; 2 on bad input. With --batch: JSON Lines in "
            "(status, action, optional flow, facts, id), one JSON line out per input line, in "
            "order; exit 1 after the whole input if any line was bad."
        ),
    )
    decide.add_argument("action", metavar="ACTION", nargs="?", help=f"one of: {names('actions')}")
    decide.add_argument("--status", metavar="S", help="the order's current status, as VTEX spells it")
    add_flow_option(decide, "the order's flow")
    decide.add_argument(
        "--fact",
        metavar="NAME=VALUE",
        action="append",
        default=[],
        help="a fact the status does not carry, e.g. partial-invoice=true (repeatable)",
    )
    decide.add_argument("--batch", metavar="FILE", help="decide every line of a JSON Lines file ('-': stdin)")
    decide.add_argument(
        "--no-progress",
        action="store_true",
        help="with --batch: no progress line on standard error (shown only when it is a terminal "
        "and standard output is not)",
    )
    decide.set_defaults(run=_cmd_decide)

    notification = sub.add_parser(
        "notification",
        parents=[common],
        help="what a Channel Order API reply or notification means and what to do next",
    )
    notification.add_argument("file", metavar="FILE", help="the JSON payload ('-': stdin)")
    notification.set_defaults(run=_cmd_notification)
