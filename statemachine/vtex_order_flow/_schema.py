"""The model file's schema (pydantic): what a model TOML file may contain, and its JSON Schema."""

from __future__ import annotations

import dataclasses
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictInt

from ._entries import ErrorRule, ResultCode, Status, Transition, Trigger
from ._vocabulary import CAUSES, Confidence, FollowUp

__all__ = [
    "ActionSpec",
    "CodeSpec",
    "ErrorRuleSpec",
    "EventSpec",
    "FactSpec",
    "FlowPatch",
    "FlowSpec",
    "ModelFile",
    "PatchSpec",
    "PrerequisiteSpec",
    "RemoveSpec",
    "SourceSpec",
    "StatusPatch",
    "StatusSpec",
    "TransitionKey",
    "TransitionPatch",
    "TransitionSpec",
    "model_file_json_schema",
]


# A cause is checked by the graph checks (so that an unknown one is a typed Defect that names the
# entry), but the JSON Schema still lists the valid values for editors.
CauseName = Annotated[str, Field(json_schema_extra={"enum": list(CAUSES)})]
Name = Annotated[str, Field(min_length=1, pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")]
SourceIds = Annotated[list[str], Field(description="Ids of entries in [sources].")]


def default(entry: type, name: str) -> Any:
    """The default of an entry's field (`_model`): the one set of defaults, which the builder of
    the bundled model applies too (by leaving the field out)."""
    return next(item.default for item in dataclasses.fields(entry) if item.name == name)


# Booleans and numbers are taken as TOML writes them: "yes", 1 or "7200" are refused, not coerced.
class _Spec(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


class SourceSpec(_Spec):
    """A document a fact comes from."""

    title: str
    url: str = ""
    note: str = ""


class FlowSpec(_Spec):
    """An order flow and the status its orders start in."""

    initial: str
    domain: str = Field(
        default="", description="The `Domain` VTEX's hook and feed events of this flow carry (Fulfillment)."
    )
    description: str = ""
    sources: SourceIds = []


class FactSpec(_Spec):
    """Something the status alone does not carry, passed by the caller and tested by guards."""

    description: str
    implies: list[str] = Field(
        default=[], description="Facts that hold whenever this one does (a partial invoice is an invoice)."
    )
    sources: SourceIds = []


class _TriggerSpec(_Spec):
    cause: CauseName
    description: str = ""
    sources: SourceIds = []


class EventSpec(_TriggerSpec):
    """A trigger that is not the connector's: the platform, a timer, the gateway, a person."""

    hold: StrictBool = Field(
        default=default(Trigger, "hold"),
        description="The platform holds the order for someone else here (a price-divergence hold); "
        "a simulation takes this move only when asked to.",
    )
    same_as: str | None = Field(
        default=None,
        description="An action this event does for another party (the seller invoicing in its own "
        "account is an invoice): where it leads, that action's goal is reached.",
    )


class ErrorRuleSpec(_Spec):
    """What VTEX answers when an action is not accepted; the first rule that matches applies.

    A rule matches when the order is in one of `statuses` (any, when empty) of one of `flows`
    (any, when empty) and every fact of `facts` holds; a rule with none is the action's default.
    """

    statuses: list[str] = []
    facts: list[str] = []
    flows: list[str] = Field(default=[], description="The flows the rule applies in (all, when empty).")
    code: str = Field(description="An id from [codes].")
    follow_up: FollowUp | None = Field(
        default=None, description="What to do after this answer here, when it differs from the code's."
    )
    confidence: Confidence = default(ErrorRule, "confidence")
    sources: SourceIds = []
    note: str = ""


class PrerequisiteSpec(_Spec):
    """A connector action that may precede another only when the order starts in some statuses."""

    action: str
    statuses: list[str] = Field(
        min_length=1, description="The statuses a decision must start in for this prerequisite to count."
    )


class ActionSpec(_TriggerSpec):
    """A trigger the connector itself sends to VTEX."""

    endpoint: str = ""
    operation: str | None = Field(
        default=None,
        description="The Channel Order API's `flow` value for this action (PlaceOrder, ApproveOrder); "
        "None for an Orders API call.",
    )
    success_status: StrictInt = Field(
        default=default(Trigger, "success_status"),
        ge=200,
        le=299,
        description="VTEX's HTTP status when it accepts it.",
    )
    requires: list[str] = Field(default=[], description="Facts every transition it triggers requires.")
    unless: list[str] = Field(default=[], description="Facts that block every transition it triggers.")
    prerequisites: list[str | PrerequisiteSpec] = Field(
        default=[],
        description="The connector actions that may come before this one on its way to being "
        "accepted (their own prerequisites too); a deferred update's remedy uses no other.",
    )
    errors: list[ErrorRuleSpec] = Field(default=[], description="VTEX's answer when not accepted.")


class CodeSpec(_Spec):
    """A result code VTEX answers, and what the connector should do next."""

    api: Literal["channel-order", "orders", "http"] = Field(
        description="channel-order, orders, or http: an answer of the transport from either API."
    )
    operations: list[str] = Field(
        default=[], description="The Channel Order API operations (an action's `operation`) it answers."
    )
    meaning: str
    follow_up: FollowUp
    success: StrictBool = Field(
        default=default(ResultCode, "success"), description="VTEX's `success` flag with this code."
    )
    http_status: StrictInt | None = Field(
        default=None, ge=100, le=599, description="The HTTP status of an Orders API answer with it."
    )
    confidence: Confidence = default(ResultCode, "confidence")
    sources: SourceIds = []
    note: str = ""


class StatusSpec(_Spec):
    """One order status, spelled exactly as VTEX's API spells it."""

    id: Name
    aliases: list[Name] = Field(default=[], description="Other spellings VTEX documents use.")
    admin_label: str | None = None
    my_account_label: str | None = None
    flows: list[str] = Field(description="Flows the status appears in; [] for none documented.")
    auto: StrictBool = Field(
        default=default(Status, "auto"), description="The platform moves the order on by itself."
    )
    terminal: StrictBool = Field(
        default=default(Status, "terminal"), description="The order can never leave this status."
    )
    meaning: str
    confidence: Confidence = default(Status, "confidence")
    sources: SourceIds = []
    note: str = ""


class TransitionSpec(_Spec):
    """A move from one status to another, caused by a trigger."""

    source: str = Field(alias="from")
    dest: str = Field(alias="to")
    trigger: Name
    flows: list[str] = Field(min_length=1)
    cause: CauseName | None = Field(default=None, description="Defaults to the trigger's cause.")
    after: StrictInt | None = Field(default=None, gt=0, description="Typical delay in seconds (timers).")
    requires: list[str] = Field(default=[], description="Facts that must hold.")
    unless: list[str] = Field(default=[], description="Facts that must not hold.")
    sets: list[str] = Field(default=[], description="Facts that hold afterwards.")
    clears: list[str] = Field(default=[], description="Facts that no longer hold afterwards.")
    reverses: list[str] = Field(
        default=[],
        description="Actions whose request this move turns down (a seller denying a cancellation): "
        "a deferred update of one of them never waits for it.",
    )
    enabled: StrictBool = Field(
        default=default(Transition, "enabled"), description="false: documented, but out of the graph."
    )
    confidence: Confidence = default(Transition, "confidence")
    sources: SourceIds = []
    note: str = ""

    @property
    def key(self) -> tuple[str, str, str]:
        return (self.source, self.dest, self.trigger)


class TransitionKey(_Spec):
    """Names one transition of the base model."""

    source: str = Field(alias="from")
    dest: str = Field(alias="to")
    trigger: str

    @property
    def key(self) -> tuple[str, str, str]:
        return (self.source, self.dest, self.trigger)


class StatusPatch(_Spec):
    """Fields to change on a status of the base model; fields left out keep their value."""

    aliases: list[Name] | None = None
    admin_label: str | None = None
    my_account_label: str | None = None
    flows: list[str] | None = None
    auto: StrictBool | None = None
    terminal: StrictBool | None = None
    meaning: str | None = None
    confidence: Confidence | None = None
    sources: SourceIds | None = None
    note: str | None = None


class TransitionPatch(TransitionKey):
    """Fields to change on one transition of the base model."""

    flows: list[str] | None = None
    cause: CauseName | None = None
    after: StrictInt | None = Field(default=None, gt=0)
    requires: list[str] | None = None
    unless: list[str] | None = None
    sets: list[str] | None = None
    clears: list[str] | None = None
    reverses: list[str] | None = None
    enabled: StrictBool | None = None
    confidence: Confidence | None = None
    sources: SourceIds | None = None
    note: str | None = None


class FlowPatch(_Spec):
    """Fields to change on a flow of the base model."""

    initial: str | None = None
    domain: str | None = None
    description: str | None = None
    sources: SourceIds | None = None


class PatchSpec(_Spec):
    """Single facts of the base model to change (only with `extends`)."""

    statuses: dict[str, StatusPatch] = {}
    transitions: list[TransitionPatch] = []
    flows: dict[str, FlowPatch] = {}


class RemoveSpec(_Spec):
    """Entries of the base model to drop (only with `extends`).

    Removing a status also removes every transition from or to it.
    """

    statuses: list[str] = []
    transitions: list[TransitionKey] = []


class ModelFile(_Spec):
    """A vtex-order-flow model file: a whole model, or one that extends another and overrides facts."""

    schema_version: Literal[1] = 1
    name: Name
    title: str = ""
    description: str = ""
    extends: str | None = Field(
        default=None,
        description="A bundled model's name ('vtex') or a model file's path, relative to this file.",
    )
    default_flow: str | None = Field(
        default=None,
        description="The flow a call that names none is about; the first flow when left out.",
    )
    sources: dict[str, SourceSpec] = {}
    flows: dict[str, FlowSpec] = {}
    facts: dict[str, FactSpec] = {}
    actions: dict[str, ActionSpec] = {}
    events: dict[str, EventSpec] = {}
    codes: dict[str, CodeSpec] = {}
    statuses: list[StatusSpec] = []
    transitions: list[TransitionSpec] = []
    patch: PatchSpec | None = None
    remove: RemoveSpec | None = None


def model_file_json_schema() -> dict[str, Any]:
    """The JSON Schema of a model file (TOML files map one to one onto JSON)."""
    schema = ModelFile.model_json_schema(by_alias=True)
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["$id"] = "https://vtex-order-flow.invalid/schema/model-file-v1.json"
    return schema
