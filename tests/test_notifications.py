"""Result codes and notifications: every code in the model, payloads validated, one follow-up each."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest

from vtex_order_flow import FollowUp, bundled_model, interpret_notification
from vtex_order_flow.cli import main
from vtex_order_flow.errors import NotificationError, VtexOrderFlowError
from vtex_order_flow.payloads import ChannelOrderResult

VTEX = bundled_model()

# The Channel Order API codes of the domain research (§3.4), with the follow-up class of each.
CODES = {
    "SOI001": FollowUp.DONE,
    "SOI002": FollowUp.DONE,
    "SOI003": FollowUp.WAIT_FOR_NOTIFICATION,
    "EOI000": FollowUp.NEEDS_PERSON,
    "EOI001": FollowUp.NEEDS_PERSON,
    "EOI002": FollowUp.NEEDS_PERSON,
    "EOI003": FollowUp.NEEDS_PERSON,
    "EOI004": FollowUp.GIVE_UP,
    "EOI005": FollowUp.GIVE_UP,
    "EOI006": FollowUp.RETRY_WITH_BACKOFF,
    "EOI007": FollowUp.DONE,
    "EOI008": FollowUp.DEFER_UNTIL_STATUS_CHANGES,
    "EOI009": FollowUp.GIVE_UP,
    "EOI010": FollowUp.RETRY_WITH_BACKOFF,
    "EOI011": FollowUp.DEFER_UNTIL_STATUS_CHANGES,
}

SYNC_REPLY = {
    "code": "SOI003",
    "flow": "PlaceOrder",
    "success": True,
    "marketplaceOrderId": None,
    "operationId": None,
    "message": "Order successfully enqueued",
}
NOTIFICATION = {
    "marketplaceOrderId": "123456789",
    "accountName": "store",
    "code": "SOI002",
    "flow": "ApproveOrder",
    "success": True,
    "operationId": "7d2f1f5e-0c0e-4b8a-9d3c-1f2e3d4c5b6a",
    "message": "Order approved",
    "errors": None,
    "fields": {"mainOrderId": "MKP-123456789", "franchiseOrderId": None},
}


def test_every_channel_order_code_is_in_the_model_with_its_follow_up() -> None:
    channel = {code: c.follow_up for code, c in VTEX.codes.items() if c.api == "channel-order"}
    assert channel == CODES
    assert VTEX.codes["OMS003"].follow_up is FollowUp.DECIDE_AGAIN
    assert all(code.meaning and code.sources for code in VTEX.codes.values())


def test_sync_reply_means_wait_for_the_notification() -> None:
    advice = interpret_notification(SYNC_REPLY)
    assert advice.follow_up is FollowUp.WAIT_FOR_NOTIFICATION
    assert advice.consistent


def test_notification_success() -> None:
    advice = interpret_notification(json.dumps(NOTIFICATION))
    assert advice.follow_up is FollowUp.DONE
    assert advice.order_id == "MKP-123456789"
    assert advice.operation_id == NOTIFICATION["operationId"]


def test_eoi011_defers_until_the_status_changes() -> None:
    payload = {**NOTIFICATION, "code": "EOI011", "success": False, "fields": None}
    advice = interpret_notification(payload)
    assert advice.follow_up is FollowUp.DEFER_UNTIL_STATUS_CHANGES
    assert "watch the feed or hook" in advice.next_step


def test_errors_are_kept() -> None:
    payload = {
        **NOTIFICATION,
        "code": "EOI002",
        "flow": "PlaceOrder",
        "success": False,
        "fields": None,
        "errors": [{"source": "Fulfillment", "code": "FMT005", "description": "Items unavailable"}],
    }
    advice = interpret_notification(payload)
    assert advice.follow_up is FollowUp.NEEDS_PERSON
    assert advice.errors == ("Fulfillment: FMT005: Items unavailable",)


def test_inconsistent_payload_is_flagged() -> None:
    advice = interpret_notification({**NOTIFICATION, "code": "EOI009", "success": True})
    assert not advice.consistent
    wrong_flow = interpret_notification({**NOTIFICATION, "code": "SOI001"})  # SOI001 is PlaceOrder's
    assert not wrong_flow.consistent


def test_unknown_code_needs_a_person_and_does_not_crash() -> None:
    advice = interpret_notification({**NOTIFICATION, "code": "EOI012", "success": False})
    assert (advice.known, advice.follow_up) == (False, FollowUp.NEEDS_PERSON)
    assert "EOI012" in advice.next_step


def test_new_fields_from_vtex_are_kept_not_refused() -> None:
    result = ChannelOrderResult.model_validate({**NOTIFICATION, "newField": 1})
    assert result.model_extra == {"newField": 1}


@pytest.mark.parametrize(
    ("payload", "where"),
    [
        ({k: v for k, v in NOTIFICATION.items() if k != "code"}, "code"),
        ({**NOTIFICATION, "flow": 5}, "flow"),
        ({**NOTIFICATION, "success": "yes"}, "success"),
        ({**NOTIFICATION, "errors": [{"code": 5}]}, "errors.0.code"),
    ],
)
def test_malformed_payload_names_the_field(payload: dict[str, object], where: str) -> None:
    with pytest.raises(NotificationError) as caught:
        interpret_notification(payload)
    assert where.replace(".0.", "[0].") in {path for path, _ in caught.value.problems}
    assert isinstance(caught.value, VtexOrderFlowError)


@pytest.mark.parametrize("payload", [None, b"garbage", "{}", 5])
def test_not_a_payload_at_all(payload: object) -> None:
    with pytest.raises(NotificationError):
        interpret_notification(payload)  # type: ignore[arg-type]


def test_an_operation_the_model_does_not_have_is_inconsistent_not_refused() -> None:
    # VTEX may add operations; the model says which it knows (an action's `operation`).
    advice = interpret_notification({**NOTIFICATION, "flow": "CancelOrder"})
    assert advice.known
    assert not advice.consistent


def test_cli_notification(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    good = tmp_path / "n.json"
    good.write_text(json.dumps({**NOTIFICATION, "code": "EOI006", "success": False}), "utf-8")
    out = io.StringIO()
    assert main(["notification", str(good), "--json"], out=out) == 0
    data = json.loads(out.getvalue())
    assert data["follow_up"] == "retry-with-backoff"
    out = io.StringIO()
    assert main(["notification", str(good)], out=out) == 0
    assert out.getvalue().startswith("EOI006 (ApproveOrder): retry-with-backoff")

    bad = tmp_path / "bad.json"
    bad.write_text('{"code": "SOI001"}', "utf-8")
    assert main(["notification", str(bad)], out=io.StringIO()) == 2
    err = capsys.readouterr().err
    assert err.startswith("vtex-order-flow: error: invalid notification payload: ")
    assert "flow: Field required" in err
    assert len(err.strip().splitlines()) == 1
