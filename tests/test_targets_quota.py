"""Quota, namespaces, priority classes and shaping annotations."""

from __future__ import annotations

from typing import Any

import compiler
from compiler.model import CompiledPolicy
from compiler.targets import Known, namespaces, priorityclass, quota
from compiler.targets.calico import shaping_annotations
from dsl import Source

TIERS = """policy p version "1"
cluster {
  mesh-cni istio, linkerd
}
tier pinned {
  cpu exclusive 2
  memory 4Gi
  ephemeral-storage 5Gi
  security strict
  mtls istio-ambient strict
  priority 1000 preempting non-preemptible
}
tier shared {
  cpu 250m..4 default 1
  memory 1Gi..8Gi default 2Gi
  ephemeral-storage 1Gi..10Gi default 2Gi
  security restricted
  mtls istio-ambient strict
}
tier open {
  cpu 100m.. default 200m
  memory 128Mi..1Gi default 256Mi
  swap off
  security baseline
}
"""


def policy(tenant: str) -> CompiledPolicy:
    loaded = compiler.load_sources([Source(path="p.hermetic", text=TIERS + tenant)])
    assert loaded.policy is not None, [d.message for d in loaded.diagnostics]
    return loaded.policy


def quota_objects(p: CompiledPolicy, name: str = "a") -> tuple[dict[str, Any], list[str]]:
    t = p.tenant(name)
    assert t is not None
    g = quota.for_namespace(p, t, t.namespaces[0], Known())
    return {o["metadata"]["name"]: o["spec"] for o in g.objects}, [d.code for d in g.diagnostics]


def test_total_and_per_tier_quotas() -> None:
    p = policy(
        "tenant a {\n  namespaces a\n  tiers pinned, shared\n  default-tier shared\n"
        "  quota cpu 32 memory 64Gi pods 50 ephemeral-storage 100Gi\n"
        "  quota tier pinned cpu 8 memory 16Gi pods 4\n}\n"
    )
    objs, codes = quota_objects(p)
    assert objs["hermetic-tenant"] == {
        "hard": {
            "requests.cpu": "32",
            "limits.cpu": "32",
            "requests.memory": "64Gi",
            "limits.memory": "64Gi",
            "requests.ephemeral-storage": "100Gi",
            "limits.ephemeral-storage": "100Gi",
            "pods": "50",
        }
    }
    assert objs["hermetic-tier-pinned"]["scopeSelector"] == {
        "matchExpressions": [
            {"scopeName": "PriorityClass", "operator": "In", "values": ["hermetic-pinned"]}
        ]
    }
    assert objs["hermetic-disallowed-tiers"] == {
        "hard": {"pods": "0"},
        "scopeSelector": {
            "matchExpressions": [
                {"scopeName": "PriorityClass", "operator": "In", "values": ["hermetic-open"]}
            ]
        },
    }
    assert codes == []  # one namespace: the quota is the tenant's


def test_quota_of_a_tenant_with_several_namespaces_is_said_to_repeat() -> None:
    p = policy("tenant a {\n  namespaces a, a-*\n  tiers shared\n  quota pods 5\n}\n")
    assert quota_objects(p)[1] == ["W073"]


def test_limit_range_defaults_of_the_default_tier_and_loosest_max() -> None:
    p = policy("tenant a {\n  namespaces a\n  tiers pinned, shared\n  default-tier shared\n}\n")
    (item,) = quota_objects(p)[0]["hermetic-defaults"]["limits"]
    assert item == {
        "type": "Container",
        "defaultRequest": {"cpu": "1", "memory": "2Gi", "ephemeral-storage": "2Gi"},
        # a shared tier's limit defaults to its maximum: a bigger request is not capped
        "default": {"cpu": "4", "memory": "8Gi", "ephemeral-storage": "10Gi"},
        "max": {"cpu": "4", "memory": "8Gi", "ephemeral-storage": "10Gi"},
    }


def test_limit_range_pinned_defaults_equal_requests_and_no_max_where_a_tier_is_open() -> None:
    p = policy("tenant a {\n  namespaces a\n  tiers pinned, open\n  default-tier pinned\n}\n")
    (item,) = quota_objects(p)[0]["hermetic-defaults"]["limits"]
    assert item["defaultRequest"] == item["default"]
    assert item["default"] == {"cpu": "2", "memory": "4Gi", "ephemeral-storage": "5Gi"}
    assert item["max"] == {"memory": "4Gi"}  # `open` has no CPU max, no ephemeral storage
    assert "min" not in item
    q = policy("tenant a {\n  namespaces a\n  tiers open\n}\n")
    (item,) = quota_objects(q)[0]["hermetic-defaults"]["limits"]
    assert item["default"] == {"cpu": "200m", "memory": "256Mi"}  # swap off; cpu: no max


def test_namespace_labels_pss_weakest_enforced_strongest_warned() -> None:
    p = policy(
        'tenant a {\n  namespaces a\n  tiers pinned, open\n  default-tier open\n  cost-center "CC-1"\n'
        '  label example.com/desk = "rates"\n}\n'
    )
    t = p.tenant("a")
    assert t is not None
    assert namespaces.labels_for(p, t) == {
        "hermetic.io/tenant": "a",
        "hermetic.io/cost-center": "CC-1",
        "example.com/desk": "rates",
        "pod-security.kubernetes.io/enforce": "baseline",
        "pod-security.kubernetes.io/warn": "restricted",
        "pod-security.kubernetes.io/audit": "restricted",
    }  # mixed meshes (ambient + none): no namespace-wide mesh label


def test_namespace_mesh_label_only_when_every_tier_agrees() -> None:
    p = policy("tenant a {\n  namespaces a\n  tiers pinned, shared\n  default-tier shared\n}\n")
    t = p.tenant("a")
    assert t is not None
    assert namespaces.labels_for(p, t)["istio.io/dataplane-mode"] == "ambient"
    assert namespaces.labels_for(p, t)["pod-security.kubernetes.io/enforce"] == "restricted"
    (ns,) = namespaces.for_namespace(p, t, "a", Known()).objects
    assert ns["metadata"]["name"] == "a" and "annotations" not in ns["metadata"]
    assert "app.kubernetes.io/managed-by" not in ns["metadata"]["labels"]


def test_priority_classes() -> None:
    p = policy("tenant a {\n  namespaces a\n  tiers pinned, shared, open\n  default-tier open\n}\n")
    objs = priorityclass.PriorityClasses().generate(p).objects
    by_name = {o["metadata"]["name"]: o for o in objs}
    assert set(by_name) == {"hermetic-open", "hermetic-pinned", "hermetic-shared"}
    assert by_name["hermetic-pinned"]["value"] == 1000
    assert by_name["hermetic-pinned"]["preemptionPolicy"] == "PreemptLowerPriority"
    # no `priority` statement: value 0, never preempts
    assert (
        by_name["hermetic-shared"]["value"],
        by_name["hermetic-shared"]["preemptionPolicy"],
    ) == (
        0,
        "Never",
    )
    assert all(o["globalDefault"] is False and o["description"] for o in objs)


def test_shaping_annotations_one_key_set_only(bundled_policy: CompiledPolicy) -> None:
    tier0 = bundled_policy.tier("tier0")
    assert tier0 is not None
    assert shaping_annotations(tier0, "calico-qos") == {
        "qos.projectcalico.org/egressBandwidth": "1G",
        "qos.projectcalico.org/egressBurst": "512M",
        "qos.projectcalico.org/egressMaxConnections": "4096",
        "qos.projectcalico.org/ingressBandwidth": "2G",
        "qos.projectcalico.org/ingressBurst": "512M",
    }
    assert shaping_annotations(tier0, "kubernetes") == {
        "kubernetes.io/egress-bandwidth": "1G",
        "kubernetes.io/ingress-bandwidth": "2G",
    }
    assert shaping_annotations(tier0, "none") == {}
    tier1 = bundled_policy.tier("tier1")
    assert tier1 is not None
    assert (
        shaping_annotations(tier1, "calico-qos")["qos.projectcalico.org/ingressPacketRate"] == "10k"
    )
