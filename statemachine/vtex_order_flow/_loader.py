"""Load a model: read TOML, validate the schema, merge what it extends, check the graph, build."""

from __future__ import annotations

import functools
import os
import re
import stat
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from ._defects import Defect, Rule
from ._flowmodel import FlowModel
from ._guards import expect
from ._model import (
    ErrorRule,
    Fact,
    Flow,
    Prerequisite,
    ResultCode,
    Source,
    Status,
    Transition,
    Trigger,
)
from ._text import shown, validation_problems
from ._vocabulary import Cause, Confidence, FollowUp
from .errors import (
    ExtendsChainTooLongError,
    ExtendsOutsideFolderError,
    InvalidArgumentError,
    InvalidModelError,
    ModelFileError,
    ModelFileTooDeepError,
    ModelFileTooLargeError,
    UnknownModelError,
)

__all__ = [
    "BUNDLED_MODELS",
    "MAX_MODEL_BYTES",
    "MAX_MODEL_DEPTH",
    "MAX_MODEL_EXTENDS",
    "Limits",
    "build_model",
    "bundled_model",
    "decide",
    "load_model",
    "model_from_mapping",
    "resolve_spec",
    "validated_bundled_model",
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


if TYPE_CHECKING:
    from pydantic import BaseModel, ValidationError

    from ._decide import Decision, Facts
    from ._schema import ModelFile

_Spec = TypeVar("_Spec", bound="BaseModel")
_NO_GUARDS: tuple[frozenset[str], frozenset[str]] = (frozenset(), frozenset())


def bundled_model(name: str = "vtex") -> FlowModel:
    """A model shipped inside the package (``"vtex"``: VTEX's documented order flow), loaded once."""
    if not isinstance(name, str) or name not in BUNDLED_MODELS:
        raise UnknownModelError(name, BUNDLED_MODELS)
    return _bundled(name)


@functools.cache
def _bundled(name: str) -> FlowModel:
    # No pydantic here: the bundled file is checked by the test suite (test_bundled_fast_path),
    # so loading it costs a TOML parse and a build, which keeps the CLI's cold start short.
    return build_model(_read_bundled(name), f"bundled:{name}")


def validated_bundled_model(name: str = "vtex") -> FlowModel:
    """The bundled model through the full validating path (schema and graph checks)."""
    if not isinstance(name, str) or name not in BUNDLED_MODELS:
        raise UnknownModelError(name, BUNDLED_MODELS)
    return _finish(resolve_spec(_read_bundled(name), f"bundled:{name}", None), f"bundled:{name}")


def decide(status: str, action: str, flow: str | None = None, facts: Facts = None) -> Decision:
    """`FlowModel.decide` on the bundled VTEX model."""
    return _bundled("vtex").decide(status, action, flow, facts)


def load_model(
    path: str | os.PathLike[str],
    *,
    max_bytes: int = MAX_MODEL_BYTES,
    max_depth: int = MAX_MODEL_DEPTH,
    allow_extends_outside: bool = False,
    max_extends: int = MAX_MODEL_EXTENDS,
) -> FlowModel:
    """Load, merge and validate a model file.

    Raises `ModelFileError` when the file cannot be read, is not a regular file or is not TOML,
    and `InvalidModelError` (with every `Defect`) when it breaks the schema or a graph rule.
    Bad input costs bounded work: a file (or one it extends) larger than `max_bytes` raises
    `ModelFileTooLargeError`, tables and arrays nested deeper than `max_depth`
    `ModelFileTooDeepError`, and an `extends` that leads outside the folder of the file naming
    it (``../base.toml``, an absolute path, a symlink out) `ExtendsOutsideFolderError` unless
    `allow_extends_outside` (the bundled models are always allowed); a chain of more than
    `max_extends` files extending one another `ExtendsChainTooLongError`. The limits may be
    raised up to 1 GiB, 256 levels and 256 links.
    """
    if not isinstance(path, str | os.PathLike):
        raise ModelFileError(repr(path), f"a model file is named by a path, not {type(path).__name__}")
    limits = _limits(max_bytes, max_depth, allow_extends_outside, max_extends)
    file = Path(path)
    return _finish(resolve_spec(_read_file(file, limits), str(file), file.parent, limits=limits), str(file))


def model_from_mapping(
    data: Mapping[str, Any],
    origin: str = "<mapping>",
    base_dir: Path | None = None,
    *,
    max_bytes: int = MAX_MODEL_BYTES,
    max_depth: int = MAX_MODEL_DEPTH,
    allow_extends_outside: bool = False,
    max_extends: int = MAX_MODEL_EXTENDS,
) -> FlowModel:
    """Validate and build a model from already-parsed data (the shape of a model file).

    A file it extends is found in `base_dir` (the current folder when None); the limits are
    `load_model`'s, `max_depth` applying to `data` too.
    """
    limits = _limits(max_bytes, max_depth, allow_extends_outside, max_extends)
    if base_dir is not None and not isinstance(base_dir, Path):
        expect(base_dir, (str, os.PathLike), "model_from_mapping's base_dir")
        base_dir = Path(base_dir)
    _check_depth(data, origin, limits.max_depth)
    return _finish(resolve_spec(data, origin, base_dir, limits=limits), origin)


def _limits(
    max_bytes: object, max_depth: object, allow_extends_outside: object, max_extends: object
) -> Limits:
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


def _read_bundled(name: str) -> dict[str, Any]:
    text = resources.files(__package__).joinpath("data", f"{name}.toml").read_text("utf-8")
    return tomllib.loads(text)


def _read_file(file: Path, limits: Limits) -> dict[str, Any]:
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
    _scan_depth(text, name, limits.max_depth)
    try:
        parsed = tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        raise ModelFileError(name, f"not valid TOML: {error}") from None
    except RecursionError:  # arrays or inline tables nested past the parser's stack
        raise ModelFileTooDeepError(name, None, limits.max_depth) from None
    _check_depth(parsed, name, limits.max_depth)
    return parsed


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


def _scan_depth(text: str, origin: str, limit: int) -> None:
    """Refuse TOML text whose keys, table headers or values nest deeper than `limit`, before the
    TOML parser sees it (its time and memory grow with the square of a dotted key's length).

    One pass, linear in the text: strings and comments are skipped, each key and header's dotted
    parts counted, brackets and braces in values stacked. The depth counted is the one the parsed
    data will have at least (the document is level 1, as in `_check_depth`), so a file it lets
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


def _check_depth(data: object, origin: str, limit: int) -> None:
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


def _schema(data: Mapping[str, Any], origin: str) -> ModelFile:
    from pydantic import ValidationError

    from ._schema import ModelFile

    try:
        return ModelFile.model_validate(data)
    except ValidationError as error:
        raise InvalidModelError(origin, _schema_defects(error)) from None


def _schema_defects(error: ValidationError) -> list[Defect]:
    return [
        Defect(Rule.SCHEMA, path or "(file)", message)
        for path, message in validation_problems(error, with_input=True)
    ]


def resolve_spec(
    data: Mapping[str, Any],
    origin: str,
    base_dir: Path | None,
    _chain: tuple[str, ...] = (),
    *,
    limits: Limits = Limits(),
) -> ModelFile:
    """Validate a file's schema and, when it extends another model, merge it onto that model.

    A file it extends is read with the same `limits`, and must be inside `base_dir` (the folder
    of the file naming it) unless they allow otherwise.
    """
    spec = _schema(data, origin)
    if spec.extends is None:
        if spec.patch is not None or spec.remove is not None:
            raise InvalidModelError(
                origin,
                [Defect(Rule.BAD_OVERRIDE, "(file)", "[patch] and [remove] need `extends`")],
            )
        return spec
    if spec.extends in BUNDLED_MODELS:
        base_origin, base_dir_of_base = f"bundled:{spec.extends}", None
    else:
        # Resolved, so that a cycle through `../` or a symlink is the same path each time round.
        folder = (base_dir or Path.cwd()).resolve()
        try:
            base_path = (folder / spec.extends).resolve()
        except (OSError, ValueError, RuntimeError) as error:  # a NUL, a symlink loop
            raise ModelFileError(spec.extends, str(error)) from None
        if not limits.allow_extends_outside and not base_path.is_relative_to(folder):
            raise ExtendsOutsideFolderError(origin, spec.extends, str(base_path), str(folder))
        base_origin, base_dir_of_base = str(base_path), base_path.parent
    if base_origin in (*_chain, origin):
        raise InvalidModelError(
            origin,
            [Defect(Rule.BAD_OVERRIDE, "extends", f"circular extends through {base_origin!r}")],
        )
    if len(_chain) + 1 > limits.max_extends:  # this link would be one too many
        raise ExtendsChainTooLongError(origin, len(_chain) + 1, limits.max_extends)
    base_data = (
        _read_bundled(spec.extends) if base_dir_of_base is None else _read_file(Path(base_origin), limits)
    )
    base = resolve_spec(base_data, base_origin, base_dir_of_base, (*_chain, origin), limits=limits)
    return _merge(base, spec, origin)


def _merge(base: ModelFile, ext: ModelFile, origin: str) -> ModelFile:
    from ._schema import ModelFile

    defects: list[Defect] = []
    statuses = {s.id: s for s in base.statuses}
    transitions = {t.key: t for t in base.transitions}
    flows = dict(base.flows)
    actions = dict(base.actions)

    if ext.remove is not None:
        for status_id in ext.remove.statuses:
            if statuses.pop(status_id, None) is None:
                defects.append(_missing("remove.statuses", f"status {status_id!r}"))
            transitions = {k: t for k, t in transitions.items() if status_id not in (t.source, t.dest)}
        for key in ext.remove.transitions:
            if transitions.pop(key.key, None) is None:
                defects.append(_missing("remove.transitions", _describe(key.key)))
        if ext.remove.statuses:
            actions = {name: _without(action, set(ext.remove.statuses)) for name, action in actions.items()}

    for status in ext.statuses:
        if status.id in statuses:
            defects.append(
                Defect(
                    Rule.DUPLICATE_STATUS,
                    f"status {status.id!r}",
                    "already in the base model; change it under [patch.statuses] instead",
                )
            )
        statuses[status.id] = status
    for transition in ext.transitions:
        if transition.key in transitions:
            defects.append(
                Defect(
                    Rule.DUPLICATE_TRANSITION,
                    _describe(transition.key),
                    "already in the base model; change it with [[patch.transitions]] instead",
                )
            )
        transitions[transition.key] = transition
    flows.update(ext.flows)

    if ext.patch is not None:
        for status_id, status_patch in ext.patch.statuses.items():
            if status_id not in statuses:
                defects.append(_missing("patch.statuses", f"status {status_id!r}"))
                continue
            statuses[status_id] = _patched(statuses[status_id], status_patch.model_dump(exclude_unset=True))
        for transition_patch in ext.patch.transitions:
            patch_key = transition_patch.key
            if patch_key not in transitions:
                defects.append(_missing("patch.transitions", _describe(patch_key)))
                continue
            changes = transition_patch.model_dump(exclude_unset=True, exclude={"source", "dest", "trigger"})
            transitions[patch_key] = _patched(transitions[patch_key], changes)
        for flow_name, flow_patch in ext.patch.flows.items():
            if flow_name not in flows:
                defects.append(_missing("patch.flows", f"flow {flow_name!r}"))
                continue
            flows[flow_name] = _patched(flows[flow_name], flow_patch.model_dump(exclude_unset=True))

    if defects:
        raise InvalidModelError(origin, defects)
    return ModelFile(
        name=ext.name,
        default_flow=ext.default_flow or base.default_flow,
        title=ext.title or base.title,
        description=ext.description or base.description,
        sources={**base.sources, **ext.sources},
        flows=flows,
        facts={**base.facts, **ext.facts},
        actions={**actions, **ext.actions},
        events={**base.events, **ext.events},
        codes={**base.codes, **ext.codes},
        statuses=list(statuses.values()),
        transitions=list(transitions.values()),
    )


def _without(action: Any, removed: set[str]) -> Any:
    """An action whose prerequisites and error rules no longer name removed statuses.

    An error rule that only named removed statuses is dropped (kept, it would match everything).
    """
    errors = []
    for rule in action.errors:
        kept = [s for s in rule.statuses if s not in removed]
        if rule.statuses and not kept:
            continue
        errors.append(rule.model_copy(update={"statuses": kept}))
    prerequisites = []
    for entry in action.prerequisites:
        if isinstance(entry, str):
            prerequisites.append(entry)
            continue
        kept = [s for s in entry.statuses if s not in removed]
        if kept:  # a prerequisite for removed statuses only no longer applies anywhere
            prerequisites.append(entry.model_copy(update={"statuses": kept}))
    return action.model_copy(update={"prerequisites": prerequisites, "errors": errors})


def _patched(entry: _Spec, changes: dict[str, Any]) -> _Spec:
    # model_copy(update=...) skips validation; re-validate so a patch cannot smuggle bad values in.
    merged = {**entry.model_dump(by_alias=True), **_aliased(type(entry), changes)}
    return type(entry).model_validate(merged)


def _aliased(cls: type[Any], changes: dict[str, Any]) -> dict[str, Any]:
    fields = cls.model_fields
    return {(fields[k].alias or k) if k in fields else k: v for k, v in changes.items()}


def _missing(section: str, what: str) -> Defect:
    return Defect(Rule.BAD_OVERRIDE, section, f"{what} is not in the base model")


def _describe(key: tuple[str, str, str]) -> str:
    return f"transition {key[0]} -> {key[1]} [{key[2]}]"


def _finish(spec: ModelFile, origin: str) -> FlowModel:
    from ._checks import check_decisions, check_model

    defects = check_model(spec)
    if defects:
        raise InvalidModelError(origin, defects)
    model = build_model(spec.model_dump(by_alias=True), origin)
    defects = check_decisions(model)
    if defects:
        raise InvalidModelError(origin, defects)
    return model


def build_model(data: Mapping[str, Any], origin: str) -> FlowModel:
    """Build the immutable model from the mapping of a model file that passed every check.

    An absent key is not given to the entry, which takes its own default: the one set of
    defaults, the entries' (`_model`), which the schema declares too (`_schema.default`). The
    bundled model is built this way straight from its TOML, without pydantic (a test proves the
    result equals the validated path's, for every field).
    """

    def given(entry: Mapping[str, Any], **convert: Callable[[Any], Any]) -> dict[str, Any]:
        """The keys `entry` gives (None counts as absent), converted; the rest default."""
        return {key: to(entry[key]) for key, to in convert.items() if entry.get(key) is not None}

    def strings(entry: Mapping[str, Any], key: str) -> tuple[str, ...]:
        return tuple(entry.get(key, ()))

    def text(entry: Mapping[str, Any], key: str) -> str:
        return str(entry.get(key) or "").strip()

    def prerequisite(entry: str | Mapping[str, Any]) -> Prerequisite:
        if isinstance(entry, str):
            return Prerequisite(entry)
        return Prerequisite(entry["action"], frozenset(strings(entry, "statuses")))

    triggers = [
        Trigger(
            name,
            "action",
            Cause(a["cause"]),
            text(a, "description"),
            text(a, "endpoint"),
            strings(a, "sources"),
            requires=frozenset(strings(a, "requires")),
            unless=frozenset(strings(a, "unless")),
            prerequisites=tuple(prerequisite(p) for p in a.get("prerequisites", ())),
            **given(a, operation=str, success_status=int),
            errors=tuple(
                ErrorRule(
                    code=r["code"],
                    statuses=frozenset(strings(r, "statuses")),
                    facts=frozenset(strings(r, "facts")),
                    flows=frozenset(strings(r, "flows")),
                    **given(r, follow_up=FollowUp, confidence=Confidence),
                    sources=strings(r, "sources"),
                    note=text(r, "note"),
                )
                for r in a.get("errors", ())
            ),
        )
        for name, a in data.get("actions", {}).items()
    ] + [
        Trigger(
            name,
            "event",
            Cause(e["cause"]),
            text(e, "description"),
            "",
            strings(e, "sources"),
            **given(e, same_as=str, hold=bool),
        )
        for name, e in data.get("events", {}).items()
    ]
    by_name = {t.name: t for t in triggers}
    guards = {
        name: (frozenset(strings(a, "requires")), frozenset(strings(a, "unless")))
        for name, a in data.get("actions", {}).items()
    }
    statuses = [
        Status(
            id=s["id"],
            flows=frozenset(s["flows"]),
            meaning=text(s, "meaning"),
            aliases=strings(s, "aliases"),
            **given(
                s, admin_label=str, my_account_label=str, auto=bool, terminal=bool, confidence=Confidence
            ),
            sources=strings(s, "sources"),
            note=text(s, "note"),
        )
        for s in data.get("statuses", ())
    ]
    transitions = [
        Transition(
            source=t["from"],
            dest=t["to"],
            trigger=t["trigger"],
            flows=frozenset(t["flows"]),
            cause=Cause(t["cause"]) if t.get("cause") else by_name[t["trigger"]].cause,
            by_action=by_name[t["trigger"]].is_action,
            **given(t, after=int, enabled=bool, confidence=Confidence),
            # An action's own guards hold for every transition it triggers.
            requires=frozenset(strings(t, "requires")) | guards.get(t["trigger"], _NO_GUARDS)[0],
            unless=frozenset(strings(t, "unless")) | guards.get(t["trigger"], _NO_GUARDS)[1],
            sets=frozenset(strings(t, "sets")),
            clears=frozenset(strings(t, "clears")),
            reverses=frozenset(strings(t, "reverses")),
            sources=strings(t, "sources"),
            note=text(t, "note"),
        )
        for t in data.get("transitions", ())
    ]
    return FlowModel.build(
        name=data["name"],
        title=text(data, "title"),
        description=text(data, "description"),
        origin=origin,
        statuses=statuses,
        transitions=transitions,
        flows=[
            Flow(n, f["initial"], text(f, "description"), strings(f, "sources"), text(f, "domain"))
            for n, f in data.get("flows", {}).items()
        ],
        triggers=triggers,
        facts=[
            Fact(n, text(f, "description"), strings(f, "sources"), frozenset(strings(f, "implies")))
            for n, f in data.get("facts", {}).items()
        ],
        codes=[
            ResultCode(
                code=c,
                api=spec["api"],
                meaning=text(spec, "meaning"),
                follow_up=FollowUp(spec["follow_up"]),
                operations=strings(spec, "operations"),
                **given(spec, success=bool, http_status=int, confidence=Confidence),
                sources=strings(spec, "sources"),
                note=text(spec, "note"),
            )
            for c, spec in data.get("codes", {}).items()
        ],
        sources=[
            Source(i, src["title"], text(src, "url"), text(src, "note"))
            for i, src in data.get("sources", {}).items()
        ],
        default_flow=data.get("default_flow"),
    )
