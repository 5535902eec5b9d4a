"""Commands about the model itself: states, explain, validate, schema."""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, TextIO

from .._text import MAX_DEFECTS_SHOWN
from ..errors import InvalidModelError, UnknownNameError
from ..model import Confidence, duration
from ._common import EXIT_INVALID, EXIT_OK, UsageError, dump, model_of, names

if TYPE_CHECKING:
    from .. import FlowModel
    from ..model import Status, Transition

__all__ = ["add_commands"]


def _guards(transition: Transition) -> str:
    parts = [f"if {f}" for f in sorted(transition.requires)]
    parts += [f"unless {f}" for f in sorted(transition.unless)]
    parts += [f"sets {f}" for f in sorted(transition.sets)]
    if transition.after is not None:
        parts.append(f"after {duration(transition.after)}")
    if transition.confidence != Confidence.DOCUMENTED:
        parts.append(str(transition.confidence))
    return f" ({', '.join(parts)})" if parts else ""


def _marks(status: Status) -> str:
    marks = []
    if status.auto:
        marks.append("auto")
    if status.terminal:
        marks.append("terminal")
    if status.confidence != Confidence.DOCUMENTED:
        marks.append(str(status.confidence))
    return ", ".join(marks)


def _states_text(model: FlowModel, flow: str | None, out: TextIO) -> None:
    statuses = model.statuses_in(flow) if flow else tuple(model.statuses.values())
    if flow:
        out.write(f"Flow {flow!r}: {len(statuses)} statuses, starts in {model.flow(flow).initial!r}\n")
    width = max(len(s.id) for s in statuses)
    label_width = max(len(s.admin_label or "-") for s in statuses)
    for status in statuses:
        flows = ",".join(model.flows_of(status.id)) or "(no flow)"
        line = f"{status.id:<{width}}  {status.admin_label or '-':<{label_width}}  {flows}"
        marks = _marks(status)
        out.write(f"{line}  [{marks}]\n" if marks else f"{line}\n")


def _explain_text(model: FlowModel, status: Status, flows: Sequence[str], out: TextIO) -> None:
    out.write(f"{status.id}\n")
    out.write(f"  {status.meaning}\n")
    if status.aliases:
        out.write(f"  Also spelled: {', '.join(status.aliases)}\n")
    out.write(
        f"  Admin label: {status.admin_label or '-'}; My Account label: {status.my_account_label or '-'}\n"
    )
    out.write(f"  Flows: {', '.join(model.flows_of(status.id)) or '(none documented)'}\n")
    kind = "terminal" if status.terminal else "moved on by the platform" if status.auto else "waits"
    out.write(f"  Kind: {kind}; confidence: {status.confidence}\n")
    out.write(f"  Sources: {', '.join(status.sources) or '-'}\n")
    if status.note:
        out.write(f"  Note: {status.note}\n")
    for flow in flows:
        out.write(f"\n  In the {flow} flow")
        out.write(" (its initial status)\n" if model.flow(flow).initial == status.id else "\n")
        ways_in = model.ways_in(status.id, flow)
        ways_out = model.ways_out(status.id, flow)
        out.write("    Ways in:\n" if ways_in else "    Ways in: none\n")
        for t in ways_in:
            out.write(f"      from {t.source} by {t.trigger} ({t.cause}){_guards(t)}\n")
        out.write("    Ways out:\n" if ways_out else "    Ways out: none\n")
        for t in ways_out:
            dest = "stays here" if t.is_self_loop else f"to {t.dest}"
            who = "connector action" if t.by_action else str(t.cause)
            out.write(f"      {dest} by {t.trigger} ({who}){_guards(t)}\n")
        out.write("    The connector's actions from here (no facts set):\n")
        for action in model.actions:
            d = model.decide(status.id, action, flow)
            detail = f"VTEX would answer {d.expected_error}" if d.expected_error else f"to {d.moves_to}"
            if d.verdict == "defer":
                detail += f"; accepted in {d.accepted_in} after {len(d.path)} step(s)"
            done = ", goal reached" if d.already_done else ""
            out.write(f"      {action}: {d.verdict} ({detail}{done})\n")


def _cmd_states(args: argparse.Namespace, out: TextIO) -> int:
    model = model_of(args)
    flow = model.flow(args.flow).name if args.flow else None
    statuses = model.statuses_in(flow) if flow else tuple(model.statuses.values())
    if args.json:
        payload: dict[str, Any] = {"model": model.name, "flow": flow}
        if flow:
            payload["initial"] = model.flow(flow).initial
        payload["statuses"] = [s.to_dict(model.flows_of(s.id)) for s in statuses]
        dump(payload, out)
    else:
        _states_text(model, flow, out)
    return EXIT_OK


def _cmd_explain(args: argparse.Namespace, out: TextIO) -> int:
    model = model_of(args)
    status = model.status(args.status)
    if args.flow:
        flow = model.flow(args.flow).name
        if flow not in status.flows:
            raise UsageError(
                f"status {status.id!r} is not in the {flow} flow; it is in: "
                f"{', '.join(model.flows_of(status.id)) or 'no flow'}"
            )
        flows: Sequence[str] = (flow,)
    else:
        flows = model.flows_of(status.id)
    if not args.json:
        _explain_text(model, status, flows, out)
        return EXIT_OK
    dump(
        {
            "model": model.name,
            "status": status.to_dict(model.flows_of(status.id)),
            "flows": {
                flow: {
                    "initial": model.flow(flow).initial == status.id,
                    "ways_in": [t.to_dict(flow) for t in model.ways_in(status.id, flow)],
                    "ways_out": [t.to_dict(flow) for t in model.ways_out(status.id, flow)],
                    "decisions": {
                        action: model.decide(status.id, action, flow).to_dict() for action in model.actions
                    },
                }
                for flow in flows
            },
        },
        out,
    )
    return EXIT_OK


def _cmd_validate(args: argparse.Namespace, out: TextIO) -> int:
    from .. import load_model

    try:
        model = load_model(args.file, allow_extends_outside=args.allow_extends_outside)
    except InvalidModelError as error:
        if args.json:
            defects = [
                {"rule": str(d.rule), "entry": d.entry, "message": d.message}
                for d in error.defects[:MAX_DEFECTS_SHOWN]
            ]
            more = len(error.defects) - len(defects)
            dump({"valid": False, "file": args.file, "defects": defects, "more_defects": more}, out)
        else:
            out.write(f"{error}\n")
        return EXIT_INVALID
    flows = {name: len(model.transitions_in(name)) for name in model.flows}
    if args.json:
        dump(
            {
                "valid": True,
                "file": args.file,
                "model": model.name,
                "statuses": len(model.statuses),
                "transitions": len(model.transitions),
                "flows": flows,
            },
            out,
        )
    else:
        listed = ", ".join(f"{name} ({count} transitions)" for name, count in flows.items())
        out.write(
            f"ok: model {model.name!r} from {args.file}: {len(model.statuses)} statuses, "
            f"{len(model.transitions)} transitions; flows: {listed}\n"
        )
    return EXIT_OK


PAYLOADS = {
    "channel-order": "ChannelOrderResult",
    "hook": "HookNotification",
    "hook-ping": "HookPing",
    "feed": "FeedItem",
    "broadcast": "BroadcastEvent",
}


def _cmd_schema(args: argparse.Namespace, out: TextIO) -> int:
    if args.payload is None:
        from ..model import model_file_json_schema

        dump(model_file_json_schema(), out)
        return EXIT_OK
    from .. import payloads

    # (argparse hands `--payload=--` over as an empty list: it drops the "--")
    payload = args.payload if isinstance(args.payload, str) else " ".join(args.payload) or "--"
    name = PAYLOADS.get(payload)
    if name is None:
        raise UnknownNameError(payload, PAYLOADS)
    dump(getattr(payloads, name).model_json_schema(), out)
    return EXIT_OK


def add_commands(sub: Any, common: argparse.ArgumentParser) -> None:
    """Add states, explain, validate and schema to the parser."""
    states = sub.add_parser("states", parents=[common], help="list the statuses (of one flow)")
    states.add_argument("--flow", metavar="F", help=f"only the statuses of flow F ({names('flows')})")
    states.set_defaults(run=_cmd_states)

    explain = sub.add_parser("explain", parents=[common], help="meaning, flows, ways in and out of a status")
    explain.add_argument(
        "status", metavar="STATUS", help="a status id as VTEX spells it, e.g. ready-for-handling"
    )
    explain.add_argument("--flow", metavar="F", help="only this flow (default: every flow the status is in)")
    explain.set_defaults(run=_cmd_explain)

    validate = sub.add_parser(
        "validate", parents=[common], help="check a custom model file; errors name the entry and the rule"
    )
    validate.add_argument("file", metavar="FILE")
    validate.set_defaults(run=_cmd_validate)

    schema = sub.add_parser(
        "schema", parents=[common], help="JSON Schema of the model file (or of a VTEX payload)"
    )
    schema.add_argument(
        "--payload", metavar="NAME", help=f"a payload's schema instead: {', '.join(PAYLOADS)}"
    )
    schema.set_defaults(run=_cmd_schema)
