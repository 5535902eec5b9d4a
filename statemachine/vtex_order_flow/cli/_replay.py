"""The replay command: apply hook/feed events to a tracker (the work is `tracking.replay`)."""

from __future__ import annotations

import argparse
from typing import Any, TextIO

from ._common import EXIT_INVALID, EXIT_OK, UsageError, add_flow_option, dump, model_of, open_lines

__all__ = ["add_commands"]


def _replay_text(report: dict[str, Any], outcomes: dict[str, int], pings: int, out: TextIO) -> None:
    seen = ", ".join(f"{count} {name}" for name, count in sorted(outcomes.items())) or "none"
    out.write(f"Events: {seen}; {pings} ping(s); {len(report['errors'])} bad line(s)\n")
    out.write(f"Orders: {len(report['orders'])}\n")
    for key in ("ready", "pending", "claimed", "sent", "done", "dropped"):
        out.write(f"{key.capitalize()}: {len(report[key])}\n")
        for item in report[key]:
            reason = f": {item['reason']}" if item.get("reason") else ""
            drop = f" [{item['drop']}]" if item.get("drop") else ""
            out.write(f"  {item['key']}: {item['action']} (in {item['status'] or '-'}){drop}{reason}\n")
    out.write(f"Anomalies: {len(report['anomalies'])}\n")
    for item in report["anomalies"]:
        out.write(f"  {item['orderId']}: {item['from']} -> {item['to']} ({item['kind']})\n")
    for error in report["errors"]:
        where = f"{error.get('file', 'events')} line {error['line']}"
        out.write(f"Error: {where}: {error['error']}\n")


def _cmd_replay(args: argparse.Namespace, out: TextIO) -> int:
    from ..tracking import MemoryStore, SQLiteStore, Store, Tracker, register_deferred, replay, replay_report

    model = model_of(args)
    flow = model.flow_name(args.flow)
    if args.batch < 1:
        raise UsageError(f"--batch must be at least 1, not {args.batch}")
    # Missing files are refused before anything is written.
    lines = open_lines(args.events)
    defers = open_lines(args.defer) if args.defer else None
    store: Store = SQLiteStore(args.db) if args.db else MemoryStore()
    try:
        tracker = Tracker(model, flow=flow, store=store)
        errors = register_deferred(tracker, defers) if defers is not None else []
        result = replay(tracker, lines, batch=args.batch)
        errors += result.errors
        report = replay_report(tracker, errors, result)
        if args.json:
            dump(report, out)
        else:
            _replay_text(report, result.outcomes, result.pings, out)
    finally:
        store.close()
    return EXIT_INVALID if errors else EXIT_OK


def add_commands(sub: Any, common: argparse.ArgumentParser) -> None:
    """Add replay to the parser."""
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
        "--defer",
        metavar="UPDATES.jsonl",
        help='updates to register first, one {"orderId", "action"} a line'
        ' (optional "facts", "key", "payload")',
    )
    replay.add_argument("--db", metavar="FILE", help="a durable SQLite tracker (default: in memory)")
    add_flow_option(replay, "the orders' flow")
    replay.add_argument("--batch", type=int, default=500, help="events per transaction (default 500)")
    replay.set_defaults(run=_cmd_replay)
