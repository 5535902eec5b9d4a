"""Argument checks: each refuses a value the call does not accept with `InvalidArgumentError`, its
message naming the argument, what is valid and what was given.

A bool is never a number here (``True`` is an int to Python, never a count or a timeout to a
caller), and the messages are the library's wording, so that a check is one call wherever it is
made.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from typing import Literal, TypeGuard, overload

from ._text import shown
from .errors import InvalidArgumentError

__all__ = [
    "expect",
    "expect_id",
    "expect_int",
    "expect_iterable",
    "expect_number",
    "expect_seconds",
    "is_number",
    "is_seconds",
]


def is_number(value: object) -> TypeGuard[int | float]:
    """Whether `value` is an int or a float, and not a bool (any value, infinities and NaN too)."""
    return not isinstance(value, bool) and isinstance(value, int | float)


def is_seconds(value: object, *, positive: bool = False, optional: bool = False) -> bool:
    """Whether `value` is a duration in seconds: a finite number (`is_number`) at least 0 (more
    than 0 when `positive`); None too when `optional`."""
    if value is None:
        return optional
    return is_number(value) and math.isfinite(value) and (value > 0 if positive else value >= 0)


def expect(value: object, kind: type | tuple[type, ...], what: str) -> None:
    """Refuse an argument of the wrong type with `InvalidArgumentError` naming it."""
    if not isinstance(value, kind):
        names = " or ".join(k.__name__ for k in (kind if isinstance(kind, tuple) else (kind,)))
        article = "an" if names[0].lower() in "aeiou" else "a"
        raise InvalidArgumentError(
            f"{what} must be {article} {names}, not {type(value).__name__} {shown(value)}"
        )


def expect_iterable(value: object, what: str, of: str) -> None:
    """Refuse anything but an iterable of `of` (a string or bytes is one thing, not many) with
    `InvalidArgumentError` naming it."""
    if isinstance(value, str | bytes) or not isinstance(value, Iterable):
        raise InvalidArgumentError(
            f"{what} must be an iterable of {of}, not {type(value).__name__} {shown(value)}"
        )


def expect_id(value: object, what: str = "an order id") -> None:
    """Refuse anything but a non-empty string that every store can hold (valid Unicode, no NUL)
    as an id, with `InvalidArgumentError`."""
    if not isinstance(value, str) or not value:
        raise InvalidArgumentError(f"{what} is a non-empty string, not {shown(value)}")
    if "\x00" in value:  # PostgreSQL's text cannot hold it: refused everywhere alike
        raise InvalidArgumentError(f"{what} contains a NUL character: {shown(value)}")
    if not value.isascii():
        try:
            value.encode()
        except UnicodeEncodeError:  # a lone surrogate: no file, database or JSON can carry it
            raise InvalidArgumentError(f"{what} is not valid Unicode text: {shown(value)}") from None


@overload
def expect_int(
    value: object,
    what: str,
    *,
    minimum: int | None = None,
    maximum: int | None = None,
    optional: Literal[False] = False,
) -> int: ...
@overload
def expect_int(
    value: object, what: str, *, minimum: int | None = None, maximum: int | None = None, optional: bool
) -> int | None: ...
def expect_int(
    value: object,
    what: str,
    *,
    minimum: int | None = None,
    maximum: int | None = None,
    optional: bool = False,
) -> int | None:
    """`value` if it is an int (not a bool) from `minimum` to `maximum` (each bound inclusive,
    None for none), or None when `optional`; else `InvalidArgumentError`:
    ``{what} must be an integer >= {minimum}, not {value!r}`` with a minimum only,
    ``... an integer from {minimum} to {maximum}, ...`` with both, ``... an integer <=
    {maximum}, ...`` with a maximum only, ``... an integer, ...`` with neither; `optional`
    adds `` or None`` after the bounds.
    """
    if value is None and optional:
        return None
    if (
        isinstance(value, bool)
        or not isinstance(value, int)
        or (minimum is not None and value < minimum)
        or (maximum is not None and value > maximum)
    ):
        if minimum is not None and maximum is not None:
            bounds = f" from {minimum} to {maximum}"
        elif minimum is not None:
            bounds = f" >= {minimum}"
        elif maximum is not None:
            bounds = f" <= {maximum}"
        else:
            bounds = ""
        none = " or None" if optional else ""
        raise InvalidArgumentError(f"{what} must be an integer{bounds}{none}, not {value!r}")
    return value


def expect_number(
    value: object, what: str, must_be: str, within: Callable[[float], bool] = lambda _: True
) -> int | float:
    """`value`, unchanged, if it is an int or a float (not a bool, `is_number`) for which
    `within` holds (NaN and the infinities are refused only when `within` refuses them); else
    `InvalidArgumentError`: ``{what} must be {must_be}, not {value!r}``."""
    if not is_number(value) or not within(value):
        raise InvalidArgumentError(f"{what} must be {must_be}, not {value!r}")
    return value


def expect_seconds(
    value: object, what: str, *, positive: bool = False, wording: str = "a finite number of seconds"
) -> float:
    """`value` as a float if it is a duration in seconds (`is_seconds`: a finite int or float,
    not a bool, at least 0, or more than 0 when `positive`); else `InvalidArgumentError`:
    ``{what} must be {wording} >= 0, not {value!r}`` (``> 0`` when `positive`).

    The tracker's checks use the default wording; the client's say ``wording="a number of
    seconds"`` (its timeouts are positive).
    """
    if not is_number(value) or not is_seconds(value, positive=positive):
        bound = "> 0" if positive else ">= 0"
        raise InvalidArgumentError(f"{what} must be {wording} {bound}, not {value!r}")
    return float(value)
