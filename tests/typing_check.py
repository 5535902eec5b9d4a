"""Caller-side code that mypy --strict must accept: it pins the public types from the user's side.

Not collected by pytest (no test_ prefix); `.ci/run` type-checks it with the rest of tests/.
"""

from __future__ import annotations

from pathlib import Path

import vtex_order_flow as vof


def caller(path: Path) -> list[str]:
    model: vof.FlowModel = vof.bundled_model()
    custom: vof.FlowModel = vof.load_model(path)
    status: vof.Status = model.status("ready-for-handling")
    flows: frozenset[str] = status.flows
    outs: tuple[vof.Transition, ...] = model.ways_out(status.id, "seller")
    cause: vof.Cause = outs[0].cause
    confidence: vof.Confidence = status.confidence
    allowed: bool = outs[0].allowed({"partial-invoice": True})
    moved: str | None = vof.fire(custom.machine("seller"), status.id, "start-handling")
    try:
        model.status("nope")
    except vof.UnknownStatusError as error:
        suggestions: tuple[str, ...] = error.suggestions
        del suggestions
    try:
        vof.load_model(path)
    except vof.InvalidModelError as error:
        rules: frozenset[vof.Rule] = error.rules
        first: vof.Defect = error.defects[0]
        del rules, first
    return [str(cause), str(confidence), str(allowed), str(moved), *sorted(flows)]
