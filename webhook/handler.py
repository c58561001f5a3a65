"""The admission endpoints: HTTP bytes in, a decision function in the middle, bytes out.

Two error channels, as in kopf:

- a body that is not a usable AdmissionReview (not JSON, wrong apiVersion/kind, no
  `request` or `uid`, too large) is answered HTTP 400 with a JSON metav1.Status body;
- a policy decision, allow or deny, is HTTP 200 with an AdmissionReview.

An exception escaping the decision function (a bug, or an object shaped in a way nobody
foresaw) is answered deliberately, not with Starlette's plain-text 500: HTTP 200, an
AdmissionReview with `allowed: false`, `status.code` 500 and a message naming the failure
and the request uid; the traceback is logged with the uid. So is a request arriving before
any policy is loaded (code 503).

failurePolicy interplay: the API server applies the webhook's `failurePolicy` only when the
call itself fails (unreachable, timeout, a non-200 status, an unparsable response). Our 400s
therefore follow failurePolicy (the API server never sends a malformed review, so in
practice they only reach other clients). An internal error, however, is an explicit denial
and fails closed whatever the failurePolicy: with `Ignore`, an HTTP 500 would admit a
governed pod untouched and let it escape its tier's isolation, which is exactly what the
webhook exists to prevent. Availability for ungoverned namespaces comes from the webhook
configuration's namespaceSelector, not from failing open here.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import Final, Literal

from compiler.decision import Decision
from webhook import logs
from webhook.asgi import (
    MAX_BODY_BYTES,
    BodyError,
    ClientGone,
    Receive,
    Scope,
    Send,
    error_body,
    read_body,
    send_json,
)
from webhook.deciders import Deciders
from webhook.metrics import Metrics
from webhook.review import (
    AdmissionResponse,
    Review,
    ReviewError,
    allowance,
    denial,
    encode_review,
    parse_review,
    response_for,
)
from webhook.state import PolicySnapshot, WebhookState

Endpoint = Literal["mutate", "validate"]
NONE: Final = "none"  # the tenant/tier label of objects the policy does not govern


@dataclass(frozen=True, slots=True)
class Outcome:
    """A response and what to record about it."""

    response: AdmissionResponse
    decision: Decision | None  # None when the webhook answered without deciding
    label: str  # allowed | patched | denied | error
    body: bytes
    digest: str | None  # of the policy that decided


class AdmissionEndpoint:
    """A raw ASGI app serving one admission endpoint (`/mutate` or `/validate`)."""

    def __init__(
        self,
        endpoint: Endpoint,
        state: WebhookState,
        deciders: Deciders,
        metrics: Metrics,
        max_body: int = MAX_BODY_BYTES,
    ) -> None:
        self.endpoint: Endpoint = endpoint
        self.state = state
        self.deciders = deciders
        self.metrics = metrics
        self.max_body = max_body

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            body = await read_body(scope, receive, self.max_body)
        except ClientGone:
            return
        except BodyError as exc:
            await self._refuse(send, str(exc), exc.reason)
            return
        start = time.perf_counter()
        try:
            review = parse_review(body)
        except ReviewError as exc:
            await self._refuse(send, str(exc), exc.reason)
            return
        except Exception:  # a bug in parsing: still the body's fault, still a JSON 400
            logs.event(logging.ERROR, "parse_failed", exc_info=True, endpoint=self.endpoint)
            await self._refuse(send, "body is not a usable AdmissionReview", "unparsable")
            return
        outcome = self.answer(review)
        await send_json(send, 200, outcome.body)
        try:
            self._record(review, outcome, time.perf_counter() - start)
        except Exception:  # the answer is out; a metrics or log failure must not turn into a 500
            logs.event(logging.ERROR, "record_failed", exc_info=True, uid=review.uid)

    async def _refuse(self, send: Send, message: str, reason: str) -> None:
        self.metrics.bad_request(self.endpoint, reason)
        logs.event(logging.WARNING, "bad_request", endpoint=self.endpoint, reason=reason)
        await send_json(send, 400, error_body(400, message, "BadRequest"))

    def answer(self, review: Review) -> Outcome:
        """Decide `review` and serialise the response; never raises."""
        snapshot = self.state.snapshot
        if snapshot is None:
            message = f"hermetic webhook has no valid policy loaded yet (request {review.uid})"
            return _outcome(denial(review.uid, 503, message), None, "error", None)
        if review.object is None:  # DELETE: nothing to mutate or check
            return _outcome(allowance(review.uid), None, "allowed", snapshot.digest)
        try:
            decision = self._decide(review, snapshot)
            response = response_for(review.uid, decision, patch_allowed=self.endpoint == "mutate")
            return _outcome(response, decision, _label(response), snapshot.digest)
        except Exception as exc:
            return self._failed(review, exc, snapshot.digest)

    def _decide(self, review: Review, snapshot: PolicySnapshot) -> Decision:
        assert review.object is not None
        if self.endpoint == "validate":
            return self.deciders.validate(
                review.object, snapshot.policy, namespace=review.namespace
            )
        return self.deciders.mutate(
            review.object,
            snapshot.policy,
            namespace=review.namespace,
            operation=review.operation,
            request_uid=review.uid,
            digest=snapshot.digest,
            dry_run=review.dry_run,
        )

    def _failed(self, review: Review, exc: Exception, digest: str) -> Outcome:
        logs.event(
            logging.ERROR,
            "decision_failed",
            exc_info=True,
            uid=review.uid,
            endpoint=self.endpoint,
            namespace=review.namespace,
            error=f"{type(exc).__name__}: {exc}",
        )
        message = (
            f"hermetic webhook: internal error in {self.endpoint} for request {review.uid}: "
            f"{type(exc).__name__}: {_clip(str(exc))}"
        )
        return _outcome(denial(review.uid, 500, message), None, "error", digest)

    def _record(self, review: Review, outcome: Outcome, seconds: float) -> None:
        decision = outcome.decision
        tenant = decision.tenant if decision is not None else None
        tier = decision.tier if decision is not None else None
        self.metrics.admission(self.endpoint, outcome.label, tenant or NONE, tier or NONE, seconds)
        logs.admission(
            logs.AdmissionLine(
                uid=review.uid,
                endpoint=self.endpoint,
                kind=review.kind,
                namespace=review.namespace,
                name=review.name,
                operation=review.operation,
                dry_run=review.dry_run,
                decision=outcome.label,
                code=_code(outcome.response),
                tenant=tenant,
                tier=tier,
                rules=decision.rules if decision is not None else (),
                digest=outcome.digest,
                duration=seconds,
            )
        )


def _outcome(
    response: AdmissionResponse, decision: Decision | None, label: str, digest: str | None
) -> Outcome:
    return Outcome(response, decision, label, encode_review(response), digest)


def _label(response: AdmissionResponse) -> str:
    if not response["allowed"]:
        return "error" if _code(response) >= 500 else "denied"
    return "patched" if "patch" in response else "allowed"


def _code(response: AdmissionResponse) -> int:
    return response["status"]["code"] if "status" in response else 200


def _clip(text: str, limit: int = 300) -> str:
    return text if len(text) <= limit else text[: limit - 3] + "..."
