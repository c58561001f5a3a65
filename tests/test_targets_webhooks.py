"""Webhook configurations: which requests reach hermetic, and how."""

from __future__ import annotations

from typing import Any

import pytest

import compiler
from compiler.model import CompiledPolicy
from compiler.targets import Options, webhooks
from dsl import Source

from .k8s_schemas import validate_objects


def configs(
    policy: CompiledPolicy, url: str | None = None
) -> tuple[dict[str, Any], dict[str, Any]]:
    mutating, validating = webhooks.Webhooks(Options(webhook_url=url)).generate(policy).objects
    validate_objects([mutating, validating])
    return mutating, validating


def test_mutating_pods_only_after_mesh_injectors(bundled_policy: CompiledPolicy) -> None:
    mutating, validating = configs(bundled_policy)
    assert mutating["metadata"]["name"] > "istio-sidecar-injector"
    assert mutating["metadata"]["name"] > "linkerd-proxy-injector"
    (hook,) = mutating["webhooks"]
    assert hook["rules"] == [
        {
            "apiGroups": [""],
            "apiVersions": ["v1"],
            "resources": ["pods"],
            "operations": ["CREATE"],
            "scope": "Namespaced",
        }
    ]
    assert hook["reinvocationPolicy"] == "IfNeeded"
    assert hook["clientConfig"] == {
        "service": {
            "namespace": "hermetic-system",
            "name": "hermetic",
            "path": "/mutate",
            "port": 443,
        },
        "caBundle": "",
    }
    for h in (hook, *validating["webhooks"]):
        assert h["admissionReviewVersions"] == ["v1"]
        assert h["sideEffects"] == "None"
        assert h["matchPolicy"] == "Equivalent"
        assert h["timeoutSeconds"] == bundled_policy.cluster.timeout_seconds
        assert h["failurePolicy"] == bundled_policy.cluster.failure_policy
        assert "reinvocationPolicy" not in h or h is hook


def test_validating_pods_and_pod_controllers(bundled_policy: CompiledPolicy) -> None:
    _, validating = configs(bundled_policy)
    by_name = {h["name"]: h for h in validating["webhooks"]}
    assert set(by_name) == {
        "validate.pods.hermetic.io",
        "validate.workloads.hermetic.io",
        "validate.cronjobs.hermetic.io",
    }
    resources = {
        (g, r)
        for h in by_name.values()
        for rule in h["rules"]
        for g in rule["apiGroups"]
        for r in rule["resources"]
    }
    assert resources == {
        ("", "pods"),
        ("apps", "deployments"),
        ("apps", "replicasets"),
        ("apps", "statefulsets"),
        ("apps", "daemonsets"),
        ("batch", "jobs"),
        ("batch", "cronjobs"),
    }
    workloads = by_name["validate.workloads.hermetic.io"]
    assert all(r["operations"] == ["CREATE", "UPDATE"] for r in workloads["rules"])
    assert all(h["clientConfig"]["service"]["path"] == "/validate" for h in by_name.values())
    conditions = {c["name"]: c["expression"] for c in workloads["matchConditions"]}
    assert "object.spec.template.metadata.labels" in conditions["governed"]
    assert conditions["not-deleting"] == "!has(object.metadata.deletionTimestamp)"
    cron = {
        c["name"]: c["expression"]
        for c in by_name["validate.cronjobs.hermetic.io"]["matchConditions"]
    }
    assert "object.spec.jobTemplate.spec.template.metadata.labels" in cron["governed"]


def test_namespace_selector_never_matches_system_webhook_or_excluded(
    bundled_policy: CompiledPolicy,
) -> None:
    mutating, validating = configs(bundled_policy)
    for hook in (*mutating["webhooks"], *validating["webhooks"]):
        exprs = hook["namespaceSelector"]["matchExpressions"]
        assert exprs[0]["key"] == "kubernetes.io/metadata.name"
        assert exprs[0]["operator"] == "NotIn"
        assert {"kube-system", "kube-public", "kube-node-lease", "hermetic-system"} <= set(
            exprs[0]["values"]
        )
        assert {"monitoring", "ingress-nginx"} <= set(exprs[0]["values"])  # `exclude`d
        assert {"key": "hermetic.io/exempt", "operator": "DoesNotExist"} in exprs
        # `governs` narrows the webhook to backtest pods: a tenant namespace that sync has
        # not labelled yet is protected too
        assert {"key": "hermetic.io/tenant", "operator": "Exists"} not in exprs


def test_without_governs_only_labelled_tenant_namespaces_are_sent() -> None:
    import compiler
    from dsl.codes import BASE
    from dsl.loader import Source

    policy = compiler.load_sources([Source(path="p.hermetic", text=BASE)]).policy
    assert policy is not None and policy.cluster.governs == ()
    mutating, validating = configs(policy)
    for hook in (*mutating["webhooks"], *validating["webhooks"]):
        exprs = hook["namespaceSelector"]["matchExpressions"]
        assert {"key": "hermetic.io/tenant", "operator": "Exists"} in exprs


def test_cel_guards_every_label_access_and_skips_mirror_pods(
    bundled_policy: CompiledPolicy,
) -> None:
    mutating, _ = configs(bundled_policy)
    conditions = {c["name"]: c["expression"] for c in mutating["webhooks"][0]["matchConditions"]}
    assert conditions["not-mirror-pod"] == (
        "!((has(object.metadata) && has(object.metadata.annotations)) && "
        '"kubernetes.io/config.mirror" in object.metadata.annotations)'
    )
    governed = conditions["governed"]
    assert governed.startswith("((has(object.metadata) && has(object.metadata.labels)) && ")
    assert '"app.kubernetes.io/component" in object.metadata.labels' in governed


@pytest.mark.parametrize(
    ("governs", "expected"),
    [
        (
            "k exists",
            '((has(object.metadata) && has(object.metadata.labels)) && "k" in object.metadata.labels)',
        ),
        (
            "k not-exists",
            '!((has(object.metadata) && has(object.metadata.labels)) && "k" in object.metadata.labels)',
        ),
        (
            "k not-in b, a",
            '!((has(object.metadata) && has(object.metadata.labels)) && "k" in object.metadata.labels'
            ' && object.metadata.labels["k"] in ["a", "b"])',
        ),
    ],
)
def test_cel_for_each_operator(governs: str, expected: str) -> None:
    text = (
        f'policy p version "1"\ncluster {{\n  governs {governs}\n}}\n'
        "tier t {\n  cpu 1\n  memory 1Gi\n}\ntenant a {\n  namespaces a\n  tiers t\n}\n"
    )
    loaded = compiler.load_sources([Source(path="p.hermetic", text=text)])
    assert loaded.policy is not None
    mutating, _ = configs(loaded.policy)
    conditions = {c["name"]: c["expression"] for c in mutating["webhooks"][0]["matchConditions"]}
    assert conditions["governed"] == expected


def test_no_governs_means_every_pod_but_mirror_pods() -> None:
    text = 'policy p version "1"\ntier t {\n  cpu 1\n  memory 1Gi\n}\ntenant a {\n  namespaces a\n  tiers t\n}\n'
    loaded = compiler.load_sources([Source(path="p.hermetic", text=text)])
    assert loaded.policy is not None
    mutating, _ = configs(loaded.policy)
    assert [c["name"] for c in mutating["webhooks"][0]["matchConditions"]] == ["not-mirror-pod"]


def test_url_instead_of_service(bundled_policy: CompiledPolicy) -> None:
    mutating, validating = configs(bundled_policy, url="https://127.0.0.1:8443")
    assert mutating["webhooks"][0]["clientConfig"] == {
        "url": "https://127.0.0.1:8443/mutate",
        "caBundle": "",
    }
    assert {h["clientConfig"]["url"] for h in validating["webhooks"]} == {
        "https://127.0.0.1:8443/validate"
    }
