"""VTEX's answers: an entry done, awaiting the notification, retried with backoff, decided again,
or given up. The only place the credentials rule (401/403) is decided."""

from __future__ import annotations

import math

from .. import Advice, FollowUp
from ..errors import LeaseLostError
from ..model import Transition
from ._changes import Changes, Snapshot
from ._events import _MAX_TICKS, TICKS_PER_SECOND
from ._links import link_from
from ._types import IN_FLIGHT, DropClass, Entry, EntryState
from ._unit import Core
from ._verdicts import FlowTables, redecide, rule_now

__all__ = [
    "CREDENTIALS",
    "CREDENTIALS_WAIT",
    "answerable",
    "credentials_refused",
    "done",
    "lock_order",
    "notify",
    "result",
]

CREDENTIALS = frozenset({401, 403})
"""HTTP statuses by which VTEX refuses the credentials, not the update."""
CREDENTIALS_WAIT = 60.0
"""Seconds an update refused for its credentials waits before it goes again (at least)."""


def credentials_refused(advice: Advice) -> bool:
    """Whether VTEX refused the credentials, not the update (401, 403): every update would fail
    alike until a person fixes them; none is dropped for it, and no attempt is counted. The one
    place this rule is decided (the dispatcher and the client ask here)."""
    return advice.http_status in CREDENTIALS


def lock_order(core: Core, keys: list[str]) -> list[int]:
    """The positions of `keys` in the order their answers should take their orders' locks: by
    order id (as the entries are now, read without a lock), then key; an unknown key last."""
    found = {key: core.store.get_entry(key, lock=False) for key in set(keys)}

    def place(index: int) -> tuple[int, str, str]:
        entry = found[keys[index]]
        return (0, entry.order_id, entry.key) if entry is not None else (1, "", keys[index])

    return sorted(range(len(keys)), key=place)


def answerable(core: Core, key: str) -> tuple[Entry, Snapshot]:
    """The entry an answer is for, read after its order's lock is held (the order's lock before
    the entry's row, as everywhere: no deadlock), with its order's snapshot."""
    snapshot = core.load((core.existing(key, lock=False).order_id,))
    return core.existing(key), snapshot


def result(core: Core, key: str, advice: Advice, owner: str | None, now: float) -> Entry:
    """What VTEX answered to a sent entry."""
    # An answer for no entry, or for one another worker holds now, is refused before anything is
    # written (in a batch, `Tracker.results`, the others' answers are kept: this one's link must
    # not be); the same checks run again below, once the order's lock is held.
    early = core.existing(key, lock=False)
    done_answer = advice.follow_up is FollowUp.DONE and advice.consistent
    if owner is not None and not done_answer and early.state in IN_FLIGHT and early.owner != owner:
        raise LeaseLostError(
            f"result: entry {early.key!r} is {early.state} by {early.owner} now, not by {owner}"
        )
    # SOI001's mainOrderId first: its locks (the marketplace id, then VTEX's) before the entry's
    # order's, the order every path takes them in.
    link_from(core, advice, now)
    current, snapshot = answerable(core, key)
    return answer(core, current, snapshot, advice, owner=owner, now=now)


def answer(
    core: Core, current: Entry, snapshot: Snapshot, advice: Advice, *, owner: str | None, now: float
) -> Entry:
    """`result` once the entry's order is locked."""
    if current.state in (EntryState.DONE, EntryState.DROPPED):
        return current  # a late or repeated answer
    said = f"{advice.code}: {advice.meaning}"
    if advice.follow_up is FollowUp.DONE and advice.consistent:
        return done(core, current, snapshot, said, now)
    if current.state not in IN_FLIGHT:
        return current  # a late or repeated answer: the entry has moved on
    if owner is not None and current.owner != owner:
        raise LeaseLostError(
            f"result: entry {current.key!r} is {current.state} by {current.owner} now, not by {owner}"
        )
    return core.save_one(answered(core, current, snapshot, advice, said=said, now=now), now)


def answered(
    core: Core, current: Entry, snapshot: Snapshot, advice: Advice, *, said: str, now: float
) -> Entry:
    """An in-flight entry after VTEX's answer (anything but done). Pure."""
    follow_up = advice.follow_up
    attempts = current.attempts + 1
    if credentials_refused(advice):
        wait = max(CREDENTIALS_WAIT, advice.retry_after or 0.0)
        return current.evolve(
            state=EntryState.RETRY, due=now + wait, reason=f"{said}; held until they are fixed"
        )
    if follow_up is FollowUp.WAIT_FOR_NOTIFICATION:
        # An answer that may never come (a lost one: the client says how long to wait) waits at
        # most `answer_timeout`; then it is decided again.
        patience = [t for t in (core.answer_timeout, advice.retry_after) if t is not None and t > 0]
        waited = now + min(patience) if patience else None
        return current.evolve(state=EntryState.SENT, due=waited, reason=said)
    if follow_up in (FollowUp.GIVE_UP, FollowUp.NEEDS_PERSON) or not advice.known:
        return _gave_up(current, said)
    if attempts > core.retry.max_attempts:
        return _gave_up(
            current.evolve(attempts=attempts), f"gave up after {current.attempts} attempts ({advice.code})"
        )
    if follow_up is FollowUp.RETRY_WITH_BACKOFF:
        return current.evolve(
            state=EntryState.RETRY,
            attempts=attempts,
            due=now + backoff(core, attempts, advice),
            reason=said,
        )
    # Not now (EOI011), not in this status (OMS003, 400): decide again from the known status. If
    # the model still says send, VTEX has not caught up: retry with backoff.
    retried = current.evolve(attempts=attempts)
    decided = rule_now(core.tables, retried, snapshot).applied_to(retried)
    if decided.state is EntryState.READY:
        decided = decided.evolve(state=EntryState.RETRY, due=now + backoff(core, attempts, advice))
    return decided.evolve(reason=f"{said}; {decided.reason}")


def backoff(core: Core, attempts: int, advice: Advice) -> float:
    """The retry policy's delay, or longer when VTEX asked for it (a 429's Retry-After)."""
    asked = advice.retry_after
    if asked is None or not math.isfinite(asked) or asked <= 0:
        return core.retry.delay(attempts)
    return max(core.retry.delay(attempts), min(asked, 86_400.0))


def _gave_up(entry: Entry, reason: str) -> Entry:
    return entry.evolve(state=EntryState.DROPPED, drop=DropClass.GAVE_UP, reason=reason, due=None)


def _taken(tables: FlowTables, entry: Entry, status: str, facts: frozenset[str]) -> Transition | None:
    return next(
        (
            t
            for t in tables.model.ways_out(status, tables.flow)
            if t.trigger == entry.action and t.holds(tables.visible(facts, status) | entry.facts)
        ),
        None,
    )


def done(core: Core, entry: Entry, snapshot: Snapshot, reason: str, now: float) -> Entry:
    """VTEX applied the entry: it is done, and unless VTEX's events since it was sent say where
    the order is, the order moves where the action takes it (a self-loop records its facts), and
    its other updates are decided again from there. One write."""
    tables = core.tables
    order_id = entry.order_id
    if order_id not in snapshot.orders and order_id not in snapshot.open_entries:
        snapshot = core.load((order_id,))
    changes = Changes()
    finished = changes.put(entry.evolve(state=EntryState.DONE, due=None, reason=reason))
    order = snapshot.order(order_id)
    others = [e for e in snapshot.entries(order_id) if e.key != entry.key]
    if order.status is not None:
        status, changed_at, facts = order.status, order.changed_at, order.facts
        sent_at = entry.updated_at if entry.state is EntryState.SENT else now
        sent_ticks = int(max(sent_at, 0.0) * TICKS_PER_SECOND)
        # VTEX's events since it was sent say where the order is: theirs win.
        fresh = (entry.status is None or status == entry.status) and changed_at < sent_ticks
        taken = _taken(tables, entry, status, facts) if fresh else None
        if taken is not None:
            _moved_by(
                core, changes, others=others, order_id=order_id, held=(status, changed_at, facts), taken=taken
            )
    return core.save(changes, now).get(finished.key, finished)


def _moved_by(
    core: Core,
    changes: Changes,
    *,
    others: list[Entry],
    order_id: str,
    held: tuple[str, int, frozenset[str]],
    taken: Transition,
) -> None:
    """Stage what the transition `taken` (the action, applied by VTEX) does to the order."""
    tables = core.tables
    status, changed_at, facts = held
    if taken.is_self_loop:
        # A self-loop of the action (a return invoice) changes no status: record its facts.
        sets = frozenset(tables.model.fact_closure(taken.sets))
        changed = facts | sets
        if changed != facts:
            changes.facts[order_id] = changed
            for decided in redecide(tables, others, status, changed).changed:
                changes.put(decided)
        return
    # VTEX applied it: the order is where the action takes it, a tick after the status it left,
    # so that its other updates are decided from where it is now. Any event VTEX dates later
    # wins; a late copy of the old one is stale. (Not stamped with our clock: a clock ahead of
    # VTEX's would make VTEX's next event look stale and hide it.)
    if changed_at + 1 >= _MAX_TICKS:
        return
    dest: str = taken.dest
    changes.records[order_id] = (dest, changed_at + 1)
    moved = tables.moved_facts(status, dest, facts)
    if moved != facts:
        changes.facts[order_id] = moved
    for decided in redecide(tables, others, dest, moved).changed:
        changes.put(decided)


def notify(core: Core, advice: Advice, marketplace_id: str, action: str, now: float) -> Entry | None:
    """Route a notification to the entry it answers (see `Tracker.notify`)."""
    order_id, snapshot = core.resolve(marketplace_id)
    ours = [e for e in snapshot.entries(order_id) if e.action == action]
    # On its way first; then one that went out and waits to go again (a 5xx after VTEX applied
    # it); then one that went out and is finished (VTEX said EOI007 first).
    went = [e for e in ours if e.state in IN_FLIGHT] or [e for e in ours if e.claims > 0]
    if not went:
        for key in {f"{marketplace_id}:{action}", f"{order_id}:{action}"}:
            finished = core.store.get_entry(key)
            if finished is not None and finished.action == action and finished.claims > 0:
                link_from(core, advice, now)  # the ids are still worth having
        return None  # nothing left to answer (or nothing of ours went out: a forgery)
    link_from(core, advice, now)  # (the marketplace id's lock is held: the same order)
    current = core.existing(went[0].key)
    if current.order_id != order_id:
        snapshot = core.load((current.order_id,))
    return answer(core, current, snapshot, advice, owner=None, now=now)
