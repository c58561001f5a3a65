"""The compiled policy: resolved, defaulted, parsed, frozen and target-neutral.

Every generator and the admission function read this, never the syntax tree. Quantities
are ints in base units (CPU in millicores, memory and storage in bytes, bandwidth in bit/s).
`origin` fields keep the source position for diagnostics; they are not part of the bundle
and do not take part in equality.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from typing import Literal

from compiler.globs import matches
from dsl.diagnostics import Span

Mesh = Literal["none", "istio-sidecar", "istio-ambient", "linkerd"]
MtlsMode = Literal["strict", "permissive"]
SecurityLevel = Literal["baseline", "restricted", "strict"]
Cni = Literal["calico", "cilium", "bandwidth-plugin", "none"]
BandwidthKeys = Literal["calico-qos", "kubernetes", "none"]
Operator = Literal["In", "NotIn", "Exists", "DoesNotExist"]
SeedMode = Literal["required", "inject", "off"]
Medium = Literal["disk", "memory"]
Protocol = Literal["TCP", "UDP", "SCTP"]
Direction = Literal["ingress", "egress"]
PeerKind = Literal["dns", "tenant", "namespace", "pods", "cidr"]

_origin = field(default=None, compare=False, repr=False)


@dataclass(frozen=True, slots=True, kw_only=True)
class Requirement:
    """A label requirement (Kubernetes `matchExpressions` semantics)."""

    key: str
    operator: Operator
    values: tuple[str, ...] = ()

    def matches(self, labels: dict[str, str]) -> bool:
        if self.operator == "Exists":
            return self.key in labels
        if self.operator == "DoesNotExist":
            return self.key not in labels
        if self.operator == "In":
            return labels.get(self.key) in self.values
        return labels.get(self.key) not in self.values


@dataclass(frozen=True, slots=True, kw_only=True)
class Bound:
    """A resource's allowed range and default, in base units; None means unbounded/unset."""

    min: int | None = None
    max: int | None = None
    default: int | None = None

    @property
    def fixed(self) -> bool:
        return self.min is not None and self.min == self.max

    def contains(self, value: int) -> bool:
        return (self.min is None or value >= self.min) and (self.max is None or value <= self.max)


@dataclass(frozen=True, slots=True, kw_only=True)
class Resources:
    cpu: Bound  # millicores
    memory: Bound  # bytes
    ephemeral_storage: Bound | None  # bytes
    exclusive_cores: int | None  # whole cores, requests == limits for cpu and memory
    swap: bool  # False: memory requests == limits (only Burstable pods with request != limit swap)


@dataclass(frozen=True, slots=True, kw_only=True)
class ScratchDir:
    volume: str  # the emptyDir volume name, derived from the path
    path: str
    size: int  # bytes
    medium: Medium


@dataclass(frozen=True, slots=True, kw_only=True)
class Shaping:
    """Network shaping; bandwidth and burst in bits, rates per second."""

    ingress_bandwidth: int | None = None
    egress_bandwidth: int | None = None
    ingress_burst: int | None = None
    egress_burst: int | None = None
    ingress_packet_rate: int | None = None
    egress_packet_rate: int | None = None
    ingress_max_connections: int | None = None
    egress_max_connections: int | None = None
    excess: Literal["lower", "deny"] = "deny"


@dataclass(frozen=True, slots=True, kw_only=True)
class Priority:
    class_name: str
    value: int
    preempting: bool  # PreemptLowerPriority, else Never
    preemptible: bool


@dataclass(frozen=True, slots=True, kw_only=True)
class Mtls:
    mesh: Mesh
    mode: MtlsMode


@dataclass(frozen=True, slots=True, kw_only=True)
class ProxyResources:
    cpu: int  # millicores, request == limit
    memory: int  # bytes, request == limit


@dataclass(frozen=True, slots=True, kw_only=True)
class NodePreference:
    requirement: Requirement
    weight: int


@dataclass(frozen=True, slots=True, kw_only=True)
class Toleration:
    key: str
    operator: Literal["Equal", "Exists"]
    value: str | None
    effect: Literal["NoSchedule", "PreferNoSchedule", "NoExecute"] | None


@dataclass(frozen=True, slots=True, kw_only=True)
class Spread:
    kind: Literal["spread", "anti-affinity"]
    label: str  # pod label key, e.g. a strategy family
    topology_key: str
    max_skew: int
    hard: bool


@dataclass(frozen=True, slots=True, kw_only=True)
class Tier:
    name: str
    resources: Resources
    scratch: tuple[ScratchDir, ...]
    shaping: Shaping | None
    threads: bool  # OMP/MKL/OpenBLAS/NumExpr thread counts = CPU limit
    seed: SeedMode
    seed_env: str
    pin_images: bool
    env: tuple[tuple[str, str], ...]
    priority: Priority
    security: SecurityLevel
    mtls: Mtls
    proxy: ProxyResources | None
    runtime_class: str | None
    node_required: tuple[Requirement, ...]
    node_preferred: tuple[NodePreference, ...]
    tolerations: tuple[Toleration, ...]
    spreads: tuple[Spread, ...]
    block_io: str | None
    origin: Span | None = _origin
    # where each setting is written ("Cpu", "memory", "Mtls", "Scratch", ...), for diagnostics
    where: dict[str, Span] = field(default_factory=dict, compare=False, repr=False)

    @property
    def read_only_root(self) -> bool:
        return self.security == "strict"


@dataclass(frozen=True, slots=True, kw_only=True)
class Port:
    protocol: Protocol
    port: int
    end_port: int | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class NetworkRule:
    direction: Direction
    peer: PeerKind
    names: tuple[str, ...] = ()  # tenants or namespaces (exact or glob), or CIDRs
    pods: tuple[Requirement, ...] = ()
    excepts: tuple[str, ...] = ()
    ports: tuple[Port, ...] = ()
    identities: tuple[str, ...] = ()  # service-account names; empty means any
    origin: Span | None = _origin


@dataclass(frozen=True, slots=True, kw_only=True)
class Quota:
    tier: str | None  # None: the whole tenant namespace
    cpu: int | None = None  # millicores
    memory: int | None = None  # bytes
    pods: int | None = None
    ephemeral_storage: int | None = None  # bytes


@dataclass(frozen=True, slots=True, kw_only=True)
class Tenant:
    name: str
    namespaces: tuple[str, ...]  # exact names
    globs: tuple[str, ...]  # patterns with '*'
    tiers: tuple[str, ...]
    default_tier: str
    quotas: tuple[Quota, ...]
    cost_center: str | None
    labels: tuple[tuple[str, str], ...]
    rules: tuple[NetworkRule, ...]
    origin: Span | None = _origin
    # where each namespace, tier and quota is written, for diagnostics
    where: dict[str, Span] = field(default_factory=dict, compare=False, repr=False)


@dataclass(frozen=True, slots=True, kw_only=True)
class Cluster:
    governs: tuple[Requirement, ...]  # pods matching all of these are governed
    excluded_namespaces: tuple[str, ...]  # never governed; system ones always included
    cni: Cni
    cni_version: str | None
    bandwidth_keys: BandwidthKeys
    mesh_cni: tuple[str, ...]  # meshes installed with their CNI plugin (no NET_ADMIN init)
    webhook_namespace: str
    webhook_service: str
    webhook_port: int
    failure_policy: Literal["Fail", "Ignore"]
    timeout_seconds: int


@dataclass(frozen=True, kw_only=True)  # no slots: the lookup indexes are cached per instance
class CompiledPolicy:
    name: str
    version: str
    cluster: Cluster
    tiers: tuple[Tier, ...]  # sorted by name
    tenants: tuple[Tenant, ...]  # sorted by name

    @cached_property
    def _tiers(self) -> dict[str, Tier]:
        return {t.name: t for t in self.tiers}

    @cached_property
    def _tenants(self) -> dict[str, Tenant]:
        return {t.name: t for t in self.tenants}

    @cached_property
    def _namespace_index(self) -> NamespaceIndex:
        return NamespaceIndex(self.tenants)

    def tier(self, name: str) -> Tier | None:
        return self._tiers.get(name)

    def tenant(self, name: str) -> Tenant | None:
        return self._tenants.get(name)

    def tenant_for_namespace(self, namespace: str) -> Tenant | None:
        """The tenant owning a namespace: an exact name wins over a glob."""
        if namespace in self.cluster.excluded_namespaces:
            return None
        return self._namespace_index.lookup(namespace)

    def governs(self, labels: dict[str, str]) -> bool:
        return all(r.matches(labels) for r in self.cluster.governs)


class NamespaceIndex:
    """Namespace -> tenant in time independent of the number of tenants.

    Exact names are a dict. Globs are indexed by their literal prefix (the text before the
    first '*'): a lookup tries each prefix of the name (namespaces are at most 63
    characters), then matches the few candidate globs.
    """

    def __init__(self, tenants: tuple[Tenant, ...]) -> None:
        self.exact: dict[str, Tenant] = {}
        self.by_prefix: dict[str, list[tuple[str, Tenant]]] = {}
        for t in tenants:
            for ns in t.namespaces:
                self.exact.setdefault(ns, t)
            for g in t.globs:
                self.by_prefix.setdefault(g.split("*", 1)[0], []).append((g, t))
        self.prefix_lengths = sorted({len(p) for p in self.by_prefix})

    def lookup(self, namespace: str) -> Tenant | None:
        hit = self.exact.get(namespace)
        if hit is not None:
            return hit
        for n in self.prefix_lengths:
            if n > len(namespace):
                break
            for glob, tenant in self.by_prefix.get(namespace[:n], ()):
                if matches(namespace, glob):
                    return tenant
        return None
