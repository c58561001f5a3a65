"""The typed syntax tree: one frozen dataclass per statement, each with its source span.

Values stay as written (`Value.text`); the compiler parses quantities, checks ranges and
resolves names, so that every later error can still point at the text the user wrote.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from dsl.diagnostics import Span


@dataclass(frozen=True, slots=True, kw_only=True)
class Value:
    text: str
    span: Span
    quoted: bool = False


@dataclass(frozen=True, slots=True, kw_only=True)
class Range:
    """`low..high`, either end may be open; or a single fixed value (low is high)."""

    low: Value | None
    high: Value | None
    span: Span

    @property
    def fixed(self) -> bool:
        return self.low is not None and self.low is self.high


@dataclass(frozen=True, slots=True, kw_only=True)
class Selector:
    """A label requirement: `key = value`, `key in a, b`, `key not-in a, b`, `key exists`."""

    key: Value
    op: Literal["=", "in", "not-in", "exists", "not-exists"]
    values: tuple[Value, ...]
    span: Span


# --- the cluster block ------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class PolicyDecl:
    name: Value
    version: Value
    span: Span


@dataclass(frozen=True, slots=True, kw_only=True)
class Governs:
    selectors: tuple[Selector, ...]
    span: Span


@dataclass(frozen=True, slots=True, kw_only=True)
class ExcludeNamespaces:
    names: tuple[Value, ...]
    span: Span


@dataclass(frozen=True, slots=True, kw_only=True)
class Cni:
    kind: Value  # calico | cilium | bandwidth-plugin | none
    version: Value | None
    span: Span


@dataclass(frozen=True, slots=True, kw_only=True)
class MeshCni:
    meshes: tuple[Value, ...]  # istio | linkerd
    span: Span


@dataclass(frozen=True, slots=True, kw_only=True)
class WebhookService:
    namespace: Value
    service: Value
    port: Value | None
    span: Span


@dataclass(frozen=True, slots=True, kw_only=True)
class FailurePolicy:
    value: Value  # fail | ignore
    span: Span


@dataclass(frozen=True, slots=True, kw_only=True)
class Timeout:
    value: Value  # seconds, e.g. 3s
    span: Span


# --- profile and tier statements --------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class Cpu:
    range: Range | None
    default: Value | None
    exclusive: Value | None
    span: Span


@dataclass(frozen=True, slots=True, kw_only=True)
class Amount:
    """`memory` and `ephemeral-storage`: a range with a default, or a fixed value."""

    resource: Literal["memory", "ephemeral-storage"]
    range: Range
    default: Value | None
    span: Span


@dataclass(frozen=True, slots=True, kw_only=True)
class Swap:
    enabled: bool
    span: Span


@dataclass(frozen=True, slots=True, kw_only=True)
class Scratch:
    path: Value
    size: Value
    medium: Value | None  # disk | memory
    span: Span


Direction = Literal["ingress", "egress"]


@dataclass(frozen=True, slots=True, kw_only=True)
class Shaping:
    """`bandwidth`, `burst`, `packet-rate`, `max-connections`: per direction."""

    what: Literal["bandwidth", "burst", "packet-rate", "max-connections"]
    ingress: Value | None
    egress: Value | None
    span: Span


@dataclass(frozen=True, slots=True, kw_only=True)
class BandwidthExcess:
    action: Value  # lower | deny
    span: Span


@dataclass(frozen=True, slots=True, kw_only=True)
class Threads:
    mode: Value  # match-cpu | unset
    span: Span


@dataclass(frozen=True, slots=True, kw_only=True)
class Seed:
    mode: Value  # required | inject | off
    env: Value | None
    span: Span


@dataclass(frozen=True, slots=True, kw_only=True)
class Images:
    mode: Value  # pinned | any
    span: Span


@dataclass(frozen=True, slots=True, kw_only=True)
class Env:
    name: Value
    value: Value
    span: Span


@dataclass(frozen=True, slots=True, kw_only=True)
class UseProfile:
    name: Value
    span: Span


@dataclass(frozen=True, slots=True, kw_only=True)
class Priority:
    value: Value
    preempting: Value | None  # preempting | non-preempting
    preemptible: Value | None  # preemptible | non-preemptible
    span: Span


@dataclass(frozen=True, slots=True, kw_only=True)
class Security:
    level: Value  # baseline | restricted | strict
    span: Span


@dataclass(frozen=True, slots=True, kw_only=True)
class Mtls:
    mesh: Value  # none | istio-sidecar | istio-ambient | linkerd
    mode: Value | None  # strict | permissive
    span: Span


@dataclass(frozen=True, slots=True, kw_only=True)
class RuntimeClass:
    name: Value
    span: Span


@dataclass(frozen=True, slots=True, kw_only=True)
class NodeRule:
    """`require-node SELECTOR` or `prefer-node SELECTOR weight N`."""

    required: bool
    selector: Selector
    weight: Value | None
    span: Span


@dataclass(frozen=True, slots=True, kw_only=True)
class Tolerate:
    selector: Selector  # = or exists
    effect: Value | None
    span: Span


@dataclass(frozen=True, slots=True, kw_only=True)
class Spread:
    """`spread by LABEL across KEY` (topology spread) and `anti-affinity by LABEL across KEY`."""

    kind: Literal["spread", "anti-affinity"]
    label: Value
    topology: Value
    max_skew: Value | None
    hard: bool
    span: Span


@dataclass(frozen=True, slots=True, kw_only=True)
class BlockIo:
    klass: Value
    span: Span


@dataclass(frozen=True, slots=True, kw_only=True)
class ProxyResources:
    cpu: Value
    memory: Value
    span: Span


# --- tenant statements ------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class Namespaces:
    names: tuple[Value, ...]
    span: Span


@dataclass(frozen=True, slots=True, kw_only=True)
class Tiers:
    names: tuple[Value, ...]
    span: Span


@dataclass(frozen=True, slots=True, kw_only=True)
class DefaultTier:
    name: Value
    span: Span


@dataclass(frozen=True, slots=True, kw_only=True)
class QuotaItem:
    resource: Value  # cpu | memory | pods | ephemeral-storage
    amount: Value
    span: Span


@dataclass(frozen=True, slots=True, kw_only=True)
class Quota:
    tier: Value | None
    items: tuple[QuotaItem, ...]
    span: Span


@dataclass(frozen=True, slots=True, kw_only=True)
class CostCenter:
    value: Value
    span: Span


@dataclass(frozen=True, slots=True, kw_only=True)
class Label:
    key: Value
    value: Value
    span: Span


@dataclass(frozen=True, slots=True, kw_only=True)
class PortSpec:
    protocol: Value  # tcp | udp | sctp
    port: Value
    end_port: Value | None
    span: Span


PeerKind = Literal["dns", "tenant", "namespace", "pods", "cidr"]


@dataclass(frozen=True, slots=True, kw_only=True)
class Allow:
    direction: Direction
    peer: PeerKind
    names: tuple[Value, ...]  # tenant / namespace names, or CIDRs
    pods: tuple[Selector, ...]  # pod selector (for `pods`, or `namespace ... pods ...`)
    excepts: tuple[Value, ...]
    ports: tuple[PortSpec, ...]
    identities: tuple[Value, ...]  # service accounts allowed by mTLS identity
    span: Span


Statement = (
    Governs
    | ExcludeNamespaces
    | Cni
    | MeshCni
    | WebhookService
    | FailurePolicy
    | Timeout
    | Cpu
    | Amount
    | Swap
    | Scratch
    | Shaping
    | BandwidthExcess
    | Threads
    | Seed
    | Images
    | Env
    | UseProfile
    | Priority
    | Security
    | Mtls
    | RuntimeClass
    | NodeRule
    | Tolerate
    | Spread
    | BlockIo
    | ProxyResources
    | Namespaces
    | Tiers
    | DefaultTier
    | Quota
    | CostCenter
    | Label
    | Allow
)

BlockKind = Literal["cluster", "profile", "tier", "tenant"]


@dataclass(frozen=True, slots=True, kw_only=True)
class Block:
    kind: BlockKind
    name: Value | None  # None for `cluster`
    statements: tuple[Statement, ...]
    span: Span


@dataclass(frozen=True, slots=True, kw_only=True)
class Module:
    """One parsed file."""

    path: str
    policy: tuple[PolicyDecl, ...]
    blocks: tuple[Block, ...]
