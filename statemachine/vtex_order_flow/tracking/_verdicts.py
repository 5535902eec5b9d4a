"""An entry decided again: the model's verdict in the order's status, as a typed change of the
entry (a `Ruling`); pure functions of the flow's tables, no store."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, replace

from .. import Decision, FlowModel, Verdict
from ..errors import ContradictoryFactsError, UnknownNameError
from ._changes import OrderState, Snapshot
from ._types import DropClass, Entry, EntryState

__all__ = ["READY_DUE", "REOPENABLE", "FlowTables", "Redecided", "Ruling", "redecide"]

READY_DUE = 0.0
"""A ready entry's `due`: before any time, so that it is claimable at once (a clock stepped back
by NTP holds up nothing) and claims take ready entries before retries, by ``seq``."""

REOPENABLE = (EntryState.PENDING, EntryState.READY, EntryState.RETRY)
"""States in which a second registration with new facts or payload updates the entry."""


class FlowTables:
    """What the tracker asks of its model, computed once per tracker for its flow."""

    def __init__(self, model: FlowModel, flow: str) -> None:
        self.model = model
        self.flow = flow
        members = {s.id for s in model.statuses_in(flow)}
        self.members = frozenset(members)
        self.terminal = frozenset(s for s in members if model.statuses[s].terminal)
        self.reach = {status: model.reachable(status, flow) for status in members}
        self.places = model.fact_places(flow)
        self.domain = model.flow(flow).domain.casefold()
        self.repeatable = frozenset(a for a in model.actions if model.repeatable(flow, a))
        self.moves = model.move_facts(flow)
        self.initial = model.flow(flow).initial
        self.operations = {a.operation: a.name for a in model.actions.values() if a.operation}

    def decide(self, status: str, action: str, facts: frozenset[str]) -> Decision:
        """The model's decision in this flow."""
        return self.model.decide(status, action, self.flow, facts)

    def visible(self, facts: frozenset[str], status: str) -> frozenset[str]:
        """The order's facts that can hold in `status` (one carried past where it holds is not)."""
        return frozenset(f for f in facts if f not in self.places or status in self.places[f])

    def moved_facts(self, before: str, after: str, facts: frozenset[str]) -> frozenset[str]:
        """The facts an order carries after the move `before` -> `after` (what the move's
        transition sets, less what it clears)."""
        move = self.moves.get((before, after))
        return facts if move is None else (facts - move[1]) | move[0]


@dataclass(frozen=True, slots=True)
class Ruling:
    """What the model makes of an entry: its new state, reason, drop class and due time, and the
    status it was decided in (None: the entry's is kept)."""

    state: EntryState
    reason: str
    status: str | None = None
    drop: DropClass | None = None
    due: float | None = None

    def holds_for(self, entry: Entry) -> bool:
        """Whether the entry already is as ruled (`applied_to` would change nothing)."""
        return (
            entry.state is self.state
            and entry.reason == self.reason
            and (self.status is None or entry.status == self.status)
            and entry.drop is self.drop
            and entry.due == self.due
        )

    def applied_to(self, entry: Entry) -> Entry:
        """The entry as ruled."""
        return entry.evolve(
            state=self.state,
            reason=self.reason,
            status=entry.status if self.status is None else self.status,
            drop=self.drop,
            due=self.due,
        )


def rule(tables: FlowTables, entry: Entry, status: str, order_facts: frozenset[str]) -> Ruling:
    """The entry as the model decides it in `status`: ready, pending or dropped."""
    try:
        decision = tables.decide(status, entry.action, tables.visible(order_facts, status) | entry.facts)
    except ContradictoryFactsError as error:
        return Ruling(EntryState.DROPPED, str(error), status, DropClass.IMPOSSIBLE)
    except UnknownNameError as error:
        return Ruling(EntryState.PENDING, f"cannot decide yet: {error}", status)
    if decision.verdict is Verdict.SEND:
        return Ruling(EntryState.READY, decision.reason, status, due=READY_DUE)
    if decision.verdict is Verdict.DEFER:
        return Ruling(EntryState.PENDING, decision.reason, status)
    drop = DropClass.ALREADY_DONE if decision.already_done else DropClass.IMPOSSIBLE
    return Ruling(EntryState.DROPPED, decision.reason, status, drop)


def from_the_start(tables: FlowTables, action: str, facts: frozenset[str], linked: bool) -> Decision | None:
    """The decision for an order no event named yet, where the flow starts (VTEX does not have
    the order): only a send is taken, the update that brings the order into VTEX (create; if
    VTEX has it after all, it answers so: EOI007, done). None (wait for the order's first event)
    for anything else, and for an order VTEX has given an id to (`linked`)."""
    if linked:
        return None
    try:
        decision = tables.decide(tables.initial, action, facts)
    except (ContradictoryFactsError, UnknownNameError):
        return None
    return decision if decision.verdict is Verdict.SEND else None


def rule_unknown(tables: FlowTables, entry: Entry, linked: bool) -> Ruling:
    """An entry of an order no event named yet: sendable only from where the flow starts,
    otherwise waiting for the order's first event."""
    decision = from_the_start(tables, entry.action, entry.facts, linked)
    if decision is None:
        return Ruling(EntryState.PENDING, "waiting for the order's first event")
    return Ruling(
        EntryState.READY,
        f"VTEX does not have the order yet: {decision.reason}",
        tables.initial,
        due=READY_DUE,
    )


def rule_now(tables: FlowTables, entry: Entry, snapshot: Snapshot) -> Ruling:
    """The entry as the model decides it from its order as the snapshot holds it (its status
    and facts; with none, whether VTEX gave it an id)."""
    order = snapshot.order(entry.order_id)
    if order.status is None:
        return rule_unknown(tables, entry, entry.order_id in snapshot.linked_from)
    return rule(tables, entry, order.status, order.facts)


@dataclass(frozen=True, slots=True)
class Redecided:
    """The open entries of an order that changed when it was decided again, by what became of
    them (each still to be written)."""

    ready: tuple[Entry, ...] = ()
    dropped: tuple[Entry, ...] = ()
    done: tuple[Entry, ...] = ()
    changed: tuple[Entry, ...] = ()
    """Every changed entry, in the order of the open entries (``seq``): the order written."""


def redecide(tables: FlowTables, entries: Iterable[Entry], status: str, facts: frozenset[str]) -> Redecided:
    """Decide an order's open entries again after its status or facts changed: the entries that
    change (a claimed one waits for its worker; a sent one for VTEX's answer, unless the order
    shows VTEX applied it; a retry for its time, unless it can no longer succeed)."""
    ready: list[Entry] = []
    dropped: list[Entry] = []
    done: list[Entry] = []
    changed: list[Entry] = []
    for entry in entries:
        if entry.state is EntryState.CLAIMED:
            continue  # a worker is sending it; its answer (or its lease expiring) decides
        ruling = rule(tables, entry, status, facts)
        if entry.state is EntryState.SENT:
            # Awaiting VTEX's answer, which decides, unless the order shows it was applied.
            if ruling.drop is not DropClass.ALREADY_DONE:
                continue
            decided = replace(
                entry,
                state=EntryState.DONE,
                status=status,
                reason=f"the order reached {status}: VTEX applied it",
            )
        elif entry.state is EntryState.RETRY and ruling.state is not EntryState.DROPPED:
            continue  # waits for its retry time (decided again when claimed)
        elif ruling.holds_for(entry):
            continue  # (decided as it is: no copy made)
        else:
            decided = ruling.applied_to(entry)
        if decided == entry:
            continue
        changed.append(decided)
        if decided.state is EntryState.READY and entry.state is not EntryState.READY:
            ready.append(decided)
        elif decided.state is EntryState.DROPPED:
            dropped.append(decided)
        elif decided.state is EntryState.DONE:
            done.append(decided)
    return Redecided(tuple(ready), tuple(dropped), tuple(done), tuple(changed))


def commutes(tables: FlowTables, entry: Entry, other: Entry, held: OrderState | None) -> bool:
    """Whether `entry` may go while `other`, of the same order, is on its way: VTEX accepts each
    whatever becomes of the other (each still sendable where the other moves the order). A
    cancel never goes while an approval is queued (the approval would be refused), nor a second
    partial invoice while the first is verified; two that commute both go."""
    if held is None or held.status is None or entry.action == other.action:
        return False
    status = held.status
    facts = tables.visible(held.facts, status)
    try:
        mine = tables.decide(status, entry.action, facts | entry.facts)
        theirs = tables.decide(status, other.action, facts | other.facts)
        if mine.verdict is not Verdict.SEND or theirs.verdict is not Verdict.SEND:
            return mine.verdict is not Verdict.SEND  # (not sendable: decided below)
        after_mine = mine.moves_to or status
        after_theirs = theirs.moves_to or status
        return (
            tables.decide(after_mine, other.action, facts | other.facts).verdict is Verdict.SEND
            and tables.decide(after_theirs, entry.action, facts | entry.facts).verdict is Verdict.SEND
        )
    except (ContradictoryFactsError, UnknownNameError):
        return False
