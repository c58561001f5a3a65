"""Istio and Linkerd targets: per-tier mTLS objects mirroring ingress allows by identity."""

from __future__ import annotations

from typing import Any

import compiler
from compiler.model import CompiledPolicy
from compiler.targets import Known, istio, linkerd
from dsl import Source

from .k8s_schemas import validate_objects

HEAD = """policy p version "1"
cluster {
  mesh-cni istio, linkerd
}
tier amb {
  cpu 100m..1 default 500m
  memory 128Mi..1Gi default 256Mi
  mtls istio-ambient strict
}
tier side {
  cpu 100m..1 default 500m
  memory 128Mi..1Gi default 256Mi
  mtls istio-sidecar permissive
}
tier ls {
  cpu 100m..1 default 500m
  memory 128Mi..1Gi default 256Mi
  mtls linkerd strict
}
tier lp {
  cpu 100m..1 default 500m
  memory 128Mi..1Gi default 256Mi
  mtls linkerd permissive
}
tenant src {
  namespaces src, src-*
  tiers amb
}
"""


def objects(body: str, tiers: str, module: Any, known: tuple[str, ...] = ()) -> dict[str, Any]:
    default = f"\n  default-tier {tiers.split(',')[0]}" if "," in tiers else ""
    text = HEAD + f"tenant a {{\n  namespaces a\n  tiers {tiers}{default}\n{body}\n}}\n"
    loaded = compiler.load_sources([Source(path="p.hermetic", text=text)])
    p: CompiledPolicy | None = loaded.policy
    assert p is not None, [d.message for d in loaded.diagnostics]
    t = p.tenant("a")
    assert t is not None
    g = module.for_namespace(p, t, "a", Known(known))
    validate_objects(g.objects, versions=("1.34.0",))
    out = {f"{o['kind']}/{o['metadata']['name']}": o["spec"] for o in g.objects}
    out["codes"] = [d.code for d in g.diagnostics]
    return out


def test_istio_per_tier_peer_authentication_and_allow_policy() -> None:
    o = objects("", "amb, side", istio)
    assert o["PeerAuthentication/hermetic-amb"] == {
        "selector": {"matchLabels": {"hermetic.io/tier": "amb"}},
        "mtls": {"mode": "STRICT"},
    }
    assert o["PeerAuthentication/hermetic-side"]["mtls"] == {"mode": "PERMISSIVE"}
    # no ingress rule: an ALLOW policy without rules admits nothing, as NetworkPolicy says
    assert o["AuthorizationPolicy/hermetic-amb"] == {
        "selector": {"matchLabels": {"hermetic.io/tier": "amb"}},
        "action": "ALLOW",
    }


def test_istio_identities_exact_namespaces_and_native_globs() -> None:
    o = objects("  allow ingress tenant src ports tcp 8080, tcp 9000-9002 as runner", "amb", istio)
    (rule,) = o["AuthorizationPolicy/hermetic-amb"]["rules"]
    assert rule["from"] == [
        {"source": {"principals": ["cluster.local/ns/src/sa/runner"]}},
        {"source": {"namespaces": ["src-*"], "principals": ["*/sa/runner"]}},
    ]
    assert rule["to"] == [{"operation": {"ports": ["8080", "9000", "9001", "9002"]}}]


def test_istio_permissive_rule_without_identity_does_not_require_one() -> None:
    o = objects("  allow ingress namespace mon ports tcp 9090", "side", istio)
    assert o["AuthorizationPolicy/hermetic-side"]["rules"] == [
        {"to": [{"operation": {"ports": ["9090"]}}]}
    ]
    strict = objects("  allow ingress namespace mon ports tcp 9090", "amb", istio)
    assert strict["AuthorizationPolicy/hermetic-amb"]["rules"][0]["from"] == [
        {"source": {"principals": ["cluster.local/ns/mon/sa/*"]}}
    ]


def test_istio_infix_glob_is_expanded_and_cidr_is_ip_blocks() -> None:
    o = objects(
        "  allow ingress namespace t-*-ops\n  allow ingress cidr 10.0.0.0/8 except 10.9.0.0/16",
        "amb",
        istio,
        known=("t-a-ops", "t-b"),
    )
    rules = o["AuthorizationPolicy/hermetic-amb"]["rules"]
    assert rules[0] == {"from": [{"source": {"principals": ["cluster.local/ns/t-a-ops/sa/*"]}}]}
    assert rules[1] == {
        "from": [{"source": {"ipBlocks": ["10.0.0.0/8"], "notIpBlocks": ["10.9.0.0/16"]}}]
    }
    assert o["codes"] == ["W070"]


def test_istio_udp_only_and_huge_ranges_are_not_mirrored_and_said() -> None:
    o = objects(
        "  allow ingress pods app = x ports udp 53 as dns\n  allow ingress pods app = y ports tcp 1-1000",
        "amb",
        istio,
    )
    assert "rules" not in o["AuthorizationPolicy/hermetic-amb"]
    assert o["codes"] == ["W074", "W074"]


def test_no_istio_objects_without_an_istio_tier() -> None:
    assert objects("  allow ingress tenant src", "ls", istio) == {"codes": []}


def test_linkerd_server_per_port_and_identities() -> None:
    o = objects("  allow ingress tenant src ports tcp 8080 as runner", "ls", linkerd, ("src-1",))
    assert o["Server/hermetic-ls-8080"] == {
        "podSelector": {"matchLabels": {"hermetic.io/tier": "ls"}},
        "port": 8080,
        "accessPolicy": "deny",
    }
    assert o["AuthorizationPolicy/hermetic-ls-8080-in-0"] == {
        "targetRef": {"group": "policy.linkerd.io", "kind": "Server", "name": "hermetic-ls-8080"},
        "requiredAuthenticationRefs": [
            {"group": "policy.linkerd.io", "kind": "MeshTLSAuthentication", "name": "hermetic-in-0"}
        ],
    }
    assert o["MeshTLSAuthentication/hermetic-in-0"]["identities"] == [
        "runner.src-1.serviceaccount.identity.linkerd.cluster.local",
        "runner.src.serviceaccount.identity.linkerd.cluster.local",
    ]
    assert o["codes"] == ["W070"]


def test_linkerd_any_account_wildcard_and_permissive_networks() -> None:
    strict = objects("  allow ingress namespace mon ports tcp 9090", "ls", linkerd)
    assert strict["MeshTLSAuthentication/hermetic-in-0"]["identities"] == [
        "*.mon.serviceaccount.identity.linkerd.cluster.local"
    ]
    loose = objects("  allow ingress namespace mon ports tcp 9090", "lp", linkerd)
    assert loose["NetworkAuthentication/hermetic-any-network"]["networks"] == [
        {"cidr": "0.0.0.0/0"},
        {"cidr": "::/0"},
    ]


def test_linkerd_cidr_rule_and_portless_rule() -> None:
    o = objects(
        "  allow ingress cidr 10.0.0.0/8 except 10.1.0.0/16 ports tcp 9000\n"
        "  allow ingress tenant src",
        "ls",
        linkerd,
    )
    assert o["NetworkAuthentication/hermetic-in-0"]["networks"] == [
        {"cidr": "10.0.0.0/8", "except": ["10.1.0.0/16"]}
    ]
    refs = o["AuthorizationPolicy/hermetic-ls-9000-in-0"]["requiredAuthenticationRefs"]
    assert [r["name"] for r in refs] == ["hermetic-in-0", "hermetic-any-identity"]
    # the port-less rule authorizes on every Server of the tier, and says what it cannot do
    assert "AuthorizationPolicy/hermetic-ls-9000-in-1" in o
    assert "W074" in o["codes"]
