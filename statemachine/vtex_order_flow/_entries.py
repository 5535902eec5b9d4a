"""The entries of a model: statuses, transitions, triggers (actions and events), flows, facts,
result codes, error rules, prerequisites and sources, each immutable data."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

from ._vocabulary import Cause, Confidence, FollowUp

__all__ = [
    "ErrorRule",
    "Fact",
    "Flow",
    "Prerequisite",
    "ResultCode",
    "Source",
    "Status",
    "Transition",
    "Trigger",
]


@dataclass(frozen=True, slots=True)
class Source:
    """A document the model relies on."""

    id: str
    title: str
    url: str = ""
    note: str = ""


@dataclass(frozen=True, slots=True)
class Flow:
    """An order flow and the status its orders start in."""

    name: str
    initial: str
    description: str = ""
    sources: tuple[str, ...] = ()
    domain: str = ""
    """The ``Domain`` VTEX's hook and feed events of this flow carry (``Fulfillment``)."""


@dataclass(frozen=True, slots=True)
class Fact:
    """A condition the status does not carry; the caller passes it, guards test it."""

    name: str
    description: str
    sources: tuple[str, ...] = ()
    implies: frozenset[str] = frozenset()
    """Facts that hold whenever this one does (directly; `FlowModel.fact_closure` follows chains)."""


@dataclass(frozen=True, slots=True)
class ResultCode:
    """A code VTEX answers (``EOI011``, ``OMS003``, ...) and what the connector should do next."""

    code: str
    api: str
    meaning: str
    follow_up: FollowUp
    operations: tuple[str, ...] = ()
    success: bool = False
    """VTEX's ``success`` flag with this code (SOI codes)."""
    http_status: int | None = None
    """The HTTP status of an Orders API answer with this code (409 for OMS003)."""
    confidence: Confidence = Confidence.DOCUMENTED
    sources: tuple[str, ...] = ()
    note: str = ""


@dataclass(frozen=True, slots=True)
class ErrorRule:
    """VTEX's answer to an action it does not accept, when the order matches the rule."""

    code: str
    statuses: frozenset[str] = frozenset()
    facts: frozenset[str] = frozenset()
    flows: frozenset[str] = frozenset()
    follow_up: FollowUp | None = None
    """What to do after this answer here, when it differs from the code's own follow-up."""
    confidence: Confidence = Confidence.DOCUMENTED
    sources: tuple[str, ...] = ()
    note: str = ""

    def matches(self, status: str, facts: frozenset[str], flow: str | None = None) -> bool:
        """Whether the rule applies to an order in `status` (of `flow`) with these true facts."""
        return (
            (not self.statuses or status in self.statuses)
            and (not self.flows or flow is None or flow in self.flows)
            and self.facts <= facts
        )


@dataclass(frozen=True, slots=True)
class Prerequisite:
    """A connector action that may come before another on its way to being accepted.

    With `statuses`, only for decisions that start in one of them (a return invoice comes before
    a cancel only once the order is invoiced).
    """

    action: str
    statuses: frozenset[str] = frozenset()

    def applies(self, status: str) -> bool:
        """Whether this prerequisite counts for a decision that starts in `status`."""
        return not self.statuses or status in self.statuses


@dataclass(frozen=True, slots=True)
class Trigger:
    """What fires a transition: a connector `action`, or an `event` (platform, timer, person)."""

    name: str
    kind: Literal["action", "event"]
    cause: Cause
    description: str = ""
    endpoint: str = ""
    sources: tuple[str, ...] = ()
    errors: tuple[ErrorRule, ...] = ()
    requires: frozenset[str] = frozenset()
    """Facts every transition of this action requires (already merged into those transitions)."""
    unless: frozenset[str] = frozenset()
    """Facts that block every transition of this action (already merged into those transitions)."""
    prerequisites: tuple[Prerequisite, ...] = ()
    """Actions: the connector actions that may precede this one (see `FlowModel.allowed_before`)."""
    same_as: str | None = None
    """Events: the action this event does for another party (the seller invoicing in its account)."""
    operation: str | None = None
    """Actions: the Channel Order API ``flow`` value (PlaceOrder, ApproveOrder); None for the Orders API."""
    success_status: int = 200
    """Actions: VTEX's HTTP status when it accepts the call (204 for start-handling)."""
    hold: bool = False
    """Events: the platform holds the order for someone else (a simulation takes it only when asked)."""

    def error_for(self, status: str, facts: frozenset[str], flow: str | None = None) -> ErrorRule | None:
        """The first error rule that matches an order in `status` (of `flow`) with these true facts."""
        for rule in self.errors:
            if rule.matches(status, facts, flow):
                return rule
        return None

    @property
    def is_action(self) -> bool:
        """Whether the connector itself sends it."""
        return self.kind == "action"


@dataclass(frozen=True, slots=True)
class Status:
    """One order status, spelled as VTEX's API spells it."""

    id: str
    flows: frozenset[str]
    meaning: str
    aliases: tuple[str, ...] = ()
    admin_label: str | None = None
    my_account_label: str | None = None
    auto: bool = False
    terminal: bool = False
    confidence: Confidence = Confidence.DOCUMENTED
    sources: tuple[str, ...] = ()
    note: str = ""

    @property
    def label(self) -> str:
        """The Admin label when VTEX gives one, else the id."""
        return self.admin_label or self.id

    def to_dict(self, flows: Iterable[str] | None = None) -> dict[str, Any]:
        """The status as JSON-ready data (the CLI's ``--json`` shape); `flows` in model order."""
        return {
            "id": self.id,
            "aliases": list(self.aliases),
            "admin_label": self.admin_label,
            "my_account_label": self.my_account_label,
            "flows": list(flows) if flows is not None else sorted(self.flows),
            "auto": self.auto,
            "terminal": self.terminal,
            "meaning": self.meaning,
            "confidence": str(self.confidence),
            "sources": list(self.sources),
            "note": self.note,
        }


@dataclass(frozen=True, slots=True)
class Transition:
    """A move from `source` to `dest` fired by `trigger`, in `flows`, guarded by facts."""

    source: str
    dest: str
    trigger: str
    flows: frozenset[str]
    cause: Cause
    by_action: bool
    after: int | None = None
    requires: frozenset[str] = frozenset()
    unless: frozenset[str] = frozenset()
    sets: frozenset[str] = frozenset()
    clears: frozenset[str] = frozenset()
    """Facts that stop holding (the full invoice verified: the order is no longer partially invoiced)."""
    reverses: frozenset[str] = frozenset()
    """Actions whose request this move turns down: a deferred update of one of them never waits for it."""
    enabled: bool = True
    confidence: Confidence = Confidence.DOCUMENTED
    sources: tuple[str, ...] = ()
    note: str = ""

    @property
    def key(self) -> tuple[str, str, str]:
        """(from, to, trigger): what names a transition."""
        return (self.source, self.dest, self.trigger)

    @property
    def is_self_loop(self) -> bool:
        """Whether the order stays in its status."""
        return self.source == self.dest

    def holds(self, facts: frozenset[str]) -> bool:
        """Whether the guards hold when exactly these facts are true."""
        return self.requires <= facts and not (self.unless & facts)

    def allowed(self, facts: Mapping[str, bool]) -> bool:
        """Whether the guards hold for these facts (a fact left out is false)."""
        return self.holds(frozenset(name for name, value in facts.items() if value))

    def describe(self) -> str:
        """``from -> to [trigger]``."""
        return f"{self.source} -> {self.dest} [{self.trigger}]"

    def to_dict(self, flow: str | None = None) -> dict[str, Any]:
        """The transition as JSON-ready data; seen from one `flow`, without its flows and switch."""
        data: dict[str, Any] = {
            "from": self.source,
            "to": self.dest,
            "trigger": self.trigger,
            "by_action": self.by_action,
            "cause": str(self.cause),
            "after": self.after,
            "requires": sorted(self.requires),
            "unless": sorted(self.unless),
            "sets": sorted(self.sets),
            "clears": sorted(self.clears),
            "confidence": str(self.confidence),
            "sources": list(self.sources),
            "note": self.note,
        }
        if flow is None:
            data["flows"] = sorted(self.flows)
            data["enabled"] = self.enabled
        return data
