"""Text shown to a person: values quoted in messages, "did you mean" suggestions, a validation
report's problems, how much of a long list a message shows."""

from __future__ import annotations

import difflib
import functools
from collections.abc import Iterable
from typing import Any

__all__ = [
    "MAX_DEFECTS_SHOWN",
    "MAX_SUGGESTED_LENGTH",
    "closest",
    "shown",
    "validation_problems",
]

MAX_DEFECTS_SHOWN = 100
"""How many defects an `InvalidModelError`'s message (and the CLI) lists; the rest are counted.
A model broken everywhere is fixed from its first defects, and its message stays readable."""


def shown(value: object) -> str:
    """A value as an error message quotes it: its repr, cut to 60 characters."""
    try:
        text = repr(value)
    except ValueError:  # an int past Python's 4,300 digits
        return f"a {type(value).__name__} too large to show"
    return text if len(text) <= 60 else text[:57] + "..."


def validation_problems(error: Any, *, with_input: bool = False) -> list[tuple[str, str]]:
    """A pydantic ``ValidationError``'s problems as (path, message), the path spelled
    ``statuses[3].meaning`` (empty for the whole document); `with_input` adds the bad value."""
    problems = []
    for item in error.errors(include_url=False):
        path = "".join(f"[{part}]" if isinstance(part, int) else f".{part}" for part in item["loc"])
        got = f" (got {item['input']!r})" if with_input and item["type"] != "missing" else ""
        problems.append((path.lstrip("."), f"{item['msg']}{got}"))
    return problems


MAX_SUGGESTED_LENGTH = 64
"""Names longer than this get no "did you mean": no valid name is nearly that long, and matching
costs time in the length (a 10 MB batch line naming a status must cost no more than a short one)."""

_SHORTLIST = 6
"""How many valid names, nearest by shared letter pairs, difflib compares a value with."""


def closest(value: str, valid: Iterable[str], n: int = 3) -> tuple[str, ...]:
    """The valid names nearest to `value`, best first (may be empty); case is not a difference.

    Bounded work for any input: nothing for a value longer than `MAX_SUGGESTED_LENGTH`, and
    difflib ranks only the few valid names that share the most letter pairs with it.
    """
    if not isinstance(value, str) or len(value) > MAX_SUGGESTED_LENGTH:
        return ()
    names = tuple(valid)
    if len(names) > _SHORTLIST:
        names = _shortlist(value, names)
    found = difflib.get_close_matches(value, names, n=n, cutoff=0.5)
    if not found:
        folded = {name.lower(): name for name in names}
        lower = value.lower()
        if lower != value or any(key != name for key, name in folded.items()):  # else: the same pass
            found = [folded[m] for m in difflib.get_close_matches(lower, list(folded), n=n, cutoff=0.5)]
    return tuple(found)


def _pairs(text: str) -> frozenset[str]:
    return frozenset(text[i : i + 2] for i in range(len(text) - 1)) or frozenset((text,))


@functools.lru_cache(maxsize=64)  # a model has a few lists of valid names: statuses, actions, ...
def _pairs_of(names: tuple[str, ...]) -> tuple[frozenset[str], ...]:
    return tuple(_pairs(name.lower()) for name in names)


def _shortlist(value: str, names: tuple[str, ...]) -> tuple[str, ...]:
    """The `_SHORTLIST` names sharing the most letter pairs with `value` (Dice's coefficient)."""
    mine = _pairs(value.lower())
    theirs = _pairs_of(names)
    scores = [len(mine & pairs) / (len(mine) + len(pairs)) for pairs in theirs]
    best = sorted(range(len(names)), key=scores.__getitem__, reverse=True)[:_SHORTLIST]
    return tuple(names[i] for i in best)
