"""The `vtex-order-flow` command line: a thin face over the library (the library never prints)."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any, BinaryIO, TextIO

from ._decide import Decision
from ._flowmodel import FlowModel
from ._model import Status, Transition
from .errors import GraphvizNotFoundError, InvalidModelError, ModelFileError, UnknownNameError

__all__ = ["main"]

PROG = "vtex-order-flow"
EXIT_OK, EXIT_INVALID, EXIT_USAGE, EXIT_MISSING_TOOL = 0, 1, 2, 3


class _UsageError(Exception):
    """Bad input on the command line: one line on stderr, exit status 2."""


# -- JSON shapes (stable: tests pin them) ---------------------------------------------------------


def status_json(status: Status, model: FlowModel) -> dict[str, Any]:
    return {
        "id": status.id,
        "aliases": list(status.aliases),
        "admin_label": status.admin_label,
        "my_account_label": status.my_account_label,
        "flows": list(model.flows_of(status.id)),
        "auto": status.auto,
        "terminal": status.terminal,
        "meaning": status.meaning,
        "confidence": str(status.confidence),
        "sources": list(status.sources),
        "note": status.note,
    }


def transition_json(transition: Transition, flow: str | None = None) -> dict[str, Any]:
    data: dict[str, Any] = {
        "from": transition.source,
        "to": transition.dest,
        "trigger": transition.trigger,
        "by_action": transition.by_action,
        "cause": str(transition.cause),
        "after": transition.after,
        "requires": sorted(transition.requires),
        "unless": sorted(transition.unless),
        "sets": sorted(transition.sets),
        "confidence": str(transition.confidence),
        "sources": list(transition.sources),
        "note": transition.note,
    }
    if flow is None:
        data["flows"] = sorted(transition.flows)
        data["enabled"] = transition.enabled
    return data


# -- readable text --------------------------------------------------------------------------------


def _duration(seconds: int) -> str:
    for unit, size in (("day", 86400), ("hour", 3600), ("minute", 60)):
        if seconds % size == 0:
            count = seconds // size
            return f"{count} {unit}{'s' if count != 1 else ''}"
    return f"{seconds} s"


def _guards(transition: Transition) -> str:
    parts = [f"if {f}" for f in sorted(transition.requires)]
    parts += [f"unless {f}" for f in sorted(transition.unless)]
    parts += [f"sets {f}" for f in sorted(transition.sets)]
    if transition.after is not None:
        parts.append(f"after {_duration(transition.after)}")
    if transition.confidence != "documented":
        parts.append(str(transition.confidence))
    return f" ({', '.join(parts)})" if parts else ""


def _marks(status: Status) -> str:
    marks = []
    if status.auto:
        marks.append("auto")
    if status.terminal:
        marks.append("terminal")
    if status.confidence != "documented":
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


# -- commands -------------------------------------------------------------------------------------


def _model(args: argparse.Namespace) -> FlowModel:
    from ._loader import bundled_model, load_model

    if args.model is None:
        return bundled_model()
    try:
        return load_model(args.model)
    except InvalidModelError as error:
        raise _UsageError(f"{error}\n(check it with `{PROG} validate {args.model}`)") from None


def _cmd_states(args: argparse.Namespace, out: TextIO) -> int:
    model = _model(args)
    flow = model.flow(args.flow).name if args.flow else None
    statuses = model.statuses_in(flow) if flow else tuple(model.statuses.values())
    if args.json:
        payload: dict[str, Any] = {"model": model.name, "flow": flow}
        if flow:
            payload["initial"] = model.flow(flow).initial
        payload["statuses"] = [status_json(s, model) for s in statuses]
        _dump(payload, out)
    else:
        _states_text(model, flow, out)
    return EXIT_OK


def _cmd_explain(args: argparse.Namespace, out: TextIO) -> int:
    model = _model(args)
    status = model.status(args.status)
    if args.flow:
        flow = model.flow(args.flow).name
        if flow not in status.flows:
            raise _UsageError(
                f"status {status.id!r} is not in the {flow} flow; it is in: "
                f"{', '.join(model.flows_of(status.id)) or 'no flow'}"
            )
        flows: Sequence[str] = (flow,)
    else:
        flows = model.flows_of(status.id)
    if args.json:
        _dump(
            {
                "model": model.name,
                "status": status_json(status, model),
                "flows": {
                    flow: {
                        "initial": model.flow(flow).initial == status.id,
                        "ways_in": [transition_json(t, flow) for t in model.ways_in(status.id, flow)],
                        "ways_out": [transition_json(t, flow) for t in model.ways_out(status.id, flow)],
                        "decisions": {
                            action: model.decide(status.id, action, flow).to_dict()
                            for action in model.actions
                        },
                    }
                    for flow in flows
                },
            },
            out,
        )
    else:
        _explain_text(model, status, flows, out)
    return EXIT_OK


def _cmd_validate(args: argparse.Namespace, out: TextIO) -> int:
    from ._loader import load_model

    try:
        model = load_model(args.file)
    except InvalidModelError as error:
        if args.json:
            _dump(
                {
                    "valid": False,
                    "file": args.file,
                    "defects": [
                        {"rule": str(d.rule), "entry": d.entry, "message": d.message} for d in error.defects
                    ],
                },
                out,
            )
        else:
            out.write(f"{error}\n")
        return EXIT_INVALID
    summary = {
        "valid": True,
        "file": args.file,
        "model": model.name,
        "statuses": len(model.statuses),
        "transitions": len(model.transitions),
        "flows": {name: len(model.transitions_in(name)) for name in model.flows},
    }
    if args.json:
        _dump(summary, out)
    else:
        flows = ", ".join(f"{name} ({count} transitions)" for name, count in summary["flows"].items())
        out.write(
            f"ok: model {model.name!r} from {args.file}: {summary['statuses']} statuses, "
            f"{summary['transitions']} transitions; flows: {flows}\n"
        )
    return EXIT_OK


_PAYLOADS = {
    "channel-order": "ChannelOrderResult",
    "hook": "HookNotification",
    "hook-ping": "HookPing",
    "feed": "FeedItem",
    "broadcast": "BroadcastEvent",
}


def _cmd_schema(args: argparse.Namespace, out: TextIO) -> int:
    if args.payload is None:
        from ._schema import model_file_json_schema

        _dump(model_file_json_schema(), out)
        return EXIT_OK
    from . import payloads

    name = _PAYLOADS.get(args.payload)
    if name is None:
        raise UnknownNameError(args.payload, _PAYLOADS)
    _dump(getattr(payloads, name).model_json_schema(), out)
    return EXIT_OK


_TRUE = {"true", "yes", "1", "on"}
_FALSE = {"false", "no", "0", "off"}


def _parse_facts(items: Sequence[str]) -> dict[str, bool]:
    facts: dict[str, bool] = {}
    for item in items:
        name, sep, value = item.partition("=")
        flag = value.strip().lower()
        if not name or (sep and flag not in _TRUE | _FALSE):
            raise _UsageError(f"bad --fact {item!r}: write NAME=true or NAME=false (or just NAME for true)")
        facts[name.strip()] = (not sep) or flag in _TRUE
    return facts


def _decision_text(decision: Decision, model: FlowModel, out: TextIO) -> None:
    out.write(
        f"{decision.verdict.upper()}: {decision.action} on an order in {decision.status} "
        f"({decision.flow} flow)\n"
    )
    out.write(f"  {decision.reason}\n")
    if decision.path:
        out.write("  Path:\n")
        for step in decision.path:
            after = f", typically after {_duration(step.after)}" if step.after else ""
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
        out.write(f"  Look again in about {_duration(decision.retry_after)}.\n")
    if decision.facts:
        out.write(f"  Facts: {', '.join(sorted(decision.facts))}\n")
    out.write(f"  Confidence: {decision.confidence}\n")


def _cmd_decide(args: argparse.Namespace, out: TextIO) -> int:
    model = _model(args)
    if args.batch is not None:
        given = [
            name
            for name, value in (("ACTION", args.action), ("--status", args.status), ("--flow", args.flow))
            if value is not None
        ] + (["--fact"] if args.fact else [])
        if given:
            raise _UsageError(f"--batch takes each record's values from the file; drop {', '.join(given)}")
        return _decide_batch(model, args.batch, out)
    if args.action is None or args.status is None:
        raise _UsageError("decide needs ACTION and --status S (or --batch FILE)")
    decision = model.decide(args.status, args.action, args.flow or "seller", _parse_facts(args.fact))
    if args.json:
        _dump(decision.to_dict(), out)
    else:
        _decision_text(decision, model, out)
    return EXIT_OK


def _decide_batch(model: FlowModel, source: str, out: TextIO) -> int:
    from ._batch import decide_lines

    if source == "-":
        bad = decide_lines(model, sys.stdin.buffer, out)
    else:
        try:
            with open(source, "rb") as lines:  # noqa: PTH123 (a plain binary stream)
                bad = decide_lines(model, lines, out)
        except FileNotFoundError:
            raise _UsageError(f"no such file {source!r}") from None
        except IsADirectoryError:
            raise _UsageError(f"{source!r} is a directory") from None
    return EXIT_INVALID if bad else EXIT_OK


def _cmd_notification(args: argparse.Namespace, out: TextIO) -> int:
    from pydantic import ValidationError

    from ._notifications import interpret_notification

    model = _model(args)
    if args.file == "-":
        body = sys.stdin.buffer.read()
    else:
        try:
            with open(args.file, "rb") as payload:  # noqa: PTH123
                body = payload.read()
        except OSError as error:
            raise _UsageError(f"cannot read {args.file!r}: {error.strerror or error}") from None
    try:
        advice = interpret_notification(body, model)
    except ValidationError as error:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc']) or '(body)'}: {e['msg']}"
            for e in error.errors(include_url=False)
        )
        raise _UsageError(f"invalid notification payload: {problems}") from None
    if args.json:
        _dump(advice.to_dict(), out)
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


def _cmd_diagram(args: argparse.Namespace, out: TextIO) -> int:
    from .render import render

    model = _model(args)
    flow = model.flow(args.flow).name
    text = render(
        model, flow, args.format, highlight=args.highlight, action=args.action, facts=_parse_facts(args.fact)
    )
    if args.output:
        Path(args.output).write_text(text, "utf-8")
    else:
        out.write(text)
    return EXIT_OK


def _cmd_docs(args: argparse.Namespace, out: TextIO) -> int:
    from .render.docs import check_docs, write_docs

    model = _model(args)
    target = Path(args.out)
    if args.check:
        stale = check_docs(model, target)
        if args.json:
            _dump({"stale": [{"file": s.name, "why": s.why} for s in stale]}, out)
        for item in stale if not args.json else ():
            out.write(f"stale: {target / item.name}: {item.why}\n")
        if stale:
            if not args.json:
                out.write(f"{len(stale)} stale file(s); regenerate them with `{PROG} docs`\n")
            return EXIT_INVALID
        if not args.json:
            out.write(f"up to date: {target}\n")
        return EXIT_OK
    changed = write_docs(model, target)
    if args.json:
        _dump({"changed": changed}, out)
    else:
        out.write("".join(f"wrote {target / name}\n" for name in changed) or f"up to date: {target}\n")
    return EXIT_OK


def _cmd_replay(args: argparse.Namespace, out: TextIO) -> int:
    from .tracking import EventError, MemoryStore, Ping, SQLiteStore, Store, Tracker, parse_event

    model = _model(args)
    flow = model.flow(args.flow).name
    lines = _lines(args.events)  # a missing file is refused before anything is written
    store: Store = SQLiteStore(args.db) if args.db else MemoryStore()
    try:
        tracker = Tracker(model, flow=flow, store=store)
        errors: list[dict[str, object]] = []
        if args.defer:
            errors += _register(tracker, args.defer)
        pings = 0
        outcomes: dict[str, int] = {}
        chunk: list[Any] = []

        def apply(events: list[Any]) -> None:
            for applied in tracker.apply_many(events, batch=args.batch):
                outcomes[applied.outcome] = outcomes.get(applied.outcome, 0) + 1
            events.clear()

        # Streamed: a file of any size is applied in `batch`-sized transactions as it is read.
        for number, raw in lines:
            try:
                parsed = parse_event(raw)
            except EventError as error:
                errors.append({"line": number, "error": str(error)})
                continue
            if isinstance(parsed, Ping):
                pings += 1
                continue
            chunk.append(parsed)
            if len(chunk) >= args.batch:
                apply(chunk)
        apply(chunk)
        report = _replay_report(tracker, errors)
        if args.json:
            _dump(report, out)
        else:
            _replay_text(report, outcomes, pings, out)
    finally:
        store.close()
    return EXIT_INVALID if errors else EXIT_OK


def _lines(path: str) -> Iterator[tuple[int, bytes]]:
    """The non-blank lines of a file, numbered, read as they are consumed."""
    try:
        source = open(path, "rb")  # noqa: PTH123, SIM115 (closed by the generator below)
    except OSError as error:
        raise _UsageError(f"cannot read {path!r}: {error.strerror or error}") from None
    return _numbered(source)


def _numbered(source: BinaryIO) -> Iterator[tuple[int, bytes]]:
    with source:
        for number, raw in enumerate(source, 1):
            if raw.strip():
                yield number, raw


def _register(tracker: Any, path: str) -> list[dict[str, object]]:
    errors: list[dict[str, object]] = []
    for number, raw in _lines(path):
        try:
            record = json.loads(raw)
            if not isinstance(record, dict) or not isinstance(record.get("orderId"), str):
                raise ValueError('each line must be {"orderId", "action", optional "facts"}')
            unknown = sorted(set(record) - {"orderId", "action", "facts"})
            if unknown:
                raise ValueError(f"unknown field {unknown[0]!r}; valid fields: orderId, action, facts")
            tracker.defer(record["orderId"], str(record.get("action")), record.get("facts"))
        except (ValueError, UnknownNameError) as error:
            errors.append({"file": "defer", "line": number, "error": str(error)})
    return errors


def _replay_report(tracker: Any, errors: list[dict[str, object]]) -> dict[str, Any]:
    from .tracking import DeferredState

    def listed(state: DeferredState) -> list[dict[str, Any]]:
        return [d.to_dict() for d in tracker.updates(state)]

    return {
        "orders": {r.order_id: r.to_dict() for r in tracker.records()},
        "ready": listed(DeferredState.READY),
        "pending": listed(DeferredState.PENDING) + listed(DeferredState.RETRY),
        "dropped": listed(DeferredState.DROPPED),
        "anomalies": [a.to_dict() for a in tracker.anomalies()],
        "errors": errors,
    }


def _replay_text(report: dict[str, Any], outcomes: dict[str, int], pings: int, out: TextIO) -> None:
    seen = ", ".join(f"{count} {name}" for name, count in sorted(outcomes.items())) or "none"
    out.write(f"Events: {seen}; {pings} ping(s); {len(report['errors'])} bad line(s)\n")
    out.write(f"Orders: {len(report['orders'])}\n")
    for key in ("ready", "pending", "dropped"):
        out.write(f"{key.capitalize()}: {len(report[key])}\n")
        for item in report[key]:
            reason = f": {item['reason']}" if item.get("reason") else ""
            out.write(f"  {item['orderId']} {item['action']} (in {item['status'] or '-'}){reason}\n")
    out.write(f"Anomalies: {len(report['anomalies'])}\n")
    for item in report["anomalies"]:
        out.write(f"  {item['orderId']}: {item['from']} -> {item['to']} ({item['kind']})\n")
    for error in report["errors"]:
        where = f"{error.get('file', 'events')} line {error['line']}"
        out.write(f"Error: {where}: {error['error']}\n")


def _dump(payload: object, out: TextIO) -> None:
    json.dump(payload, out, ensure_ascii=False, indent=2)
    out.write("\n")


# -- parser ---------------------------------------------------------------------------------------


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=PROG,
        description=(
            "Decide before any network call whether a status update to VTEX should be sent, "
            "deferred or rejected, from one declarative model of VTEX's order flow."
        ),
        epilog=(
            "Exit status: 0 done (whatever the verdict), 1 an invalid model file (validate), a "
            "bad batch line (decide --batch) or stale docs (docs --check), 2 bad input, 3 a tool "
            "is missing (Graphviz for SVG)."
        ),
    )
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--model",
        metavar="FILE",
        help="use this model file (it may extend the bundled 'vtex' model) instead of the bundled one",
    )
    common.add_argument("--json", action="store_true", help="print JSON for machines")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    states = sub.add_parser("states", parents=[common], help="list the statuses (of one flow)")
    states.add_argument(
        "--flow",
        metavar="F",
        help="only the statuses of flow F (seller, marketplace, complete, chain)",
    )
    states.set_defaults(run=_cmd_states)

    explain = sub.add_parser("explain", parents=[common], help="meaning, flows, ways in and out of a status")
    explain.add_argument(
        "status", metavar="STATUS", help="a status id as VTEX spells it, e.g. ready-for-handling"
    )
    explain.add_argument("--flow", metavar="F", help="only this flow (default: every flow the status is in)")
    explain.set_defaults(run=_cmd_explain)

    validate = sub.add_parser(
        "validate",
        parents=[common],
        help="check a custom model file; errors name the entry and the rule",
    )
    validate.add_argument("file", metavar="FILE")
    validate.set_defaults(run=_cmd_validate)

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
    decide.add_argument(
        "action",
        metavar="ACTION",
        nargs="?",
        help="create, approve, cancel, invoice, return-invoice, tracking or start-handling",
    )
    decide.add_argument("--status", metavar="S", help="the order's current status, as VTEX spells it")
    decide.add_argument("--flow", metavar="F", help="the order's flow (default: seller)")
    decide.add_argument(
        "--fact",
        metavar="NAME=VALUE",
        action="append",
        default=[],
        help="a fact the status does not carry, e.g. partial-invoice=true (repeatable)",
    )
    decide.add_argument("--batch", metavar="FILE", help="decide every line of a JSON Lines file ('-': stdin)")
    decide.set_defaults(run=_cmd_decide)

    notification = sub.add_parser(
        "notification",
        parents=[common],
        help="what a Channel Order API reply or notification means and what to do next",
    )
    notification.add_argument("file", metavar="FILE", help="the JSON payload ('-': stdin)")
    notification.set_defaults(run=_cmd_notification)

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
    diagram.add_argument("--flow", metavar="F", default="seller", help="the flow (default: seller)")
    diagram.add_argument("--format", choices=["mermaid", "dot", "plantuml", "svg"], default="mermaid")
    diagram.add_argument("--highlight", metavar="S", help="the current status: it and its ways out stand out")
    diagram.add_argument("--action", metavar="A", help="a verdict map: every status coloured by A's verdict")
    diagram.add_argument(
        "--fact", metavar="NAME=VALUE", action="append", default=[], help="facts for the verdict map"
    )
    diagram.add_argument("-o", "--output", metavar="FILE", help="write to FILE instead of standard output")
    diagram.set_defaults(run=_cmd_diagram)

    docs = sub.add_parser(
        "docs",
        parents=[common],
        help="regenerate every file of diagrams/ (or --check that none is stale)",
    )
    docs.add_argument("--check", action="store_true", help="exit 1 and name the stale files, writing nothing")
    docs.add_argument("--out", metavar="DIR", default="diagrams", help="the folder (default: diagrams)")
    docs.set_defaults(run=_cmd_docs)

    replay = sub.add_parser(
        "replay",
        parents=[common],
        help="apply hook/feed events to a tracker; which deferred updates are ready, pending, dropped",
        description=(
            "Apply a JSON Lines file of order events (hook notifications, feed items, VTEX IO "
            "broadcast events or pings, recognised by their fields) to a tracker, after "
            "registering the deferred updates of --defer. Exit 1 if any line could not be read "
            "(the rest is still applied)."
        ),
    )
    replay.add_argument("events", metavar="EVENTS.jsonl")
    replay.add_argument(
        "--defer", metavar="UPDATES.jsonl", help='deferred updates, one {"orderId", "action", "facts"} a line'
    )
    replay.add_argument("--db", metavar="FILE", help="a durable SQLite tracker (default: in memory)")
    replay.add_argument("--flow", metavar="F", default="seller", help="the orders' flow (default: seller)")
    replay.add_argument("--batch", type=int, default=500, help="events per transaction (default 500)")
    replay.set_defaults(run=_cmd_replay)

    schema = sub.add_parser(
        "schema", parents=[common], help="JSON Schema of the model file (or of a VTEX payload)"
    )
    schema.add_argument(
        "--payload",
        metavar="NAME",
        help="a payload's schema instead: channel-order, hook, hook-ping, feed or broadcast",
    )
    schema.set_defaults(run=_cmd_schema)
    return parser


def main(argv: Sequence[str] | None = None, out: TextIO | None = None) -> int:
    """Run the command line; returns the exit status (the console script exits with it)."""
    out = out or sys.stdout
    args = build_parser().parse_args(argv)
    run: Callable[[argparse.Namespace, TextIO], int] = args.run
    try:
        return run(args, out)
    except (UnknownNameError, ModelFileError, InvalidModelError, _UsageError) as error:
        sys.stderr.write(f"{PROG}: error: {error}\n")
        return EXIT_USAGE
    except GraphvizNotFoundError as error:
        sys.stderr.write(f"{PROG}: error: {error}\n")
        return EXIT_MISSING_TOOL
    except BrokenPipeError:
        # The reader went away (`| head`): not an error worth a traceback.
        sys.stderr.close()
        return EXIT_OK


if __name__ == "__main__":
    raise SystemExit(main())
