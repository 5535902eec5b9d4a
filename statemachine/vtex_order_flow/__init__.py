"""vtex-order-flow: may this update go to VTEX now? Send, defer or reject, from one model.

The payload models (pydantic) live in `vtex_order_flow.payloads`; they are not imported here,
so that deciding never loads pydantic.
"""

from typing import TYPE_CHECKING, Any

from ._decide import Decision, Facts, Step, Verdict
from ._defects import Defect, Rule
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
from ._notifications import Advice, advice_for, interpret_notification
from ._vocabulary import Cause, Confidence, FollowUp, duration
from .errors import (
    ContradictoryFactsError,
    InvalidModelError,
    ModelFileError,
    ModelTooLargeError,
    NotificationError,
    UnknownActionError,
    UnknownEventError,
    UnknownFactError,
    UnknownFlowError,
    UnknownNameError,
    UnknownStatusError,
    VtexOrderFlowError,
)

__version__ = "0.1.0"

if TYPE_CHECKING:
    from ._batch import decide_lines
    from ._machine import build_machine, fire, may_fire
    from ._schema import model_file_json_schema

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
    "ModelTooLargeError",
    "NotificationError",
    "Prerequisite",
    "ResultCode",
    "Rule",
    "Source",
    "Status",
    "Step",
    "Transition",
    "Trigger",
    "UnknownActionError",
    "UnknownEventError",
    "UnknownFactError",
    "UnknownFlowError",
    "UnknownNameError",
    "UnknownStatusError",
    "Verdict",
    "VtexOrderFlowError",
    "__version__",
    "advice_for",
    "build_machine",
    "bundled_model",
    "decide",
    "decide_lines",
    "duration",
    "fire",
    "interpret_notification",
    "load_model",
    "may_fire",
    "model_file_json_schema",
    "model_from_mapping",
]

_LAZY = {
    # The transitions engine, pydantic's schema and the batch reader are imported on first use:
    # deciding needs none of them.
    "build_machine": "_machine",
    "fire": "_machine",
    "may_fire": "_machine",
    "model_file_json_schema": "_schema",
    "decide_lines": "_batch",
}


def __getattr__(name: str) -> Any:
    """The names imported on first use (see `_LAZY`)."""
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'vtex_order_flow' has no attribute {name!r}")
    import importlib

    return getattr(importlib.import_module(f".{module}", __name__), name)
