"""The wire format and the decision step, as pure functions (no HTTP)."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest

from compiler.decision import Decision
from webhook.handler import AdmissionEndpoint
from webhook.metrics import Metrics
from webhook.policy import PolicySource
from webhook.review import (
    ReviewError,
    decode_patch,
    encode_patch,
    encode_review,
    parse_review,
    response_for,
)
from webhook.state import WebhookState

from .test_webhook_support import POLICIES, FakeDeciders, pod, review

PATCH = [{"op": "add", "path": "/metadata/labels/tier", "value": "tier1"}]


def body(doc: Any) -> bytes:
    return json.dumps(doc).encode()


def test_parse_keeps_the_object_as_sent() -> None:
    obj = pod(extra={"unknown": ["kept"]})
    parsed = parse_review(body(review(obj, operation="UPDATE", dry_run=True)))
    assert parsed.object == obj
    assert parsed.object is not None and parsed.object["spec"]["extra"] == {"unknown": ["kept"]}
    assert (parsed.operation, parsed.dry_run, parsed.kind) == ("UPDATE", True, "Pod")


def test_namespace_comes_from_the_request_not_the_object() -> None:
    parsed = parse_review(body(review(pod(namespace=""), namespace="beta-quant")))
    assert parsed.namespace == "beta-quant"


def _without(key: str) -> dict[str, Any]:
    doc = review(pod())
    del doc["request"][key]
    return doc


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        (b"", "not-json"),
        (b"{", "not-json"),
        (b"\xff\xfe", "not-json"),
        (b"[" * 100_000, "not-json"),
        (b"[]", "malformed"),
        (b'"AdmissionReview"', "malformed"),
        (body({**review(pod()), "apiVersion": "admission.k8s.io/v1beta1"}), "api-version"),
        (body({**review(pod()), "apiVersion": 1}), "api-version"),
        (body({**review(pod()), "kind": "Pod"}), "kind"),
        (body({"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview"}), "no-request"),
        (body({**review(pod()), "request": []}), "no-request"),
        (body(_without("uid")), "no-uid"),
        (body({**review(pod()), "request": {**review(pod())["request"], "uid": 7}}), "no-uid"),
        (body({**review(pod()), "request": {**review(pod())["request"], "uid": ""}}), "no-uid"),
        (body(_without("operation")), "operation"),
        (body({**review(pod()), "request": {**review(pod())["request"], "object": [1]}}), "object"),
        (
            body({**review(pod()), "request": {**review(pod())["request"], "dryRun": "yes"}}),
            "dry-run",
        ),
        (
            body({**review(pod()), "request": {**review(pod())["request"], "namespace": 3}}),
            "namespace",
        ),
    ],
)
def test_malformed_reviews_are_review_errors(raw: bytes, reason: str) -> None:
    with pytest.raises(ReviewError) as info:
        parse_review(raw)
    assert info.value.reason == reason


def test_patch_is_base64_json_and_only_when_there_is_one() -> None:
    response = response_for("u", Decision(allowed=True, patch=PATCH))
    assert response["patchType"] == "JSONPatch"
    assert json.loads(base64.b64decode(response["patch"])) == PATCH
    assert decode_patch(encode_patch(PATCH)) == PATCH
    untouched = response_for("u", Decision(allowed=True))
    assert "patch" not in untouched and "patchType" not in untouched


def test_denial_carries_status_and_no_patch() -> None:
    decision = Decision(allowed=False, code=403, message="tier0 needs whole cores", patch=PATCH)
    response = response_for("u", decision)
    assert response == {
        "uid": "u",
        "allowed": False,
        "status": {
            "status": "Failure",
            "code": 403,
            "reason": "Forbidden",
            "message": "tier0 needs whole cores",
        },
    }


def test_a_denial_without_an_error_code_gets_403() -> None:
    response = response_for("u", Decision(allowed=False, message="no"))
    assert response["status"]["code"] == 403


def test_warnings_and_audit_annotations_go_through() -> None:
    decision = Decision(allowed=True, warnings=("w1", "w2"), audit_annotations={"tier": "tier1"})
    response = response_for("u", decision)
    assert response["warnings"] == ["w1", "w2"]
    assert response["auditAnnotations"] == {"tier": "tier1"}


def test_validating_responses_never_patch() -> None:
    response = response_for("u", Decision(allowed=True, patch=PATCH), patch_allowed=False)
    assert "patch" not in response


def test_encoded_review_echoes_the_uid() -> None:
    doc = json.loads(encode_review(response_for("abc", Decision(allowed=True))))
    assert doc == {
        "apiVersion": "admission.k8s.io/v1",
        "kind": "AdmissionReview",
        "response": {"uid": "abc", "allowed": True},
    }


# --- the decision step (AdmissionEndpoint.answer), still without HTTP --------------------


def endpoint(fake: FakeDeciders, kind: str = "mutate", loaded: bool = True) -> AdmissionEndpoint:
    state = WebhookState()
    if loaded:
        state.install(PolicySource(paths=(str(POLICIES),)).load())
    return AdmissionEndpoint(kind, state, fake.deciders(), Metrics(state))  # type: ignore[arg-type]


def test_answer_passes_the_request_to_mutate() -> None:
    fake = FakeDeciders(mutate_result=Decision(allowed=True, patch=PATCH))
    ep = endpoint(fake)
    parsed = parse_review(body(review(pod(), uid="u-1", dry_run=True, namespace="beta-quant")))
    outcome = ep.answer(parsed)
    assert outcome.label == "patched"
    ((name, call),) = fake.calls
    assert name == "mutate"
    assert call["namespace"] == "beta-quant" and call["request_uid"] == "u-1"
    assert call["dry_run"] is True and call["operation"] == "CREATE"
    snapshot = ep.state.snapshot
    assert snapshot is not None and call["digest"] == snapshot.digest


def test_an_exception_in_the_decision_is_a_deliberate_denial() -> None:
    def explode(obj: dict[str, Any]) -> Decision:
        raise KeyError("containers")

    outcome = endpoint(FakeDeciders(mutate_result=explode)).answer(
        parse_review(body(review(pod(), uid="u-42")))
    )
    response = outcome.response
    assert response["allowed"] is False and outcome.label == "error"
    assert response["status"]["code"] == 500
    assert "u-42" in response["status"]["message"]
    assert "KeyError" in response["status"]["message"]


def test_an_internal_error_decision_is_labelled_error() -> None:
    failed = Decision(allowed=False, code=500, message="hermetic failed on this object")
    outcome = endpoint(FakeDeciders(mutate_result=failed)).answer(parse_review(body(review(pod()))))
    assert outcome.label == "error" and outcome.response["status"]["reason"] == "InternalError"


def test_an_unserialisable_decision_is_a_deliberate_denial_too() -> None:
    bad = Decision(allowed=True, patch=[{"op": "add", "path": "/x", "value": float("nan")}])
    outcome = endpoint(FakeDeciders(mutate_result=bad)).answer(parse_review(body(review(pod()))))
    assert outcome.response["allowed"] is False
    assert outcome.response["status"]["code"] == 500


def test_without_a_policy_requests_are_denied_503() -> None:
    outcome = endpoint(FakeDeciders(), loaded=False).answer(parse_review(body(review(pod()))))
    assert outcome.response["allowed"] is False
    assert outcome.response["status"]["code"] == 503


def test_delete_has_no_object_and_is_allowed_untouched() -> None:
    fake = FakeDeciders()
    outcome = endpoint(fake).answer(parse_review(body(review(None, operation="DELETE"))))
    assert outcome.response == {"uid": review(None)["request"]["uid"], "allowed": True}
    assert fake.calls == []


def test_validate_calls_validate_with_the_namespace() -> None:
    fake = FakeDeciders(validate_result=Decision(allowed=False, code=403, message="escaped"))
    outcome = endpoint(fake, "validate").answer(parse_review(body(review(pod()))))
    assert outcome.label == "denied"
    assert fake.calls == [("validate", {"obj": pod(), "namespace": "alpha-research"})]
