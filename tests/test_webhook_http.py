"""A few tests through the HTTP app, in process (httpx.ASGITransport): routes, errors, logs."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from compiler import native
from compiler.decision import Decision
from webhook import WebhookState, create_app
from webhook.asgi import MAX_BODY_BYTES
from webhook.policy import PolicySource
from webhook.review import decode_patch

from .test_webhook_support import POLICIES, FakeDeciders, metric, pod, review

PATCH = [{"op": "add", "path": "/metadata/labels/tier", "value": "tier1"}]


def call(app: Any, method: str, path: str, **kwargs: Any) -> httpx.Response:
    async def go() -> httpx.Response:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://webhook") as client:
            return await client.request(method, path, **kwargs)

    return asyncio.run(go())


@pytest.fixture
def fake() -> FakeDeciders:
    return FakeDeciders(
        mutate_result=Decision(
            allowed=True,
            patch=PATCH,
            warnings=("cpu limit defaulted",),
            audit_annotations={"tier": "tier1"},
            tenant="alpha-research",
            tier="tier1",
            rules=("resources.cpu.default",),
        )
    )


@pytest.fixture
def app(fake: FakeDeciders) -> Any:
    state = WebhookState()
    state.install(PolicySource(paths=(str(POLICIES),)).load())
    return create_app(state, deciders=fake.deciders())


def test_mutate_round_trip(app: Any) -> None:
    r = call(app, "POST", "/mutate", json=review(pod(), uid="uid-1"))
    assert r.status_code == 200 and r.headers["content-type"] == "application/json"
    doc = r.json()
    assert doc["apiVersion"] == "admission.k8s.io/v1" and doc["kind"] == "AdmissionReview"
    response = doc["response"]
    assert response["uid"] == "uid-1" and response["allowed"] is True
    assert response["patchType"] == "JSONPatch" and decode_patch(response["patch"]) == PATCH
    assert response["warnings"] == ["cpu limit defaulted"]
    assert response["auditAnnotations"] == {"tier": "tier1"}


def test_validate_denies_in_a_200(fake: FakeDeciders, app: Any) -> None:
    fake.validate_result = Decision(allowed=False, code=403, message="pod escaped tier0")
    r = call(app, "POST", "/validate", json=review(pod()))
    assert r.status_code == 200
    response = r.json()["response"]
    assert response["allowed"] is False
    assert response["status"]["message"] == "pod escaped tier0"


def test_dry_run_is_decided_the_same_way(fake: FakeDeciders, app: Any) -> None:
    wet = call(app, "POST", "/mutate", json=review(pod())).json()
    dry = call(app, "POST", "/mutate", json=review(pod(), dry_run=True)).json()
    assert wet == dry
    assert [c["dry_run"] for _, c in fake.calls] == [False, True]


@pytest.mark.parametrize(
    "content",
    [b"not json", b"[1, 2]", b"{}", json.dumps({**review(pod()), "request": None}).encode()],
)
def test_malformed_reviews_are_400_with_a_json_body(app: Any, content: bytes) -> None:
    r = call(app, "POST", "/mutate", content=content)
    assert r.status_code == 400
    assert r.json()["kind"] == "Status" and r.json()["code"] == 400 and r.json()["message"]


def test_a_declared_body_over_the_limit_is_refused_before_reading(app: Any) -> None:
    headers = {"content-length": str(MAX_BODY_BYTES + 1)}
    r = call(app, "POST", "/mutate", content=b"{}", headers=headers)
    assert r.status_code == 400 and "larger than" in r.json()["message"]


def test_a_chunked_body_over_the_limit_is_cut_off(app: Any) -> None:
    sent = 0

    async def chunks() -> AsyncIterator[bytes]:
        nonlocal sent
        for _ in range(64):
            sent += 1
            yield b" " * (1024 * 1024)

    r = call(app, "POST", "/mutate", content=chunks())
    assert r.status_code == 400 and "larger than" in r.json()["message"]


def test_a_chunked_body_within_the_limit_is_read(app: Any) -> None:
    raw = json.dumps(review(pod(), uid="chunked")).encode()

    async def chunks() -> AsyncIterator[bytes]:
        for i in range(0, len(raw), 7):
            yield raw[i : i + 7]

    r = call(app, "POST", "/mutate", content=chunks())
    assert r.status_code == 200 and r.json()["response"]["uid"] == "chunked"


def test_only_post_is_routed(app: Any) -> None:
    assert call(app, "GET", "/mutate").status_code == 405


def test_probes(fake: FakeDeciders) -> None:
    state = WebhookState()
    app = create_app(state, deciders=fake.deciders())
    assert call(app, "GET", "/healthz").status_code == 200
    assert call(app, "GET", "/readyz").status_code == 503
    state.install(PolicySource(paths=(str(POLICIES),)).load())
    ready = call(app, "GET", "/readyz")
    assert ready.status_code == 200 and ready.json()["digest"].startswith("sha256:")


def test_metrics_count_decisions_by_tenant_tier_and_endpoint(app: Any) -> None:
    call(app, "POST", "/mutate", json=review(pod()))
    call(app, "POST", "/mutate", content=b"nope")
    text = call(app, "GET", "/metrics").text
    assert (
        'hermetic_admissions_total{decision="patched",endpoint="mutate",'
        'tenant="alpha-research",tier="tier1"} 1.0'
    ) in text
    assert 'hermetic_bad_requests_total{endpoint="mutate",reason="not-json"} 1.0' in text
    assert 'hermetic_admission_duration_seconds_bucket{endpoint="mutate",le="0.0001"}' in text
    assert "hermetic_policy_info{digest=" in text
    assert metric(text, "hermetic_policy_reload_ok") == 1.0
    build = "mypyc" if native.compiled() else "python"
    assert f'hermetic_build_info{{admission="{build}"}} 1.0' in text


def test_each_app_has_its_own_registry(fake: FakeDeciders) -> None:
    state = WebhookState()
    state.install(PolicySource(paths=(str(POLICIES),)).load())
    first, second = (create_app(state, deciders=fake.deciders()) for _ in range(2))
    call(first, "POST", "/mutate", json=review(pod()))
    assert "hermetic_admissions_total{" not in call(second, "GET", "/metrics").text


def test_one_json_log_line_per_admission(app: Any, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.INFO, logger="hermetic.webhook"):
        call(app, "POST", "/mutate", json=review(pod(), uid="log-1", dry_run=True))
    lines = [json.loads(r.getMessage()) for r in caplog.records]
    admissions = [line for line in lines if line["event"] == "admission"]
    assert len(admissions) == 1
    line = admissions[0]
    assert line["uid"] == "log-1" and line["tenant"] == "alpha-research"
    assert line["tier"] == "tier1" and line["decision"] == "patched"
    assert line["kind"] == "Pod" and line["namespace"] == "alpha-research"
    assert line["operation"] == "CREATE" and line["dry_run"] is True
    assert line["duration_ms"] >= 0 and line["digest"].startswith("sha256:")


def test_a_crash_is_logged_with_its_traceback_and_uid(
    fake: FakeDeciders, app: Any, caplog: pytest.LogCaptureFixture
) -> None:
    def explode(obj: dict[str, Any]) -> Decision:
        raise ZeroDivisionError("division by zero")

    fake.mutate_result = explode
    with caplog.at_level(logging.INFO, logger="hermetic.webhook"):
        r = call(app, "POST", "/mutate", json=review(pod(), uid="crash-1"))
    assert r.status_code == 200
    response = r.json()["response"]
    assert response["allowed"] is False and response["status"]["code"] == 500
    assert "crash-1" in response["status"]["message"]
    failures = [json.loads(r.getMessage()) for r in caplog.records if r.levelno == logging.ERROR]
    assert failures[0]["uid"] == "crash-1" and "ZeroDivisionError" in failures[0]["traceback"]
