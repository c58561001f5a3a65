"""Cross-cutting checks on the compiled policy: the conflicts no other policy tool catches.

Each pass reads the CompiledPolicy (with source positions kept in `where`) and explains in
its message why the combination cannot work on a real cluster, citing the mechanism.
"""

from __future__ import annotations

from collections.abc import Callable

from compiler import globs, quantity
from compiler.model import CompiledPolicy, Tenant, Tier
from compiler.values import Sink
from dsl.diagnostics import Span

Pass = Callable[[CompiledPolicy, Sink], None]


def _at(tier: Tier, *keys: str) -> Span:
    for k in keys:
        if k in tier.where:
            return tier.where[k]
    assert tier.origin is not None
    return tier.origin


def namespace_overlap(policy: CompiledPolicy, sink: Sink) -> None:
    """Two tenants may not claim the same namespace: exact names once, globs disjoint.
    An exact name inside another tenant's glob is allowed (the exact name wins) but said."""
    owner: dict[str, Tenant] = {}
    for t in policy.tenants:
        for ns in t.namespaces:
            if ns in owner:
                sink.error(
                    "E025",
                    f"namespace '{ns}' is claimed by tenants '{owner[ns].name}' and '{t.name}'",
                    t.where[ns],
                    "a namespace belongs to one tenant",
                )
            else:
                owner[ns] = t
    by_prefix: dict[str, list[tuple[str, Tenant]]] = {}
    for t in policy.tenants:
        for g in t.globs:
            by_prefix.setdefault(globs.literal_prefix(g), []).append((g, t))
    for t in policy.tenants:
        for g in t.globs:
            p = globs.literal_prefix(g)
            for n in range(len(p) + 1):
                for other, ot in by_prefix.get(p[:n], ()):
                    if ot.name <= t.name and not (n == len(p) and ot.name < t.name):
                        continue  # each unordered pair once
                    if ot is t or not globs.may_overlap(g, other) or not globs.overlap(g, other):
                        continue
                    sink.error(
                        "E025",
                        f"glob '{g}' of tenant '{t.name}' overlaps glob '{other}' of tenant '{ot.name}'",
                        t.where[g],
                        "some namespace would match both; make the globs disjoint, e.g. with distinct prefixes",
                    )
    index = policy._namespace_index
    for ns, t in owner.items():
        for n in index.prefix_lengths:
            for g, gt in index.by_prefix.get(ns[:n], ()):
                if gt is not t and globs.matches(ns, g):
                    sink.warn(
                        "W025",
                        f"namespace '{ns}' of tenant '{t.name}' also matches glob '{g}' of tenant '{gt.name}'",
                        t.where[ns],
                        "the exact name wins; exclude it from the glob if that is not meant",
                    )


def sidecar_qos(policy: CompiledPolicy, sink: Sink) -> None:
    for tier in policy.tiers:
        sidecar = tier.mtls.mesh in ("istio-sidecar", "linkerd")
        if tier.resources.exclusive_cores and sidecar and tier.proxy is None:
            sink.error(
                "E040",
                f"tier '{tier.name}' has exclusive cores and a {tier.mtls.mesh} proxy with unpinned resources",
                _at(tier, "Mtls"),
                "the injected proxy's requests != limits make the pod Burstable, and Burstable pods get no exclusive cores: add `proxy cpu Q memory Q` (requests == limits), or use `mtls istio-ambient`",
            )


def sidecar_security(policy: CompiledPolicy, sink: Sink) -> None:
    for tier in policy.tiers:
        mesh = {"istio-sidecar": "istio", "linkerd": "linkerd"}.get(tier.mtls.mesh)
        if mesh and tier.security != "baseline" and mesh not in policy.cluster.mesh_cni:
            sink.error(
                "E041",
                f"tier '{tier.name}' is `security {tier.security}` with {tier.mtls.mesh} proxies, whose init container needs NET_ADMIN and NET_RAW",
                _at(tier, "Mtls"),
                f"`{tier.security}` drops ALL capabilities, so the proxy's iptables init container fails: install the {mesh} CNI plugin and say so with `mesh-cni {mesh}` in the cluster block, or use `mtls istio-ambient`",
            )


def swap_with_range(policy: CompiledPolicy, sink: Sink) -> None:
    for tier in policy.tiers:
        r = tier.resources
        if not r.swap and r.exclusive_cores is None and not r.memory.fixed:
            sink.warn(
                "W042",
                f"tier '{tier.name}' turns swap off with a memory range: every pod's memory request is raised to its limit",
                _at(tier, "Swap"),
                "only Burstable pods with memory request != limit swap, so `swap off` sets request = limit; size the range for limits, or write one fixed memory",
            )
        if r.exclusive_cores is not None and "Swap" in tier.where and r.swap:
            sink.warn(
                "W059",
                f"tier '{tier.name}' has exclusive cores, so its pods are Guaranteed and never swap",
                _at(tier, "Swap"),
                "remove `swap on`: it has no effect here",
            )


def preemption(policy: CompiledPolicy, sink: Sink) -> None:
    for tier in policy.tiers:
        if tier.priority.preemptible:
            continue
        above = [
            o
            for o in policy.tiers
            if o.priority.preempting and o.priority.value > tier.priority.value
        ]
        if above:
            names = ", ".join(f"'{o.name}' ({o.priority.value})" for o in above)
            sink.error(
                "E045",
                f"tier '{tier.name}' is non-preemptible, but preempting tier(s) {names} have a higher priority than its {tier.priority.value}",
                _at(tier, "Priority"),
                "the scheduler evicts lower-priority pods for higher ones with preemptionPolicy PreemptLowerPriority: raise this tier's priority, or make those tiers `non-preempting`",
            )


def quotas(policy: CompiledPolicy, sink: Sink) -> None:
    for t in policy.tenants:
        total = next((q for q in t.quotas if q.tier is None), None)
        for q in t.quotas:
            tier = policy.tier(q.tier) if q.tier else None
            for res in ("cpu", "memory", "pods", "ephemeral_storage"):
                amount = getattr(q, res)
                if amount is None:
                    continue
                where = t.where.get(f"quota:{q.tier or ''}:{res.replace('_', '-')}") or t.origin
                assert where is not None
                if (
                    total is not None
                    and q is not total
                    and getattr(total, res) is not None
                    and amount > getattr(total, res)
                ):
                    sink.error(
                        "E046",
                        f"tenant '{t.name}': the {res.replace('_', '-')} quota of tier '{q.tier}' exceeds the tenant's total",
                        where,
                        "a per-tier quota cannot exceed the namespace total, which binds first",
                    )
                if tier is not None and res in ("cpu", "memory"):
                    bound = getattr(tier.resources, res)
                    smallest = bound.min if bound.min is not None else bound.default
                    if smallest is not None and amount < smallest:
                        fmt = quantity.format_cpu if res == "cpu" else quantity.format_bytes
                        sink.error(
                            "E052",
                            f"tenant '{t.name}': the {res} quota of tier '{q.tier}' ({fmt(amount)}) is below one pod's smallest {res} ({fmt(smallest)})",
                            where,
                            "no pod of the tier could ever be admitted; raise the quota",
                        )


def scratch(policy: CompiledPolicy, sink: Sink) -> None:
    for tier in policy.tiers:
        r = tier.resources
        in_memory = sum(d.size for d in tier.scratch if d.medium == "memory")
        if in_memory and r.memory.max is not None and in_memory > r.memory.max:
            sink.error(
                "E047",
                f"tier '{tier.name}' has {quantity.format_bytes(in_memory)} of memory-backed scratch but a memory limit of at most {quantity.format_bytes(r.memory.max)}",
                _at(tier, "Scratch"),
                "files in a memory emptyDir count against the container's memory limit: the pod is OOM-killed before the scratch fills; use `disk` or raise memory",
            )
        on_disk = sum(d.size for d in tier.scratch if d.medium == "disk")
        eph = r.ephemeral_storage
        if on_disk and eph is not None and eph.max is not None and on_disk > eph.max:
            sink.error(
                "E048",
                f"tier '{tier.name}' has {quantity.format_bytes(on_disk)} of disk scratch but ephemeral storage of at most {quantity.format_bytes(eph.max)}",
                _at(tier, "Scratch"),
                "disk emptyDirs count against ephemeral storage: the kubelet evicts the pod before the scratch fills",
            )
        if tier.scratch and tier.security != "strict":
            sink.warn(
                "W049",
                f"tier '{tier.name}' declares scratch directories but its root filesystem is writable (`security {tier.security}`)",
                _at(tier, "Scratch"),
                "scratch is mounted only in containers with a read-only root filesystem; use `security strict`, or remove it",
            )


def shaping_targets(policy: CompiledPolicy, sink: Sink) -> None:
    keys = policy.cluster.bandwidth_keys
    for tier in policy.tiers:
        s = tier.shaping
        if s is None:
            continue
        where = _at(tier, "bandwidth", "burst", "packet-rate", "max-connections")
        if keys == "none":
            sink.warn(
                "W047",
                f"tier '{tier.name}' shapes traffic, but the cluster's CNI is `{policy.cluster.cni}`, which shapes nothing",
                where,
                "say which CNI runs with `cni calico version X.Y` (or cilium, bandwidth-plugin) in the cluster block",
            )
            continue
        if keys == "kubernetes":
            lost = [
                name
                for name, v in (
                    ("burst", s.ingress_burst or s.egress_burst),
                    ("packet-rate", s.ingress_packet_rate or s.egress_packet_rate),
                    ("max-connections", s.ingress_max_connections or s.egress_max_connections),
                )
                if v
            ]
            for name in lost:
                sink.warn(
                    "W048",
                    f"tier '{tier.name}': `{name}` cannot be expressed with the kubernetes.io/*-bandwidth annotations that `cni {policy.cluster.cni}` reads",
                    _at(tier, name),
                    "only Calico >= 3.30 (qos.projectcalico.org/*) shapes bursts, packet rates and connections; it is not emitted",
                )


def failure_policy(policy: CompiledPolicy, sink: Sink) -> None:
    if policy.cluster.failure_policy != "Ignore":
        return
    strict = [t.name for t in policy.tiers if t.security in ("restricted", "strict")]
    origin = next((t.origin for t in policy.tiers if t.origin is not None), None)
    if strict and origin is not None:
        sink.warn(
            "W058",
            f"`failure-policy ignore` admits pods unchanged while the webhook is down, so tiers {', '.join(strict)} are not enforced then",
            origin,
            "keep `failure-policy fail` for security guarantees; the webhook runs with 3 replicas and a PodDisruptionBudget",
        )


def mtls_reachability(policy: CompiledPolicy, sink: Sink) -> None:
    """A tenant whose tiers all require strict mTLS cannot accept plaintext from a tenant
    whose tiers all run without a mesh: the allow rule can never carry a connection."""
    for t in policy.tenants:
        tiers = [policy.tier(n) for n in t.tiers]
        if not tiers or not all(
            x is not None and x.mtls.mesh != "none" and x.mtls.mode == "strict" for x in tiers
        ):
            continue
        for rule in t.rules:
            if rule.direction != "ingress" or rule.peer != "tenant":
                continue
            for src in rule.names:
                other = policy.tenant(src)
                if other is None:
                    continue
                theirs = [policy.tier(n) for n in other.tiers]
                if (
                    theirs
                    and all(x is not None and x.mtls.mesh == "none" for x in theirs)
                    and rule.origin is not None
                ):
                    sink.error(
                        "E051",
                        f"tenant '{t.name}' allows ingress from tenant '{src}', but requires strict mTLS and '{src}' runs without a mesh",
                        rule.origin,
                        "strict PeerAuthentication refuses plaintext connections: give the source tenant a meshed tier, or use `permissive` mTLS",
                    )


PASSES: tuple[Pass, ...] = (
    namespace_overlap,
    sidecar_qos,
    sidecar_security,
    swap_with_range,
    preemption,
    quotas,
    scratch,
    shaping_targets,
    failure_policy,
    mtls_reachability,
)


def run(policy: CompiledPolicy, sink: Sink) -> None:
    for p in PASSES:
        p(policy, sink)
