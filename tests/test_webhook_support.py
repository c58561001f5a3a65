"""Helpers shared by the webhook tests (no tests here): reviews, fake deciders, TLS material."""

from __future__ import annotations

import http.client
import ipaddress
import json
import ssl
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import certs
from compiler.decision import Decision
from compiler.model import CompiledPolicy
from webhook.deciders import Deciders, admission_deciders

ROOT = Path(__file__).resolve().parent.parent
POLICIES = ROOT / "policies"
TENANT_NAMESPACE = "alpha-research"  # a namespace of tenant alpha-research in policies/
LOCALHOST = ipaddress.ip_address("127.0.0.1")


def pod(name: str = "backtest-1", namespace: str = "", **spec: Any) -> dict[str, Any]:
    """A small backtest pod; `namespace` empty as for pods created by a controller."""
    labels = {"app.kubernetes.io/component": "backtest"}  # governed by policies/
    metadata: dict[str, Any] = {"name": name, "labels": labels}
    if namespace:
        metadata["namespace"] = namespace
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": metadata,
        "spec": {
            "containers": [{"name": "main", "image": "registry.example.com/backtest:1.0"}],
            **spec,
        },
    }


def review(
    obj: dict[str, Any] | None,
    *,
    uid: str = "11111111-2222-3333-4444-555555555555",
    namespace: str = TENANT_NAMESPACE,
    operation: str = "CREATE",
    dry_run: bool = False,
) -> dict[str, Any]:
    """An AdmissionReview v1 request as the API server sends it."""
    return {
        "apiVersion": "admission.k8s.io/v1",
        "kind": "AdmissionReview",
        "request": {
            "uid": uid,
            "kind": {"group": "", "version": "v1", "kind": "Pod"},
            "resource": {"group": "", "version": "v1", "resource": "pods"},
            "namespace": namespace,
            "operation": operation,
            "userInfo": {"username": "system:serviceaccount:kube-system:job-controller"},
            "object": obj,
            "oldObject": None,
            "dryRun": dry_run,
        },
    }


@dataclass
class FakeDeciders:
    """Decision functions that record their calls and answer what they are told."""

    mutate_result: Decision | Callable[[dict[str, Any]], Decision] = field(
        default_factory=lambda: Decision(allowed=True)
    )
    validate_result: Decision = field(default_factory=lambda: Decision(allowed=True))
    calls: list[tuple[str, dict[str, Any]]] = field(default_factory=list)

    def mutate(
        self,
        obj: dict[str, Any],
        policy: CompiledPolicy,
        *,
        namespace: str,
        operation: str = "CREATE",
        request_uid: str = "",
        digest: str | None = None,
        dry_run: bool = False,
    ) -> Decision:
        self.calls.append(
            (
                "mutate",
                {
                    "obj": obj,
                    "namespace": namespace,
                    "operation": operation,
                    "request_uid": request_uid,
                    "digest": digest,
                    "dry_run": dry_run,
                },
            )
        )
        result = self.mutate_result
        return result(obj) if callable(result) else result

    def validate(self, obj: dict[str, Any], policy: CompiledPolicy, *, namespace: str) -> Decision:
        self.calls.append(("validate", {"obj": obj, "namespace": namespace}))
        return self.validate_result

    def deciders(self) -> Deciders:
        return Deciders(mutate=self.mutate, validate=self.validate)


def issue_certs(directory: Path) -> Path:
    """A CA and a serving certificate for 127.0.0.1/localhost in `directory` (certs' layout)."""
    certs.issue(
        directory, "hermetic", "hermetic-system", dns=["localhost"], ips=[LOCALHOST], days=30
    )
    return directory


def client_context(ca: Path, cert: Path | None = None, key: Path | None = None) -> ssl.SSLContext:
    """A client context trusting only `ca` (a file, possibly a bundle)."""
    context = ssl.create_default_context(cafile=str(ca))
    if cert is not None:
        context.load_cert_chain(str(cert), str(key) if key else None)
    return context


def post(
    url: str,
    context: ssl.SSLContext,
    path: str,
    body: dict[str, Any] | bytes,
    conn: http.client.HTTPSConnection | None = None,
) -> tuple[int, Any]:
    """POST JSON over HTTPS (a new connection unless `conn`); (status, decoded body)."""
    port = int(url.rsplit(":", 1)[1])
    own = conn is None
    c = conn or http.client.HTTPSConnection("127.0.0.1", port, context=context, timeout=10)
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    try:
        c.request("POST", path, data, {"Content-Type": "application/json"})
        response = c.getresponse()
        return response.status, json.loads(response.read())
    finally:
        if own:
            c.close()


def get(url: str, context: ssl.SSLContext, path: str) -> tuple[int, bytes]:
    """GET over HTTPS on a new connection; (status, body)."""
    port = int(url.rsplit(":", 1)[1])
    c = http.client.HTTPSConnection("127.0.0.1", port, context=context, timeout=10)
    try:
        c.request("GET", path)
        response = c.getresponse()
        return response.status, response.read()
    finally:
        c.close()


def metric(text: bytes | str, name: str) -> float | None:
    """The value of the first sample of `name` (with any labels) in Prometheus text."""
    body = text.decode() if isinstance(text, bytes) else text
    for line in body.splitlines():
        if line.startswith(name + " ") or line.startswith(name + "{"):
            return float(line.rsplit(" ", 1)[1])
    return None


def admission() -> Deciders:
    """The real decision functions, `compiler.admission`'s mutate and validate."""
    return admission_deciders()
