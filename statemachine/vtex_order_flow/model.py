"""What a model is made of: the parts of a loaded model (`ModelData` and its statuses,
transitions, triggers, flows, facts, ...), the vocabulary they use (`Cause`, `Confidence`), the
rules a model must satisfy and what breaks them (`Rule`, `Defect`, listed by
`vtex_order_flow.errors.InvalidModelError`), `duration` (a timer's seconds in words) and the
model file's JSON Schema.

Load a model with `vtex_order_flow.load_model` (or `bundled_model`, `model_from_mapping`): the
`FlowModel` it returns is a `ModelData`, with decisions on top. Nothing here imports pydantic, except
`model_file_json_schema`, when called.
"""

from __future__ import annotations

from typing import Any

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


def model_file_json_schema() -> dict[str, Any]:
    """The JSON Schema of a model file (TOML files map one to one onto JSON); pydantic is
    imported on the first call."""
    from ._schema import model_file_json_schema as schema

    return schema()
