"""Claims and leases: workers take what is sendable, decided again first; an entry is never given
to two workers while its lease holds."""

from __future__ import annotations

from collections.abc import Callable

from ..errors import LeaseLostError, UnknownUpdateError
from ._changes import Changes, ClaimSnapshot, OrderState
from ._types import DropClass, Entry, EntryState
from ._unit import Core
from ._verdicts import READY_DUE, FlowTables, Ruling, commutes, rule, rule_unknown

__all__ = ["claim", "release", "release_many", "sent", "sent_many"]


def claim(core: Core, limit: int, holder: str, now: float, until: float) -> list[Entry]:
    """Take up to `limit` entries to send now, each leased to `holder` until `until`."""
    claimed: list[Entry] = []
    waiting: set[str] = set()  # sendable, but another of its kind is on its way first
    while len(claimed) < limit:
        found = core.load_claim(now, limit - len(claimed) + len(waiting))
        before = len(waiting)
        # An order another transaction works on (an event, another worker's claim of its other
        # updates) waits for the next claim, so that what is on its way is always seen.
        waiting |= found.skipped
        batch = [entry for entry in found.candidates if entry.key not in waiting]
        if not batch:
            if len(waiting) == before:
                break
            continue
        unknown = {e.order_id for e in batch if (found.orders.get(e.order_id) or _NONE).status is None}
        # (an order no event named yet: sendable from where the flow starts, unless VTEX gave it
        # an id, which only a read of its links tells: rare, so read apart)
        linked = frozenset(core.load(unknown, lock=False).linked_from) if unknown else frozenset()
        changes, taken = claim_batch(
            core.tables,
            found,
            batch,
            holder=holder,
            until=until,
            linked=linked,
            answer_timeout=core.answer_timeout,
        )
        waiting.update(entry.key for entry in batch if entry.key not in changes.entries)
        written = core.save(changes, now)
        claimed += [written[key] for key in taken]
    return claimed


_NONE = OrderState(None, 0)


def _claim_ruling(tables: FlowTables, entry: Entry, found: ClaimSnapshot, linked: frozenset[str]) -> Ruling:
    held = found.orders.get(entry.order_id)
    if held is None or held.status is None:
        return rule_unknown(tables, entry, entry.order_id in linked)
    ruling = rule(tables, entry, held.status, held.facts)
    if entry.state is EntryState.SENT and ruling.drop is DropClass.ALREADY_DONE:
        return Ruling(EntryState.DONE, f"the order reached {ruling.status}", ruling.status)
    return ruling


def claim_batch(
    tables: FlowTables,
    found: ClaimSnapshot,
    batch: list[Entry],
    *,
    holder: str,
    until: float,
    linked: frozenset[str],
    answer_timeout: float | None,
) -> tuple[Changes, list[str]]:
    """Decide a batch of claimable entries again and lease what is still sendable (pure): the
    change set, and the keys claimed, in order. Of an action an order may need several times,
    one goes at a time (a second partial invoice waits for the first: VTEX refuses it until the
    first is verified); an entry that does not commute with one on its way is left out of the
    change set (it waits, still ready). `until`: when the leases end; `linked`: the orders
    without a record that VTEX gave an id to."""
    going = {order_id: list(entries) for order_id, entries in found.in_flight.items()}
    changes = Changes()
    taken: list[str] = []
    for entry in batch:
        ahead = [other for other in going.get(entry.order_id, ()) if other.key != entry.key]
        if (
            ahead
            and entry.state in (EntryState.READY, EntryState.RETRY)
            and not all(commutes(tables, entry, other, found.orders.get(entry.order_id)) for other in ahead)
        ):
            # (a claim whose lease expired may have been sent by the worker that died: it goes
            # again, first, before anything that does not commute with it)
            continue
        ruling = _claim_ruling(tables, entry, found, linked)
        new = ruling.applied_to(entry)
        if ruling.state is EntryState.READY:
            reason = ruling.reason
            if entry.state is EntryState.CLAIMED:
                reason = f"claimed again after {entry.owner}'s lease expired"
            elif entry.state is EntryState.SENT:
                reason = f"sent again: no answer from VTEX within {answer_timeout:g} s"
            new = new.evolve(
                state=EntryState.CLAIMED, owner=holder, due=until, claims=entry.claims + 1, reason=reason
            )
            taken.append(entry.key)
            going.setdefault(entry.order_id, []).append(new)
        changes.put(new)
    return changes, taken


def held(entry: Entry, owner: str | None, what: str) -> Entry:
    """The entry, if claimed (by `owner` when given); else `LeaseLostError`."""
    if entry.state is not EntryState.CLAIMED or (owner is not None and entry.owner != owner):
        raise LeaseLostError(
            f"{what}: entry {entry.key!r} is {entry.state}"
            + (f" (held by {entry.owner})" if entry.state is EntryState.CLAIMED else "")
            + f", not claimed by {owner or 'a worker'}"
        )
    return entry


_Answer = Entry | LeaseLostError | UnknownUpdateError
_Step = Callable[[Entry], Entry | None]
"""What a step makes of a claimed entry: the entry to write, or None when there is nothing to
write (it is as the step would leave it); `LeaseLostError` when the owner no longer holds it."""


def _sending(core: Core, owner: str | None, now: float) -> _Step:
    waited = None if core.answer_timeout is None else now + core.answer_timeout

    def step(current: Entry) -> Entry | None:
        if current.state is EntryState.SENT and (owner is None or current.owner == owner):
            return None  # (saying it twice is harmless)
        entry = held(current, owner, "sent")
        return entry.evolve(state=EntryState.SENT, due=waited, reason="sent; awaiting VTEX's answer")

    return step


def _releasing(owner: str | None) -> _Step:
    def step(current: Entry) -> Entry | None:
        return held(current, owner, "release").evolve(
            state=EntryState.READY, due=READY_DUE, reason="released unsent"
        )

    return step


def _one(core: Core, key: str, step: _Step, now: float) -> Entry:
    current = core.existing(key)
    changed = step(current)
    return current if changed is None else core.save_one(changed, now)


def _each(core: Core, keys: list[str], step: _Step, now: float) -> list[_Answer]:
    """A step for several entries, one write: each entry as it is now, or the error its key met
    (the others are written all the same). Rows are read in key order, whatever the order given,
    so that two batches never wait for each other (no deadlock)."""
    changes = Changes()
    answers: dict[str, _Answer] = {}
    for key in sorted(set(keys)):
        try:
            current = core.existing(key)
            changed = step(current)
        except (LeaseLostError, UnknownUpdateError) as error:
            answers[key] = error
            continue
        answers[key] = current if changed is None else changes.put(changed)
    written = core.save(changes, now)
    return [
        written.get(answer.key, answer) if isinstance(answer, Entry) else answer
        for answer in (answers[key] for key in keys)
    ]


def sent(core: Core, key: str, owner: str | None, now: float) -> Entry:
    """A claimed entry was put on the wire: it awaits VTEX's answer."""
    return _one(core, key, _sending(core, owner, now), now)


def release(core: Core, key: str, owner: str | None, now: float) -> Entry:
    """Hand a claimed entry back unsent: claimable again at once."""
    return _one(core, key, _releasing(owner), now)


def sent_many(core: Core, keys: list[str], owner: str | None, now: float) -> list[_Answer]:
    """`sent` for several entries, one write."""
    return _each(core, keys, _sending(core, owner, now), now)


def release_many(core: Core, keys: list[str], owner: str | None, now: float) -> list[_Answer]:
    """`release` for several entries, one write."""
    return _each(core, keys, _releasing(owner), now)
