"""The typed syntax tree: one frozen dataclass per statement, each with its source span.

Values stay as written (`Value.text`); the compiler parses quantities, checks ranges and
resolves names, so that every later error can still point at the text the user wrote.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from dsl.diagnostics import Span

_node = dataclass(frozen=True, slots=True, kw_only=True)


@_node
class Value:
    text: str
    span: Span
    quoted: bool = False


@_node
class Range:
    """`low..high`, either end may be open; or a single fixed value (low is high)."""

    low: Value | None
    high: Value | None
    span: Span

    @property
    def fixed(self) -> bool:
        return self.low is not None and self.low is self.high


@_node
class Selector:
    """A label requirement: `key = value`, `key in a, b`, `key not-in a, b`, `key exists`."""

    key: Value
    op: Literal["=", "in", "not-in", "exists", "not-exists"]
    values: tuple[Value, ...]
    span: Span


# --- the cluster block ------------------------------------------------------------------


@_node
class PolicyDecl:
    name: Value
    version: Value
    span: Span


@_node
class Governs:
    selectors: tuple[Selector, ...]
    span: Span


@_node
class ExcludeNamespaces:
    names: tuple[Value, ...]
    span: Span


@_node
class Cni:
    kind: Value  # calico | cilium | bandwidth-plugin | none
    version: Value | None
    span: Span


@_node
class MeshCni:
    meshes: tuple[Value, ...]  # istio | linkerd
    span: Span


@_node
class WebhookService:
    namespace: Value
    service: Value
    port: Value | None
    span: Span


@_node
class FailurePolicy:
    value: Value  # fail | ignore
    span: Span


@_node
class Timeout:
    value: Value  # seconds, e.g. 3s
    span: Span


# --- profile and tier statements --------------------------------------------------------


@_node
class Cpu:
    range: Range | None
    default: Value | None
    exclusive: Value | None
    span: Span


@_node
class Amount:
    """`memory` and `ephemeral-storage`: a range with a default, or a fixed value."""

    resource: Literal["memory", "ephemeral-storage"]
    range: Range
    default: Value | None
    span: Span


@_node
class Swap:
    enabled: bool
    span: Span


@_node
class Scratch:
    path: Value
    size: Value
    medium: Value | None  # disk | memory
    span: Span


Direction = Literal["ingress", "egress"]


@_node
class Shaping:
    """`bandwidth`, `burst`, `packet-rate`, `max-connections`: per direction."""

    what: Literal["bandwidth", "burst", "packet-rate", "max-connections"]
    ingress: Value | None
    egress: Value | None
    span: Span


@_node
class BandwidthExcess:
    action: Value  # lower | deny
    span: Span


@_node
class Threads:
    mode: Value  # match-cpu | unset
    span: Span


@_node
class Seed:
    mode: Value  # required | inject | off
    env: Value | None
    span: Span


@_node
class Images:
    mode: Value  # pinned | any
    span: Span


@_node
class Env:
    name: Value
    value: Value
    span: Span


@_node
class UseProfile:
    name: Value
    span: Span


@_node
class Priority:
    value: Value
    preempting: Value | None  # preempting | non-preempting
    preemptible: Value | None  # preemptible | non-preemptible
    span: Span


@_node
class Security:
    level: Value  # baseline | restricted | strict
    span: Span


@_node
class Mtls:
    mesh: Value  # none | istio-sidecar | istio-ambient | linkerd
    mode: Value | None  # strict | permissive
    span: Span


@_node
class RuntimeClass:
    name: Value
    span: Span


@_node
class NodeRule:
    """`require-node SELECTOR` or `prefer-node SELECTOR weight N`."""

    required: bool
    selector: Selector
    weight: Value | None
    span: Span


@_node
class Tolerate:
    selector: Selector  # = or exists
    effect: Value | None
    span: Span


@_node
class Spread:
    """`spread by LABEL across KEY` (topology spread) and `anti-affinity by LABEL across KEY`."""

    kind: Literal["spread", "anti-affinity"]
    label: Value
    topology: Value
    max_skew: Value | None
    hard: bool
    span: Span


@_node
class BlockIo:
    klass: Value
    span: Span


@_node
class ProxyResources:
    cpu: Value
    memory: Value
    span: Span


# --- tenant statements ------------------------------------------------------------------


@_node
class Namespaces:
    names: tuple[Value, ...]
    span: Span


@_node
class Tiers:
    names: tuple[Value, ...]
    span: Span


@_node
class DefaultTier:
    name: Value
    span: Span


@_node
class QuotaItem:
    resource: Value  # cpu | memory | pods | ephemeral-storage
    amount: Value
    span: Span


@_node
class Quota:
    tier: Value | None
    items: tuple[QuotaItem, ...]
    span: Span


@_node
class CostCenter:
    value: Value
    span: Span


@_node
class Label:
    key: Value
    value: Value
    span: Span


@_node
class PortSpec:
    protocol: Value  # tcp | udp | sctp
    port: Value
    end_port: Value | None
    span: Span


PeerKind = Literal["dns", "tenant", "namespace", "pods", "cidr"]


@_node
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


@_node
class Block:
    kind: BlockKind
    name: Value | None  # None for `cluster`
    statements: tuple[Statement, ...]
    span: Span


@_node
class Module:
    """One parsed file."""

    path: str
    policy: tuple[PolicyDecl, ...]
    blocks: tuple[Block, ...]
