"""Claims and leases: workers take what is sendable, decided again first; an entry is never given
to two workers while its lease holds."""

from __future__ import annotations

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


def held(core: Core, key: str, owner: str | None, what: str) -> Entry:
    """The entry, claimed (by `owner` when given), or `LeaseLostError`."""
    entry = core.existing(key)
    if entry.state is not EntryState.CLAIMED or (owner is not None and entry.owner != owner):
        raise LeaseLostError(
            f"{what}: entry {key!r} is {entry.state}"
            + (f" (held by {entry.owner})" if entry.state is EntryState.CLAIMED else "")
            + f", not claimed by {owner or 'a worker'}"
        )
    return entry


def sent(core: Core, key: str, owner: str | None, now: float) -> Entry:
    """A claimed entry was put on the wire: it awaits VTEX's answer."""
    current = core.existing(key)
    if current.state is EntryState.SENT and (owner is None or current.owner == owner):
        return current
    entry = held(core, key, owner, "sent")
    waited = None if core.answer_timeout is None else now + core.answer_timeout
    return core.save_one(
        entry.evolve(state=EntryState.SENT, due=waited, reason="sent; awaiting VTEX's answer"), now
    )


def release(core: Core, key: str, owner: str | None, now: float) -> Entry:
    """Hand a claimed entry back unsent: claimable again at once."""
    entry = held(core, key, owner, "release")
    return core.save_one(entry.evolve(state=EntryState.READY, due=READY_DUE, reason="released unsent"), now)


def sent_many(
    core: Core, keys: list[str], owner: str | None, now: float
) -> list[Entry | LeaseLostError | UnknownUpdateError]:
    """`sent` for several entries, one write: each entry as written, or the `LeaseLostError` its
    key met (the others are marked all the same)."""
    changes = Changes()
    answers: dict[str, Entry | LeaseLostError | UnknownUpdateError | str] = {}
    for key in sorted(set(keys)):  # (rows locked in one order by every batch: no deadlock)
        try:
            current = core.existing(key)
        except UnknownUpdateError as error:
            answers[key] = error
            continue
        if current.state is EntryState.SENT and (owner is None or current.owner == owner):
            answers[key] = current
            continue
        try:
            entry = held(core, key, owner, "sent")
        except LeaseLostError as error:
            answers[key] = error
            continue
        waited = None if core.answer_timeout is None else now + core.answer_timeout
        changes.put(entry.evolve(state=EntryState.SENT, due=waited, reason="sent; awaiting VTEX's answer"))
        answers[key] = key
    written = core.save(changes, now)
    return [_answered(answers[key], written) for key in keys]


def _answered(
    answer: Entry | LeaseLostError | UnknownUpdateError | str, written: dict[str, Entry]
) -> Entry | LeaseLostError | UnknownUpdateError:
    return written[answer] if isinstance(answer, str) else answer


def release_many(
    core: Core, keys: list[str], owner: str | None, now: float
) -> list[Entry | LeaseLostError | UnknownUpdateError]:
    """`release` for several entries, one write (as `sent_many`)."""
    changes = Changes()
    answers: dict[str, Entry | LeaseLostError | UnknownUpdateError | str] = {}
    for key in sorted(set(keys)):  # (rows locked in one order by every batch: no deadlock)
        try:
            entry = held(core, key, owner, "release")
        except (LeaseLostError, UnknownUpdateError) as error:
            answers[key] = error
            continue
        changes.put(entry.evolve(state=EntryState.READY, due=READY_DUE, reason="released unsent"))
        answers[key] = key
    written = core.save(changes, now)
    return [_answered(answers[key], written) for key in keys]
