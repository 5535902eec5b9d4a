"""What the sync and async clients share: their settings, the requests they build, the decision
that gates each call, and the `Answer` each exchange becomes."""

from __future__ import annotations

import logging
import math
import re
from dataclasses import replace
from typing import TYPE_CHECKING, Any

import httpx

from .. import Advice, Decision, Facts, FlowModel, FollowUp, Verdict
from .._guards import expect
from ..errors import InvalidArgumentError, NotSendableError
from ._answers import interpret_answer, transport_advice
from ._requests import RequestBuilder, check_account, check_base_url
from ._retries import NEVER_SENT, retrying
from ._types import Answer, Request, SendOptions

if TYPE_CHECKING:
    from ..tracking import Entry, Tracker

__all__: list[str] = []

log = logging.getLogger("vtex_order_flow.client")

_HEADER_VALUE = re.compile(r"[\x21-\x7e](?:[\x20-\x7e]*[\x21-\x7e])?")


def _seconds(value: object, what: str) -> float:
    if (
        isinstance(value, bool)
        or not isinstance(value, int | float)
        or not math.isfinite(value)
        or value <= 0
    ):
        raise InvalidArgumentError(f"{what} must be a number of seconds > 0, not {value!r}")
    return float(value)


def _header(value: object, what: str) -> str:
    """A credential as a header value; the message never shows it (it may be a secret)."""
    if not isinstance(value, str) or not value or len(value) > 4096 or not _HEADER_VALUE.fullmatch(value):
        kind = type(value).__name__ if not isinstance(value, str) else f"text of {len(value)} characters"
        raise InvalidArgumentError(
            f"{what} must be non-empty printable ASCII with no line breaks or outer spaces ({kind} given)"
        )
    return value


class _Core:
    """What the sync and async clients share: settings, requests, decisions, answers."""

    def __init__(
        self,
        account: str,
        app_key: str,
        app_token: str,
        *,
        environment: str = "vtexcommercestable",
        base_url: str | None = None,
        timeout: float = 10.0,
        connect_timeout: float = 5.0,
        model: FlowModel | None = None,
        flow: str | None = None,
        tracker: Tracker | None = None,
        attempts: int = 4,
        retry_timeout: float = 30.0,
        max_retry_after: float = 30.0,
        connector_name: str | None = None,
        connector_endpoint: str | None = None,
        lost_answer_wait: float = 300.0,
    ) -> None:
        from .. import bundled_model

        check_account(account, "account", "a VTEX account name (letters, digits, hyphens)")
        check_account(environment, "environment", "a host label such as vtexcommercestable")
        self.app_key = _header(app_key, "app_key")
        self._app_token = _header(app_token, "app_token")
        if base_url is None:
            base_url = f"https://{account}.{environment}.com.br"
        base_url = check_base_url(base_url)
        if isinstance(attempts, bool) or not isinstance(attempts, int) or not 1 <= attempts <= 20:
            raise InvalidArgumentError(f"attempts must be an integer from 1 to 20, not {attempts!r}")
        if model is not None:
            expect(model, FlowModel, "the client's model")
        self.account = account
        self.base_url = base_url
        self.timeout = httpx.Timeout(
            _seconds(timeout, "timeout"), connect=_seconds(connect_timeout, "connect_timeout")
        )
        self.attempts = attempts
        self.retry_timeout = _seconds(retry_timeout, "retry_timeout")
        self.max_retry_after = _seconds(max_retry_after, "max_retry_after")
        self.lost_answer_wait = _seconds(lost_answer_wait, "lost_answer_wait")
        """How long an update whose answer was lost waits for VTEX's word (the hook, the
        notification) before the outbox decides it again (at most the tracker's answer_timeout)."""
        self.model = model or (tracker.model if tracker is not None else bundled_model())
        self.flow = self.model.flow_name(flow if flow is not None else (tracker.flow if tracker else None))
        self.tracker = tracker
        self.connector_name = connector_name
        self.connector_endpoint = connector_endpoint
        self.request_builder = RequestBuilder(
            self.model, self.base_url, account, connector_name, connector_endpoint
        )
        """Builds (and validates) the requests this client sends (`request`, `entry_request`)."""

    def __repr__(self) -> str:  # never the token
        return f"{type(self).__name__}(account={self.account!r}, base_url={self.base_url!r})"

    @property
    def headers(self) -> dict[str, str]:
        """The headers every request carries (VTEX's app key and token)."""
        return {
            "X-VTEX-API-AppKey": self.app_key,
            "X-VTEX-API-AppToken": self._app_token,
            "Accept": "application/json",
            "Content-Type": "application/json",
        }

    # -- requests ------------------------------------------------------------------------------

    def request(self, action: str, order_id: str, body: Any = None) -> Request:
        """The request `action` makes for the order (validated; nothing sent): the endpoint and
        method from the model, the body typed (`PayloadError` names each bad field). For
        ``create`` and ``approve`` the order id is the marketplace's; for the Orders API, VTEX's."""
        return self.request_builder.build(action, order_id, body)

    def entry_request(self, entry: Entry, marketplace_id: str | None = None) -> Request:
        """The request for an outbox entry, from its stored payload (`RequestBuilder.for_entry`):
        the marketplace id for the Channel Order API, VTEX's id for the Orders API. What the
        dispatcher checks before it marks an entry sent."""
        return self.request_builder.for_entry(entry, marketplace_id)

    # -- decisions -----------------------------------------------------------------------------

    def decide(
        self, action: str, order_id: str, *, status: str | None = None, facts: Facts = None
    ) -> Decision:
        """The model's decision for `action` on the order: from `status` when given, else from
        the tracker's record; an order no event named yet is where the flow starts (VTEX does
        not have it) for the action that brings it into VTEX (create), and unknown otherwise
        (`InvalidArgumentError`: pass `status`)."""
        if status is not None:
            return self.model.decide(status, action, self.flow, facts)
        if self.tracker is not None:
            known = self.tracker.decide(order_id, action, facts)
            if known is not None:
                return known
        initial = self.model.flow(self.flow).initial
        decision = self.model.decide(initial, action, self.flow, facts)
        if decision.verdict is Verdict.SEND:
            return decision
        raise InvalidArgumentError(
            f"the status of order {order_id!r} is unknown (no tracker has seen it): pass status= "
            f"to decide {self.model.action(action).name}, or force=True with a reason"
        )

    def _gate(self, action: str, order_id: str, options: SendOptions) -> tuple[Decision | None, str | None]:
        """The decision, and why the caller overrules it (None when it does not)."""
        force = options.get("force", False)
        reason = options.get("reason")
        if not isinstance(force, bool):
            raise InvalidArgumentError(f"force must be True or False, not {force!r}")
        if force:
            if not isinstance(reason, str) or not reason.strip():
                raise InvalidArgumentError("force=True needs a reason (why the model is overruled)")
            try:
                decision = self.decide(
                    action, order_id, status=options.get("status"), facts=options.get("facts")
                )
            except InvalidArgumentError:
                decision = None
            if decision is None or decision.verdict is not Verdict.SEND:
                log.warning(
                    "forced %s of %s against the model (%s): %s",
                    action,
                    order_id,
                    decision.reason if decision else "status unknown",
                    reason,
                )
            return decision, reason
        return self.decide(action, order_id, status=options.get("status"), facts=options.get("facts")), None

    def _held_back(self, request: Request, order_id: str, decision: Decision, options: SendOptions) -> Answer:
        if options.get("strict", False):
            raise NotSendableError(decision)
        log.info("not sent: %s of %s: %s: %s", request.action, order_id, decision.verdict, decision.reason)
        return Answer(request.action, order_id, decision, request, sent=False)

    # -- answers -------------------------------------------------------------------------------

    def _retrying(self) -> Any:
        return retrying(self.attempts, self.retry_timeout, self.max_retry_after)

    def _answer(
        self, request: Request, order_id: str, response: httpx.Response, tries: int, **extra: Any
    ) -> Answer:
        try:
            body: Any = response.json() if response.content else None
        except (ValueError, RecursionError):
            body = response.text[:2000]
        advice = interpret_answer(
            request.action,
            response.status_code,
            response.content,
            headers=response.headers,
            order_id=order_id,
            model=self.model,
        )
        advice = self._checked(request, order_id, advice)
        log.info(
            "sent %s of %s: %s %s (%d attempt(s))",
            request.action,
            order_id,
            response.status_code,
            advice.code,
            tries,
        )
        return Answer(
            request.action, order_id, request=request, sent=True, advice=advice,
            status_code=response.status_code, body=body, attempts=tries, **extra,
        )  # fmt: skip

    def _failed(self, request: Request, order_id: str, error: Exception, tries: int, **extra: Any) -> Answer:
        # Failed before sending (a refused connection, a request httpx would not send): never
        # applied. Anything else after the request went: it may have been.
        never = isinstance(error, (*NEVER_SENT, httpx.LocalProtocolError))
        code = "NETWORK" if never else "TIMEOUT"
        detail = f"{type(error).__name__}: {error}"[:500]
        advice = transport_advice(code, detail, action=request.action, order_id=order_id, model=self.model)
        if code == "TIMEOUT":
            advice = replace(advice, retry_after=self.lost_answer_wait)
        log.warning("sent %s of %s: no answer: %s (%d attempt(s))", request.action, order_id, detail, tries)
        return Answer(
            request.action,
            order_id,
            request=request,
            sent=code == "TIMEOUT",
            advice=advice,
            attempts=tries,
            **extra,
        )

    def _checked(self, request: Request, order_id: str, advice: Advice) -> Advice:
        """A Channel Order answer about another order or operation than the request's is not
        this request's answer: a person looks (nothing is linked, nothing closed by it)."""
        operation = self.model.action(request.action).operation
        if operation is None or advice.code.startswith("HTTP"):
            return advice
        asked = request.json.get("marketplaceOrderId") if isinstance(request.json, dict) else order_id
        other = advice.marketplace_order_id not in (None, asked) or advice.operation != operation
        if not other:
            return advice
        return replace(
            advice,
            follow_up=FollowUp.NEEDS_PERSON,
            next_step=f"a person has to look at it: the answer is about {advice.operation} of "
            f"{advice.marketplace_order_id!r}, not {operation} of {asked!r}",
            consistent=False,
            order_id=None,
        )

    def _httpx_request(self, client: httpx.Client | httpx.AsyncClient, request: Request) -> httpx.Request:
        return client.build_request(
            request.method, request.url, params=request.params, json=request.json, headers=self.headers
        )
