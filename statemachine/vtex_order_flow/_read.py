"""Reading a model file within limits: the limits a caller may set, the bundled files, and a file
read at most `max_bytes` long, refused when it is not a regular file, not UTF-8, not TOML or
nested too deep (`_toml_guard`)."""

from __future__ import annotations

import os
import stat
import tomllib
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

from ._text import shown
from ._toml_guard import check_depth, scan_depth
from .errors import InvalidArgumentError, ModelFileError, ModelFileTooDeepError, ModelFileTooLargeError

__all__ = [
    "BUNDLED_MODELS",
    "MAX_MODEL_BYTES",
    "MAX_MODEL_DEPTH",
    "MAX_MODEL_EXTENDS",
    "Limits",
    "limits",
    "read_bundled",
    "read_file",
]

BUNDLED_MODELS = ("vtex",)

MAX_MODEL_BYTES = 1024 * 1024
"""The largest model file `load_model` reads by default, 1 MiB: the bundled model, the whole of
VTEX's documented flow with its sources and notes, is about 70 KB; a file fifteen times larger is
no hand-written model, and parsing and checking it would take seconds and memory for nothing."""

MAX_MODEL_DEPTH = 32
"""How deep a model file's tables and arrays may nest by default: the schema itself nests 6 levels
(an action's error rules' statuses); 32 leaves room for any tool's output and stays far below
the depth at which the TOML parser and pydantic run out of stack."""

MAX_MODEL_EXTENDS = 16
"""How many `extends` links a model may follow by default (a file extending one that extends
another, ...): a real model extends the bundled one, or a company base that does; 16 models each
up to `MAX_MODEL_BYTES` bound what one load reads (17 MiB at most) and how deep it recurses."""

_CEILINGS = {"max_bytes": 1 << 30, "max_depth": 256, "max_extends": 256}
"""The largest limits a caller may set: a 1 GiB model file, nesting 256 levels (pydantic's report
of a nested value recurses: 1,000 levels overflow Python's stack there, 800 do not), 256 links of
`extends` (each a stack frame)."""

_CHUNK = 1 << 20
"""A model file is read a MiB at a time, so that a large `max_bytes` allocates nothing up front."""


@dataclass(frozen=True, slots=True)
class Limits:
    """What the loader accepts from a model file (`load_model`'s keyword arguments)."""

    max_bytes: int = MAX_MODEL_BYTES
    max_depth: int = MAX_MODEL_DEPTH
    allow_extends_outside: bool = False
    max_extends: int = MAX_MODEL_EXTENDS


def limits(
    max_bytes: object, max_depth: object, allow_extends_outside: object, max_extends: object
) -> Limits:
    """The limits `load_model` and `model_from_mapping` were given, checked."""
    for value, name in ((max_bytes, "max_bytes"), (max_depth, "max_depth"), (max_extends, "max_extends")):
        if type(value) is not int or value < 1:
            raise InvalidArgumentError(f"{name} must be a positive int, not {shown(value)}")
        if value > _CEILINGS[name]:
            raise InvalidArgumentError(
                f"{name} must be at most {_CEILINGS[name]:,}, not {shown(value)}"
                " (no model file needs more; this bounds the work a file can cause)"
            )
    if type(allow_extends_outside) is not bool:
        raise InvalidArgumentError(
            f"allow_extends_outside must be a bool, not {shown(allow_extends_outside)}"
        )
    return Limits(max_bytes, max_depth, allow_extends_outside, max_extends)  # type: ignore[arg-type]


def read_bundled(name: str) -> dict[str, Any]:
    text = resources.files(__package__).joinpath("data", f"{name}.toml").read_text("utf-8")
    return tomllib.loads(text)


def read_file(file: Path, limits: Limits) -> dict[str, Any]:
    name = str(file)
    try:
        # Non-blocking, so that a FIFO is refused below instead of waiting for a writer.
        fd = os.open(file, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_BINARY", 0))
    except FileNotFoundError:
        raise ModelFileError(name, "no such file") from None
    except IsADirectoryError:
        raise ModelFileError(name, "is a directory") from None
    except (OSError, ValueError) as error:  # ValueError: a NUL in the path
        raise ModelFileError(name, str(error)) from None
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise ModelFileError(name, f"is {_kind(info.st_mode)}, not a regular file")
        with os.fdopen(fd, "rb", closefd=False) as handle:
            data = _read_at_most(handle, limits.max_bytes + 1)  # never more, whatever the file
    except ModelFileError:
        raise
    except OSError as error:
        raise ModelFileError(name, str(error)) from None
    finally:
        os.close(fd)
    if len(data) > limits.max_bytes:  # the file may have grown since fstat: report the larger
        raise ModelFileTooLargeError(name, max(len(data), info.st_size), limits.max_bytes)
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as error:
        raise ModelFileError(name, str(error)) from None
    scan_depth(text, name, limits.max_depth)
    try:
        parsed = tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        raise ModelFileError(name, f"not valid TOML: {error}") from None
    except RecursionError:  # arrays or inline tables nested past the parser's stack
        raise ModelFileTooDeepError(name, None, limits.max_depth) from None
    check_depth(parsed, name, limits.max_depth)
    return parsed


def _read_at_most(handle: Any, size: int) -> bytes:
    """Up to `size` bytes, read a chunk at a time: memory follows the file, not the limit."""
    chunks: list[bytes] = []
    left = size
    while left > 0:
        chunk = handle.read(min(left, _CHUNK))
        if not chunk:
            break
        chunks.append(chunk)
        left -= len(chunk)
    return b"".join(chunks)


def _kind(mode: int) -> str:
    kinds = (
        (stat.S_ISDIR, "a directory"),
        (stat.S_ISFIFO, "a FIFO"),
        (stat.S_ISCHR, "a character device"),
        (stat.S_ISBLK, "a block device"),
        (stat.S_ISSOCK, "a socket"),
    )
    return next((what for test, what in kinds if test(mode)), "a special file")
