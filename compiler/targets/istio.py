"""Istio (security.istio.io/v1) for each tenant namespace, per tier on an Istio mesh.

Both objects select the tier's pods by `hermetic.io/tier` (set by the webhook):
- PeerAuthentication `hermetic-<tier>`: mTLS mode STRICT or PERMISSIVE.
- AuthorizationPolicy `hermetic-<tier>` (ALLOW): the tenant's ingress allows, one rule each,
  by identity: principals `cluster.local/ns/<ns>/sa/<sa>` (`as SA`) or `.../sa/*` for each
  exact namespace of the peer; a namespace glob whose only `*` is at an end goes in the
  `namespaces` field (with `*/sa/<sa>` principals for `as`); other globs are expanded
  (W070/W071). `pods` peers are this namespace's identities (the pod labels are left to
  NetworkPolicy). CIDR peers become `ipBlocks`/`notIpBlocks`. Ports go to
  `to.operation.ports`, ranges expanded.
  In a PERMISSIVE tier a rule without `as` does not require an identity (its `from` is left
  out: plaintext clients must pass too), so its peers are narrowed by NetworkPolicy alone.
  With no ingress rule the policy has no rule: nothing may connect (as NetworkPolicy says).

Istio carries TCP only: UDP/SCTP ports are not in the AuthorizationPolicy, and a rule with
only those is not mirrored (W074 when it names service accounts). A range wider than
MAX_PORTS is not mirrored either: under ambient the AuthorizationPolicy is what enforces
ports (NetworkPolicy sees only the HBONE port), so leaving `ports` out would widen the rule.
The trust domain is Istio's default, `cluster.local`.
"""

from __future__ import annotations

from compiler.labels import TIER
from compiler.model import CompiledPolicy, NetworkRule, Tenant, Tier
from compiler.targets.base import (
    Generated,
    Known,
    Obj,
    glob_diagnostic,
    meta,
    owned,
    span_of,
    tiers_of,
)
from dsl.diagnostics import Diagnostic, warning

TARGET = "Istio AuthorizationPolicy"
API = "security.istio.io/v1"
TRUST_DOMAIN = "cluster.local"
MAX_PORTS = 256
ISTIO = ("istio-sidecar", "istio-ambient")


def for_namespace(
    policy: CompiledPolicy, tenant: Tenant, namespace: str, known: Known
) -> Generated:
    """The PeerAuthentications and AuthorizationPolicies of one tenant namespace."""
    objects: list[Obj] = []
    diagnostics: list[Diagnostic] = []
    for tier in tiers_of(policy, tenant):
        if tier.mtls.mesh not in ISTIO:
            continue
        objects.append(_peer_authentication(policy, tier, namespace))
        rules = [
            r
            for rule in tenant.rules
            if rule.direction == "ingress"
            and (r := _rule(policy, tier, rule, namespace, known, diagnostics)) is not None
        ]
        objects.append(_authorization(policy, tier, namespace, rules))
    return Generated(tuple(objects), tuple(diagnostics))


def _workload(tier: Tier) -> Obj:
    return {"matchLabels": {TIER: tier.name}}


def _peer_authentication(policy: CompiledPolicy, tier: Tier, namespace: str) -> Obj:
    spec = {"selector": _workload(tier), "mtls": {"mode": tier.mtls.mode.upper()}}
    name = f"hermetic-{tier.name}"
    return {
        "apiVersion": API,
        "kind": "PeerAuthentication",
        "metadata": meta(policy, name, namespace),
        "spec": spec,
    }


def _authorization(policy: CompiledPolicy, tier: Tier, namespace: str, rules: list[Obj]) -> Obj:
    spec: Obj = {"selector": _workload(tier), "action": "ALLOW"}
    if rules:
        spec["rules"] = rules
    name = f"hermetic-{tier.name}"
    return {
        "apiVersion": API,
        "kind": "AuthorizationPolicy",
        "metadata": meta(policy, name, namespace),
        "spec": spec,
    }


def _rule(
    policy: CompiledPolicy,
    tier: Tier,
    rule: NetworkRule,
    namespace: str,
    known: Known,
    diagnostics: list[Diagnostic],
) -> Obj | None:
    ports = _ports(rule, diagnostics)
    if ports is None:
        return None
    if rule.peer == "cidr":
        sources = [_ip_source(rule)]
    elif tier.mtls.mode == "strict" or rule.identities:
        sources = _sources(policy, rule, namespace, known, diagnostics)
        if not sources:
            return None  # every peer left out (W071)
    else:
        sources = []
    out: Obj = {}
    if sources:
        out["from"] = [{"source": s} for s in sources]
    if ports:
        out["to"] = [{"operation": {"ports": ports}}]
    return out


def _ports(rule: NetworkRule, diagnostics: list[Diagnostic]) -> list[str] | None:
    """The TCP ports as strings; [] for any port; None when the rule is not mirrored."""
    if not rule.ports:
        return []
    tcp = [p for p in rule.ports if p.protocol == "TCP"]
    if rule.identities and len(tcp) < len(rule.ports):
        diagnostics.append(_w074(rule, "carries TCP only: `as` is not enforced on UDP/SCTP ports"))
    numbers = [str(n) for p in tcp for n in range(p.port, (p.end_port or p.port) + 1)]
    if len(numbers) > MAX_PORTS:
        diagnostics.append(
            _w074(
                rule,
                f"lists ports one by one, and this rule has {len(numbers)} (more than "
                f"{MAX_PORTS}): it is not mirrored, so meshed pods refuse it",
            )
        )
        return None
    return numbers or None


def _ip_source(rule: NetworkRule) -> Obj:
    src: Obj = {"ipBlocks": list(rule.names)}
    if rule.excepts:
        src["notIpBlocks"] = list(rule.excepts)
    if rule.identities:
        src["principals"] = [f"*/sa/{sa}" for sa in rule.identities]
    return src


def _sources(
    policy: CompiledPolicy,
    rule: NetworkRule,
    namespace: str,
    known: Known,
    diagnostics: list[Diagnostic],
) -> list[Obj]:
    accounts = rule.identities or ("*",)
    exact: list[str] = []
    globs: list[tuple[str, Tenant | None]] = []
    if rule.peer == "pods":
        exact.append(namespace)
    elif rule.peer == "tenant":
        for t in (policy.tenant(n) for n in rule.names):
            if t is not None:
                exact.extend(t.namespaces)
                globs.extend((g, t) for g in t.globs)
    else:
        exact.extend(n for n in rule.names if "*" not in n)
        globs.extend((n, None) for n in rule.names if "*" in n)
    out: list[Obj] = []
    for glob, owner in globs:
        if _native(glob):
            src: Obj = {"namespaces": [glob]}
            if rule.identities:
                src["principals"] = [f"*/sa/{sa}" for sa in accounts]
            out.append(src)
            continue
        found = owned(policy, owner, glob, known) if owner else known.matching(glob)
        diagnostics.append(glob_diagnostic(glob, found, TARGET, span_of(rule.origin)))
        exact.extend(found)
    if exact:
        principals = sorted({principal(ns, sa) for ns in exact for sa in accounts})
        out.insert(0, {"principals": principals})
    return out


def principal(namespace: str, account: str) -> str:
    """An Istio principal (SPIFFE identity without the scheme); `*` account for any."""
    return f"{TRUST_DOMAIN}/ns/{namespace}/sa/{account}"


def _native(glob: str) -> bool:
    """Istio's `namespaces` matches exactly, by prefix or by suffix: one `*` at an end."""
    return glob.count("*") == 1 and (glob.startswith("*") or glob.endswith("*"))


def _w074(rule: NetworkRule, what: str) -> Diagnostic:
    return warning(
        "W074",
        f"ingress rule: {TARGET} {what}",
        span_of(rule.origin),
        "NetworkPolicy still limits peers and ports; narrow the rule to TCP ports the mesh can list",
    )
