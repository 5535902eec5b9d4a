"""The tracker's jobs as pure functions, without a store: a verdict as a typed `Ruling`, an
order's entries decided again, anomalies, stale and duplicate events, a claim batch, VTEX's
answers (the one home of the credentials rule). The behaviour suite (`test_outbox.py`) runs the
same jobs through every store."""

from __future__ import annotations

import random

import pytest

from vtex_order_flow import Advice, bundled_model, interpret_notification
from vtex_order_flow.tracking import DropClass, Entry, EntryState, OrderEvent, RetryPolicy, parse_ticks
from vtex_order_flow.tracking._changes import Changes, ClaimSnapshot, OrderState, Snapshot
from vtex_order_flow.tracking._claims import claim_batch
from vtex_order_flow.tracking._ledger import _settle, anomaly_of
from vtex_order_flow.tracking._results import CREDENTIALS_WAIT, answered, credentials_refused
from vtex_order_flow.tracking._types import AnomalyKind, EventOutcome
from vtex_order_flow.tracking._unit import Core
from vtex_order_flow.tracking._verdicts import READY_DUE, FlowTables, commutes, redecide, rule, rule_unknown

VTEX = bundled_model()
TABLES = FlowTables(VTEX, "seller")
T0 = parse_ticks("2026-01-05T10:00:00Z")
NOW = T0 / 10_000_000 + 3600


def entry(action: str, state: EntryState = EntryState.PENDING, order: str = "A", **more: object) -> Entry:
    values: dict[str, object] = {"key": f"{order}:{action}", **more}
    return Entry(order_id=order, action=action, state=state, **values)  # type: ignore[arg-type]


def core(max_attempts: int = 8) -> Core:
    return Core(
        TABLES,
        None,  # type: ignore[arg-type]  # (the pure functions never touch it)
        RetryPolicy(rng=random.Random(1), max_attempts=max_attempts),
        answer_timeout=3600.0,
        max_skew=3600.0,
        wake=lambda: None,
    )


# -- verdicts ----------------------------------------------------------------------------------------


def test_a_verdict_is_a_typed_ruling_per_verdict() -> None:
    held = rule(TABLES, entry("approve"), "waiting-for-manual-authorization", frozenset())
    assert (held.state, held.status, held.drop, held.due) == (
        EntryState.PENDING,
        "waiting-for-manual-authorization",
        None,
        None,
    )
    sendable = rule(TABLES, entry("approve"), "waiting-ffmt-authorization", frozenset())
    assert (sendable.state, sendable.due) == (EntryState.READY, READY_DUE)
    done = rule(TABLES, entry("cancel"), "canceled", frozenset())
    assert (done.state, done.drop) == (EntryState.DROPPED, DropClass.ALREADY_DONE)
    applied = done.applied_to(entry("cancel", reason="before"))
    assert (applied.state, applied.status, applied.reason) == (EntryState.DROPPED, "canceled", done.reason)


def test_an_order_no_event_named_is_sendable_only_from_where_the_flow_starts() -> None:
    create = rule_unknown(TABLES, entry("create"), linked=False)
    assert (create.state, create.status) == (EntryState.READY, TABLES.initial)
    # VTEX gave the order an id: it has it; wait for its first event.
    assert rule_unknown(TABLES, entry("create"), linked=True).state is EntryState.PENDING
    waiting = rule_unknown(TABLES, entry("approve"), linked=False)
    assert (waiting.state, waiting.status, waiting.reason) == (
        EntryState.PENDING,
        None,
        "waiting for the order's first event",
    )
    # (the entry's status is kept when the ruling has none)
    assert waiting.applied_to(entry("approve", status="x")).status == "x"


def test_redecide_leaves_claims_sends_and_retries_to_their_answers() -> None:
    claimed = entry("approve", EntryState.CLAIMED, key="c")
    sent = entry("start-handling", EntryState.SENT)
    retry = entry("invoice", EntryState.RETRY, due=NOW + 30)
    pending = entry("approve", EntryState.PENDING, order="B")
    result = redecide(TABLES, [claimed, sent, retry, pending], "waiting-ffmt-authorization", frozenset())
    assert [e.key for e in result.ready] == ["B:approve"]
    assert result.ready[0].state is EntryState.READY
    assert result.changed == result.ready
    # The order shows VTEX applied the sent one: done; the retry that can no longer succeed: dropped.
    after = redecide(TABLES, [sent, entry("approve", EntryState.RETRY)], "handling", frozenset())
    assert [(e.key, e.state) for e in after.done] == [("A:start-handling", EntryState.DONE)]
    assert [(e.key, e.state, e.drop) for e in after.dropped] == [
        ("A:approve", EntryState.DROPPED, DropClass.ALREADY_DONE)
    ]
    # Nothing changes: nothing returned.
    ready = rule(TABLES, pending, "waiting-ffmt-authorization", frozenset()).applied_to(pending)
    assert redecide(TABLES, [ready], "waiting-ffmt-authorization", frozenset()).changed == ()


def test_commuting_updates_and_those_that_wait() -> None:
    held = OrderState("ready-for-handling", T0, frozenset())
    handling = entry("start-handling", EntryState.READY)
    cancel = entry("cancel", EntryState.READY)
    assert not commutes(TABLES, handling, handling, held)  # the same action never commutes
    assert not commutes(TABLES, handling, cancel, None)  # an order not known: decided alone
    assert isinstance(commutes(TABLES, cancel, handling, held), bool)


# -- events --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("previous", "new", "kind"),
    [
        (None, "no-such-status", AnomalyKind.UNKNOWN_STATUS),
        ("ready-for-handling", "handling", None),
        ("canceled", "handling", AnomalyKind.FROM_TERMINAL),
        ("handling", "waiting-ffmt-authorization", AnomalyKind.UNREACHABLE),
        (None, "ready-for-handling", None),
    ],
)
def test_anomalies_are_pure_and_typed(previous: str | None, new: str, kind: AnomalyKind | None) -> None:
    found = anomaly_of(TABLES, previous, OrderEvent("A", new, T0))
    assert (found.kind if found else None) == kind
    if found is not None:
        assert found.kind == kind.value if kind else True  # a StrEnum: equal to its string
    same = anomaly_of(TABLES, "handling", OrderEvent("A", "invoice", T0), same_time=True)
    assert same is not None
    assert same.kind is AnomalyKind.SAME_TIME


def test_stale_and_duplicate_events_are_settled_without_a_store() -> None:
    order = OrderState("handling", T0 + 10, frozenset())
    assert _settle(order, OrderEvent("A", "ready-for-handling", T0)) is EventOutcome.STALE
    assert _settle(order, OrderEvent("A", "handling", T0 + 10)) is EventOutcome.DUPLICATE
    # Two statuses at one time: the same one wins whatever the delivery order.
    assert _settle(order, OrderEvent("A", "canceled", T0 + 10)) is EventOutcome.STALE
    assert _settle(order, OrderEvent("A", "invoice", T0 + 10)) is None
    assert _settle(OrderState(None, 0), OrderEvent("A", "handling", T0)) is None


# -- claims --------------------------------------------------------------------------------------------


def test_a_claim_batch_leases_what_is_sendable_and_decides_the_rest() -> None:
    ready = entry("approve", EntryState.READY, order="A", due=READY_DUE)
    gone = entry("start-handling", EntryState.SENT, order="B", due=NOW - 1, claims=1, owner="w0")
    unknown = entry("approve", EntryState.READY, order="C", due=READY_DUE)
    found = ClaimSnapshot(
        candidates=(ready, gone, unknown),
        orders={
            "A": OrderState("waiting-ffmt-authorization", T0, frozenset()),
            "B": OrderState("handling", T0, frozenset()),
        },
    )
    changes, taken = claim_batch(
        TABLES,
        found,
        list(found.candidates),
        holder="w1",
        until=NOW + 60,
        linked=frozenset(),
        answer_timeout=3600.0,
    )
    assert taken == ["A:approve"]
    claimed = changes.entries["A:approve"]
    assert (claimed.state, claimed.owner, claimed.due, claimed.claims) == (
        EntryState.CLAIMED,
        "w1",
        NOW + 60,
        1,
    )
    # The order reached where the sent update takes it: done, not sent again.
    assert changes.entries["B:start-handling"].state is EntryState.DONE
    # No event named C yet and approve is not where the flow starts: back to waiting.
    assert changes.entries["C:approve"].state is EntryState.PENDING


def test_an_update_that_does_not_commute_with_one_on_its_way_waits_out_of_the_change_set() -> None:
    approve = entry("approve", EntryState.SENT, key="A:approve", due=NOW + 100)
    cancel = entry("cancel", EntryState.READY, due=READY_DUE)
    found = ClaimSnapshot(
        candidates=(cancel,),
        orders={"A": OrderState("waiting-ffmt-authorization", T0, frozenset())},
        in_flight={"A": (approve,)},
    )
    changes, taken = claim_batch(
        TABLES, found, [cancel], holder="w1", until=NOW + 60, linked=frozenset(), answer_timeout=None
    )
    assert taken == []
    assert "A:cancel" not in changes.entries


# -- VTEX's answers ----------------------------------------------------------------------------------


def _advice(code: str, http_status: int | None = None) -> Advice:
    from dataclasses import replace

    found = interpret_notification({"code": code, "flow": "ApproveOrder", "success": False})
    return replace(found, http_status=http_status) if http_status is not None else found


@pytest.mark.parametrize("status", [401, 403])
def test_refused_credentials_hold_the_update_without_counting_an_attempt(status: int) -> None:
    sent = entry("approve", EntryState.SENT, attempts=2)
    advice = _advice("EOI011", status)
    assert credentials_refused(advice)
    after = answered(
        core(),
        sent,
        Snapshot(),
        advice,
        said="refused",
        now=NOW,
    )
    assert (after.state, after.attempts, after.due) == (EntryState.RETRY, 2, NOW + CREDENTIALS_WAIT)
    assert not credentials_refused(_advice("EOI011", 500))


def test_not_now_is_decided_again_from_the_known_status() -> None:
    sent = entry("approve", EntryState.SENT)
    snapshot = Snapshot(orders={"A": OrderState("waiting-for-manual-authorization", T0, frozenset())})
    after = answered(
        core(),
        sent,
        snapshot,
        _advice("EOI011"),
        said="EOI011: not now",
        now=NOW,
    )
    assert after.state is EntryState.PENDING
    assert after.attempts == 1
    assert after.reason.startswith("EOI011: not now; ")
    # Where the model still says send, VTEX has not caught up: a retry with backoff.
    snapshot = Snapshot(orders={"A": OrderState("waiting-ffmt-authorization", T0, frozenset())})
    again = answered(
        core(),
        sent,
        snapshot,
        _advice("EOI011"),
        said="EOI011",
        now=NOW,
    )
    assert again.state is EntryState.RETRY
    assert again.due is not None
    assert again.due > NOW


def test_past_the_retry_policy_an_update_is_given_up() -> None:
    sent = entry("approve", EntryState.SENT, attempts=3)
    snapshot = Snapshot(orders={"A": OrderState("waiting-ffmt-authorization", T0, frozenset())})
    after = answered(
        core(max_attempts=3),
        sent,
        snapshot,
        _advice("EOI011"),
        said="x",
        now=NOW,
    )
    assert (after.state, after.drop, after.attempts) == (EntryState.DROPPED, DropClass.GAVE_UP, 4)


def test_a_change_set_is_empty_until_something_is_staged() -> None:
    changes = Changes()
    assert not changes
    staged = changes.put(entry("approve"))
    assert changes
    assert changes.entries == {"A:approve": staged}
    changes.counters["applied"] += 1
    assert Changes(counters=changes.counters)


def test_redecided_entries_are_written_in_the_open_entries_order() -> None:
    # (found by the adversarial review: ready ones were staged first, so `entries()`, "in the
    # order they changed", listed them out of the order they were registered)
    create = entry("create", EntryState.PENDING, seq=1)
    cancel = entry("cancel", EntryState.PENDING, seq=2)
    result = redecide(TABLES, [create, cancel], "window-to-cancel", frozenset())
    assert [e.key for e in result.changed] == ["A:create", "A:cancel"]


def test_applied_changed_still_answers_for_one_release_with_a_warning() -> None:
    from vtex_order_flow.tracking import Applied

    applied = Applied(OrderEvent("A", "handling", T0), EventOutcome.MOVED)
    with pytest.warns(DeprecationWarning, match="Applied.changed is deprecated"):
        assert applied.changed
    with pytest.warns(DeprecationWarning, match="deprecated"):
        assert not Applied(OrderEvent("A", "handling", T0), EventOutcome.STALE).changed
