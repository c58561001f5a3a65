"""compiler.build: one namespace's objects, the bundle's templates, and generate_all."""

from __future__ import annotations

import json
import time
from typing import Any

import pytest

import compiler
from compiler import bundle
from compiler.build import (
    bundle_for,
    generate_all,
    namespace_annotations,
    namespace_labels,
    namespace_objects,
    templates,
)
from compiler.model import CompiledPolicy
from compiler.targets import TARGETS, Known, Options
from dsl import Source

from .k8s_schemas import SchemaError, validate_object, validate_objects

KNOWN = ["alpha-backfill", "beta-quant-q4", "replay-7", "market-data", "monitoring"]


def _in(objs: Any, namespace: str) -> list[dict[str, Any]]:
    return [o for o in objs if o["metadata"].get("namespace") == namespace]


def test_namespace_objects_are_what_generate_all_emits_for_it(
    bundled_policy: CompiledPolicy,
) -> None:
    everything = generate_all(bundled_policy, KNOWN).objects
    for ns in ("alpha-research", "alpha-backfill", "risk-models", "replay-7"):
        tenant = bundled_policy.tenant_for_namespace(ns)
        assert tenant is not None
        assert namespace_objects(bundled_policy, tenant, ns, KNOWN) == _in(everything, ns)
        assert namespace_objects(bundled_policy, tenant.name, ns, KNOWN) == _in(everything, ns)


def test_templates_instantiate_to_the_namespace_objects(bundled_policy: CompiledPolicy) -> None:
    tpl = templates(bundled_policy)
    assert set(tpl) == {t.name for t in bundled_policy.tenants}
    for name, objs in tpl.items():
        assert all(o["metadata"]["namespace"] == bundle.NAMESPACE_PLACEHOLDER for o in objs)
        text = json.dumps(objs).replace(bundle.NAMESPACE_PLACEHOLDER, "fresh-ns")
        assert json.loads(text) == namespace_objects(bundled_policy, name, "fresh-ns")
        validate_objects(json.loads(text))
        assert all(o["kind"] != "Namespace" for o in objs)


def test_bundle_for_round_trips(bundled_policy: CompiledPolicy) -> None:
    doc = bundle_for(bundled_policy)
    loaded = bundle.loads(bundle.dumps(doc))
    assert loaded.policy == bundled_policy
    assert loaded.templates == templates(bundled_policy)
    assert bundle.dumps(bundle_for(bundled_policy)) == bundle.dumps(doc)


def test_namespace_labels_and_annotations(bundled_policy: CompiledPolicy) -> None:
    labels = namespace_labels(bundled_policy, "risk-models")
    assert labels["hermetic.io/tenant"] == "risk-models"
    assert labels["pod-security.kubernetes.io/enforce"] == "restricted"
    assert namespace_annotations(bundled_policy, "risk-models") == {}
    with pytest.raises(KeyError):
        namespace_labels(bundled_policy, "nobody")


def test_glob_namespaces_from_the_list_get_everything(bundled_policy: CompiledPolicy) -> None:
    objs = generate_all(bundled_policy, KNOWN).objects
    kinds = {o["kind"] for o in _in(objs, "beta-quant-q4")}
    assert {"ResourceQuota", "LimitRange", "NetworkPolicy", "PeerAuthentication"} <= kinds
    names = {o["metadata"]["name"] for o in objs if o["kind"] == "Namespace"}
    assert "market-data" not in names and "monitoring" not in names  # no tenant's
    assert {"alpha-backfill", "beta-quant-q4", "replay-7", "risk-models"} <= names


def test_registry_runs_every_target_in_order(bundled_policy: CompiledPolicy) -> None:
    assert list(TARGETS) == [
        "namespaces",
        "priorityclass",
        "quota",
        "networkpolicy",
        "istio",
        "linkerd",
        "calico",
        "webhooks",
    ]
    for make in TARGETS.values():
        make(Options()).generate(bundled_policy)  # each is a Target on its own


def test_known_glob_lookup_uses_the_literal_prefix() -> None:
    known = Known(["b-1", "a-2", "a-1", "ab", "x-a-1"])
    assert known.matching("a-*") == ("a-1", "a-2")
    assert known.matching("*-1") == ("a-1", "b-1", "x-a-1")
    assert known.matching("zz-*") == ()


def test_schema_helper_reports_every_error_with_kind_and_name() -> None:
    bad = {
        "apiVersion": "security.istio.io/v1",
        "kind": "PeerAuthentication",
        "metadata": {"name": "Bad_Name", "namespace": "a"},
        "spec": {"mtls": {"mode": "SOMETIMES"}, "extra": 1},
    }
    with pytest.raises(SchemaError) as err:
        validate_object(bad)
    text = str(err.value)
    assert "PeerAuthentication a/Bad_Name" in text
    assert "metadata.name" in text and "spec.mtls.mode" in text and "'extra'" in text


def _bench_policy(n: int) -> CompiledPolicy:
    from bench.compile_bench import policy_text

    loaded = compiler.load_sources([Source(path="b.hermetic", text=policy_text(n))])
    assert loaded.policy is not None
    return loaded.policy


def test_generate_all_is_linear_in_tenants() -> None:
    """No quadratic work over tenants: 4x the tenants costs well under 16x the time."""
    from bench.compile_bench import namespaces

    def seconds(n: int) -> float:
        p, known = _bench_policy(n), namespaces(n)
        best = float("inf")
        for _ in range(3):
            t = time.perf_counter()
            generate_all(p, known)
            best = min(best, time.perf_counter() - t)
        return best

    small, large = seconds(50), seconds(200)
    assert large < 8 * small, (small, large)


def test_a_namespace_matched_by_two_globs_of_one_tenant_is_generated_once() -> None:
    text = (
        'policy p version "1"\ntier t {\n  cpu 1\n  memory 1Gi\n}\n'
        "tenant a {\n  namespaces a-*, a-b*\n  tiers t\n}\n"
    )
    loaded = compiler.load_sources([Source(path="p.hermetic", text=text)])
    assert loaded.policy is not None, [d.message for d in loaded.diagnostics]
    objs = generate_all(loaded.policy, ["a-b1", "a-c"]).objects
    keys = [(o["kind"], o["metadata"].get("namespace"), o["metadata"]["name"]) for o in objs]
    assert len(keys) == len(set(keys))
    assert {o["metadata"]["name"] for o in objs if o["kind"] == "Namespace"} == {"a-b1", "a-c"}
