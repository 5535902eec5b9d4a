"""Shared fixtures; hypothesis profiles chosen by HYPOTHESIS_PROFILE (dev by default, ci in CI)."""

from __future__ import annotations

import copy
import os
import socket
from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import HealthCheck, settings

settings.register_profile("dev", max_examples=100)
settings.register_profile("ci", max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci" if os.environ.get("CI") else "dev"))

# A tiny but complete model: every section the schema knows, every rule satisfied.
MINIMAL: dict[str, Any] = {
    "name": "mini",
    "sources": {"S1": {"title": "A source", "url": "https://example.invalid/s1"}},
    "flows": {"seller": {"initial": "new", "sources": ["S1"]}},
    "facts": {"paid": {"description": "The order is paid."}},
    "actions": {
        "approve": {
            "cause": "marketplace",
            "endpoint": "PUT /approve",
            "errors": [{"statuses": ["done"], "code": "E2"}, {"code": "E1"}],
        }
    },
    "codes": {
        "E1": {"api": "channel-order", "meaning": "Not here.", "follow_up": "decide-again"},
        "E2": {"api": "channel-order", "meaning": "Never.", "follow_up": "give-up"},
    },
    "events": {"expire": {"cause": "timer"}, "finish": {"cause": "platform"}},
    "statuses": [
        {"id": "new", "flows": ["seller"], "meaning": "New.", "sources": ["S1"]},
        {"id": "approved", "flows": ["seller"], "meaning": "Approved.", "auto": True},
        {"id": "done", "flows": ["seller"], "meaning": "Done.", "terminal": True},
    ],
    "transitions": [
        {
            "from": "new",
            "to": "approved",
            "trigger": "approve",
            "flows": ["seller"],
            "requires": ["paid"],
            "sources": ["S1"],
        },
        {"from": "new", "to": "done", "trigger": "expire", "flows": ["seller"], "after": 60},
        {"from": "approved", "to": "done", "trigger": "finish", "flows": ["seller"]},
    ],
}


@pytest.fixture
def minimal() -> dict[str, Any]:
    """A fresh deep copy of the minimal valid model, to break on purpose."""
    return copy.deepcopy(MINIMAL)


@pytest.fixture
def no_network(monkeypatch: pytest.MonkeyPatch) -> list[tuple[Any, ...]]:
    """Fail any attempt to open a connection or resolve a name; returns the attempts seen."""
    attempts: list[tuple[Any, ...]] = []

    def refuse(*args: Any, **kwargs: Any) -> Any:
        attempts.append(args)
        raise AssertionError(f"network access attempted: {args!r}")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket.socket, "connect_ex", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    monkeypatch.setattr(socket, "getaddrinfo", refuse)
    return attempts


Mutator = Callable[[dict[str, Any]], None]


# -- the outbox's stores: one behaviour suite, every store ---------------------------------------

STORES = ["memory", "sqlite", "postgres"]

POSTGRES_DSN = os.environ.get("VOF_POSTGRES_DSN", "")
HOW_TO_RUN_POSTGRES = (
    "PostgreSQL tests need a server: set VOF_POSTGRES_DSN to a database the tests may create "
    "schemas in (e.g. postgresql://vof:vof@127.0.0.1:5432/vof); .ci/run starts one"
)


def postgres_dsn() -> str:
    """The test database's DSN; without one the test skips (locally) or fails (in CI)."""
    if not POSTGRES_DSN:
        if os.environ.get("CI"):
            pytest.fail("CI is set but VOF_POSTGRES_DSN is not: " + HOW_TO_RUN_POSTGRES)
        pytest.skip(HOW_TO_RUN_POSTGRES)
    return POSTGRES_DSN


def fresh_postgres_store(**options: Any) -> Any:
    """A PostgresStore on a schema of its own (dropped by `drop_schema`)."""
    import uuid

    from vtex_order_flow.tracking import PostgresStore

    return PostgresStore(postgres_dsn(), schema=f"t_{uuid.uuid4().hex[:12]}", **options)


@pytest.fixture(params=STORES)
def make_store(request: pytest.FixtureRequest, tmp_path: Any) -> Any:
    """A factory of fresh, empty stores of one kind (every test using it runs once per kind);
    each call is a new store, closed (and a PostgreSQL one's schema dropped) at the end."""
    from vtex_order_flow.tracking import MemoryStore, SQLiteStore, Store

    made: list[Store] = []
    if request.param == "postgres":
        postgres_dsn()

    def factory() -> Store:
        store: Store
        if request.param == "memory":
            store = MemoryStore()
        elif request.param == "sqlite":
            store = SQLiteStore(tmp_path / f"t{len(made)}.db")
        else:
            store = fresh_postgres_store()
        made.append(store)
        return store

    yield factory
    for store in made:
        store.close()
        if request.param == "postgres":
            drop_postgres_schema(store.schema)  # type: ignore[attr-defined]


def drop_postgres_schema(schema: str) -> None:
    """Remove a test's schema (on a connection of its own: the store may be closed)."""
    import psycopg

    with psycopg.connect(POSTGRES_DSN, autocommit=True) as conn:
        conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')


def orders_api_advice(code: str | None = None) -> Any:
    """VTEX's answer to an Orders API call as a connector's client reports it (no Channel Order
    envelope): the model's `code`, or, with None, a plain success (HTTP 200: done)."""
    from vtex_order_flow import Advice, FollowUp, bundled_model
    from vtex_order_flow.model import Confidence

    known = bundled_model().codes[code] if code is not None else None
    return Advice(
        code=code or "200",
        follow_up=known.follow_up if known else FollowUp.DONE,
        next_step="",
        meaning=known.meaning if known else "VTEX accepted the update",
        known=True,
        consistent=True,
        operation="",
        success=known is None,
        marketplace_order_id=None,
        order_id=None,
        operation_id=None,
        errors=(),
        confidence=known.confidence if known else Confidence.DOCUMENTED,
    )


def new_order(marketplace_id: str, value: int = 10_000) -> dict[str, Any]:
    """A valid Channel Order API new order (`client.NewOrder`), one item worth `value` cents."""
    return {
        "marketplaceOrderId": marketplace_id,
        "marketplacePaymentValue": value,
        "items": [{"id": "1", "price": value, "quantity": 1}],
        "clientProfileData": {
            "email": "a@example.com",
            "firstName": "Ana",
            "lastName": "Lima",
            "phone": "+5511999999999",
            "document": "12345678900",
        },
        "shippingData": {
            "logisticsInfo": [
                {
                    "price": 0,
                    "selectedDeliveryChannel": "delivery",
                    "selectedSla": "Normal",
                    "lockTTL": "8d",
                    "shippingEstimate": "7bd",
                }
            ],
            "selectedAddresses": [
                {
                    "addressType": "residential",
                    "receiverName": "Ana",
                    "postalCode": "01000-000",
                    "country": "BRA",
                }
            ],
            "isFob": False,
            "isMarketplaceFulfillment": False,
        },
    }
