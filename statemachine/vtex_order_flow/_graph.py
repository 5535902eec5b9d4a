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
from .errors import ModelTooLargeError

__all__ = [
    "AUTOMATIC",
    "MAX_STATES",
    "Edge",
    "State",
    "Transition",
    "closure",
    "dominated",
    "fact_places",
    "guard_facts",
    "inevitable",
    "reachable",
    "states",
    "step",
]


class Edge(Protocol):
    """What reachability reads of a move: where it starts and ends."""

    @property
    def source(self) -> str: ...
    @property
    def dest(self) -> str: ...


class Transition(Edge, Protocol):
    """What the other queries read of a move (`_model.Transition` is one): they need no more."""

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
    def clears(self) -> frozenset[str]: ...
    @property
    def is_self_loop(self) -> bool: ...


AUTOMATIC = frozenset({Cause.PLATFORM, Cause.TIMER})
"""The causes that move an order on by themselves."""

MAX_STATES = 10_000
"""How many (status, facts) combinations a flow may have before the model is refused as too
large: each costs memory and time in every derivation (the bundled model's flows have 18 to 49)."""


def reachable(starts: Iterable[str], transitions: Iterable[Edge], avoid: Collection[str] = ()) -> set[str]:
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
"""Where an order is, for the searches: its status and the facts that hold."""


def guard_facts(transitions: Iterable[Transition]) -> frozenset[str]:
    """The facts some guard tests: only they can change where an order may go."""
    return frozenset(f for t in transitions for f in (*t.requires, *t.unless))


def step(
    held: frozenset[str], t: Transition, close: Callable[[Iterable[str]], frozenset[str]]
) -> frozenset[str]:
    """The facts after move `t` from `held`: what it sets (with what that implies), less what it clears."""
    if not t.sets and not t.clears:
        return held
    return (held | close(t.sets)) - t.clears


def states(
    initial: str,
    transitions: Iterable[Transition],
    close: Callable[[Iterable[str]], frozenset[str]],
    avoid: Collection[str] = (),
) -> set[State]:
    """Every (status, facts) an order can be in, from `initial` with no facts, never entering `avoid`.

    Facts change through each move's `sets` (with what they imply) and `clears`. Only the facts
    some guard tests are tracked (no other can change where an order goes), so the states grow
    with the guards, not with every fact a move records. A fact no move sets is the caller's,
    unknown here, so it blocks no move.
    """
    moves = list(transitions)
    tested = guard_facts(moves)
    tracked = close(fact for t in moves for fact in t.sets) & tested
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
            nxt = (t.dest, step(held, t, close) & tested)
            if nxt not in seen and t.dest not in avoid:
                seen.add(nxt)
                queue.append(nxt)
                if len(seen) > MAX_STATES:
                    raise ModelTooLargeError(
                        f"more than {MAX_STATES:,} (status, facts) combinations from {initial!r}: "
                        f"{len(tracked)} facts are both set by moves and read by guards "
                        f"({', '.join(sorted(tracked))}); fewer such facts keep the graph tractable"
                    )
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
            if all(not t.by_action and t.cause in AUTOMATIC and t.dest in done for t in ways):
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

    A fact holds from a move that sets it (from a state the order can be in) until a move that
    clears it. Facts no move sets are the caller's alone, and are not in the mapping (they may
    hold anywhere).
    """
    moves = list(transitions)
    tested = guard_facts(moves)
    tracked = close(fact for t in moves for fact in t.sets) & tested
    reachable_states = states(initial, moves, close)
    outs: dict[str, list[Transition]] = {}
    for t in moves:
        outs.setdefault(t.source, []).append(t)

    def allowed(t: Transition, held: frozenset[str]) -> bool:
        # As in `states`: guards on the caller's facts (no move sets them) block nothing.
        return (t.requires & tracked) <= held and not (t.unless & tracked & held)

    places: dict[str, frozenset[str]] = {}
    for fact in close(f for t in moves for f in t.sets):
        # Where the order is right after a move that sets the fact, then onwards until cleared.
        starts = {
            (t.dest, step(held, t, close) & tested)
            for status, held in reachable_states
            for t in outs.get(status, ())
            if allowed(t, held) and fact in close(t.sets) and fact not in t.clears
        }
        seen, queue = set(starts), deque(starts)
        while queue:
            status, held = queue.popleft()
            for t in outs.get(status, ()):
                if fact in t.clears or not allowed(t, held):
                    continue
                nxt = (t.dest, step(held, t, close) & tested)
                if nxt not in seen:
                    seen.add(nxt)
                    queue.append(nxt)
        places[fact] = frozenset(status for status, _ in seen)
    return places
