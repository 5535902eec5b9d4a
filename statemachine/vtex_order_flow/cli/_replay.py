"""The replay command: apply hook/feed events to a tracker (the work is `tracking.replay`)."""

from __future__ import annotations

import argparse
from collections import Counter
from typing import Any, TextIO

from ._common import (
    EXIT_INVALID,
    EXIT_OK,
    UsageError,
    add_flow_option,
    clipped,
    dump,
    model_of,
    open_lines,
)
from ._progress import file_size, progress_on_terminal

__all__ = ["DEFAULT_LIMIT", "add_commands"]

DEFAULT_LIMIT = 5
"""How many items of each list the text report shows (--limit N, --all)."""


def _counts(items: list[dict[str, Any]], field: str, joint: str = " ") -> str:
    """`` (5000 impossible, 1000 expired)``: how many items have each value of `field`, most first."""
    tally = Counter(str(item.get(field) or "-") for item in items)
    return f" ({', '.join(f'{n}{joint}{name}' for name, n in tally.most_common())})" if tally else ""


_ITEM = 120
"""How many characters of a name from the input (an order id, a status) the summary shows."""


def _more(items: list[Any], limit: int | None, out: TextIO) -> None:
    hidden = len(items) - (len(items) if limit is None else min(limit, len(items)))
    if hidden and limit:  # (--limit 0: the counts alone, as asked)
        out.write(f"  ... and {hidden} more (--all lists every one, --limit N the first N)\n")


def _replay_text(
    report: dict[str, Any], outcomes: dict[str, int], pings: int, limit: int | None, out: TextIO
) -> None:
    """A summary: each list's size and counts (by action, drop class, anomaly kind), then its
    first `limit` items (None: all of them)."""
    seen = ", ".join(f"{count} {name}" for name, count in sorted(outcomes.items())) or "none"
    omitted = report.get("errors_omitted", 0)  # bad event lines past those the replay kept
    bad = sum(1 for error in report["errors"] if error.get("file", "events") == "events") + omitted
    out.write(f"Events: {seen}; {pings} ping(s); {bad} bad line(s)\n")
    out.write(f"Orders: {len(report['orders'])}\n")
    for key in ("ready", "pending", "claimed", "sent", "done", "dropped"):
        items = report[key]
        out.write(
            f"{key.capitalize()}: {len(items)}{_counts(items, 'drop' if key == 'dropped' else 'action')}\n"
        )
        for item in items[:limit]:
            reason = f": {item['reason']}" if item.get("reason") else ""
            drop = f" [{item['drop']}]" if item.get("drop") else ""
            name, status = clipped(item["key"], _ITEM), clipped(item["status"], _ITEM)
            out.write(f"  {name}: {item['action']} (in {status}){drop}{clipped(reason, 400)}\n")
        _more(items, limit, out)
    anomalies = report["anomalies"]
    out.write(f"Anomalies: {len(anomalies)}{_counts(anomalies, 'kind')}\n")
    for item in anomalies[:limit]:
        order, was, now = (clipped(item[field], _ITEM) for field in ("orderId", "from", "to"))
        out.write(f"  {order}: {was} -> {now} ({item['kind']})\n")
    _more(anomalies, limit, out)
    errors = report["errors"]
    if errors or omitted:
        tally = Counter(str(error.get("file") or "-") for error in errors)
        if omitted:
            tally["events"] += omitted
        counts = ", ".join(f"{n} in {name}" for name, n in tally.most_common())
        out.write(f"Errors: {len(errors) + omitted} ({counts})\n")
    for error in errors[:limit]:
        where = f"{error.get('file', 'events')} line {error['line']}"
        out.write(f"  {where}: {clipped(error['error'], 400)}\n")
    _more(errors, limit, out)
    if omitted:
        from ..tracking import MAX_ERRORS_KEPT

        out.write(
            f"  ... and {omitted} more bad line(s) in events, counted only "
            f"(a replay keeps the first {MAX_ERRORS_KEPT:,})\n"
        )


def _cmd_replay(args: argparse.Namespace, out: TextIO) -> int:
    from ..tracking import MemoryStore, SQLiteStore, Store, Tracker, register_deferred, replay, replay_report

    model = model_of(args)
    flow = model.flow_name(args.flow)
    if args.batch < 1:
        raise UsageError(f"--batch must be at least 1, not {args.batch}")
    if args.limit is not None and args.limit < 0:
        raise UsageError(f"--limit must be 0 or more, not {args.limit}")
    if args.json and (args.limit is not None or args.all):
        raise UsageError("--limit and --all shorten the text report; --json lists every item")
    limit = None if args.all else DEFAULT_LIMIT if args.limit is None else args.limit
    # Missing files are refused before anything is written.
    lines = open_lines(args.events)
    defers = open_lines(args.defer) if args.defer else None
    sizes = [file_size(path) for path in (args.events, args.defer) if path]
    total = None if None in sizes else sum(size or 0 for size in sizes)
    progress = progress_on_terminal("replay", total, wanted=not args.no_progress)
    if progress is not None:
        lines = progress.track(lines, _size)
        defers = progress.track(defers, _size) if defers is not None else None
    store: Store = SQLiteStore(args.db) if args.db else MemoryStore()
    try:
        tracker = Tracker(model, flow=flow, store=store)
        errors = register_deferred(tracker, defers) if defers is not None else []
        result = replay(tracker, lines, batch=args.batch)
        errors += result.errors
        report = replay_report(tracker, errors, result)
        if progress is not None:
            progress.close()  # (before the report: the line is erased, stdout untouched)
        if args.json:
            dump(report, out)
        else:
            _replay_text(report, result.outcomes, result.pings, limit, out)
    finally:
        if progress is not None:
            progress.close()
        store.close()
    return EXIT_INVALID if errors else EXIT_OK


def _size(item: tuple[int, bytes]) -> int:
    return len(item[1])


def add_commands(sub: Any, common: argparse.ArgumentParser) -> None:
    """Add replay to the parser."""
    replay = sub.add_parser(
        "replay",
        parents=[common],
        help="apply hook/feed events to a tracker; which deferred updates are ready, pending, dropped",
        description=(
            "Apply a JSON Lines file of order events (hook notifications, feed items, VTEX IO "
            "broadcast events or pings, recognised by their fields) to a tracker, after "
            "registering the deferred updates of --defer. The text report counts each list (by action, "
            "drop class, anomaly kind) and shows its first items (--limit N, --all); --json lists "
            "everything. Exit 1 if any line could not be read (the rest is still applied)."
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
    replay.add_argument(
        "--no-progress",
        action="store_true",
        help="no progress line on standard error (shown only when it is a terminal)",
    )
    shown = replay.add_mutually_exclusive_group()
    shown.add_argument(
        "--limit",
        type=int,
        metavar="N",
        help=f"the text report shows the first N items of each list (default {DEFAULT_LIMIT}; 0: none)",
    )
    shown.add_argument("--all", action="store_true", help="the text report lists every item")
    replay.set_defaults(run=_cmd_replay)
