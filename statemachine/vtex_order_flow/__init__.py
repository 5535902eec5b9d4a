"""vtex-order-flow: VTEX's order flow as one declarative model, and what follows from it."""

from ._loader import bundled_model, load_model, model_from_mapping
from ._machine import build_machine, fire, may_fire
from ._model import Fact, Flow, FlowModel, Source, Status, Transition, Trigger
from ._vocabulary import Cause, Confidence
from .errors import (
    Defect,
    InvalidModelError,
    ModelFileError,
    Rule,
    UnknownActionError,
    UnknownFlowError,
    UnknownNameError,
    UnknownStatusError,
    VtexOrderFlowError,
)

__all__ = [
    "Cause",
    "Confidence",
    "Defect",
    "Fact",
    "Flow",
    "FlowModel",
    "InvalidModelError",
    "ModelFileError",
    "Rule",
    "Source",
    "Status",
    "Transition",
    "Trigger",
    "UnknownActionError",
    "UnknownFlowError",
    "UnknownNameError",
    "UnknownStatusError",
    "VtexOrderFlowError",
    "build_machine",
    "bundled_model",
    "fire",
    "load_model",
    "may_fire",
    "model_from_mapping",
]
