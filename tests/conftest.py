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

STORES = ["memory", "sqlite"]


@pytest.fixture(params=STORES)
def make_store(request: pytest.FixtureRequest, tmp_path: Any) -> Any:
    """A factory of fresh, empty stores of one kind (every test using it runs once per kind);
    each call is a new store, closed at the end of the test."""
    from vtex_order_flow.tracking import MemoryStore, SQLiteStore, Store

    made: list[Store] = []

    def factory() -> Store:
        store: Store = (
            MemoryStore() if request.param == "memory" else SQLiteStore(tmp_path / f"t{len(made)}.db")
        )
        made.append(store)
        return store

    yield factory
    for store in made:
        store.close()
