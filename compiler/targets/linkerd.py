"""Linkerd policy (policy.linkerd.io) for each tenant namespace, per tier on Linkerd.

Linkerd authorizes per Server, i.e. per port of a set of pods. For each Linkerd tier and each
TCP port that an ingress rule names:
- Server `hermetic-<tier>-<port>` (v1beta3): the tier's pods (`hermetic.io/tier`), that port,
  `accessPolicy: deny`, so only what is authorized below gets through;
- for each rule covering the port, AuthorizationPolicy `hermetic-<tier>-<port>-in-<i>`
  (v1alpha1; `i` is the rule's index in the tenant) requiring the rule's authentication:
  - MeshTLSAuthentication `hermetic-in-<i>`, identities
    `<sa>.<ns>.serviceaccount.identity.linkerd.cluster.local` (`*.<ns>...` for any account)
    for each namespace of the peer; namespace globs cannot be written and are expanded
    (W070/W071). Used in a strict tier, and for any rule with `as`;
  - NetworkAuthentication `hermetic-in-<i>` for a CIDR peer (plus `hermetic-any-identity`,
    `*`, in a strict tier);
  - NetworkAuthentication `hermetic-any-network` in a permissive tier for a rule without `as`:
    plaintext clients pass, and NetworkPolicy narrows the peers.
A rule without ports covers the tier's Servers; on ports without a Server Linkerd's default
inbound policy applies (W074 when the rule needs an identity). Linkerd proxies TCP only.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from compiler.labels import TIER
from compiler.model import CompiledPolicy, NetworkRule, Tenant, Tier
from compiler.targets.base import (
    Generated,
    Known,
    Obj,
    excepts_inside,
    glob_diagnostic,
    meta,
    owned,
    span_of,
    tiers_of,
)
from dsl.diagnostics import Diagnostic, warning

TARGET = "Linkerd MeshTLSAuthentication"
GROUP = "policy.linkerd.io"
MAX_PORTS = 64
ANY_NETWORK = "hermetic-any-network"
ANY_IDENTITY = "hermetic-any-identity"
EVERYWHERE = ({"cidr": "0.0.0.0/0"}, {"cidr": "::/0"})


@dataclass
class _Namespace:
    """One namespace being generated: its authentications are shared by its tiers."""

    policy: CompiledPolicy
    name: str
    known: Known
    auths: dict[str, Obj] = field(default_factory=dict)
    diagnostics: list[Diagnostic] = field(default_factory=list)

    def obj(self, kind: str, version: str, name: str, spec: Obj) -> Obj:
        return {
            "apiVersion": f"{GROUP}/{version}",
            "kind": kind,
            "metadata": meta(self.policy, name, self.name),
            "spec": spec,
        }

    def auth(self, kind: str, name: str, spec: Obj) -> Obj:
        """Create an authentication once; a reference to it."""
        self.auths.setdefault(f"{kind}/{name}", self.obj(kind, "v1alpha1", name, spec))
        return {"group": GROUP, "kind": kind, "name": name}


def for_namespace(
    policy: CompiledPolicy, tenant: Tenant, namespace: str, known: Known
) -> Generated:
    """The Servers, AuthorizationPolicies and authentications of one tenant namespace."""
    tiers = [t for t in tiers_of(policy, tenant) if t.mtls.mesh == "linkerd"]
    if not tiers:
        return Generated()
    ns = _Namespace(policy, namespace, known)
    rules = [(i, r) for i, r in enumerate(tenant.rules) if r.direction == "ingress"]
    ports = {i: _ports(r, ns.diagnostics) for i, r in rules}
    served = sorted({p for ps in ports.values() for p in ps})
    objects: list[Obj] = []
    for tier in tiers:
        objects.extend(_server(ns, tier, p) for p in served)
        for i, rule in rules:
            refs = _authenticate(ns, tier, i, rule)
            if refs and not rule.ports and (rule.identities or tier.mtls.mode == "strict"):
                ns.diagnostics.append(
                    _w074(
                        rule,
                        "authorizes per Server and this rule names "
                        "no port: ports without a Server keep the default "
                        "inbound policy",
                    )
                )
            for p in (ports[i] if rule.ports else served) if refs else ():
                objects.append(_authorization(ns, tier, p, i, refs))
    objects.extend(ns.auths[k] for k in sorted(ns.auths))
    return Generated(tuple(objects), tuple(ns.diagnostics))


def _ports(rule: NetworkRule, diagnostics: list[Diagnostic]) -> list[int]:
    tcp = [
        n
        for p in rule.ports
        if p.protocol == "TCP"
        for n in range(p.port, (p.end_port or p.port) + 1)
    ]
    if len(tcp) > MAX_PORTS:
        diagnostics.append(
            _w074(
                rule,
                f"needs a Server per port, and this rule has {len(tcp)} "
                f"(more than {MAX_PORTS}): they keep the default inbound policy",
            )
        )
        return []
    if rule.identities and any(p.protocol != "TCP" for p in rule.ports):
        diagnostics.append(_w074(rule, "proxies TCP only: `as` is not enforced on UDP/SCTP ports"))
    return tcp


def _server(ns: _Namespace, tier: Tier, port: int) -> Obj:
    spec = {"podSelector": {"matchLabels": {TIER: tier.name}}, "port": port, "accessPolicy": "deny"}
    return ns.obj("Server", "v1beta3", f"hermetic-{tier.name}-{port}", spec)


def _authorization(ns: _Namespace, tier: Tier, port: int, i: int, refs: list[Obj]) -> Obj:
    spec = {
        "targetRef": {"group": GROUP, "kind": "Server", "name": f"hermetic-{tier.name}-{port}"},
        "requiredAuthenticationRefs": refs,
    }
    return ns.obj("AuthorizationPolicy", "v1alpha1", f"hermetic-{tier.name}-{port}-in-{i}", spec)


def _authenticate(ns: _Namespace, tier: Tier, i: int, rule: NetworkRule) -> list[Obj]:
    """The authentications a rule requires (created on first use); [] when none can be."""
    strict = tier.mtls.mode == "strict"
    if rule.peer == "cidr":
        networks = [n for c in rule.names if (n := _network(c, rule.excepts)) is not None]
        if not networks:
            return []
        refs = [ns.auth("NetworkAuthentication", f"hermetic-in-{i}", {"networks": networks})]
        if rule.identities:
            ns.diagnostics.append(
                _w074(
                    rule,
                    "cannot tie a service account to a network: `as` "
                    "is relaxed to any meshed identity from these CIDRs",
                )
            )
        if strict or rule.identities:
            refs.append(ns.auth("MeshTLSAuthentication", ANY_IDENTITY, {"identities": ["*"]}))
        return refs
    if not strict and not rule.identities:
        return [ns.auth("NetworkAuthentication", ANY_NETWORK, {"networks": list(EVERYWHERE)})]
    ids = _identities(ns, rule)
    if not ids:
        return []
    return [ns.auth("MeshTLSAuthentication", f"hermetic-in-{i}", {"identities": ids})]


def _network(cidr: str, excepts: tuple[str, ...]) -> Obj | None:
    inside = excepts_inside(cidr, excepts)
    if inside is None:
        return None
    return {"cidr": cidr, "except": list(inside)} if inside else {"cidr": cidr}


def _identities(ns: _Namespace, rule: NetworkRule) -> list[str]:
    names: list[str] = []
    globs: list[tuple[str, Tenant | None]] = []
    if rule.peer == "pods":
        names.append(ns.name)
    elif rule.peer == "tenant":
        for t in (ns.policy.tenant(n) for n in rule.names):
            if t is not None:
                names.extend(t.namespaces)
                globs.extend((g, t) for g in t.globs)
    else:
        names.extend(n for n in rule.names if "*" not in n)
        globs.extend((n, None) for n in rule.names if "*" in n)
    for glob, owner in globs:
        found = owned(ns.policy, owner, glob, ns.known) if owner else ns.known.matching(glob)
        ns.diagnostics.append(glob_diagnostic(glob, found, TARGET, span_of(rule.origin)))
        names.extend(found)
    return sorted({identity(n, sa) for n in names for sa in rule.identities or ("*",)})


def identity(namespace: str, account: str) -> str:
    """A Linkerd proxy identity; account `*` for every service account of the namespace."""
    return f"{account}.{namespace}.serviceaccount.identity.linkerd.cluster.local"


def _w074(rule: NetworkRule, what: str) -> Diagnostic:
    return warning(
        "W074",
        f"ingress rule: Linkerd {what}",
        span_of(rule.origin),
        "NetworkPolicy still limits peers and ports; name the TCP ports the rule needs",
    )
