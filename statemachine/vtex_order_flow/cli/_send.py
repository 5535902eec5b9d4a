"""The send command: decide an update, then send it to VTEX (the work is `client.VtexClient`).

The client (httpx, stamina: the ``client`` extra) is imported only when the command runs, so
that every other command works, and loads no HTTP library, without the extra.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import re
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO
from urllib.parse import urlencode

from .. import Verdict
from ..errors import InvalidArgumentError, PayloadError
from ._common import (
    EXIT_INVALID,
    EXIT_OK,
    UsageError,
    add_flow_option,
    dump,
    model_of,
    names,
    parse_facts,
)
from ._decide import _decision_text

if TYPE_CHECKING:
    from .. import Decision, FlowModel
    from ..client import Answer, Request, VtexClient

__all__ = ["add_commands"]

KEY_VARIABLE, TOKEN_VARIABLE = "VTEX_APP_KEY", "VTEX_APP_TOKEN"
MASK = "***"
_NO_KEY, _NO_TOKEN = "unset-key", "unset-token"  # a dry run's stand-ins, never sent
# What an HTTP header value may hold (the whole value: no line break, not even at the end),
# checked here so that no message quotes the token.
_HEADER_VALUE = re.compile(r"[\x21-\x7e][\x20-\x7e]*")


def _transport() -> Any:
    """The httpx transport the client uses: None, the network (the tests put a fake VTEX here)."""
    return None


def _read_payload(source: str) -> Any:
    """The request body of ``--payload FILE`` ('-': stdin), parsed as strict JSON."""
    try:
        raw = sys.stdin.buffer.read() if source == "-" else Path(source).read_bytes()
    except OSError as error:
        raise UsageError(f"cannot read --payload {source!r}: {error.strerror or error}") from None

    def refuse(constant: str) -> Any:
        raise UsageError(f"--payload {source!r} is not JSON: {constant} is not a JSON number")

    try:
        return json.loads(raw, parse_constant=refuse)
    except RecursionError:
        raise UsageError(f"--payload {source!r} is nested too deeply") from None
    except ValueError as error:  # JSONDecodeError, UnicodeDecodeError
        raise UsageError(f"--payload {source!r} is not JSON: {error}") from None


def _credentials(dry_run: bool) -> tuple[str | None, str | None]:
    """VTEX's app key and token from the environment; both required unless it is a dry run."""
    key = os.environ.get(KEY_VARIABLE) or None
    token = os.environ.get(TOKEN_VARIABLE) or None
    if (key is None or token is None) and not dry_run:
        raise UsageError(
            f"set {KEY_VARIABLE} and {TOKEN_VARIABLE} in the environment (VTEX's app key and token; "
            "--dry-run needs neither)"
        )
    for name, value in ((KEY_VARIABLE, key), (TOKEN_VARIABLE, token)):
        if value is not None and (not _HEADER_VALUE.fullmatch(value) or len(value) > 4096):
            raise UsageError(f"{name} must be printable ASCII with no line breaks (its value is not shown)")
    return key, token


def _decision(
    client: VtexClient, action: str, args: argparse.Namespace, facts: dict[str, bool]
) -> Decision | None:
    """The model's decision, None when the status is unknown and --force overrules it anyway."""
    try:
        return client.decide(action, args.order, status=args.status, facts=facts)
    except InvalidArgumentError:
        if args.force:
            return None
        where = f"the tracker in {args.db!r} has not seen it" if args.db else "no --status or --db"
        raise UsageError(
            f"the status of order {args.order!r} is unknown ({where}): give --status S, or --db FILE "
            "with a tracker that has seen the order, or --force --reason TEXT"
        ) from None


def _shown_headers(headers: dict[str, str], key: str | None, token: str | None) -> dict[str, str]:
    """The request's headers as printed: the token masked (any header that holds it)."""
    shown = {}
    for name, value in headers.items():
        if value == (token or _NO_TOKEN):
            shown[name] = MASK if token else f"({TOKEN_VARIABLE} not set)"
        elif key is None and value == _NO_KEY:
            shown[name] = f"({KEY_VARIABLE} not set)"
        else:
            shown[name] = value
    return shown


def _request_text(request: Request, headers: dict[str, str], out: TextIO) -> None:
    query = f"?{urlencode(request.params)}" if request.params else ""
    out.write(f"  {request.method} {request.url}{query}\n")
    for name, value in headers.items():
        out.write(f"  {name}: {value}\n")
    if request.json is not None:
        body = json.dumps(request.json, ensure_ascii=False, indent=2)
        out.write("".join(f"  {line}\n" for line in body.splitlines()))


def _verdict_text(decision: Decision | None, forced: str | None, model: FlowModel, out: TextIO) -> None:
    if decision is not None:
        _decision_text(decision, model, out)
    else:
        out.write("UNKNOWN: the order's status is unknown; no decision was made\n")
    if forced is not None:
        out.write(f"  Forced (--force): {forced}\n")


def _answer_text(answer: Answer, out: TextIO) -> None:
    if answer.advice is None:
        out.write("Not sent: the model holds it back (--force --reason TEXT sends it all the same).\n")
        return
    advice = answer.advice
    got = f"HTTP {answer.status_code}" if answer.status_code else "no answer"
    out.write(f"{'Sent' if answer.sent else 'Not sent'}: {got}, {answer.attempts} attempt(s)\n")
    out.write(f"  {advice.code}: {advice.meaning}\n" if advice.meaning else f"  {advice.code}\n")
    for detail in advice.errors:
        out.write(f"  Error: {detail}\n")
    out.write(f"  Next: {advice.next_step}.\n")
    out.write("  Accepted.\n" if answer.accepted else "  Not accepted.\n")


def _cmd_send(args: argparse.Namespace, out: TextIO) -> int:
    # The output says what the client's and stamina's log lines would (a retry, a forced send):
    # kept off stderr unless the caller set up logging.
    quiet, names = logging.NullHandler(), ("stamina", "vtex_order_flow.client")
    loggers = [] if logging.getLogger().handlers else [logging.getLogger(name) for name in names]
    for logger in loggers:
        logger.addHandler(quiet)
    try:
        return _run(args, out)
    finally:
        for logger in loggers:
            logger.removeHandler(quiet)


def _run(args: argparse.Namespace, out: TextIO) -> int:
    model = model_of(args)
    action = model.action(args.action).name  # an unknown action: exit 2 before anything else
    flow = model.flow_name(args.flow)
    facts = parse_facts(args.fact)
    if args.force and not (args.reason or "").strip():
        raise UsageError("--force needs --reason TEXT (why the model is overruled)")
    if args.reason is not None and not args.force:
        raise UsageError("--reason goes with --force")
    if args.db is not None and not Path(args.db).is_file():
        raise UsageError(f"no such tracker file {args.db!r} (--db)")
    body = _read_payload(args.payload) if args.payload is not None else None
    key, token = _credentials(args.dry_run)

    from ..client import Answer, VtexClient  # needs the extra (MissingExtraError: exit 2)
    from ..tracking import SQLiteStore, Tracker

    settings: dict[str, Any] = {"environment": args.environment, "base_url": args.base_url}
    if args.timeout is not None:
        settings["timeout"] = args.timeout
    store = SQLiteStore(args.db, readonly=True) if args.db is not None else None  # (only read)
    try:
        tracker = Tracker(model, flow=flow, store=store) if store is not None else None
        with VtexClient(
            args.account,
            key or _NO_KEY,
            token or _NO_TOKEN,
            transport=_transport(),
            model=model,
            flow=flow,
            tracker=tracker,
            **settings,
        ) as client:
            try:
                request = client.request(action, args.order, body)
            except PayloadError as error:
                if args.payload is None:  # no body at all, or one without the fields only it gives
                    detail = f" ({error})" if any(path for path, _ in error.problems) else ""
                    raise UsageError(f"{action} needs a request body: give --payload FILE{detail}") from None
                raise
            decision = _decision(client, action, args, facts)
            forced = args.reason if args.force else None
            if args.dry_run:
                held = Answer(action, args.order, decision, request, sent=False, forced=forced)
                return _dry_run(held, _shown_headers(client.headers, key, token), args, model, out)
            answer = client.send(
                action, args.order, body, status=args.status, facts=facts, force=args.force, reason=forced
            )
    finally:
        if store is not None:
            store.close()
    if args.json:
        dump({**answer.to_dict(), "dry_run": False}, out)
    else:
        _verdict_text(answer.decision, answer.forced, model, out)
        _answer_text(answer, out)
    return EXIT_OK if answer.accepted else EXIT_INVALID


def _dry_run(
    answer: Answer, headers: dict[str, str], args: argparse.Namespace, model: FlowModel, out: TextIO
) -> int:
    if args.json:
        data = answer.to_dict()
        dump({**data, "request": {**data["request"], "headers": headers}, "dry_run": True}, out)
        return EXIT_OK
    _verdict_text(answer.decision, answer.forced, model, out)
    goes = answer.forced is not None or (
        answer.decision is not None and answer.decision.verdict is Verdict.SEND
    )
    out.write(f"Dry run: nothing sent. {'It would send' if goes else 'Held back; sent, it would be'}:\n")
    _request_text(answer.request, headers, out)
    return EXIT_OK


def add_commands(sub: Any, common: argparse.ArgumentParser) -> None:
    """Add send to the parser."""
    send = sub.add_parser(
        "send",
        parents=[common],
        formatter_class=argparse.RawDescriptionHelpFormatter,
        help="decide an update, then send it to VTEX (needs the 'client' extra)",
        description=(
            "Decide whether ACTION may go to VTEX now (as `decide` does, from --status, or from the\n"
            "order's status in the tracker of --db), and send it if so; read the answer as an Advice.\n"
            "429, 5xx and failed connections are sent again with backoff. The order id is the\n"
            "marketplace's for create and approve, VTEX's for the Orders API's actions.\n"
            "Needs the client extra: pip install 'vtex-order-flow[client]'.\n"
            "\n"
            "Credentials come from the environment, never from the command line:\n"
            "  VTEX_APP_KEY    VTEX's app key (X-VTEX-API-AppKey)\n"
            "  VTEX_APP_TOKEN  VTEX's app token (X-VTEX-API-AppToken; never printed, --dry-run shows ***)\n"
            "\n"
            "Exit status: 0 sent and accepted (or queued) by VTEX, or --dry-run; 1 held back by the\n"
            "model, or refused by VTEX, or no answer; 2 bad input (an unknown action, a payload that\n"
            "is not JSON or not a valid body, missing credentials, the client extra not installed).\n"
            "\n"
            "Examples:\n"
            "  vtex-order-flow send start-handling --order 1234-01 --account store \\\n"
            "      --status ready-for-handling\n"
            "  vtex-order-flow send invoice --order 1234-01 --account store --payload invoice.json \\\n"
            "      --db outbox.db --dry-run\n"
            "  vtex-order-flow send cancel --order 1234-01 --account store --status handling \\\n"
            "      --force --reason 'the customer called' --json"
        ),
    )
    send.add_argument("action", metavar="ACTION", help=f"one of: {names('actions')}")
    send.add_argument("--order", metavar="ID", required=True, help="the order id")
    send.add_argument("--payload", metavar="FILE", help="the request body, a JSON file ('-': stdin)")
    send.add_argument("--account", metavar="A", required=True, help="VTEX's account name")
    send.add_argument(
        "--environment", metavar="E", default="vtexcommercestable", help="host A.E.com.br (%(default)s)"
    )
    send.add_argument("--base-url", metavar="URL", help="send here instead of VTEX's host (tests, proxies)")
    send.add_argument(
        "--timeout", metavar="SECONDS", type=float, help="wait per attempt (default 10; connect 5)"
    )
    send.add_argument("--status", metavar="S", help="the order's current status, as VTEX spells it")
    add_flow_option(send, "the order's flow")
    send.add_argument(
        "--fact",
        metavar="NAME=VALUE",
        action="append",
        default=[],
        help="a fact the status does not carry, e.g. partial-invoice=true (repeatable)",
    )
    send.add_argument("--db", metavar="FILE", help="an SQLite tracker file (see replay)")
    send.add_argument(
        "--force", action="store_true", help="send even when the model says no (needs --reason)"
    )
    send.add_argument("--reason", metavar="TEXT", help="why --force overrules the model (kept in the answer)")
    send.add_argument(
        "--dry-run", action="store_true", help="print the decision and the request; send nothing"
    )
    send.set_defaults(run=_cmd_send)
