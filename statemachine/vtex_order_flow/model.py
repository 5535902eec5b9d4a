"""What a model is made of: the parts of a loaded model (`ModelData` and its statuses,
transitions, triggers, flows, facts, ...), the vocabulary they use (`Cause`, `Confidence`), the
rules a model must satisfy and what breaks them (`Rule`, `Defect`, listed by
`vtex_order_flow.errors.InvalidModelError`), `duration` (a timer's seconds in words) and the
model file's JSON Schema.

Load a model with `vtex_order_flow.load_model` (or `bundled_model`, `model_from_mapping`); its
`FlowModel.data` is the `ModelData` described here. Nothing here imports pydantic, except
`model_file_json_schema`, imported on first use.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ._defects import Defect, Rule
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
from ._model import ModelData
from ._vocabulary import Cause, Confidence, duration

if TYPE_CHECKING:
    from ._schema import model_file_json_schema

__all__ = [
    "Cause",
    "Confidence",
    "Defect",
    "ErrorRule",
    "Fact",
    "Flow",
    "ModelData",
    "Prerequisite",
    "ResultCode",
    "Rule",
    "Source",
    "Status",
    "Transition",
    "Trigger",
    "duration",
    "model_file_json_schema",
]


def __getattr__(name: str) -> Any:
    """`model_file_json_schema`, imported on first use (it needs pydantic)."""
    if name == "model_file_json_schema":
        from ._schema import model_file_json_schema

        return model_file_json_schema
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
