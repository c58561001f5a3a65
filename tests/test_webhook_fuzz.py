"""10,000 hypothesis-generated malformed or hostile reviews against the real app, in process.

Every one must be answered with an HTTP 400 (a JSON Status) or an HTTP 200 AdmissionReview
that echoes the uid: never a 5xx, never an exception out of the app. The decisions come from
the real `compiler.admission` with the bundled policy; an exception in there is answered as
a deliberate denial (code 500 inside a 200), and those are tallied and printed.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
from collections import Counter
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from webhook import WebhookState, create_app
from webhook.policy import PolicySource

from .test_webhook_support import POLICIES, admission, pod, review

SCALE = float(os.environ.get("HERMETIC_FUZZ_SCALE", "1"))  # 1: 10,000 reviews in all


def fuzz(examples: int) -> settings:
    return settings(
        max_examples=max(1, int(examples * SCALE)),
        deadline=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )


MISSING = object()


def mostly(valid: Any, *others: Any) -> st.SearchStrategy[Any]:
    """`valid`, a near miss, a junk value, or the key left out."""
    wrong = st.sampled_from([*others, MISSING]) | junk if others else st.just(MISSING) | junk
    return st.just(valid) | wrong


scalars = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=12)
)
# Hypothesis spends far more time drawing deep recursive values than the app spends
# answering, so most fields get a flat "junk" value and only a few a nested one.
junk = (
    scalars
    | st.lists(scalars, max_size=3)
    | st.dictionaries(st.text(max_size=6), scalars, max_size=3)
)
json_values = st.recursive(
    scalars,
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3)
    ),
    max_leaves=6,
)
quantities = (
    st.sampled_from(
        [
            "1",
            "500m",
            "0",
            "-1",
            "1.5",
            "1Gi",
            "1e3",
            "1E",
            "0x10",
            "NaN",
            "9" * 40,
            "",
            "4Ti",
            "1.5Gi",
        ]
    )
    | junk
)
resources = st.fixed_dictionaries(
    {},
    optional={
        "requests": st.dictionaries(
            st.sampled_from(["cpu", "memory", "ephemeral-storage"]), quantities
        ),
        "limits": st.dictionaries(st.sampled_from(["cpu", "memory", "nvidia.com/gpu"]), quantities),
    },
)
containers = st.fixed_dictionaries(
    {"name": st.sampled_from(["main", ""]) | junk},
    optional={
        "image": st.sampled_from(["busybox", "repo/img@sha256:" + "a" * 64, ""]) | junk,
        "resources": resources | junk,
        "securityContext": st.dictionaries(
            st.sampled_from(["privileged", "runAsUser", "capabilities", "readOnlyRootFilesystem"]),
            junk,
        ),
        "env": st.lists(st.fixed_dictionaries({"name": junk}, optional={"value": junk}), max_size=2)
        | junk,
        "volumeMounts": json_values,
    },
)
labels = st.dictionaries(
    st.sampled_from(
        ["app.kubernetes.io/component", "hermetic.io/tier", "app", "strategy.hermetic.io/family"]
    ),
    st.sampled_from(["backtest", "tier0", "tier1", "tier2", "tier9"]) | junk,
)
specs = st.fixed_dictionaries(
    {"containers": st.lists(containers, max_size=2) | junk},
    optional={
        "initContainers": st.lists(containers, max_size=1) | junk,
        "volumes": json_values,
        "securityContext": junk,
        "hostNetwork": junk,
        "nodeSelector": junk,
        "tolerations": junk,
        "affinity": json_values,
        "priorityClassName": junk,
    },
)
GOVERNED = {"app.kubernetes.io/component": "backtest"}


def present(d: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in d.items() if v is not MISSING}


objects = st.fixed_dictionaries(
    {
        "apiVersion": mostly("v1"),
        "kind": mostly("Pod", "Deployment"),
        "metadata": st.fixed_dictionaries(
            {"labels": mostly(GOVERNED, {}) | labels},
            optional={"name": junk, "annotations": junk, "namespace": junk},
        ).map(present)
        | junk,
        "spec": specs | junk,
    }
).map(present)


def build(envelope: dict[str, Any], request: dict[str, Any]) -> dict[str, Any]:
    doc = {k: v for k, v in envelope.items() if v is not MISSING}
    if doc.get("request", MISSING) is None:
        doc["request"] = {k: v for k, v in request.items() if v is not MISSING}
    return doc


reviews = st.builds(
    build,
    st.fixed_dictionaries(
        {
            "apiVersion": mostly("admission.k8s.io/v1", "admission.k8s.io/v1beta1"),
            "kind": mostly("AdmissionReview", "AdmissionReviewList"),
            "request": mostly(None),  # None: the generated request below
        }
    ),
    st.fixed_dictionaries(
        {
            "uid": mostly("5f3c0d3e-6a4b-4b8e-9c1d-000000000001", ""),
            "operation": mostly("CREATE", "UPDATE", "DELETE", "CONNECT", "create"),
            "namespace": mostly(
                "alpha-research", "beta-quant", "replay-7", "default", "", "kube-system"
            ),
            "dryRun": mostly(False, True),
            "name": mostly("pod-1", ""),
            "kind": mostly({"group": "", "version": "v1", "kind": "Pod"}),
            # hostile objects have a test of their own: here, the envelope around a plain pod
            "object": mostly(pod(), None) | st.just(MISSING),
            "oldObject": mostly(MISSING, pod()),
        }
    ),
)
valid_body = json.dumps(review(pod())).encode()
raw_bodies = (
    st.binary(max_size=300)
    | st.integers(0, len(valid_body)).map(lambda n: valid_body[:n])
    | st.integers(1, 50_000).map(lambda n: b"[" * n)
    | st.integers(1, 5_000).map(lambda n: b'{"a":' * n)
    | st.text(max_size=200).map(lambda t: t.encode("utf-8", "surrogatepass"))
    | json_values.map(lambda v: json.dumps(v).encode())
    | st.sampled_from(
        [
            b"\xef\xbb\xbf" + valid_body,
            valid_body.replace(b"{", b'{"uid":1,', 1),
            b"1" * 5000,
            b"NaN",
            b"-Infinity",
            b'"\\ud800"',
        ]
    )
)


class App:
    """The app and one event loop for thousands of in-process requests."""

    def __init__(self) -> None:
        state = WebhookState()
        state.install(PolicySource(paths=(str(POLICIES),)).load())
        self.loop = asyncio.new_event_loop()
        transport = httpx.ASGITransport(app=create_app(state, deciders=admission()))
        self.client = httpx.AsyncClient(transport=transport, base_url="http://webhook")
        self.tally: Counter[str] = Counter()
        self.crashes: Counter[str] = Counter()

    def post(self, path: str, body: bytes) -> httpx.Response:
        return self.loop.run_until_complete(self.client.post(path, content=body))

    def close(self) -> None:
        self.loop.run_until_complete(self.client.aclose())
        self.loop.close()


@pytest.fixture(scope="module")
def app() -> Iterator[App]:
    logger = logging.getLogger("hermetic.webhook")
    level = logger.level
    logger.setLevel(logging.CRITICAL)  # thousands of tracebacks would only slow the run
    instance = App()
    yield instance
    logger.setLevel(level)
    instance.close()
    print(f"\nfuzz: {dict(instance.tally)}; crashes inside the decision: {dict(instance.crashes)}")


def check(app: App, path: str, body: bytes, sent: Callable[[], Any]) -> None:
    r = app.post(path, body)
    assert r.status_code in (200, 400), (r.status_code, r.text[:300])
    assert r.headers["content-type"] == "application/json"
    doc = r.json()
    if r.status_code == 400:
        assert doc["kind"] == "Status" and doc["code"] == 400 and doc["message"]
        app.tally["400"] += 1
        return
    response = doc["response"]
    assert doc["apiVersion"] == "admission.k8s.io/v1" and doc["kind"] == "AdmissionReview"
    assert response["uid"] == sent()["request"]["uid"]
    assert isinstance(response["allowed"], bool)
    code = response.get("status", {}).get("code", 200)
    app.tally[f"200/{'allowed' if response['allowed'] else code}"] += 1
    if code == 500:
        app.crashes[response["status"]["message"].split(": ", 2)[-1][:80]] += 1


@fuzz(3_000)
@given(doc=reviews, path=st.sampled_from(["/mutate", "/validate"]))
def test_hostile_envelopes_get_a_400_or_a_decision(
    app: App, doc: dict[str, Any], path: str
) -> None:
    body = json.dumps(doc, allow_nan=True).encode()
    check(app, path, body, lambda: doc)


@fuzz(4_000)
@given(
    obj=objects,
    namespace=st.sampled_from(
        ["alpha-research", "alpha-x", "beta-quant", "risk-models", "replay-1", "default", ""]
    ),
    operation=st.sampled_from(["CREATE", "UPDATE", "CONNECT"]),
    dry_run=st.booleans(),
    path=st.sampled_from(["/mutate", "/validate"]),
)
def test_hostile_objects_get_a_decision(
    app: App, obj: dict[str, Any], namespace: str, operation: str, dry_run: bool, path: str
) -> None:
    doc = review(obj, namespace=namespace, operation=operation, dry_run=dry_run)
    body = json.dumps(doc, allow_nan=True).encode()
    check(app, path, body, lambda: doc)


@fuzz(3_000)
@given(body=raw_bodies)
def test_hostile_bytes_get_a_400_or_a_decision(app: App, body: bytes) -> None:
    check(app, "/mutate", body, lambda: json.loads(body))
