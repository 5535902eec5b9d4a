"""Batch decisions: JSON Lines in, JSON Lines out, exactly one output line per input line."""

from __future__ import annotations

import itertools
import json
from collections import OrderedDict
from collections.abc import Iterable
from json.encoder import encode_basestring_ascii
from typing import IO, Any

from ._flowmodel import FlowModel
from ._guards import expect, expect_iterable
from ._text import shown
from .errors import (
    ContradictoryFactsError,
    InvalidArgumentError,
    ModelTooLargeError,
    UnknownNameError,
    VtexOrderFlowError,
)

__all__ = ["BATCH_FIELDS", "decide_lines"]

BATCH_FIELDS = ("status", "action", "flow", "facts", "id")
_FIELDS = frozenset(BATCH_FIELDS)
_decoder = json.JSONDecoder()
_loads = _decoder.decode
_scan_once = _decoder.scan_once  # type: ignore[attr-defined]  # the C scanner: one JSON value from an index, no whitespace checks
_JSON_SPACE = " \t\r\n"
_BOM = b"\xef\xbb\xbf"  # UTF-8's byte-order mark, which some editors put at a file's start


def _parse(raw: bytes) -> Any:
    """One JSON value per line, exactly as json.loads would parse it, minus its overhead."""
    text = raw.decode("utf-8").strip(_JSON_SPACE)
    try:
        value, end = _scan_once(text, 0)
    except (StopIteration, ValueError):
        return _loads(text)  # raises the JSONDecodeError that names what is wrong
    if end != len(text):
        return _loads(text)
    return value


_dumps = json.JSONEncoder(
    ensure_ascii=True, separators=(",", ":"), allow_nan=False
).encode  # (valid JSON only)


class _BadLineError(VtexOrderFlowError):
    def __init__(self, kind: str, message: str, extra: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.kind = kind
        self.message = message
        self.extra = extra or {}


def _json_id(record: Any) -> str:
    if type(record) is not dict or "id" not in record:
        return "null"
    value = record["id"]
    if type(value) is str:
        return encode_basestring_ascii(value)
    if type(value) is int:
        return str(value)
    try:
        return _dumps(value)
    except (TypeError, ValueError):
        return "null"


_VALUE_SHOWN = 200
"""How many characters of a bad value an error body's ``value`` carries (with ``value_length``
when it was longer): a 10 MB status must not make a 10 MB output line."""


def _value(value: str) -> dict[str, Any]:
    """The ``value`` member of an error body, cut to `_VALUE_SHOWN` characters."""
    if len(value) <= _VALUE_SHOWN:
        return {"value": value}
    return {"value": value[:_VALUE_SHOWN], "value_length": len(value)}


def _error_body(error: _BadLineError) -> str:
    return '"ok":false,"error":' + _dumps({"kind": error.kind, "message": error.message, **error.extra})


def _decision_body(model: FlowModel, record: dict[str, Any]) -> str:
    """The JSON members after ``line`` and ``id`` for one well-formed record (slow path)."""
    unknown = sorted(set(record) - _FIELDS)
    if unknown:
        raise _BadLineError(
            "unknown-field",
            f"unknown field {shown(unknown[0])}; valid fields: {', '.join(BATCH_FIELDS)}",
            _value(unknown[0]),
        )
    for name in ("status", "action"):
        if name not in record:
            raise _BadLineError("missing-field", f"missing field {name!r}", {"value": name})
    for name in ("status", "action", "flow"):
        if name in record and type(record[name]) is not str:
            raise _BadLineError(
                "bad-field", f"field {name!r} must be a string, not {shown(record[name])}", {"value": name}
            )
    facts = record.get("facts")
    if facts is not None and type(facts) is not dict:
        raise _BadLineError("bad-field", f"field 'facts' must be an object of true/false, not {shown(facts)}")
    try:
        decision = model.decide(record["status"], record["action"], record.get("flow"), facts)
    except UnknownNameError as error:
        raise _BadLineError(
            "contradictory-facts" if isinstance(error, ContradictoryFactsError) else f"unknown-{error.kind}",
            str(error),
            {**_value(error.value), "suggestions": list(error.suggestions)},
        ) from None
    except ModelTooLargeError as error:  # this question's search is past the limit: the line's error
        raise _BadLineError("too-large", str(error)) from None
    return '"ok":true,' + _dumps(decision.to_dict())[1:-1]


def _body(model: FlowModel, record: Any) -> str:
    if type(record) is not dict:
        return _error_body(_BadLineError("not-an-object", "each line must be one JSON object"))
    try:
        return _decision_body(model, record)
    except _BadLineError as error:
        return _error_body(error)


_Key = tuple[str, str, str | None, frozenset[tuple[str, bool]] | None]

_GOOD_LIMIT = 100_000
"""Decisions remembered per batch: every question the bundled model can answer many times over."""
_BAD_LIMIT = 1_024
"""Error bodies remembered per batch, the most recently used: a bad line repeated costs nothing,
a million distinct bad lines cost no memory."""


class _Bodies:
    """Output bodies by record: good decisions (up to `_GOOD_LIMIT`), and the last `_BAD_LIMIT`
    error bodies (each distinct unknown name costs a "did you mean" once, then ages out)."""

    def __init__(self) -> None:
        self.good: dict[_Key, str] = {}
        self.bad: OrderedDict[_Key, str] = OrderedDict()

    def miss(self, key: _Key, model: FlowModel, record: Any) -> str:
        """The body of a record not in `good`: from `bad`, or derived and remembered."""
        body = self.bad.get(key)
        if body is not None:
            self.bad.move_to_end(key)
            return body
        body = _body(model, record)
        if body.startswith('"ok":f'):
            self.bad[key] = body
            if len(self.bad) > _BAD_LIMIT:
                self.bad.popitem(last=False)
        elif len(self.good) < _GOOD_LIMIT:
            self.good[key] = body
        return body


def _without_bom(lines: Iterable[bytes]) -> Iterable[bytes]:
    """`lines` with a byte-order mark dropped from the first (only there: elsewhere it is data)."""
    iterator = iter(lines)
    first = next(iterator, None)
    if first is None:
        return ()
    if isinstance(first, bytes) and first.startswith(_BOM):
        first = first[len(_BOM) :]
    return itertools.chain((first,), iterator)


def decide_lines(model: FlowModel, lines: Iterable[bytes], out: IO[str]) -> int:
    """Decide every JSON Lines record of `lines`, writing one line per input line, in order.

    Each output line is ``{"line": N, "id": <the input's id>, "ok": true, <decision>}`` or
    ``{"line": N, "id": ..., "ok": false, "error": {"kind", "message", ...}}``. Returns how many
    lines were bad. A byte-order mark at the start of line 1 is dropped. Decisions are cached by
    record, so a large file costs little more than parsing it; error bodies too, a bounded number
    of them (`_Bodies`); an error's ``value`` is cut to 200 characters (``value_length`` says how
    long it was).
    """
    expect(model, FlowModel, "decide_lines's model")
    expect_iterable(lines, "decide_lines's lines", "bytes")
    if not callable(getattr(out, "write", None)):
        raise InvalidArgumentError(f"decide_lines's out must be a text stream, not {shown(out)}")
    lines = _without_bom(lines)
    bodies = _Bodies()
    good = bodies.good
    bad = 0
    buffer: list[str] = []
    for number, raw in enumerate(lines, 1):
        record: Any = None
        try:
            record = _parse(raw)
        except UnicodeDecodeError as error:
            body = _error_body(_BadLineError("bad-encoding", f"not UTF-8: {error}"))
        except (ValueError, RecursionError) as error:  # JSONDecodeError, or nesting too deep
            body = _error_body(_BadLineError("bad-json", f"not JSON: {error}"))
        except AttributeError:  # (no .decode: the caller's mistake, not a bad line of input)
            raise InvalidArgumentError(
                f"decide_lines's lines must yield bytes, not {type(raw).__name__}"
            ) from None
        else:
            # Fast path: a well-typed record is decided once per distinct content, then reused.
            if type(record) is dict and record.keys() <= _FIELDS:
                status = record.get("status")
                action = record.get("action")
                flow = record.get("flow")
                facts = record.get("facts")
                if (
                    type(status) is str
                    and type(action) is str
                    and (flow is None or type(flow) is str)
                    and (
                        facts is None
                        or (type(facts) is dict and all(type(v) is bool for v in facts.values()))
                    )
                ):
                    key = (status, action, flow, frozenset(facts.items()) if facts else None)
                    body = good.get(key)  # type: ignore[assignment]
                    if body is None:
                        body = bodies.miss(key, model, record)
                else:
                    body = _body(model, record)
            else:
                body = _body(model, record)
        if body.startswith('"ok":f'):
            bad += 1
        # The common id, a string, is encoded inline; anything else goes through _json_id.
        ident = record.get("id") if type(record) is dict else None
        id_json = encode_basestring_ascii(ident) if type(ident) is str else _json_id(record)
        buffer.append(f'{{"line":{number},"id":{id_json},{body}}}\n')
        if len(buffer) >= 4096:
            out.write("".join(buffer))
            buffer.clear()
    out.write("".join(buffer))
    return bad
