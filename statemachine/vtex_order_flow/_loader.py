"""Building a model: load a file or a mapping (read within limits by `_read`, validated and merged
by `_merge`), check it (`_checks`) and build the immutable `FlowModel`; the bundled models."""

from __future__ import annotations

import functools
import os
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ._entries import (
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
from ._flowmodel import FlowModel
from ._guards import expect
from ._merge import resolve_spec
from ._read import (
    BUNDLED_MODELS,
    MAX_MODEL_BYTES,
    MAX_MODEL_DEPTH,
    MAX_MODEL_EXTENDS,
    limits,
    read_bundled,
    read_file,
)
from ._toml_guard import check_depth
from ._vocabulary import Cause, Confidence, FollowUp
from .errors import InvalidModelError, ModelFileError, UnknownModelError

if TYPE_CHECKING:
    from ._schema import ModelFile

__all__ = [
    "build_model",
    "bundled_model",
    "load_model",
    "model_from_mapping",
    "validated_bundled_model",
]

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
    return build_model(read_bundled(name), f"bundled:{name}")


def validated_bundled_model(name: str = "vtex") -> FlowModel:
    """The bundled model through the full validating path (schema and graph checks)."""
    if not isinstance(name, str) or name not in BUNDLED_MODELS:
        raise UnknownModelError(name, BUNDLED_MODELS)
    return _finish(resolve_spec(read_bundled(name), f"bundled:{name}", None), f"bundled:{name}")


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
    checked = limits(max_bytes, max_depth, allow_extends_outside, max_extends)
    file = Path(path)
    return _finish(resolve_spec(read_file(file, checked), str(file), file.parent, limits=checked), str(file))


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
    checked = limits(max_bytes, max_depth, allow_extends_outside, max_extends)
    if base_dir is not None and not isinstance(base_dir, Path):
        expect(base_dir, (str, os.PathLike), "model_from_mapping's base_dir")
        base_dir = Path(base_dir)
    check_depth(data, origin, checked.max_depth)
    return _finish(resolve_spec(data, origin, base_dir, limits=checked), origin)


def _finish(spec: ModelFile, origin: str) -> FlowModel:
    from ._checks import check_model
    from ._decision_checks import check_decisions

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
