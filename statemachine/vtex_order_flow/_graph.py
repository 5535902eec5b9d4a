"""Graph queries over one flow: reachability, goals and their dominators, where facts can hold.

Pure functions of statuses and transitions; `FlowModel` wraps them with names and a cache. The
decisions (`_decide`), the model checks and the tests all ask the graph through these, so each
question has one answer.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Collection, Iterable
from typing import Protocol

from ._vocabulary import Cause

__all__ = ["Transition", "closure", "dominated", "fact_places", "inevitable", "reachable", "states"]


class Transition(Protocol):
    """What the queries read of a move (`_model.Transition` is one): they need no more."""

    @property
    def source(self) -> str: ...
    @property
    def dest(self) -> str: ...
    @property
    def cause(self) -> Cause: ...
    @property
    def by_action(self) -> bool: ...
    @property
    def requires(self) -> frozenset[str]: ...
    @property
    def unless(self) -> frozenset[str]: ...
    @property
    def sets(self) -> frozenset[str]: ...
    @property
    def is_self_loop(self) -> bool: ...


_AUTOMATIC = frozenset({Cause.PLATFORM, Cause.TIMER})


def reachable(
    starts: Iterable[str], transitions: Iterable[Transition], avoid: Collection[str] = ()
) -> set[str]:
    """Statuses reachable from `starts` (included) through `transitions`, never entering `avoid`."""
    exits: dict[str, list[str]] = {}
    for t in transitions:
        exits.setdefault(t.source, []).append(t.dest)
    seen = {s for s in starts if s not in avoid}
    queue = deque(seen)
    while queue:
        for nxt in exits.get(queue.popleft(), ()):
            if nxt not in seen and nxt not in avoid:
                seen.add(nxt)
                queue.append(nxt)
    return seen


State = tuple[str, frozenset[str]]


def states(
    initial: str,
    transitions: Iterable[Transition],
    close: Callable[[Iterable[str]], frozenset[str]],
    avoid: Collection[str] = (),
) -> set[State]:
    """Every (status, facts) an order can be in, from `initial` with no facts, never entering `avoid`.

    Facts grow through each move's `sets` (with what they imply). Guards are tested on the facts
    moves set; a fact no move sets is the caller's, unknown here, so it blocks no move.
    """
    moves = list(transitions)
    tracked = close(fact for t in moves for fact in t.sets)
    outs: dict[str, list[Transition]] = {}
    for t in moves:
        outs.setdefault(t.source, []).append(t)
    if initial in avoid:
        return set()
    start: State = (initial, frozenset())
    seen = {start}
    queue = deque([start])
    while queue:
        status, held = queue.popleft()
        for t in outs.get(status, ()):
            if not (t.requires & tracked) <= held or t.unless & tracked & held:
                continue
            nxt = (t.dest, held | close(t.sets) if t.sets else held)
            if nxt not in seen and t.dest not in avoid:
                seen.add(nxt)
                queue.append(nxt)
    return seen


def dominated(
    initial: str,
    members: Collection[str],
    transitions: Iterable[Transition],
    goals: Collection[str],
    close: Callable[[Iterable[str]], frozenset[str]],
) -> frozenset[str]:
    """The statuses every way from `initial` to which goes through one of `goals` (goals included).

    A status is dominated by the goal set when no order can reach it from the initial status
    without entering a goal status first (guards on the facts moves set are respected): an order
    there has been through a goal.
    """
    if not goals:
        return frozenset()
    free = {status for status, _ in states(initial, transitions, close, avoid=goals)}
    return frozenset(s for s in members if s not in free)


def inevitable(
    members: Collection[str], transitions: Iterable[Transition], goals: Collection[str]
) -> frozenset[str]:
    """Goal statuses, and statuses the platform and timers alone carry into one.

    A status is inevitable when it has a way out and every way out (self-loops aside) is an
    automatic move (platform or timer) into a goal or another inevitable status: nobody can
    stop it (an order the platform is already cancelling).
    """
    done = set(goals)
    outs: dict[str, list[Transition]] = {}
    for t in transitions:
        if not t.is_self_loop:
            outs.setdefault(t.source, []).append(t)
    changed = True
    while changed:
        changed = False
        for status in members:
            ways = outs.get(status)
            if status in done or not ways:
                continue
            if all(not t.by_action and t.cause in _AUTOMATIC and t.dest in done for t in ways):
                done.add(status)
                changed = True
    return frozenset(done)


def closure(names: Iterable[str], edges: Callable[[str], Iterable[str]]) -> frozenset[str]:
    """`names` and everything they lead to through `edges`, transitively."""
    found: set[str] = set()
    queue = deque(names)
    while queue:
        name = queue.popleft()
        if name not in found:
            found.add(name)
            queue.extend(edges(name))
    return frozenset(found)


def fact_places(
    initial: str,
    transitions: Iterable[Transition],
    close: Callable[[Iterable[str]], frozenset[str]],
) -> dict[str, frozenset[str]]:
    """For each fact some move sets (with what it implies): the statuses an order can carry it in.

    Facts no move sets are the caller's alone, and are not in the mapping (they may hold anywhere).
    """
    moves = list(transitions)
    places: dict[str, set[str]] = {fact: set() for fact in close(f for t in moves for f in t.sets)}
    for status, held in states(initial, moves, close):
        for fact in held:
            places[fact].add(status)
    return {fact: frozenset(where) for fact, where in places.items()}
