"""NetworkPolicy (networking.k8s.io/v1) for each tenant namespace.

Two objects per namespace, both selecting the governed pods (the cluster's `governs`
requirements as podSelector; other pods of the namespace are left alone, as everywhere):

- `hermetic-default-deny`: policyTypes Ingress and Egress, no rule: governed pods are
  isolated in both directions.
- `hermetic-allow`: the tenant's `allow` rules in policy order, one entry each. Policies only
  add to each other, so the union of the entries is exactly what is open.

Decisions:
- Same-namespace traffic is NOT implicitly allowed. A tenant's pods do not talk among
  themselves unless a rule says so (`allow ingress|egress pods SELECTOR` for the same
  namespace, `allow ingress|egress tenant <itself>` for all its namespaces). Backtests are
  meant to be hermetic, and an implicit allow would be more open than the policy.
- `pods` peers are pods of the same namespace (a bare podSelector).
- Tenant peers are selected by the namespace label `hermetic.io/tenant`, which also covers
  their glob namespaces. Exact namespace peers by `kubernetes.io/metadata.name`.
- A namespace glob cannot be a label selector. It is expanded against the namespaces the
  compiler is given (`--namespaces`), with W070 because that is a snapshot; with no match it
  is left out with W071. It is never widened to more than it matches.
- `as SA`: NetworkPolicy selects pods, not service accounts; the mesh enforces identities
  (istio.py, linkerd.py). W072 when some tier of the tenant runs without a mesh.
- Mesh plumbing that a tier's `mtls` implies (Istio's "ambient and NetworkPolicy" guide):
  with an Istio tier, TCP 15008 (HBONE) is opened next to the ports of every rule between
  pods, because ambient tunnels pod traffic through it and a NetworkPolicy sees only that
  port (the receiving ztunnel or sidecar enforces the real ports with the
  AuthorizationPolicy of istio.py); with an ambient tier, kubelet probes arrive from
  169.254.7.127; sidecar tiers reach their control plane (istiod in istio-system on TCP
  15012; Linkerd's in namespace linkerd on TCP 8080, 8086 and 8090 — the default installs).
"""

from __future__ import annotations

from compiler.labels import NS_NAME, TENANT
from compiler.model import CompiledPolicy, NetworkRule, Port, Tenant
from compiler.targets.base import (
    Generated,
    Known,
    Obj,
    excepts_inside,
    glob_diagnostic,
    in_selector,
    meta,
    selector,
    span_of,
    tiers_of,
)
from dsl.diagnostics import Diagnostic, warning

TARGET = "NetworkPolicy"
DENY, ALLOW = "hermetic-default-deny", "hermetic-allow"
HBONE = Port(protocol="TCP", port=15008)
PROBES = "169.254.7.127/32"  # ambient SNATs kubelet probes to this link-local address
DNS_PORTS = (Port(protocol="UDP", port=53), Port(protocol="TCP", port=53))
DNS_PEER: Obj = {
    "namespaceSelector": {"matchLabels": {NS_NAME: "kube-system"}},
    "podSelector": {"matchLabels": {"k8s-app": "kube-dns"}},
}
CONTROL_PLANES: dict[str, tuple[str, dict[str, str], tuple[int, ...]]] = {
    "istio-sidecar": ("istio-system", {"app": "istiod"}, (15012,)),
    "linkerd": ("linkerd", {"linkerd.io/control-plane-ns": "linkerd"}, (8080, 8086, 8090)),
}


def for_namespace(
    policy: CompiledPolicy, tenant: Tenant, namespace: str, known: Known
) -> Generated:
    """The NetworkPolicies of one tenant namespace."""
    meshes: set[str] = {t.mtls.mesh for t in tiers_of(policy, tenant)}
    entries: dict[str, list[Obj]] = {"ingress": [], "egress": []}
    diagnostics: list[Diagnostic] = []
    for rule in tenant.rules:
        entry = _entry(policy, tenant, rule, known, meshes, diagnostics)
        if entry is not None:
            entries[rule.direction].append(entry)
    if "istio-ambient" in meshes:
        entries["ingress"].append({"from": [{"ipBlock": {"cidr": PROBES}}]})
    for mesh in sorted(meshes & CONTROL_PLANES.keys()):
        entries["egress"].append(_control_plane(mesh))
    objects = [_policy(policy, DENY, namespace, {"ingress": [], "egress": []})]
    if entries["ingress"] or entries["egress"]:
        objects.append(_policy(policy, ALLOW, namespace, entries))
    return Generated(tuple(objects), tuple(diagnostics))


def _policy(
    policy: CompiledPolicy, name: str, namespace: str, entries: dict[str, list[Obj]]
) -> Obj:
    spec: Obj = {"podSelector": selector(policy.cluster.governs)}
    if name == DENY:
        spec["policyTypes"] = ["Ingress", "Egress"]
    else:
        spec["policyTypes"] = [d.capitalize() for d in ("ingress", "egress") if entries[d]]
        spec.update({d: e for d, e in entries.items() if e})
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": meta(policy, name, namespace),
        "spec": spec,
    }


def _entry(
    policy: CompiledPolicy,
    tenant: Tenant,
    rule: NetworkRule,
    known: Known,
    meshes: set[str],
    diagnostics: list[Diagnostic],
) -> Obj | None:
    peers = _peers(rule, known, diagnostics)
    if not peers:
        return None  # every peer left out (W071): the rule opens nothing
    if rule.identities:
        _identities(policy, tenant, rule, diagnostics)
    ports = list(DNS_PORTS if rule.peer == "dns" else rule.ports)
    between_pods = rule.peer in ("tenant", "namespace", "pods")
    istio = meshes & {"istio-sidecar", "istio-ambient"}
    if ports and between_pods and istio and not any(_covers(p, HBONE.port) for p in ports):
        ports.append(HBONE)
    entry: Obj = {"from" if rule.direction == "ingress" else "to": peers}
    if ports:
        entry["ports"] = [port(p) for p in ports]
    return entry


def _peers(rule: NetworkRule, known: Known, diagnostics: list[Diagnostic]) -> list[Obj]:
    if rule.peer == "dns":
        return [DNS_PEER]
    if rule.peer == "tenant":
        return [{"namespaceSelector": in_selector(TENANT, rule.names)}]
    if rule.peer == "pods":
        return [{"podSelector": selector(rule.pods)}]
    if rule.peer == "cidr":
        return _ip_blocks(rule)
    names = [n for n in rule.names if "*" not in n]
    for glob in (n for n in rule.names if "*" in n):
        found = known.matching(glob)
        diagnostics.append(glob_diagnostic(glob, found, TARGET, span_of(rule.origin)))
        names.extend(found)
    if not names:
        return []
    peer: Obj = {"namespaceSelector": in_selector(NS_NAME, names)}
    if rule.pods:
        peer["podSelector"] = selector(rule.pods)
    return [peer]


def _ip_blocks(rule: NetworkRule) -> list[Obj]:
    out: list[Obj] = []
    for cidr in rule.names:
        inside = excepts_inside(cidr, rule.excepts)
        if inside is None:
            continue  # excepted whole: this block matches nothing
        block: Obj = {"cidr": cidr}
        if inside:
            block["except"] = list(inside)
        out.append({"ipBlock": block})
    return out


def _identities(
    policy: CompiledPolicy, tenant: Tenant, rule: NetworkRule, diagnostics: list[Diagnostic]
) -> None:
    bare = [t.name for t in tiers_of(policy, tenant) if t.mtls.mesh == "none"]
    if bare:
        diagnostics.append(
            warning(
                "W072",
                f"`as {', '.join(rule.identities)}` cannot be enforced by {TARGET}, which "
                "selects pods, not service accounts; pods of tier(s) "
                f"{', '.join(bare)} run without a mesh, so any pod of the peer reaches them",
                span_of(rule.origin),
                "give those tiers a mesh (e.g. `mtls istio-ambient strict`), or drop `as`",
            )
        )


def _control_plane(mesh: str) -> Obj:
    namespace, labels, ports = CONTROL_PLANES[mesh]
    peer = {
        "namespaceSelector": {"matchLabels": {NS_NAME: namespace}},
        "podSelector": {"matchLabels": labels},
    }
    return {"to": [peer], "ports": [{"protocol": "TCP", "port": p} for p in ports]}


def _covers(p: Port, n: int) -> bool:
    return p.protocol == "TCP" and p.port <= n <= (p.end_port or p.port)


def port(p: Port) -> Obj:
    """A NetworkPolicyPort."""
    out: Obj = {"protocol": p.protocol, "port": p.port}
    if p.end_port is not None:
        out["endPort"] = p.end_port
    return out
