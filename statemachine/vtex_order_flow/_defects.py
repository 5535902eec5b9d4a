"""What is wrong with a model: the rules a model must satisfy and one broken rule (`Defect`), as
an `InvalidModelError` lists them (public from `vtex_order_flow.model`)."""

from __future__ import annotations

import enum
from dataclasses import dataclass

__all__ = ["Defect", "Rule"]


class Rule(enum.StrEnum):
    """The rules a model must satisfy; every `Defect` names the one it breaks."""

    SCHEMA = "schema"
    """The file does not match the model file's JSON Schema (a field missing, mistyped or unknown)."""
    UNKNOWN_STATUS = "unknown-status"
    """A transition, flow or override names a status the model does not declare."""
    DUPLICATE_STATUS = "duplicate-status"
    """Two statuses (or a status and an alias) share an id."""
    DUPLICATE_TRANSITION = "duplicate-transition"
    """Two transitions share (from, to, trigger)."""
    UNKNOWN_FLOW = "unknown-flow"
    """A status or transition names a flow the model does not declare."""
    UNKNOWN_CAUSE = "unknown-cause"
    """A trigger or transition names a cause that is not one of `Cause`."""
    UNDECLARED_TRIGGER = "undeclared-trigger"
    """A transition's trigger is declared neither as an action nor as an event."""
    TRIGGER_DECLARED_TWICE = "trigger-declared-twice"
    """A name is declared both as an action and as an event."""
    UNKNOWN_FACT = "unknown-fact"
    """A guard or effect names a fact the model does not declare."""
    UNKNOWN_CODE = "unknown-code"
    """An action's error rule names a result code the model does not declare."""
    UNKNOWN_SOURCE = "unknown-source"
    """An entry cites a source id the model does not declare."""
    STATUS_NOT_IN_FLOW = "status-not-in-flow"
    """A transition (or the initial status) of flow F uses a status that is not in F."""
    UNREACHABLE_STATUS = "unreachable-status"
    """A status of flow F cannot be reached from F's initial status."""
    DEAD_END = "dead-end"
    """A non-terminal status of flow F has no way out to another status in F."""
    TERMINAL_WITH_EXIT = "terminal-with-exit"
    """A terminal status has a way out to another status."""
    AMBIGUOUS_TRIGGER = "ambiguous-trigger"
    """Two moves of one flow leave a status on one trigger, and both guards can hold."""
    TIMER_WITHOUT_DURATION = "timer-without-duration"
    """A timer transition does not say after how long it fires."""
    UNEXPLAINED_CONFIDENCE = "unexplained-confidence"
    """An inferred or contested fact has no note saying what it rests on (or which reading)."""
    UNKNOWN_ACTION = "unknown-action"
    """A prerequisite, an event's `same_as` or a transition's `reverses` names an undeclared action."""
    NEEDS_NON_PREREQUISITE = "needs-non-prerequisite"
    """An action would wait on a connector action that is not its prerequisite, with no error rule
    naming the status to say it is refused there."""
    FOLLOW_UP_CONTRADICTS_VERDICT = "follow-up-contradicts-verdict"
    """A decision predicts an answer whose follow-up contradicts its verdict (a reject that says retry)."""
    BAD_OVERRIDE = "bad-override"
    """A patch or removal names what the base lacks, or comes without `extends`."""


@dataclass(frozen=True, slots=True)
class Defect:
    """One broken rule: which `rule`, in which `entry` (e.g. ``transitions[3]``), and why."""

    rule: Rule
    entry: str
    message: str

    def __str__(self) -> str:
        return f"{self.entry}: {self.message} [{self.rule}]"
