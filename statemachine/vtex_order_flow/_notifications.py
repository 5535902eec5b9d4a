"""Turn a Channel Order API reply or notification into what the connector should do next."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, fields
from typing import TYPE_CHECKING, Any

from ._guards import expect, is_seconds
from ._text import shown, validation_problems
from ._vocabulary import Confidence, FollowUp
from .errors import InvalidArgumentError, NotificationError

if TYPE_CHECKING:
    from ._flowmodel import FlowModel
    from .payloads import ChannelOrderResult

__all__ = ["Advice", "advice_for", "interpret_notification"]

_NEXT_STEP = {
    FollowUp.DONE: "nothing more to send",
    FollowUp.WAIT_FOR_NOTIFICATION: (
        "wait for the notification with the same operationId, or the order's status, to show the outcome"
    ),
    FollowUp.RETRY_WITH_BACKOFF: "send the same request again later, with exponential backoff",
    FollowUp.DEFER_UNTIL_STATUS_CHANGES: "send again once the status changes (watch the feed or hook)",
    FollowUp.DECIDE_AGAIN: "read the order's status and decide again: it says whether to wait or give up",
    FollowUp.GIVE_UP: "do not send it again as it is",
    FollowUp.NEEDS_PERSON: "a person has to look at it",
}


@dataclass(frozen=True, slots=True)
class Advice:
    """What a result code means and what to do next."""

    code: str
    follow_up: FollowUp
    next_step: str
    meaning: str
    known: bool
    """The code is in the model; an unknown code always needs a person."""
    consistent: bool
    """The payload's `success` flag and `flow` agree with what the model says of the code."""
    operation: str
    success: bool
    marketplace_order_id: str | None
    order_id: str | None
    operation_id: str | None
    errors: tuple[str, ...]
    confidence: Confidence
    http_status: int | None = None
    """The HTTP status of the answer, when it came over HTTP (the client's answers)."""
    retry_after: float | None = None
    """Seconds VTEX asked to wait before sending again (a 429's ``Retry-After``)."""

    def to_dict(self) -> dict[str, Any]:
        """The advice as JSON-ready data (the CLI's ``--json`` shape)."""
        return {
            "code": self.code,
            "follow_up": str(self.follow_up),
            "next_step": self.next_step,
            "meaning": self.meaning,
            "known": self.known,
            "consistent": self.consistent,
            "operation": self.operation,
            "success": self.success,
            "marketplace_order_id": self.marketplace_order_id,
            "order_id": self.order_id,
            "operation_id": self.operation_id,
            "errors": list(self.errors),
            "confidence": str(self.confidence),
            "http_status": self.http_status,
            "retry_after": self.retry_after,
        }


def interpret_notification(
    payload: ChannelOrderResult | Mapping[str, Any] | str | bytes, model: FlowModel | None = None
) -> Advice:
    """The follow-up for a Channel Order API reply or notification.

    `payload` is the parsed model, a mapping, or the raw JSON body. A malformed payload raises
    `NotificationError` naming each bad field; a code the model does not know gives
    `needs-person` with ``known=False`` rather than an error, since VTEX may add codes.
    """
    from pydantic import ValidationError

    from ._loader import bundled_model
    from .payloads import ChannelOrderResult

    if model is not None:
        from ._flowmodel import FlowModel

        expect(model, FlowModel, "interpret_notification's model")
    try:
        if isinstance(payload, str | bytes):
            result = ChannelOrderResult.model_validate_json(payload)
        elif isinstance(payload, ChannelOrderResult):
            result = payload
        else:
            result = ChannelOrderResult.model_validate(payload)
    except ValidationError as error:
        raise NotificationError(validation_problems(error)) from None
    known = (model or bundled_model()).codes.get(result.code)
    errors = tuple(
        ": ".join(part for part in (e.source, e.code, e.description) if part) for e in result.errors or ()
    )
    consistent = known is not None and (
        result.success == known.success and (not known.operations or result.flow in known.operations)
    )
    return advice_for(
        result.code,
        model,
        meaning=result.message or "",
        consistent=consistent,
        operation=result.flow,
        success=result.success,
        marketplace_order_id=result.marketplaceOrderId,
        order_id=result.fields.mainOrderId if result.fields else None,
        operation_id=result.operationId,
        errors=errors,
    )


def _text(value: object) -> bool:
    return isinstance(value, str)


def _text_or_none(value: object) -> bool:
    return value is None or isinstance(value, str)


def _flag(value: object) -> bool:
    return isinstance(value, bool)


def _texts(value: object) -> bool:
    return isinstance(value, tuple | list) and all(isinstance(item, str) for item in value)


def _http_status(value: object) -> bool:
    return value is None or (type(value) is int and 100 <= value <= 999)


_FIELD_CHECKS = {
    "meaning": (_text, "a string"),
    "next_step": (_text, "a string"),
    "operation": (_text, "a string"),
    "known": (_flag, "true or false"),
    "consistent": (_flag, "true or false"),
    "success": (_flag, "true or false"),
    "marketplace_order_id": (_text_or_none, "a string or None"),
    "order_id": (_text_or_none, "a string or None"),
    "operation_id": (_text_or_none, "a string or None"),
    "errors": (_texts, "a tuple or list of strings"),
    "follow_up": (lambda v: isinstance(v, FollowUp), "a FollowUp"),
    "confidence": (lambda v: isinstance(v, Confidence), "a Confidence"),
    "http_status": (_http_status, "an HTTP status (an int from 100 to 999) or None"),
    "retry_after": (
        lambda v: is_seconds(v, optional=True),
        "a number of seconds (finite, 0 or more) or None",
    ),
}


def _check_fields(given: dict[str, Any]) -> None:
    """Refuse a field `Advice` does not have, or a value of the wrong kind, naming it; a list of
    errors becomes a tuple."""
    for name, value in given.items():
        if name not in _FIELD_CHECKS:
            valid = ", ".join(f.name for f in fields(Advice) if f.name != "code")
            raise InvalidArgumentError(f"advice_for has no field {shown(name)}; valid fields: {valid}")
        check, what = _FIELD_CHECKS[name]
        if not check(value):
            raise InvalidArgumentError(
                f"advice_for's {name} must be {what}, not {type(value).__name__} {shown(value)}"
            )
    if isinstance(given.get("errors"), list):
        given["errors"] = tuple(given["errors"])


def advice_for(code: str, model: FlowModel | None = None, **fields: Any) -> Advice:
    """The `Advice` for a result `code`: its follow-up, next step, meaning and confidence from the
    model; a code the model does not know needs a person (``known=False``, and `meaning` from
    `fields`, or the code). `fields` sets the rest (``operation``, ``success``, ``order_id``,
    ``http_status``, ``retry_after``, ...); ``success`` and ``consistent`` default to what the
    model says of the code (a known code's meaning is the model's; `meaning` names an unknown
    one)."""
    from ._flowmodel import FlowModel
    from ._loader import bundled_model

    expect(code, str, "advice_for's code")
    if model is not None:
        expect(model, FlowModel, "advice_for's model")
    _check_fields(fields)
    known = (model or bundled_model()).codes.get(code)
    given_meaning = fields.pop("meaning", "")
    if known is None:
        follow_up = FollowUp.NEEDS_PERSON
        base: dict[str, Any] = {
            "follow_up": follow_up,
            "next_step": _NEXT_STEP[follow_up] + f": code {code!r} is not in the model",
            "meaning": given_meaning,
            "known": False,
            "consistent": False,
            "success": False,
            "confidence": Confidence.INFERRED,
        }
    else:
        base = {
            "follow_up": known.follow_up,
            "next_step": _NEXT_STEP[known.follow_up],
            "meaning": known.meaning,
            "known": True,
            "consistent": True,
            "success": known.success,
            "confidence": known.confidence,
        }
    defaults = {
        "operation": "",
        "marketplace_order_id": None,
        "order_id": None,
        "operation_id": None,
        "errors": (),
    }
    return Advice(code=code, **{**base, **defaults, **fields})
