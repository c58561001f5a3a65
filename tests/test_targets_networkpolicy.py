"""NetworkPolicy target: default deny, exactly the declared allows, nothing implicit."""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

import compiler
from compiler.build import generate_all
from compiler.model import CompiledPolicy
from compiler.targets import Known
from compiler.targets.networkpolicy import for_namespace
from dsl import Source

from .k8s_schemas import validate_objects

HEAD = """policy p version "1"
cluster {
  governs app.kubernetes.io/component = backtest
}
tier plain {
  cpu 100m..1 default 500m
  memory 128Mi..1Gi default 256Mi
  security baseline
}
tier amb {
  cpu 100m..1 default 500m
  memory 128Mi..1Gi default 256Mi
  mtls istio-ambient strict
}
"""


def policy(tenants: str) -> CompiledPolicy:
    loaded = compiler.load_sources([Source(path="p.hermetic", text=HEAD + tenants)])
    assert loaded.policy is not None, [d.message for d in loaded.diagnostics]
    return loaded.policy


def tenant(body: str, name: str = "a", tiers: str = "plain") -> str:
    return f"tenant {name} {{\n  namespaces {name}, {name}-*\n  tiers {tiers}\n{body}\n}}\n"


def nps(p: CompiledPolicy, namespace: str = "a", known: tuple[str, ...] = ()) -> dict[str, Any]:
    t = p.tenant_for_namespace(namespace)
    assert t is not None
    objs = for_namespace(p, t, namespace, Known(known)).objects
    return {o["metadata"]["name"]: o["spec"] for o in objs}


def test_every_tenant_namespace_is_default_deny_for_governed_pods(
    bundled_policy: CompiledPolicy,
) -> None:
    g = generate_all(bundled_policy, ["alpha-backfill", "replay-7"])
    namespaces = {o["metadata"]["name"] for o in g.objects if o["kind"] == "Namespace"}
    deny = {
        o["metadata"]["namespace"]: o["spec"]
        for o in g.objects
        if o["kind"] == "NetworkPolicy" and o["metadata"]["name"] == "hermetic-default-deny"
    }
    assert set(deny) == namespaces
    assert "alpha-backfill" in namespaces and "replay-7" in namespaces
    for spec in deny.values():
        assert spec == {
            "podSelector": {"matchLabels": {"app.kubernetes.io/component": "backtest"}},
            "policyTypes": ["Ingress", "Egress"],
        }


def test_no_rule_no_allow_and_no_implicit_same_namespace_traffic() -> None:
    p = policy(tenant("  allow egress dns"))
    spec = nps(p)["hermetic-allow"]
    assert "ingress" not in spec and spec["policyTypes"] == ["Egress"]
    assert len(spec["egress"]) == 1
    assert set(nps(policy(tenant("")))) == {"hermetic-default-deny"}


def test_peers_and_ports_as_declared() -> None:
    p = policy(
        tenant(
            "  allow egress tenant b ports tcp 8080\n"
            "  allow egress namespace data pods app = cache ports udp 5353\n"
            "  allow egress cidr 10.0.0.0/8 except 10.1.0.0/16 ports tcp 9000-9010\n"
            "  allow ingress pods role = peer"
        )
        + tenant("", "b")
    )
    spec = nps(p)["hermetic-allow"]
    assert spec["egress"] == [
        {
            "to": [{"namespaceSelector": {"matchLabels": {"hermetic.io/tenant": "b"}}}],
            "ports": [{"protocol": "TCP", "port": 8080}],
        },
        {
            "to": [
                {
                    "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "data"}},
                    "podSelector": {"matchLabels": {"app": "cache"}},
                }
            ],
            "ports": [{"protocol": "UDP", "port": 5353}],
        },
        {
            "to": [{"ipBlock": {"cidr": "10.0.0.0/8", "except": ["10.1.0.0/16"]}}],
            "ports": [{"protocol": "TCP", "port": 9000, "endPort": 9010}],
        },
    ]
    assert spec["ingress"] == [{"from": [{"podSelector": {"matchLabels": {"role": "peer"}}}]}]


def test_dns_rule_is_kube_dns_udp_and_tcp_53() -> None:
    entry = nps(policy(tenant("  allow egress dns")))["hermetic-allow"]["egress"][0]
    assert entry["to"] == [
        {
            "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "kube-system"}},
            "podSelector": {"matchLabels": {"k8s-app": "kube-dns"}},
        }
    ]
    assert entry["ports"] == [{"protocol": "UDP", "port": 53}, {"protocol": "TCP", "port": 53}]


def test_namespace_glob_is_expanded_from_known_namespaces_or_left_out() -> None:
    p = policy(tenant("  allow egress namespace feed-* ports tcp 443"))
    t = p.tenant("a")
    assert t is not None
    known = Known(["feed-1", "feed-2", "feedx", "other"])
    g = for_namespace(p, t, "a", known)
    entry = {o["metadata"]["name"]: o for o in g.objects}["hermetic-allow"]["spec"]["egress"][0]
    selector = entry["to"][0]["namespaceSelector"]["matchExpressions"][0]
    assert selector["values"] == ["feed-1", "feed-2"]
    assert [d.code for d in g.diagnostics] == ["W070"]
    assert g.diagnostics[0].span == t.rules[0].origin
    empty = for_namespace(p, t, "a", Known())
    assert [d.code for d in empty.diagnostics] == ["W071"]
    assert {o["metadata"]["name"] for o in empty.objects} == {"hermetic-default-deny"}


def test_except_equal_to_its_cidr_removes_the_block() -> None:
    p = policy(tenant("  allow egress cidr 10.0.0.0/8, 10.1.0.0/16 except 10.1.0.0/16"))
    entry = nps(p)["hermetic-allow"]["egress"][0]
    assert entry["to"] == [{"ipBlock": {"cidr": "10.0.0.0/8", "except": ["10.1.0.0/16"]}}]


def test_identities_warn_only_when_a_tier_has_no_mesh() -> None:
    text = "  allow ingress tenant b ports tcp 8080 as runner\n  default-tier amb"
    meshed = policy(tenant(text, tiers="amb") + tenant("", "b", "amb"))
    bare = policy(tenant(text, tiers="amb, plain") + tenant("", "b", "amb"))
    for p, codes in ((meshed, []), (bare, ["W072"])):
        t = p.tenant("a")
        assert t is not None
        assert [d.code for d in for_namespace(p, t, "a", Known()).diagnostics] == codes


def test_istio_tenants_open_hbone_and_ambient_probes() -> None:
    text = "  allow ingress tenant b ports tcp 8080\n  allow egress cidr 10.0.0.0/8 ports tcp 443"
    spec = nps(policy(tenant(text, tiers="amb") + tenant("", "b", "amb")))["hermetic-allow"]
    assert spec["ingress"][0]["ports"] == [
        {"protocol": "TCP", "port": 8080},
        {"protocol": "TCP", "port": 15008},
    ]
    assert spec["ingress"][-1] == {"from": [{"ipBlock": {"cidr": "169.254.7.127/32"}}]}
    assert spec["egress"][0]["ports"] == [{"protocol": "TCP", "port": 443}]  # CIDR: no HBONE
    plain = nps(policy(tenant(text) + tenant("", "b")))["hermetic-allow"]
    assert plain["ingress"][0]["ports"] == [{"protocol": "TCP", "port": 8080}]
    assert len(plain["ingress"]) == 1


# --- property: every rule set gives valid objects with no empty (= allow-all) peer list -----

RULES = st.sampled_from(
    [
        "allow egress dns",
        "allow egress tenant b ports tcp 8080",
        "allow ingress tenant a, b",
        "allow egress namespace data, feed-* pods app = x ports udp 53, tcp 1-65535",
        "allow ingress namespace nothing-*",
        "allow ingress pods role = peer ports sctp 9000",
        "allow egress cidr 10.0.0.0/8, fd00::/8 except 10.2.0.0/16, fd00:1::/32 ports tcp 443",
        "allow ingress cidr 192.168.0.0/16 except 192.168.0.0/16",
    ]
)


@settings(max_examples=40, deadline=None)
@given(st.lists(RULES, max_size=6, unique=True), st.sampled_from(["plain", "amb", "plain, amb"]))
def test_any_rules_give_valid_policies_with_no_empty_peer_list(
    rules: list[str], tiers: str
) -> None:
    body = "\n".join(f"  {r}" for r in rules) + ("\n  default-tier plain" if "," in tiers else "")
    p = policy(tenant(body, tiers=tiers) + tenant("", "b", "amb"))
    t = p.tenant("a")
    assert t is not None
    g = for_namespace(p, t, "a", Known(["feed-1"]))
    validate_objects(g.objects, versions=("1.34.0",))
    for obj in g.objects:
        for direction, key in (("ingress", "from"), ("egress", "to")):
            for entry in obj["spec"].get(direction, []):
                assert entry[key], f"an empty {key} would allow every peer: {entry}"
