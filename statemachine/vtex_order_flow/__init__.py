"""vtex-order-flow: may this update go to VTEX now? Send, defer or reject, from one model.

The payload models (pydantic) live in `vtex_order_flow.payloads`; they are not imported here,
so that deciding never loads pydantic.
"""

from typing import TYPE_CHECKING, Any

from ._decide import Decision, Facts, Step, Verdict
from ._flowmodel import FlowModel
from ._loader import bundled_model, decide, load_model, model_from_mapping
from ._model import (
    ErrorRule,
    Fact,
    Flow,
    ModelData,
    Prerequisite,
    ResultCode,
    Source,
    Status,
    Transition,
    Trigger,
)
from ._notifications import Advice, interpret_notification
from ._vocabulary import Cause, Confidence, FollowUp
from .errors import (
    ContradictoryFactsError,
    Defect,
    InvalidModelError,
    ModelFileError,
    Rule,
    UnknownActionError,
    UnknownFactError,
    UnknownFlowError,
    UnknownNameError,
    UnknownStatusError,
    VtexOrderFlowError,
)

if TYPE_CHECKING:
    from ._machine import build_machine, fire, may_fire

__all__ = [
    "Advice",
    "Cause",
    "Confidence",
    "ContradictoryFactsError",
    "Decision",
    "Defect",
    "ErrorRule",
    "Fact",
    "Facts",
    "Flow",
    "FlowModel",
    "FollowUp",
    "InvalidModelError",
    "ModelData",
    "ModelFileError",
    "Prerequisite",
    "ResultCode",
    "Rule",
    "Source",
    "Status",
    "Step",
    "Transition",
    "Trigger",
    "UnknownActionError",
    "UnknownFactError",
    "UnknownFlowError",
    "UnknownNameError",
    "UnknownStatusError",
    "Verdict",
    "VtexOrderFlowError",
    "build_machine",
    "bundled_model",
    "decide",
    "fire",
    "interpret_notification",
    "load_model",
    "may_fire",
    "model_from_mapping",
]

_MACHINE = frozenset({"build_machine", "fire", "may_fire"})


def __getattr__(name: str) -> Any:
    # The transitions engine is imported on first use: deciding does not need it.
    if name in _MACHINE:
        from . import _machine

        return getattr(_machine, name)
    raise AttributeError(f"module 'vtex_order_flow' has no attribute {name!r}")
