"""The serve command: the connector's web app (`vtex_order_flow.app`) under uvicorn."""

from __future__ import annotations

import argparse
import importlib.util
import logging
import os
import signal
import socket
import threading
from typing import Any, TextIO

from ..errors import VtexOrderFlowError
from ._common import EXIT_OK, UsageError, add_flow_option, add_model_option, model_of

__all__ = ["add_commands"]

KEY_VARIABLE, TOKEN_VARIABLE, SECRET_VARIABLE = "VTEX_APP_KEY", "VTEX_APP_TOKEN", "VOF_NOTIFICATION_SECRET"


def _hook_headers(items: list[str]) -> dict[str, str]:
    """``--hook-header NAME=VALUE`` (``NAME=env:VARIABLE`` reads the value from the environment,
    off the process list)."""
    headers: dict[str, str] = {}
    for item in items:
        name, sep, value = item.partition("=")
        if not sep or not name.strip() or not value:
            raise UsageError(
                f"bad --hook-header {item.split('=')[0]!r}=...: write NAME=VALUE or NAME=env:VARIABLE"
            )
        if value.startswith("env:"):
            variable = value[4:]
            found = os.environ.get(variable)
            if not found:
                raise UsageError(f"--hook-header {name}: the environment variable {variable!r} is not set")
            value = found
        if name.strip().lower() in (n.lower() for n in headers):
            raise UsageError(f"--hook-header {name.strip()!r} is given twice")
        headers[name.strip()] = value
    return headers


class _Stopped(VtexOrderFlowError):  # noqa: N818 (a signal, caught in _run)
    """SIGTERM, raised again by uvicorn once it has shut down."""


def _stopped(signum: int, frame: object) -> None:
    raise _Stopped


def _listen(host: str, port: int) -> socket.socket:
    """The listening socket, made here so that an address in use or not this machine's is one
    line and exit status 2, not a server's log line."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    # IPPROTO_TCP, not 0: asyncio sets TCP_NODELAY on a connection only when its socket says TCP
    # (with protocol 0, Nagle and the client's delayed ACK added 40 ms to every answer).
    listening = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    try:
        listening.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listening.bind((host, port))
        listening.listen(2048)
    except (OSError, OverflowError) as error:
        listening.close()
        reason = error.strerror if isinstance(error, OSError) and error.strerror else str(error)
        raise UsageError(f"cannot listen on {host}:{port}: {reason}") from None
    listening.set_inheritable(True)
    return listening


def _run(args: argparse.Namespace, out: TextIO) -> int:
    if args.json:
        raise UsageError("serve has no --json: it logs lines of text; GET /status answers in JSON")
    model = model_of(args)
    flow = model.flow_name(args.flow)
    if (args.db is None) == (args.postgres is None):
        raise UsageError("give the outbox's store: --db FILE (SQLite) or --postgres DSN, one of them")
    if not 0 <= args.port <= 65535:
        raise UsageError(f"--port must be from 0 to 65535, not {args.port}")
    headers = _hook_headers(args.hook_header)
    key, token = os.environ.get(KEY_VARIABLE), os.environ.get(TOKEN_VARIABLE)
    if not args.no_send and not (key and token):
        raise UsageError(
            f"set {KEY_VARIABLE} and {TOKEN_VARIABLE} (VTEX's app key and token) to send, "
            "or give --no-send to only receive"
        )
    secret = os.environ.get(SECRET_VARIABLE) or None
    if args.host not in ("127.0.0.1", "::1", "localhost"):
        if not headers:
            raise UsageError(
                "listening beyond this machine without --hook-header: anyone could post events; "
                "give the headers of your hook configuration"
            )
        if secret is None:
            raise UsageError(
                f"listening beyond this machine without {SECRET_VARIABLE}: anyone could post "
                "notifications (VTEX signs none); set it and give VTEX connectorEndpoint = "
                "https://your.host/SECRET"
            )
    if any(importlib.util.find_spec(name) is None for name in ("uvicorn", "starlette", "httpx", "stamina")):
        raise UsageError("serve needs the server extra: pip install 'vtex-order-flow[server]'")

    listening = _listen(args.host, args.port)  # first: nothing else is open if it fails
    try:
        return _serve(args, model, flow, headers, secret, key, token, listening)
    finally:
        listening.close()


def _serve(  # noqa: PLR0917 (the command's settings, checked by _run)
    args: argparse.Namespace,
    model: Any,
    flow: str,
    headers: dict[str, str],
    secret: str | None,
    key: str | None,
    token: str | None,
    listening: socket.socket,
) -> int:
    import uvicorn

    from ..app import AppSettings, create_app
    from ..client import VtexClient
    from ..tracking import PostgresStore, SQLiteStore, Store, Tracker

    settings = AppSettings(
        hook_headers=headers,
        account=args.account,
        notification_secret=secret,
    )
    store: Store = SQLiteStore(args.db) if args.db is not None else PostgresStore(args.postgres)
    tracker = Tracker(model, flow=flow, store=store, max_age=args.max_age)
    client = None
    if not args.no_send:
        client = VtexClient(
            args.account,
            key or "",
            token or "",
            environment=args.environment,
            base_url=args.base_url,
            tracker=tracker,
            connector_name=args.connector_name,
            connector_endpoint=args.connector_endpoint,
        )
    app = create_app(tracker, client, settings, concurrency=args.concurrency)
    if not logging.getLogger().handlers:
        logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    config = uvicorn.Config(
        app,
        access_log=False,
        log_level="info",
        limit_concurrency=args.limit_concurrency,
        timeout_keep_alive=5,
    )
    host, port = listening.getsockname()[:2]
    logging.getLogger("vtex_order_flow.app").info("serving on http://%s:%s", host, port)
    # uvicorn shuts down gracefully on SIGINT and SIGTERM, then raises the signal again: caught
    # here, so that the store is closed (a service manager stops services with SIGTERM).
    main = threading.current_thread() is threading.main_thread()  # (signals: the main thread's)
    previous = None
    try:
        if main:
            previous = signal.signal(signal.SIGTERM, _stopped)
        uvicorn.Server(config).run(sockets=[listening])
    except (KeyboardInterrupt, _Stopped):  # after a graceful shutdown: not an error
        pass
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)
        if client is not None:
            client.close()
        tracker.close()
    return EXIT_OK


def add_commands(sub: Any, common: argparse.ArgumentParser) -> None:
    """Add serve to the parser."""
    serve = sub.add_parser(
        "serve",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        help="run the connector's web app: VTEX's hook and notifications in, the outbox out",
        description=(
            "Serve the connector's app (needs the server extra: pip install 'vtex-order-flow[server]'):\n"
            "  POST /hook                 VTEX's order hook (the --hook-header values checked)\n"
            "  POST /order-integration/notification/processing-result?an=ACCOUNT\n"
            "                             Channel Order notifications (under /SECRET when\n"
            f"                             {SECRET_VARIABLE} is set)\n"
            "  GET  /health, GET /status  for operators\n"
            "and send what becomes sendable to VTEX (the dispatcher). One log line per event and per send.\n"
            "\n"
            f"Credentials from the environment: {KEY_VARIABLE}, {TOKEN_VARIABLE}.\n"
            "\n"
            "Example:\n"
            "  VTEX_APP_KEY=... VTEX_APP_TOKEN=... vtex-order-flow serve --db outbox.db --account store \\\n"
            "      --hook-header X-Hook-Secret=env:HOOK_SECRET --port 8000"
        ),
    )
    add_model_option(serve)
    # Not the other commands' --json: serve logs text. Taken, to refuse it with a reason.
    serve.add_argument("--json", action="store_true", help=argparse.SUPPRESS)
    serve.add_argument("--db", metavar="FILE", help="the outbox in this SQLite file (one machine)")
    serve.add_argument("--postgres", metavar="DSN", help="the outbox in PostgreSQL (many workers)")
    serve.add_argument("--host", default="127.0.0.1", help="the address to listen on (default: 127.0.0.1)")
    serve.add_argument("--port", type=int, default=8000, help="the port (default: 8000)")
    serve.add_argument(
        "--hook-header",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="a hook configuration header (repeatable; NAME=env:VARIABLE: from the environment)",
    )
    serve.add_argument("--account", required=True, metavar="A", help="VTEX's account name")
    serve.add_argument("--environment", default="vtexcommercestable", metavar="E", help=argparse.SUPPRESS)
    serve.add_argument("--base-url", metavar="URL", help="VTEX's base URL (default: from --account)")
    serve.add_argument("--connector-name", metavar="NAME", help="connectorName sent with approvals")
    serve.add_argument("--connector-endpoint", metavar="URL", help="connectorEndpoint sent with approvals")
    serve.add_argument("--concurrency", type=int, default=4, metavar="N", help="sends at once (default: 4)")
    serve.add_argument(
        "--max-age",
        type=float,
        default=None,
        metavar="SECONDS",
        help="drop updates not sendable after this long",
    )
    serve.add_argument("--no-send", action="store_true", help="only receive: no dispatcher, no credentials")
    serve.add_argument(
        "--limit-concurrency",
        type=int,
        default=1000,
        metavar="N",
        help="connections served at once; beyond, 503 (default: 1000)",
    )
    add_flow_option(serve, "the order flow")
    serve.set_defaults(run=_run)
