"""Benchmark of the connector's app, run on demand (never by the test suite): hook deliveries per
second the app answers under uvicorn on 127.0.0.1, with the SQLite store, and their latency,
against a floor measured in the same run: the same server, client and bodies, an app that
reads the body and answers 200 without doing anything.

    python tests/benchmarks/bench_app.py            # the README's figures
    python tests/benchmarks/bench_app.py --quick
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from vtex_order_flow import decide
from vtex_order_flow.app import AppSettings, create_app
from vtex_order_flow.tracking import SQLiteStore, Tracker, format_ticks

HEADERS = {"X-Hook-Secret": "bench-secret"}
WALK = [step.dest for step in decide("not-integrated", "tracking").path]
T0 = 17_950_000_000_000_000


def bodies(orders: int) -> list[bytes]:
    """Each order walks the seller flow (VTEX's hook bodies), one in ten delivered twice."""
    out = []
    for step, state in enumerate(WALK):
        for n in range(orders):
            body = json.dumps(
                {
                    "Domain": "Fulfillment",
                    "OrderId": f"{n:013d}-01",
                    "State": state,
                    "LastState": WALK[step - 1] if step else "null",
                    "LastChange": format_ticks(T0 + step * 600_0000000 + n),
                    "CurrentChange": format_ticks(T0 + step * 600_0000000 + n),
                    "Origin": {"Account": "bench", "Key": "vtexappkey-bench"},
                }
            ).encode()
            out.append(body)
            if n % 10 == 0:
                out.append(body)
    return out


class Served:
    def __init__(self, app: Any) -> None:
        config = uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning", access_log=False)
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def __enter__(self) -> str:
        self.thread.start()
        while not self.server.started:
            time.sleep(0.01)
        return f"http://127.0.0.1:{self.server.servers[0].sockets[0].getsockname()[1]}"

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(30)


def floor_app() -> Starlette:
    async def hook(request: Request) -> JSONResponse:
        await request.body()
        return JSONResponse({"ok": True})

    return Starlette(routes=[Route("/hook", hook, methods=["POST"])])


def load(url: str, payloads: list[bytes], clients: int) -> tuple[float, list[float], dict[int, int]]:
    """Post every payload (in order within each client's share) from `clients` threads."""
    shares = [payloads[i::clients] for i in range(clients)]
    latencies: list[list[float]] = [[] for _ in range(clients)]
    statuses: dict[int, int] = {}
    lock = threading.Lock()

    def work(index: int) -> None:
        with httpx.Client(timeout=10) as client:
            for body in shares[index]:
                started = time.perf_counter()
                status = client.post(
                    f"{url}/hook", content=body, headers={**HEADERS, "Content-Type": "application/json"}
                ).status_code
                latencies[index].append(time.perf_counter() - started)
                with lock:
                    statuses[status] = statuses.get(status, 0) + 1

    threads = [threading.Thread(target=work, args=(i,)) for i in range(clients)]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return time.perf_counter() - started, [x for part in latencies for x in part], statuses


def line(name: str, count: int, seconds: float, latencies: list[float]) -> str:
    ordered = sorted(latencies)
    p50 = statistics.median(ordered) * 1000
    p99 = ordered[int(len(ordered) * 0.99) - 1] * 1000
    return (
        f"  {name:<34} {count / seconds:>7,.0f} deliveries/s   p50 {p50:6.2f} ms   p99 {p99:6.2f} ms   "
        f"max {ordered[-1] * 1000:7.2f} ms"
    )


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="a smaller run")
    parser.add_argument("--clients", type=int, default=8, help="concurrent clients (default: 8)")
    args = parser.parse_args()
    orders = 200 if args.quick else 1000
    payloads = bodies(orders)
    print(f"python {sys.version.split()[0]} on {os.cpu_count()} cores; {time.strftime('%Y-%m-%d')}")
    print(f"{len(payloads):,} hook deliveries ({orders:,} orders, seller flow), {args.clients} clients")
    with Served(floor_app()) as url:
        load(url, payloads[:200], args.clients)  # warm up
        floor_s, floor_lat, _ = load(url, payloads, args.clients)
    with tempfile.TemporaryDirectory() as folder:
        tracker = Tracker(store=SQLiteStore(Path(folder) / "outbox.db"))
        for n in range(0, orders, 5):
            tracker.register(f"{n:013d}-01", "start-handling")  # work for the events to ready
        app = create_app(tracker, settings=AppSettings(hook_headers=HEADERS))
        with Served(app) as url:
            app_s, app_lat, statuses = load(url, payloads, args.clients)
        applied = tracker.applied
        tracker.close()
    print(line("floor: an app that only answers", len(payloads), floor_s, floor_lat))
    print(line("create_app /hook (SQLite store)", len(payloads), app_s, app_lat))
    print(f"  answers: {dict(sorted(statuses.items()))}; events applied: {applied:,}")
    late = sum(1 for x in app_lat if x >= 5.0)
    print(f"  answered later than VTEX's 5 s: {late}")
    return 0 if late == 0 and set(statuses) == {200} else 1


if __name__ == "__main__":
    sys.exit(main())
