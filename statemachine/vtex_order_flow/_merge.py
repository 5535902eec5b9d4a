"""Merging `extends`: a model file validated against the schema and, when it extends another model
(bundled, or a file beside it), merged onto that model, link by link, within the limits."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from ._defects import Defect, Rule
from ._read import BUNDLED_MODELS, Limits, read_bundled, read_file
from ._text import validation_problems
from .errors import ExtendsChainTooLongError, ExtendsOutsideFolderError, InvalidModelError, ModelFileError

if TYPE_CHECKING:
    from pydantic import BaseModel, ValidationError

    from ._schema import ModelFile

__all__ = ["merge", "resolve_spec"]

_Spec = TypeVar("_Spec", bound="BaseModel")
_DEFAULTS = Limits()


def _validated(data: Mapping[str, Any], origin: str) -> ModelFile:
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
    limits: Limits = _DEFAULTS,
) -> ModelFile:
    """Validate a file's schema and, when it extends another model, merge it onto that model.

    A file it extends is read with the same `limits`, and must be inside `base_dir` (the folder
    of the file naming it) unless they allow otherwise.
    """
    spec = _validated(data, origin)
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
        read_bundled(spec.extends) if base_dir_of_base is None else read_file(Path(base_origin), limits)
    )
    base = resolve_spec(base_data, base_origin, base_dir_of_base, (*_chain, origin), limits=limits)
    return merge(base, spec, origin)


def merge(base: ModelFile, ext: ModelFile, origin: str) -> ModelFile:
    """`ext` (a file that extends `base`) merged onto `base`: its removals, additions and patches;
    an `InvalidModelError` lists what names something the base lacks or adds what it has."""
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
