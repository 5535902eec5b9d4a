"""End to end on real sockets (127.0.0.1 only, bounded in time): the fake VTEX and the connector's
app, each under uvicorn; VTEX's hooks and notifications over HTTP, the dispatcher's calls too."""

from __future__ import annotations

import os
import random
import threading
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import stamina
import uvicorn

from conftest import new_order
from vtex_order_flow.app import NOTIFICATION_PATH, AppSettings, create_app
from vtex_order_flow.client import Dispatcher, VtexClient
from vtex_order_flow.testing import FakeVTEX, Faults
from vtex_order_flow.tracking import EntryState, SQLiteStore, Tracker

HEADERS = {"X-Hook-Secret": "e2e-secret"}
OPEN = (EntryState.PENDING, EntryState.READY, EntryState.RETRY, EntryState.CLAIMED, EntryState.SENT)


class Served:
    """An ASGI app under uvicorn on 127.0.0.1 (a free port), on a thread; stopped at exit."""

    def __init__(self, app: Any) -> None:
        config = uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning", lifespan="on")
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def __enter__(self) -> str:
        self.thread.start()
        deadline = time.monotonic() + 15
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise RuntimeError("uvicorn did not start")
            time.sleep(0.01)
        port = self.server.servers[0].sockets[0].getsockname()[1]
        return f"http://127.0.0.1:{port}"

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(20)


@pytest.fixture
def no_backoff() -> Iterator[None]:
    stamina.set_testing(True, attempts=4)  # retries happen, their waits do not
    yield
    stamina.set_testing(False)


def test_two_hundred_orders_end_to_end_on_real_sockets(tmp_path: Path, no_backoff: None) -> None:
    seed = int(os.environ.get("VOF_E2E_SEED", "2026"))
    rng = random.Random(seed)
    faults = Faults(rate_limit=0.05, retry_after=0, server_error=0.05, lost_answer=0.02, slow_seconds=1.5)
    fake = FakeVTEX(seed=seed, faults=faults, holds=0.3)
    tracker = Tracker(
        store=SQLiteStore(str(tmp_path / "outbox.db")), clock=lambda: fake.now, max_age=30 * 86_400
    )
    started = time.monotonic()
    with Served(fake.asgi()) as vtex_url:
        client = VtexClient(
            fake.account,
            fake.app_key,
            fake.app_token,
            base_url=vtex_url,
            timeout=1.0,
            connect_timeout=1.0,
            tracker=tracker,
            connector_name="e2e-connector",
            connector_endpoint="http://127.0.0.1/e2e",
        )
        app = create_app(
            tracker, client, AppSettings(hook_headers=HEADERS, account=fake.account), concurrency=8
        )
        with Served(app) as connector_url, httpx.Client(timeout=10) as web:
            dispatcher: Dispatcher = app.state.dispatcher
            orders = [f"MKP-{n:03d}" for n in range(200)]
            for n, marketplace_id in enumerate(orders):
                value = 10_000 + n
                tracker.register(marketplace_id, "create", payload=new_order(marketplace_id, value))
                tracker.register(marketplace_id, "approve")
                tracker.register(marketplace_id, "start-handling")
                invoice = {
                    "type": "Output",
                    "issuanceDate": "2026-11-20T10:00:00Z",
                    "invoiceNumber": f"NF-{n}",
                    "invoiceValue": str(value),
                    "items": [{"id": "1", "price": value, "quantity": 1}],
                }
                tracker.register(marketplace_id, "invoice", payload=invoice)
                tracking = {
                    "invoiceNumber": f"NF-{n}",
                    "trackingNumber": f"TR-{n}",
                    "trackingUrl": "https://track.example",
                    "dispatchedDate": "2026-11-21T10:00:00Z",
                    "courier": "Correios",
                }
                tracker.register(marketplace_id, "tracking", payload=tracking)
                if rng.random() < 0.15:
                    tracker.register(marketplace_id, "cancel", payload={"reason": "the customer asked"})
            hook_url, notes_url = f"{connector_url}/hook", f"{connector_url}{NOTIFICATION_PATH}"
            latencies: list[float] = []
            statuses: Counter[int] = Counter()

            def deliver() -> None:
                for status, seconds in fake.push(
                    web, hook_url, notes_url, headers=HEADERS, duplicate=0.3, reorder=True
                ):
                    statuses[status] += 1
                    latencies.append(seconds)

            assert dispatcher.wait_idle(60)
            for _ in range(40):
                dispatcher.pause()  # the world acts between the connector's rounds
                deadline = time.monotonic() + 30
                while dispatcher.in_progress and time.monotonic() < deadline:
                    time.sleep(0.01)
                fake.advance(0)  # VTEX works its queue in seconds, before people act
                for marketplace_id in orders:
                    vtex_id = fake.order_id(marketplace_id)
                    if vtex_id is not None and rng.random() < 0.1:
                        fake.others_act(vtex_id)  # sellers, customers, gateways
                fake.advance(rng.choice([1, 60, 3600, 86_400]))  # timers; VTEX works its queue
                deliver()
                dispatcher.resume()
                assert dispatcher.wait_idle(60)
                if not tracker.entries(*OPEN):
                    break
                assert time.monotonic() - started < 600, "the run is bounded"
            for _ in range(5):  # the rest: answers that were lost, updates nobody can unblock
                dispatcher.pause()
                fake.advance(40 * 86_400)
                deliver()
                tracker.expire()
                dispatcher.resume()
                assert dispatcher.wait_idle(60)
                if not tracker.entries(*OPEN):
                    break
            dispatcher.pause()
            assert statuses[401] == 0, statuses
            assert statuses[400] == 0, statuses
        client.close()
    counts = tracker.counts()
    assert fake.refusals == [], fake.refusals[:5]  # every VTEX error was predicted: none met
    assert max(latencies) < 5.0, max(latencies)  # every hook answered within VTEX's 5 s
    assert len(latencies) > 1000, len(latencies)
    assert counts["done"] > 500, counts
    sent = Counter(
        (c.marketplace_id or c.order_id, c.action)
        for c in fake.calls
        if c.action not in (None, "get", "invoice", "tracking") and c.fault in (None, "lost-answer")
    )
    assert [k for k, n in sent.items() if n > 1] == []  # none sent twice
    for entry in tracker.entries():
        assert entry.state in (EntryState.DONE, EntryState.DROPPED), entry
        assert entry.reason
    assert {f for f in (c.fault for c in fake.calls) if f} >= {"rate-limit", "server-error", "lost-answer"}
    tracker.close()
