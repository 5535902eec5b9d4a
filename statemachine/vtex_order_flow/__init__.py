"""vtex-order-flow: may this update go to VTEX now? Send, defer or reject, from one model.

The top level holds the verbs and what they return, nothing else:

- deciding: `decide` (on the bundled model; `FlowModel.decide` on your own), `decide_lines` (a
  batch), and what they answer: `Decision`, `Verdict`, `Step` (a path's moves), `Facts` (what
  you may tell them besides the status);
- models: `load_model`, `bundled_model`, `model_from_mapping`, and `FlowModel`, what they return;
- VTEX's answers: `interpret_notification`, `advice_for`, and `Advice`, `FollowUp` (what to do
  next), what they return.

Everything else has one home: the exceptions in `vtex_order_flow.errors`, the parts of a model
(statuses, transitions, `Cause`, `Confidence`, `Rule`, `Defect`, `duration`, the JSON Schema)
in `vtex_order_flow.model`, the `transitions` engine (`build_machine`, `fire`, `may_fire`) in
`vtex_order_flow.machine`, the payload models (pydantic) in `vtex_order_flow.payloads`. None of
them is imported here, so deciding loads neither pydantic nor transitions. The names that were
here before still resolve, with a `DeprecationWarning` naming their home, for one release.
"""

from typing import TYPE_CHECKING, Any

from ._api import decide
from ._decision import Decision, Facts, Step, Verdict
from ._flowmodel import FlowModel
from ._loader import bundled_model, load_model, model_from_mapping
from ._notifications import Advice, advice_for, interpret_notification
from ._vocabulary import FollowUp

__version__ = "0.1.0"

if TYPE_CHECKING:
    from ._batch import decide_lines

__all__ = [
    "Advice",
    "Decision",
    "Facts",
    "FlowModel",
    "FollowUp",
    "Step",
    "Verdict",
    "__version__",
    "advice_for",
    "bundled_model",
    "decide",
    "decide_lines",
    "interpret_notification",
    "load_model",
    "model_from_mapping",
]

_LAZY = {"decide_lines": "._batch"}
"""Names imported on first use: deciding needs none of them."""

_MOVED = {
    **dict.fromkeys(
        (
            "ContradictoryFactsError",
            "InvalidModelError",
            "ModelFileError",
            "ModelTooLargeError",
            "NotificationError",
            "UnknownActionError",
            "UnknownEventError",
            "UnknownFactError",
            "UnknownFlowError",
            "UnknownNameError",
            "UnknownStatusError",
            "VtexOrderFlowError",
        ),
        "vtex_order_flow.errors",
    ),
    **dict.fromkeys(
        (
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
        ),
        "vtex_order_flow.model",
    ),
    **dict.fromkeys(("build_machine", "fire", "may_fire"), "vtex_order_flow.machine"),
}
"""Names that left the top level, and their home (deprecated here; removed in the next release)."""


def __getattr__(name: str) -> Any:
    """The names imported on first use (`_LAZY`), and the names that moved (`_MOVED`), with a
    `DeprecationWarning`."""
    import importlib

    module = _LAZY.get(name)
    if module is not None:
        return getattr(importlib.import_module(module, __name__), name)
    home = _MOVED.get(name)
    if home is None:
        raise AttributeError(f"module 'vtex_order_flow' has no attribute {name!r}")
    import warnings

    warnings.warn(
        f"vtex_order_flow.{name} has moved: import it from {home} "
        f"(`from {home} import {name}`); the old name goes in the next release",
        DeprecationWarning,
        stacklevel=2,
    )
    return getattr(importlib.import_module(home), name)
