"""A progress line on standard error for long replays and batches, only on a terminal.

Never in a pipe or a file (nothing at all is written there), at most ten redraws a second,
none in the first half second (a short run shows nothing), and erased at the end: standard
output is untouched.
"""

from __future__ import annotations

import os
import stat
import sys
import time
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import IO, Any, TextIO, TypeVar

__all__ = ["Progress", "file_size", "progress_on_terminal"]

_clock = time.monotonic  # (the tests step a clock of their own here)
DELAY, INTERVAL, WIDTH = 0.5, 0.1, 20
_ERASE = "\r\x1b[K"
T = TypeVar("T")


def _isatty(stream: Any) -> bool:
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError, OSError):  # no such method, or a closed stream
        return False


def _width(stream: Any) -> int:
    """The terminal's width in columns (80 when it cannot say)."""
    try:
        return os.get_terminal_size(stream.fileno()).columns or 80
    except (AttributeError, ValueError, OSError):
        return 80


def file_size(source: str | IO[bytes]) -> int | None:
    """The size in bytes of a regular file (a path, or an open stream on one), else None."""
    try:
        info = Path(source).stat() if isinstance(source, str) else os.fstat(source.fileno())
    except (OSError, ValueError, AttributeError):
        return None
    return info.st_size if stat.S_ISREG(info.st_mode) else None


def _bytes(count: float) -> str:
    unit = "B"
    for larger in ("kB", "MB", "GB"):
        if count < 1000:
            break
        count, unit = count / 1000, larger
    return f"{count:.0f} {unit}" if unit == "B" else f"{count:.1f} {unit}"


class Progress:
    """One line on `stream`, redrawn as lines are consumed: what share of `total` bytes, how
    many lines, how fast. ``with Progress(...) as p: for x in p.track(lines): ...``."""

    def __init__(self, label: str, total: int | None, stream: TextIO) -> None:
        self.label, self.total, self.stream = label, total, stream
        self.lines = self.done = 0
        self.start = self.last = _clock()
        self.drawn = 0  # how many times the line was drawn since it was last erased

    def track(self, items: Iterable[T], size: Any = len) -> Iterator[T]:
        """Yield `items`, counting each (its byte size by `size`) and redrawing when due."""
        for item in items:
            self.lines += 1
            self.done += size(item)
            now = _clock()
            if now - self.last >= INTERVAL and now - self.start >= DELAY:
                self.last = now
                self._draw(now)
            yield item

    def _draw(self, now: float) -> None:
        rate = self.lines / max(now - self.start, 1e-9)
        counted = f"{self.lines:,} lines, {rate:,.0f} lines/s"
        if self.total:
            share = min(self.done / self.total, 1.0)
            bar = "#" * int(share * WIDTH)
            shown = f"[{bar:<{WIDTH}}] {share:4.0%} {_bytes(self.done)} of {_bytes(self.total)}, {counted}"
        else:
            shown = f"{_bytes(self.done)}, {counted}"
        # Never wider than the terminal: a wrapped line is not erased by the next redraw.
        line = f"{self.label}: {shown}"[: max(_width(self.stream) - 1, 1)]
        self.stream.write(f"{_ERASE}{line}")
        self.stream.flush()
        self.drawn += 1

    def close(self) -> None:
        """Erase the line, if it is drawn (closing again does nothing)."""
        if self.drawn:
            self.stream.write(_ERASE)
            self.stream.flush()
            self.drawn = 0

    def __enter__(self) -> Progress:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def progress_on_terminal(
    label: str, total: int | None, *, wanted: bool, out: TextIO | None = None
) -> Progress | None:
    """A `Progress` on standard error when it is a terminal (and `out`, when given, is not: the
    output would break the line), else None."""
    stream = sys.stderr
    if not wanted or not _isatty(stream) or (out is not None and _isatty(out)):
        return None
    return Progress(label, total, stream)
