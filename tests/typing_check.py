"""Caller-side code that mypy --strict must accept: it pins the public types from the user's side.

Not collected by pytest (no test_ prefix); `.ci/run` type-checks it with the rest of tests/.
"""

from __future__ import annotations

from pathlib import Path

import vtex_order_flow as vof
from vtex_order_flow import errors, machine
from vtex_order_flow import model as parts


def caller(path: Path) -> list[str]:
    model: vof.FlowModel = vof.bundled_model()
    custom: vof.FlowModel = vof.load_model(path)
    status: parts.Status = model.status("ready-for-handling")
    flows: frozenset[str] = status.flows
    outs: tuple[parts.Transition, ...] = model.ways_out(status.id, "seller")
    cause: parts.Cause = outs[0].cause
    confidence: parts.Confidence = status.confidence
    allowed: bool = outs[0].allowed({"partial-invoice": True})
    moved: str | None = machine.fire(custom.machine("seller"), status.id, "start-handling")
    try:
        model.status("nope")
    except errors.UnknownStatusError as error:
        suggestions: tuple[str, ...] = error.suggestions
        del suggestions
    try:
        vof.load_model(path)
    except errors.InvalidModelError as error:
        rules: frozenset[parts.Rule] = error.rules
        first: parts.Defect = error.defects[0]
        del rules, first
    return [str(cause), str(confidence), str(allowed), str(moved), *sorted(flows)]


def decider(path: Path) -> list[str]:
    decision: vof.Decision = vof.decide("handling", "invoice", facts={"partial-invoice": False})
    verdict: vof.Verdict = decision.verdict
    steps: tuple[vof.Step, ...] = decision.path
    remedy: tuple[str, ...] = decision.remedy
    error: str | None = decision.expected_error
    retry: int | None = decision.retry_after
    advice: vof.Advice = vof.interpret_notification(
        b'{"code": "SOI003", "flow": "PlaceOrder", "success": true}'
    )
    follow_up: vof.FollowUp = advice.follow_up
    by_names: vof.Decision = vof.load_model(path).decide("handling", "cancel", "seller", ["partial-invoice"])
    return [
        str(verdict),
        *(s.actor for s in steps),
        *remedy,
        str(error),
        str(retry),
        str(follow_up),
        by_names.reason,
    ]


def tracker_user(db: Path) -> int:
    from vtex_order_flow.render import render_mermaid
    from vtex_order_flow.testing import SimulatedVTEX
    from vtex_order_flow.tracking import EntryState, HookEndpoint, SQLiteStore, Tracker, parse_event

    tracker = Tracker(store=SQLiteStore(db), max_age=86_400.0)
    parsed = parse_event(b'{"hookConfig": "ping"}')
    state: EntryState = tracker.register("MKP-1-01", "approve").state
    endpoint = HookEndpoint(tracker, on_ready=lambda ready: [u.action for u in ready])
    status: int = endpoint.handle(b"{}").status
    endpoint.close()
    tracker.store.close()
    vtex = SimulatedVTEX(seed=1)
    code: str | None = vtex.approve("MKP-1-01").code
    text: str = render_mermaid(vof.bundled_model(), "seller", action="approve")
    return status + len(str(parsed)) + len(state) + len(code or "") + len(text)
