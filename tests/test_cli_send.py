"""The send command: decided first, sent through a fake VTEX (httpx.MockTransport), never the
token in any output, one-line errors with exit 2, exit 1 for what was held back or refused."""

from __future__ import annotations

import io
import json
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest
import stamina

from vtex_order_flow.cli import _send, main
from vtex_order_flow.tracking import OrderEvent, SQLiteStore, Tracker, parse_event

KEY, TOKEN = "vtexappkey-store-X", "sekrit-token-123"
Handler = Callable[[httpx.Request], httpx.Response]
ANSWER_KEYS = {
    "action",
    "order_id",
    "decision",
    "sent",
    "forced",
    "request",
    "status_code",
    "body",
    "attempts",
    "advice",
    "accepted",
}
INVOICE = {
    "issuanceDate": "2026-01-05T10:00:00Z",
    "invoiceNumber": "NF-1",
    "invoiceValue": "12050",
    "items": [{"id": "1", "price": 12050, "quantity": 1}],
}


class FakeVtex:
    """A fake VTEX: answers each request from a list, and keeps what it was sent."""

    def __init__(self, *responses: httpx.Response) -> None:
        self.responses = list(responses)
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        assert self.responses, f"unexpected request: {request.method} {request.url}"
        return self.responses.pop(0)


@pytest.fixture
def vtex(monkeypatch: pytest.MonkeyPatch) -> Callable[..., FakeVtex]:
    """Install a fake VTEX answering with the given responses (none: any request fails the test)."""

    def install(*responses: httpx.Response) -> FakeVtex:
        fake = FakeVtex(*responses)
        monkeypatch.setattr(_send, "_transport", lambda: httpx.MockTransport(fake))
        return fake

    return install


@pytest.fixture
def credentials(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VTEX_APP_KEY", KEY)
    monkeypatch.setenv("VTEX_APP_TOKEN", TOKEN)


@pytest.fixture
def no_sleep() -> Iterator[None]:
    stamina.set_testing(True, attempts=3)
    try:
        yield
    finally:
        stamina.set_testing(False)


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    """Run the command in-process: (exit status, stdout, stderr); the token is in none of them."""
    out = io.StringIO()
    code = main(["send", *argv], out=out)
    err = capsys.readouterr().err
    assert TOKEN not in out.getvalue()
    assert TOKEN not in err
    return code, out.getvalue(), err


ORDER = ("--order", "1234-01", "--account", "store")


@pytest.mark.usefixtures("credentials")
def test_a_sendable_update_goes_out_with_the_credentials(
    vtex: Callable[..., FakeVtex], capsys: pytest.CaptureFixture[str]
) -> None:
    fake = vtex(httpx.Response(204))
    code, out, err = run(capsys, "start-handling", *ORDER, "--status", "ready-for-handling")
    assert (code, err) == (0, "")
    [request] = fake.requests
    assert request.method == "POST"
    assert (
        str(request.url)
        == "https://store.vtexcommercestable.com.br/api/oms/pvt/orders/1234-01/start-handling"
    )
    assert request.headers["X-VTEX-API-AppKey"] == KEY
    assert request.headers["X-VTEX-API-AppToken"] == TOKEN
    assert out.startswith("SEND: start-handling on an order in ready-for-handling")
    assert "Sent: HTTP 204, 1 attempt(s)" in out
    assert "Next: nothing more to send." in out


@pytest.mark.usefixtures("credentials")
def test_an_update_the_model_holds_back_is_not_sent(
    vtex: Callable[..., FakeVtex], capsys: pytest.CaptureFixture[str]
) -> None:
    fake = vtex()
    code, out, _ = run(capsys, "start-handling", *ORDER, "--status", "window-to-cancel")
    assert code == 1
    assert fake.requests == []
    assert out.startswith("DEFER: start-handling")
    assert "Not sent: the model holds it back" in out


@pytest.mark.usefixtures("credentials")
def test_force_needs_a_reason(vtex: Callable[..., FakeVtex], capsys: pytest.CaptureFixture[str]) -> None:
    fake = vtex()
    code, out, err = run(capsys, "start-handling", *ORDER, "--status", "window-to-cancel", "--force")
    assert (code, out) == (2, "")
    assert err == "vtex-order-flow: error: --force needs --reason TEXT (why the model is overruled)\n"
    assert fake.requests == []


@pytest.mark.usefixtures("credentials")
def test_force_with_a_reason_sends_against_the_model(
    vtex: Callable[..., FakeVtex], capsys: pytest.CaptureFixture[str]
) -> None:
    fake = vtex(httpx.Response(204))
    code, out, _ = run(
        capsys, "start-handling", *ORDER, "--status", "window-to-cancel",
        "--force", "--reason", "the seller asked", "--json",
    )  # fmt: skip
    assert code == 0
    assert len(fake.requests) == 1
    data = json.loads(out)
    assert data["forced"] == "the seller asked"
    assert data["decision"]["verdict"] == "defer"
    assert (data["sent"], data["status_code"], data["advice"]["success"]) == (True, 204, True)


@pytest.mark.usefixtures("credentials")
def test_dry_run_prints_the_request_with_the_token_masked(
    vtex: Callable[..., FakeVtex], capsys: pytest.CaptureFixture[str]
) -> None:
    fake = vtex()
    code, out, _ = run(capsys, "start-handling", *ORDER, "--status", "ready-for-handling", "--dry-run")
    assert code == 0
    assert fake.requests == []
    assert "Dry run: nothing sent. It would send:" in out
    assert "  POST https://store.vtexcommercestable.com.br/api/oms/pvt/orders/1234-01/start-handling\n" in out
    assert f"  X-VTEX-API-AppKey: {KEY}\n" in out
    assert "  X-VTEX-API-AppToken: ***\n" in out


@pytest.mark.usefixtures("credentials")
def test_dry_run_json_adds_the_headers_and_the_query(
    vtex: Callable[..., FakeVtex], capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    vtex()
    payload = tmp_path / "approve.json"
    payload.write_text(json.dumps({"connectorName": "mkp", "connectorEndpoint": "https://mkp.example/hook"}))
    code, out, _ = run(
        capsys, "approve", *ORDER, "--payload", str(payload),
        "--force", "--reason", "test", "--dry-run", "--json",
    )  # fmt: skip
    assert code == 0
    data = json.loads(out)
    assert set(data) == ANSWER_KEYS | {"dry_run"}
    assert (data["dry_run"], data["sent"], data["forced"]) == (True, False, "test")
    request = data["request"]
    assert request["params"] == {"an": "store"}
    assert request["json"]["marketplaceOrderId"] == "1234-01"
    assert request["headers"]["X-VTEX-API-AppToken"] == "***"
    assert request["headers"]["X-VTEX-API-AppKey"] == KEY


def test_dry_run_needs_no_credentials(
    vtex: Callable[..., FakeVtex], capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("VTEX_APP_KEY", raising=False)
    monkeypatch.delenv("VTEX_APP_TOKEN", raising=False)
    vtex()
    code, out, _ = run(capsys, "start-handling", *ORDER, "--status", "window-to-cancel", "--dry-run")
    assert code == 0
    assert "Held back; sent, it would be:" in out
    assert "X-VTEX-API-AppToken: (VTEX_APP_TOKEN not set)" in out


def test_missing_credentials_are_a_usage_error(
    vtex: Callable[..., FakeVtex], capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("VTEX_APP_KEY", KEY)
    monkeypatch.delenv("VTEX_APP_TOKEN", raising=False)
    fake = vtex()
    code, out, err = run(capsys, "start-handling", *ORDER, "--status", "ready-for-handling")
    assert (code, out) == (2, "")
    assert "VTEX_APP_KEY and VTEX_APP_TOKEN" in err
    assert err.count("\n") == 1
    assert fake.requests == []


def test_a_token_that_is_no_header_value_is_refused_unquoted(
    vtex: Callable[..., FakeVtex], capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("VTEX_APP_KEY", KEY)
    monkeypatch.setenv("VTEX_APP_TOKEN", TOKEN + "\n")
    vtex()
    code, _, err = run(capsys, "start-handling", *ORDER, "--status", "ready-for-handling")
    assert code == 2
    assert "VTEX_APP_TOKEN must be printable ASCII" in err


@pytest.mark.usefixtures("credentials")
@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ('{"invoiceNumber": ', "Expecting value"),
        ('{"x": NaN}', "NaN is not a JSON number"),
        ("", "Expecting"),
    ],
)
def test_a_payload_that_is_not_json(
    vtex: Callable[..., FakeVtex], capsys: pytest.CaptureFixture[str], tmp_path: Path, text: str, problem: str
) -> None:
    vtex()
    payload = tmp_path / "bad.json"
    payload.write_text(text)
    code, _, err = run(capsys, "invoice", *ORDER, "--status", "handling", "--payload", str(payload))
    assert code == 2
    assert err.startswith(f"vtex-order-flow: error: --payload {str(payload)!r} is not JSON: {problem}")
    assert err.count("\n") == 1


@pytest.mark.usefixtures("credentials")
def test_an_invalid_body_names_the_field(
    vtex: Callable[..., FakeVtex], capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    fake = vtex()
    body = json.dumps({**INVOICE, "invoiceValue": "0"}).encode()
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(body)))
    code, _, err = run(capsys, "invoice", *ORDER, "--status", "handling", "--payload", "-")
    assert code == 2
    assert err.startswith("vtex-order-flow: error: invalid invoice body: invoiceValue: ")
    assert "(got '0')" in err
    assert fake.requests == []


@pytest.mark.usefixtures("credentials")
def test_an_action_that_needs_a_body_says_so(
    vtex: Callable[..., FakeVtex], capsys: pytest.CaptureFixture[str]
) -> None:
    vtex()
    code, _, err = run(capsys, "invoice", *ORDER, "--status", "handling")
    assert code == 2
    assert err == "vtex-order-flow: error: invoice needs a request body: give --payload FILE\n"


@pytest.mark.usefixtures("credentials")
def test_an_invoice_is_sent_with_its_body(
    vtex: Callable[..., FakeVtex], capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    receipt = {"date": "2026-01-05", "orderId": "1234-01", "receipt": "r-1"}
    fake = vtex(httpx.Response(200, json=receipt))
    payload = tmp_path / "invoice.json"
    payload.write_text(json.dumps(INVOICE))
    code, out, _ = run(capsys, "invoice", *ORDER, "--status", "handling", "--payload", str(payload), "--json")
    assert code == 0
    [request] = fake.requests
    assert json.loads(request.content) == {**INVOICE, "type": "Output"}
    data = json.loads(out)
    assert set(data) == ANSWER_KEYS | {"dry_run"}
    assert (data["dry_run"], data["sent"], data["body"]) == (False, True, receipt)


@pytest.mark.usefixtures("credentials", "no_sleep")
def test_a_429_is_sent_again(vtex: Callable[..., FakeVtex], capsys: pytest.CaptureFixture[str]) -> None:
    fake = vtex(httpx.Response(429, headers={"Retry-After": "1"}), httpx.Response(204))
    code, out, _ = run(capsys, "start-handling", *ORDER, "--status", "ready-for-handling", "--json")
    assert code == 0
    assert len(fake.requests) == 2
    assert json.loads(out)["attempts"] == 2


@pytest.mark.usefixtures("credentials", "no_sleep")
def test_an_answer_that_is_not_accepted_exits_1(
    vtex: Callable[..., FakeVtex], capsys: pytest.CaptureFixture[str]
) -> None:
    vtex(*[httpx.Response(503)] * 3)
    code, out, _ = run(capsys, "start-handling", *ORDER, "--status", "ready-for-handling")
    assert code == 1
    assert "Sent: HTTP 503, 3 attempt(s)" in out
    assert "Not accepted." in out


def test_an_unknown_action(vtex: Callable[..., FakeVtex], capsys: pytest.CaptureFixture[str]) -> None:
    vtex()
    code, _, err = run(capsys, "start-handlin", *ORDER, "--dry-run")
    assert code == 2
    assert err.startswith(
        "vtex-order-flow: error: unknown action 'start-handlin'; did you mean 'start-handling'"
    )
    assert err.count("\n") == 1


@pytest.mark.usefixtures("credentials")
def test_an_unknown_status_asks_for_one(
    vtex: Callable[..., FakeVtex], capsys: pytest.CaptureFixture[str]
) -> None:
    fake = vtex()
    code, _, err = run(capsys, "start-handling", *ORDER)
    assert code == 2
    assert "the status of order '1234-01' is unknown (no --status or --db): give --status S" in err
    assert fake.requests == []


def _hook(order: str, state: str, last: str) -> bytes:
    return json.dumps(
        {
            "Domain": "Fulfillment",
            "OrderId": order,
            "State": state,
            "LastState": last,
            "LastChange": "2025-01-05T10:00:00.0000000Z",
            "CurrentChange": "2025-01-05T10:30:00.0000000Z",
            "Origin": {"Account": "store", "Key": KEY},
        }
    ).encode()


@pytest.mark.usefixtures("credentials")
def test_db_decides_from_the_trackers_record(
    vtex: Callable[..., FakeVtex], capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    db = tmp_path / "outbox.db"
    tracker = Tracker(store=SQLiteStore(db))
    event = parse_event(_hook("1234-01", "ready-for-handling", "window-to-cancel"))
    assert isinstance(event, OrderEvent)
    tracker.apply(event)
    tracker.close()
    fake = vtex(httpx.Response(204))
    code, out, _ = run(capsys, "start-handling", *ORDER, "--db", str(db))
    assert code == 0
    assert out.startswith("SEND: start-handling on an order in ready-for-handling")
    assert len(fake.requests) == 1
    # An order the tracker has not seen: its status is unknown.
    code, _, err = run(capsys, "start-handling", "--order", "9999-01", "--account", "store", "--db", str(db))
    assert code == 2
    assert f"the tracker in {str(db)!r} has not seen it" in err


@pytest.mark.usefixtures("credentials")
def test_a_missing_db_file_is_not_created(
    vtex: Callable[..., FakeVtex], capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    vtex()
    code, _, err = run(capsys, "start-handling", *ORDER, "--db", str(tmp_path / "nope.db"))
    assert code == 2
    assert "no such tracker file" in err
    assert not (tmp_path / "nope.db").exists()


@pytest.mark.usefixtures("credentials")
def test_without_the_client_extra_it_is_one_line(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in [
        m for m in sys.modules if m == "vtex_order_flow.client" or m.startswith("vtex_order_flow.client.")
    ]:
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, "httpx", None)
    code, _, err = run(capsys, "start-handling", *ORDER, "--status", "ready-for-handling")
    assert code == 2
    assert err == (
        "vtex-order-flow: error: vtex_order_flow.client needs httpx and stamina: "
        "pip install 'vtex-order-flow[client]'\n"
    )


def test_the_other_commands_never_load_the_http_client() -> None:
    code = (
        "import io, sys; from vtex_order_flow.cli import main;"
        "main(['decide', 'start-handling', '--status', 'handling'], out=io.StringIO());"
        "print(sorted(m for m in ('httpx', 'stamina', 'vtex_order_flow.client') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60)
    assert out.stdout.strip() == "[]"


def test_help_names_the_credentials_and_exit_statuses(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["send", "--help"])
    text = capsys.readouterr().out
    assert "VTEX_APP_KEY" in text
    assert "VTEX_APP_TOKEN" in text
    assert "Exit status: 0" in text
    assert "Examples:" in text


def test_db_is_only_read_even_an_older_schema(
    vtex: Callable[..., FakeVtex], capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    # Review: `send --dry-run --db` upgraded a version 2 file in place; other workers of the
    # older library then refused it.
    import sqlite3

    db = tmp_path / "outbox.db"
    tracker = Tracker(store=SQLiteStore(db))
    event = parse_event(_hook("1234-01", "ready-for-handling", "window-to-cancel"))
    assert isinstance(event, OrderEvent)
    tracker.apply(event)
    tracker.close()
    with sqlite3.connect(db) as con:  # as the previous version left it
        con.execute("DROP TABLE order_ids")
        con.execute("UPDATE meta SET value = '2' WHERE name = 'schema_version'")
    before = db.read_bytes()
    vtex(httpx.Response(204))
    code, out, _ = run(capsys, "start-handling", *ORDER, "--db", str(db), "--dry-run")
    assert code == 0
    assert "SEND" in out
    assert db.read_bytes() == before
    with sqlite3.connect(db) as con:
        assert con.execute("SELECT value FROM meta WHERE name = 'schema_version'").fetchone() == ("2",)


@pytest.mark.usefixtures("credentials")
def test_a_base_url_httpx_cannot_use_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    for url in ("http://host:abc", "http://[::1"):
        code, _, err = run(
            capsys, "start-handling", *ORDER, "--status", "ready-for-handling", "--base-url", url
        )
        assert code == 2, err
        assert err.count("\n") == 1
        assert "Traceback" not in err
