"""The depth guard: model text and data nested deeper than a limit are refused with bounded
work, before the TOML parser (`scan_depth`, on the text) and after it (`check_depth`, on the data)."""

from __future__ import annotations

import re
from collections.abc import Mapping

from .errors import ModelFileTooDeepError

__all__ = ["check_depth", "scan_depth"]

_BARE_KEY = re.compile(r"[A-Za-z0-9_-]+")
_BASIC_STRING = re.compile(r'"(?:[^"\\\n]|\\.)*"')
_LITERAL_STRING = re.compile(r"'[^'\n]*'")
_MULTILINE_BASIC = re.compile(r'"""(?:[^"\\]|\\.|"{1,2}(?!"))*"{3,5}', re.DOTALL)
_MULTILINE_LITERAL = re.compile(r"'''(?:[^']|'{1,2}(?!'))*'{3,5}")
_SPACE = re.compile(r"[ \t\r]*")
_SPACE_AND_LINES = re.compile(r"[ \t\r\n]*")
_COMMENT = re.compile(r"#[^\n]*")
_PLAIN = re.compile(r"[^\"'#\[\]{},\n]+")  # a number, date, bool or blanks in a value


def _skip(pattern: re.Pattern[str], text: str, pos: int) -> int:
    """Where `pattern` (one that may match nothing) stops matching from `pos`."""
    match = pattern.match(text, pos)
    return match.end() if match else pos


def _string_end(text: str, pos: int) -> int | None:
    """The end of the string starting at `pos`, None when it is not one."""
    quote = text[pos]
    if text.startswith(quote * 3, pos):
        match = (_MULTILINE_BASIC if quote == '"' else _MULTILINE_LITERAL).match(text, pos)
    else:
        match = (_BASIC_STRING if quote == '"' else _LITERAL_STRING).match(text, pos)
    return match.end() if match else None


def scan_depth(text: str, origin: str, limit: int) -> None:
    """Refuse TOML text whose keys, table headers or values nest deeper than `limit`, before the
    TOML parser sees it (its time and memory grow with the square of a dotted key's length).

    One pass, linear in the text: strings and comments are skipped, each key and header's dotted
    parts counted, brackets and braces in values stacked. The depth counted is the one the parsed
    data will have at least (the document is level 1, as in `check_depth`), so a file it lets
    through is still checked after parsing, and a file it refuses would have been refused then.
    Text it cannot follow (not TOML) is left to the parser, which stops there too: the scan stops.
    """
    n = len(text)
    pos = 0
    table = 1  # the depth of the table the current line's keys go into
    stack: list[tuple[str, int]] = []  # open arrays ('[') and inline tables ('{'), with their depths
    value_depth = 0  # the depth a container would have as the value of the key just read
    expect_key = True  # at a line start (outside values) or after '{' or ',' in an inline table

    def too_deep(at: int, depth: int) -> ModelFileTooDeepError:
        return ModelFileTooDeepError(origin, depth, limit, line=text.count("\n", 0, at) + 1)

    def key(at: int, base: int) -> int | None:
        """Read a dotted key from `at` into a table at depth `base`; its end, None if not a key."""
        parts = 0
        while True:
            at = _skip(_SPACE, text, at)
            if at < n and text[at] in "\"'":
                end = _string_end(text, at)
            else:
                match = _BARE_KEY.match(text, at)
                end = match.end() if match else None
            if end is None:
                return None
            parts += 1
            if base + parts - 1 > limit:  # each part but the last is a table
                raise too_deep(at, base + parts - 1)
            at = _skip(_SPACE, text, end)
            if at < n and text[at] == ".":
                at += 1
                continue
            nonlocal value_depth
            value_depth = base + parts
            return at

    while pos < n:
        if expect_key and not stack:  # a line: blank, a comment, a table header or key = value
            pos = _skip(_SPACE_AND_LINES, text, pos)
            if pos >= n:
                break
            char = text[pos]
            if char == "#":
                pos = _skip(_COMMENT, text, pos)
                continue
            if char == "[":
                array = text.startswith("[[", pos)
                end = key(pos + (2 if array else 1), 1)
                if end is None:
                    break
                table = value_depth + (1 if array else 0)  # [[a]]: the array, then its table
                if table > limit:
                    raise too_deep(pos, table)
                closing = "]]" if array else "]"
                if not text.startswith(closing, end):
                    break
                pos = end + len(closing)
                continue
            end = key(pos, table)
            if end is None or not text.startswith("=", end):
                break
            pos = end + 1
            expect_key = False
            continue
        if expect_key:  # a key in an inline table, or its end
            pos = _skip(_SPACE_AND_LINES, text, pos)
            if pos < n and text[pos] == "}":
                stack.pop()
                pos += 1
                expect_key = False
                continue
            end = key(pos, stack[-1][1])
            if end is None or not text.startswith("=", end):
                break
            pos = end + 1
            expect_key = False
            continue
        char = text[pos]
        if char in "\"'":
            end = _string_end(text, pos)
            if end is None:
                break
            pos = end
        elif char in "[{":
            depth = stack[-1][1] + 1 if stack and stack[-1][0] == "[" else value_depth
            if depth > limit:
                raise too_deep(pos, depth)
            stack.append((char, depth))
            pos += 1
            expect_key = char == "{"
        elif char in "]}":
            if not stack or stack[-1][0] != ("[" if char == "]" else "{"):
                break
            stack.pop()
            pos += 1
        elif char == ",":
            pos += 1
            expect_key = bool(stack) and stack[-1][0] == "{"
        elif char == "#":
            pos = _skip(_COMMENT, text, pos)
        elif char == "\n":
            pos += 1
            expect_key = not stack
        else:
            pos = _skip(_PLAIN, text, pos)


def check_depth(data: object, origin: str, limit: int) -> None:
    """Refuse data nested deeper than `limit` (walked without recursion, so any depth is safe)."""
    stack: list[tuple[object, int]] = [(data, 1)]
    while stack:
        value, depth = stack.pop()
        children = (
            value.values() if isinstance(value, Mapping) else value if isinstance(value, list | tuple) else ()
        )
        for child in children:
            if isinstance(child, Mapping | list | tuple):
                if depth + 1 > limit:
                    raise ModelFileTooDeepError(origin, depth + 1, limit)
                stack.append((child, depth + 1))
