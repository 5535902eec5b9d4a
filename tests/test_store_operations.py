"""The stores' domain operations (`snapshot`, `claim_snapshot`, `write`), on every store (the
`make_store` fixture: memory, SQLite, PostgreSQL): what one tracker operation reads, and
writes, in one call."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from typing import Any

import pytest

from vtex_order_flow.errors import InvalidArgumentError
from vtex_order_flow.tracking import Anomaly, AnomalyKind, Entry, EntryState, Store
from vtex_order_flow.tracking._changes import Changes, ClaimSnapshot, OrderState, Snapshot
from vtex_order_flow.tracking.stores._protocol import RowStore

MakeStore = Callable[[], RowStore]  # (every store: the tests also reach its row members)


def entry(key: str, order_id: str, state: EntryState, *, due: float | None = None, **more: Any) -> Entry:
    return Entry(
        key=key, order_id=order_id, action=key.rsplit(":", maxsplit=1)[-1], state=state, due=due, **more
    )


def test_every_store_is_a_store(make_store: MakeStore) -> None:
    store = make_store()
    assert isinstance(store, Store)
    assert store.closed is False
    assert store.has_id_map is True
    with store.lock:
        pass
    store.close()
    assert store.closed is True


def test_an_empty_snapshot(make_store: MakeStore) -> None:
    store = make_store()
    assert store.snapshot(["A", "B"]) == Snapshot()
    assert store.snapshot([]) == Snapshot()
    assert store.snapshot(["A"]).order("A") == OrderState(None, 0)
    assert store.claim_snapshot(10.0, 5) == ClaimSnapshot()


def test_a_write_then_a_snapshot_of_it(make_store: MakeStore) -> None:
    store = make_store()
    changes = Changes()
    changes.records["A"] = ("invoiced", 100)
    changes.records["B"] = ("handling", 50)
    changes.facts["A"] = frozenset({"paid"})
    changes.facts["C"] = frozenset({"early"})  # facts before the order's first event
    changes.put(entry("A:approve", "A", EntryState.PENDING))
    changes.put(entry("A:invoice", "A", EntryState.READY, due=0.0))
    changes.put(entry("A:old", "A", EntryState.DONE))
    changes.put(entry("B:cancel", "B", EntryState.SENT, due=9.0))
    changes.anomalies.append(Anomaly("A", None, "invoiced", AnomalyKind.UNREACHABLE, 100))
    changes.counters.update({"applied": 2, "anomalies": 1})
    changes.links.append(("MKP-A", "A"))
    with store.transaction():
        written = store.write(changes)
    assert list(written) == ["A:approve", "A:invoice", "A:old", "B:cancel"]
    seqs = [e.seq for e in written.values()]
    assert seqs == sorted(seqs)
    assert len(set(seqs)) == 4
    assert seqs[0] > 0
    assert {k: e.evolve(seq=0) for k, e in written.items()} == changes.entries
    assert store.get_entry("A:invoice") == written["A:invoice"]
    assert store.counter("applied") == 2
    assert store.counter("anomalies") == 1
    assert store.anomalies() == changes.anomalies
    with store.transaction():
        again = store.write(Changes(entries={"A:approve": written["A:approve"]}))
    assert again["A:approve"].seq > max(seqs)  # a new seq at every write

    with store.transaction():
        snap = store.snapshot(["C", "A", "B", "MKP-A", "D"])
    assert snap.orders == {
        "A": OrderState("invoiced", 100, frozenset({"paid"})),
        "B": OrderState("handling", 50),
        "C": OrderState(None, 0, frozenset({"early"})),
    }
    assert [e.key for e in snap.entries("A")] == ["A:invoice", "A:approve"]  # by seq; done left out
    assert snap.entries("A")[1] == again["A:approve"]
    assert [e.key for e in snap.entries("B")] == ["B:cancel"]
    assert snap.entries("D") == ()
    assert snap.links == {"MKP-A": "A"}
    assert snap.linked_from == {"A": "MKP-A"}
    assert store.snapshot(["A"], lock=False).orders == {"A": snap.orders["A"]}  # (own transaction)


def test_facts_emptied_are_deleted_and_a_link_held_is_accepted_again(make_store: MakeStore) -> None:
    store = make_store()
    store.write(Changes(facts={"A": frozenset({"paid"})}, links=[("M", "A")]))
    store.write(Changes(facts={"A": frozenset()}, links=[("M", "A")]))
    assert store.snapshot(["A"], lock=False) == Snapshot(linked_from={"A": "M"})
    assert store.load_facts("A") == frozenset()


@pytest.mark.parametrize(
    ("pair", "message"),
    [
        (("M", "B"), "already VTEX order 'A'"),
        (("N", "A"), "already comes from marketplace order 'M'"),
        (("A", "X"), "'A' is a VTEX order id already"),
        (("Y", "M"), "'M' is a marketplace order id already"),
    ],
)
def test_a_contradictory_link_is_refused_and_nothing_is_written(
    make_store: MakeStore, pair: tuple[str, str], message: str
) -> None:
    store = make_store()
    store.write(Changes(links=[("M", "A")]))
    changes = Changes(records={"Z": ("invoiced", 1)}, links=[("P", "Q"), pair])
    changes.put(entry("Z:approve", "Z", EntryState.READY, due=0.0))
    with pytest.raises(InvalidArgumentError, match=message), store.transaction():
        store.write(changes)
    assert store.load_record("Z") is None
    assert store.get_entry("Z:approve") is None
    assert store.load_link("P") is None
    with pytest.raises(InvalidArgumentError):
        store.write(Changes(links=[("R", "S"), ("R", "T")]))  # two pairs of one write contradict
    assert store.load_link("R") is None


def test_a_claim_snapshot(make_store: MakeStore) -> None:
    store = make_store()
    changes = Changes(records={"A": ("handling", 5), "B": ("invoiced", 6)}, facts={"B": frozenset({"x"})})
    changes.put(entry("A:late", "A", EntryState.RETRY, due=8.0))
    changes.put(entry("A:first", "A", EntryState.READY, due=0.0))
    changes.put(entry("A:going", "A", EntryState.SENT, due=50.0))
    changes.put(entry("B:ready", "B", EntryState.READY, due=0.0))
    changes.put(entry("B:lease", "B", EntryState.CLAIMED, due=3.0, owner="w"))
    changes.put(entry("C:future", "C", EntryState.RETRY, due=99.0))
    changes.put(entry("D:pending", "D", EntryState.PENDING))
    written = store.write(changes)
    with store.transaction():
        snap = store.claim_snapshot(10.0, 10)
    # by due, then seq: the ready ones (due 0) in the order written, then the lease, the retry
    assert [e.key for e in snap.candidates] == ["A:first", "B:ready", "B:lease", "A:late"]
    assert snap.skipped == frozenset()
    assert snap.orders == {"A": OrderState("handling", 5), "B": OrderState("invoiced", 6, frozenset({"x"}))}
    assert {k: [e.key for e in v] for k, v in snap.in_flight.items()} == {"A": ["A:going"], "B": ["B:lease"]}
    assert snap.in_flight["A"][0] == written["A:going"]
    with store.transaction():
        two = store.claim_snapshot(10.0, 2)
    assert [e.key for e in two.candidates] == ["A:first", "B:ready"]
    assert store.claim_snapshot(-1.0, 10) == ClaimSnapshot()  # (due 0 is not before -1)


def test_many_writes_keep_their_order_and_counts(make_store: MakeStore) -> None:
    store = make_store()
    keys = [f"O{n}:approve" for n in range(150)]  # more than a PostgreSQL block of 64 seqs
    changes = Changes()
    for key in keys:
        changes.put(entry(key, key.split(":")[0], EntryState.PENDING))
    written = store.write(changes)
    assert [e.key for e in store.entries()] == keys
    assert Counter(e.state for e in written.values()) == {EntryState.PENDING: 150}
    assert not Changes()
    assert store.write(Changes()) == {}


def test_a_snapshot_holds_its_orders_locks(make_store: MakeStore) -> None:
    store = make_store()
    if type(store).__name__ != "PostgresStore":
        pytest.skip("the memory and SQLite stores' transactions exclude every other writer")
    from vtex_order_flow.tracking import PostgresStore

    assert isinstance(store, PostgresStore)
    from conftest import postgres_dsn

    store.write(
        Changes(records={"A": ("handling", 1)}, entries={"A:x": entry("A:x", "A", EntryState.READY, due=0.0)})
    )
    other = PostgresStore(postgres_dsn(), schema=store.schema)
    try:
        with store.transaction():
            store.snapshot(["A", "B"])
            with other.transaction():
                assert other.try_lock_orders(["A", "B", "C"]) == {"C"}
                assert other.claim_snapshot(10.0, 10) == ClaimSnapshot()  # its row is locked too
        with store.transaction():
            store.lock_order("A")  # the order only (an event being applied) ...
            store.load_record("A")  # (... the lock travels with the next read: pipeline mode)
            with other.transaction():
                claim = other.claim_snapshot(10.0, 10)
                assert claim.candidates == ()
                assert claim.skipped == {"A:x"}
        with other.transaction():
            assert [e.key for e in other.claim_snapshot(10.0, 10).candidates] == ["A:x"]
    finally:
        other.close()


def test_a_snapshot_reads_what_was_committed_before_its_locks_were_granted(make_store: MakeStore) -> None:
    # PostgreSQL sends the locks and the reads in one pipeline: each read must take its snapshot
    # after the locks are held, so that it sees the writes of the transaction it waited for.
    import threading
    import time

    store = make_store()
    if type(store).__name__ != "PostgresStore":
        pytest.skip("the memory and SQLite stores' transactions exclude every other writer")
    from conftest import postgres_dsn
    from vtex_order_flow.tracking import PostgresStore

    assert isinstance(store, PostgresStore)
    other = PostgresStore(postgres_dsn(), schema=store.schema)
    holding, seen = threading.Event(), []

    def writer() -> None:
        with other.transaction():
            other.lock_order("A")
            other.load_record("A")  # (the lock is held once a read came back)
            holding.set()
            time.sleep(0.3)
            other.write(
                Changes(
                    records={"A": ("invoiced", 7)}, entries={"A:x": entry("A:x", "A", EntryState.PENDING)}
                )
            )

    thread = threading.Thread(target=writer)
    try:
        thread.start()
        assert holding.wait(10)
        with store.transaction():
            snap = store.snapshot(["A"])  # waits for the writer's commit
            seen.append(snap)
        thread.join(10)
        assert seen[0].order("A") == OrderState("invoiced", 7)
        assert [e.key for e in seen[0].entries("A")] == ["A:x"]
    finally:
        thread.join(10)
        other.close()


def test_a_snapshot_without_links_reads_no_id_map(make_store: MakeStore) -> None:
    store = make_store()
    store.write(Changes(links=[("M", "A")], records={"A": ("invoiced", 1)}))
    full = store.snapshot(["M", "A"], lock=False)
    assert (dict(full.links), dict(full.linked_from)) == ({"M": "A"}, {"A": "M"})
    bare = store.snapshot(["M", "A"], lock=False, links=False)
    assert (dict(bare.links), dict(bare.linked_from)) == ({}, {})
    assert bare.order("A").status == "invoiced"  # (the rest as read with links)
