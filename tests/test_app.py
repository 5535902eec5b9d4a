"""The connector's web app (Starlette's TestClient: the app in-process, its lifespan run)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import threading
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from vtex_order_flow.app import NOTIFICATION_PATH, AppSettings, create_app
from vtex_order_flow.client import VtexClient
from vtex_order_flow.errors import InvalidArgumentError
from vtex_order_flow.testing import AppClient
from vtex_order_flow.tracking import EntryState, MemoryStore, Tracker

HEADERS = {"X-Hook-Secret": "s3cret-value", "X-Other": "two"}


def event(order_id: str = "1-01", state: str = "ready-for-handling", second: int = 1) -> dict[str, Any]:
    return {
        "Domain": "Fulfillment",
        "OrderId": order_id,
        "State": state,
        "LastState": "window-to-cancel",
        "LastChange": f"2026-01-05T10:00:{second:02d}Z",
        "CurrentChange": f"2026-01-05T10:00:{second:02d}Z",
        "Origin": {"Account": "store", "Key": "vtexappkey-store"},
    }


@contextlib.contextmanager
def served(tracker: Tracker | None = None, **settings: Any) -> Iterator[tuple[AppClient, Tracker]]:
    tracker = tracker or Tracker()
    app = create_app(tracker, settings=AppSettings(**{"hook_headers": HEADERS, **settings}))
    with AppClient(app) as client:
        yield client, tracker


def test_a_hook_without_the_configured_headers_gets_401_and_changes_nothing() -> None:
    with served() as (client, tracker):
        assert client.post("/hook", json=event()).status_code == 401
        assert (
            client.post("/hook", json=event(), headers={"X-Hook-Secret": "s3cret-value"}).status_code == 401
        )
        wrong = {**HEADERS, "X-Other": "tw0"}
        assert client.post("/hook", json=event(), headers=wrong).status_code == 401
        assert client.post("/hook", json={"hookConfig": "ping"}).status_code == 401
        assert tracker.records() == []
        assert tracker.applied == 0


def test_a_ping_an_event_and_a_malformed_body() -> None:
    with served() as (client, tracker):
        ping = client.post("/hook", json={"hookConfig": "ping"}, headers=HEADERS)
        assert (ping.status_code, ping.json()["ping"]) == (200, True)
        applied = client.post("/hook", json=event(), headers=HEADERS)
        assert (applied.status_code, applied.json()["outcome"]) == (200, "first")
        assert tracker.record("1-01").status == "ready-for-handling"  # type: ignore[union-attr]
        for body in (
            b"{",
            b"[]",
            json.dumps({**event(), "LastChange": "2026-13-01T00:00:00Z"}).encode(),
            b"\xff",
        ):
            bad = client.post("/hook", content=body, headers=HEADERS)
            assert bad.status_code == 400, body
            assert bad.json()["ok"] is False
        assert tracker.applied == 1


def test_a_body_too_large_is_refused_unread() -> None:
    with served(max_body=2048) as (client, tracker):
        big = client.post("/hook", content=b"x" * 5000, headers=HEADERS)
        assert big.status_code == 413
        assert tracker.applied == 0


class SlowStore(MemoryStore):
    """A store whose transactions hang while `stuck` is set."""

    def __init__(self) -> None:
        super().__init__()
        self.stuck = threading.Event()

    @contextlib.contextmanager
    def transaction(self) -> Iterator[None]:
        if self.stuck.is_set():
            time.sleep(3)
        with super().transaction():
            yield


def test_a_slow_store_is_answered_503_within_vtexs_five_seconds() -> None:
    store = SlowStore()
    with served(Tracker(store=store), hook_timeout=0.5) as (client, _):
        store.stuck.set()
        started = time.monotonic()
        answer = client.post("/hook", json=event(), headers=HEADERS)
        elapsed = time.monotonic() - started
        assert answer.status_code == 503
        assert elapsed < 2.0  # well under VTEX's 5 s
        health = client.get("/health")
        assert health.status_code in (200, 503)
        store.stuck.clear()


def test_notifications_reach_the_entry_they_answer_and_fill_the_id_map() -> None:
    tracker = Tracker()
    create = tracker.register("MKP-1", "create", payload={"marketplaceOrderId": "MKP-1"})
    (claimed,) = tracker.claim(1, 60)
    tracker.sent(claimed.key)
    note = {
        "code": "SOI001",
        "flow": "PlaceOrder",
        "success": True,
        "marketplaceOrderId": "MKP-1",
        "fields": {"mainOrderId": "9-01"},
    }
    with served(tracker, account="store") as (client, _):
        assert client.post(NOTIFICATION_PATH, params={"an": "other"}, json=note).status_code == 400
        assert client.post(NOTIFICATION_PATH, params={"an": "store"}, content=b"{}").status_code == 400
        answer = client.post(NOTIFICATION_PATH, params={"an": "store"}, json=note)
        assert answer.status_code == 200
        assert answer.json() == {"ok": True, "code": "SOI001", "matched": True}  # nothing of the entry
        assert tracker.entry(create.key).state is EntryState.DONE  # type: ignore[union-attr]
        again = client.post(NOTIFICATION_PATH, params={"an": "store"}, json=note)
        assert again.json()["matched"] is False  # a repeated notification: nothing left to answer
    assert tracker.order_id("MKP-1") == "9-01"


def test_notifications_only_under_the_secret_path_when_one_is_set() -> None:
    secret = "n0t-guessable-0123456789"  # noqa: S105 (a test value)
    note = {"code": "SOI003", "flow": "PlaceOrder", "success": True, "marketplaceOrderId": "MKP-1"}
    with served(notification_secret=secret) as (client, _):
        assert client.post(NOTIFICATION_PATH, json=note).status_code == 404
        assert client.post("/wrong-secret-000000000" + NOTIFICATION_PATH, json=note).status_code == 404
        assert client.post(f"/{secret}{NOTIFICATION_PATH}", json=note).status_code == 200


def test_health_and_status() -> None:
    with served() as (client, tracker):
        client.post("/hook", json=event(), headers=HEADERS)
        tracker.register("1-01", "invoice", payload={"invoiceNumber": "1"})
        assert client.get("/health").json() == {"ok": True}
        status = client.get("/status").json()
        assert status["entries"]["pending"] == 1
        assert (
            status["oldest_waiting"]["key"] == "1-01:invoice:" + status["oldest_waiting"]["key"].split(":")[2]
        )
        assert status["events_applied"] == 1
        tracker.store.close()
        assert client.get("/health").status_code == 503


@pytest.mark.parametrize(
    "settings",
    [
        {"hook_headers": {"bad name": "x"}},
        {"hook_headers": {"X-A": "line\nbreak"}},
        {"hook_headers": ["X-A"]},
        {"notification_secret": "short"},
        {"notification_secret": "has/slash/0123456789"},
        {"hook_timeout": 6},
        {"max_body": 10},
    ],
)
def test_bad_settings_are_typed_errors(settings: dict[str, Any]) -> None:
    with pytest.raises(InvalidArgumentError):
        AppSettings(**settings)


def test_the_dispatcher_runs_with_the_apps_lifespan() -> None:
    sent: list[str] = []

    def vtex(request: httpx.Request) -> httpx.Response:
        sent.append(request.url.path)
        return httpx.Response(204)

    tracker = Tracker()
    client = VtexClient("store", "key", "token", transport=httpx.MockTransport(vtex), tracker=tracker)
    app = create_app(tracker, client, AppSettings(hook_headers=HEADERS))
    entry = tracker.register("1-01", "start-handling")
    with AppClient(app) as web:
        assert app.state.dispatcher is not None
        web.post("/hook", json=event(), headers=HEADERS)  # makes start-handling sendable
        assert app.state.dispatcher.wait_idle(10)
    assert sent == ["/api/oms/pvt/orders/1-01/start-handling"]
    assert tracker.entry(entry.key).state is EntryState.DONE  # type: ignore[union-attr]
    assert app.state.dispatcher._stopping.is_set()  # stopped with the app


# -- regressions from the review of the app -------------------------------------------------------


def test_a_forged_notification_closes_links_and_tells_nothing() -> None:
    tracker = Tracker()
    create = tracker.register("MKP-7", "create", payload={"marketplaceOrderId": "MKP-7", "secret": "pii"})
    forged = {
        "code": "SOI001",
        "flow": "PlaceOrder",
        "success": True,
        "marketplaceOrderId": "MKP-7",
        "fields": {"mainOrderId": "1234567890123-01"},
    }
    with served(tracker, account="store") as (client, _):
        answer = client.post(NOTIFICATION_PATH, params={"an": "store"}, json=forged)
        assert answer.json() == {"ok": True, "code": "SOI001", "matched": False}
        assert "pii" not in answer.text
    assert tracker.entry(create.key).state is EntryState.READY  # type: ignore[union-attr]  # not sent: not closed
    assert tracker.order_id("MKP-7") is None


def test_many_deliveries_on_a_slow_store_are_all_answered_within_the_deadline() -> None:
    store = SlowStore()
    with served(Tracker(store=store), hook_timeout=1.0) as (client, _):
        store.stuck.set()

        async def flood() -> list[tuple[int, float]]:
            async def one(n: int) -> tuple[int, float]:
                started = time.monotonic()
                assert client.client is not None
                answer = await client.client.post("/hook", json=event(f"{n}-01"), headers=HEADERS)
                return answer.status_code, time.monotonic() - started

            return await asyncio.gather(*(one(n) for n in range(150)))

        answers = client.run(flood())
        store.stuck.clear()
    assert max(seconds for _, seconds in answers) < 2.5  # every one within the 1 s deadline (+ slack)
    assert {status for status, _ in answers} <= {200, 503}
    assert any(status == 503 for status, _ in answers)  # the queue is bounded: busy, deliver again


def test_a_header_value_http_would_trim_is_refused() -> None:
    with pytest.raises(InvalidArgumentError, match="space"):
        AppSettings(hook_headers={"X-Hook-Secret": "s3cret "})
