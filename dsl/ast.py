"""The typed syntax tree: one immutable node per statement, each with its source span.

Values stay as written (`Value.text`); the compiler parses quantities, checks ranges and
resolves names, so that every later error can still point at the text the user wrote.

The nodes are NamedTuples rather than frozen dataclasses: a large policy has over 100,000 of
them (mostly `Value`s), and a tuple is several times cheaper to construct. As with any
tuples, nodes of two types with equal fields compare equal: tell nodes apart with
`isinstance`, as the compiler does, never with `==`.
"""

from __future__ import annotations

from typing import Literal, NamedTuple

from dsl.diagnostics import Span

_new = tuple.__new__  # builds a NamedTuple without its keyword-argument constructor


class Value(NamedTuple):
    """A word or string as written. A value never spans lines: its position is kept inline,
    and `span` is made when asked for (most values are read without ever needing one)."""

    text: str
    path: str
    line: int
    column: int
    end_column: int
    quoted: bool = False

    @property
    def span(self) -> Span:
        return _new(Span, (self.path, self.line, self.column, self.line, self.end_column))

    @classmethod
    def at(cls, text: str, span: Span, quoted: bool = False) -> Value:
        """The value `text`, written at `span` (which is on one line)."""
        return cls(text, span.path, span.line, span.column, span.end_column, quoted)


class Range(NamedTuple):
    """`low..high`, either end may be open; or a single fixed value (low is high)."""

    low: Value | None
    high: Value | None
    span: Span

    @property
    def fixed(self) -> bool:
        return self.low is not None and self.low is self.high


class Selector(NamedTuple):
    """A label requirement: `key = value`, `key in a, b`, `key not-in a, b`, `key exists`."""

    key: Value
    op: Literal["=", "in", "not-in", "exists", "not-exists"]
    values: tuple[Value, ...]
    span: Span


# --- the cluster block ------------------------------------------------------------------


class PolicyDecl(NamedTuple):
    name: Value
    version: Value
    span: Span


class Governs(NamedTuple):
    selectors: tuple[Selector, ...]
    span: Span


class ExcludeNamespaces(NamedTuple):
    names: tuple[Value, ...]
    span: Span


class Cni(NamedTuple):
    kind: Value  # calico | cilium | bandwidth-plugin | none
    version: Value | None
    span: Span


class MeshCni(NamedTuple):
    meshes: tuple[Value, ...]  # istio | linkerd
    span: Span


class WebhookService(NamedTuple):
    namespace: Value
    service: Value
    port: Value | None
    span: Span


class FailurePolicy(NamedTuple):
    value: Value  # fail | ignore
    span: Span


class Timeout(NamedTuple):
    value: Value  # seconds, e.g. 3s
    span: Span


# --- profile and tier statements --------------------------------------------------------


class Cpu(NamedTuple):
    range: Range | None
    default: Value | None
    exclusive: Value | None
    span: Span


class Amount(NamedTuple):
    """`memory` and `ephemeral-storage`: a range with a default, or a fixed value."""

    resource: Literal["memory", "ephemeral-storage"]
    range: Range
    default: Value | None
    span: Span


class Swap(NamedTuple):
    enabled: bool
    span: Span


class Scratch(NamedTuple):
    path: Value
    size: Value
    medium: Value | None  # disk | memory
    span: Span


Direction = Literal["ingress", "egress"]


class Shaping(NamedTuple):
    """`bandwidth`, `burst`, `packet-rate`, `max-connections`: per direction."""

    what: Literal["bandwidth", "burst", "packet-rate", "max-connections"]
    ingress: Value | None
    egress: Value | None
    span: Span


class BandwidthExcess(NamedTuple):
    action: Value  # lower | deny
    span: Span


class Threads(NamedTuple):
    mode: Value  # match-cpu | unset
    span: Span


class Seed(NamedTuple):
    mode: Value  # required | inject | off
    env: Value | None
    span: Span


class Images(NamedTuple):
    mode: Value  # pinned | any
    span: Span


class Env(NamedTuple):
    name: Value
    value: Value
    span: Span


class UseProfile(NamedTuple):
    name: Value
    span: Span


class Priority(NamedTuple):
    value: Value
    preempting: Value | None  # preempting | non-preempting
    preemptible: Value | None  # preemptible | non-preemptible
    span: Span


class Security(NamedTuple):
    level: Value  # baseline | restricted | strict
    span: Span


class Mtls(NamedTuple):
    mesh: Value  # none | istio-sidecar | istio-ambient | linkerd
    mode: Value | None  # strict | permissive
    span: Span


class RuntimeClass(NamedTuple):
    name: Value
    span: Span


class NodeRule(NamedTuple):
    """`require-node SELECTOR` or `prefer-node SELECTOR weight N`."""

    required: bool
    selector: Selector
    weight: Value | None
    span: Span


class Tolerate(NamedTuple):
    selector: Selector  # = or exists
    effect: Value | None
    span: Span


class Spread(NamedTuple):
    """`spread by LABEL across KEY` (topology spread) and `anti-affinity by LABEL across KEY`."""

    kind: Literal["spread", "anti-affinity"]
    label: Value
    topology: Value
    max_skew: Value | None
    hard: bool
    span: Span


class BlockIo(NamedTuple):
    klass: Value
    span: Span


class ProxyResources(NamedTuple):
    cpu: Value
    memory: Value
    span: Span


# --- tenant statements ------------------------------------------------------------------


class Namespaces(NamedTuple):
    names: tuple[Value, ...]
    span: Span


class Tiers(NamedTuple):
    names: tuple[Value, ...]
    span: Span


class DefaultTier(NamedTuple):
    name: Value
    span: Span


class QuotaItem(NamedTuple):
    resource: Value  # cpu | memory | pods | ephemeral-storage
    amount: Value
    span: Span


class Quota(NamedTuple):
    tier: Value | None
    items: tuple[QuotaItem, ...]
    span: Span


class CostCenter(NamedTuple):
    value: Value
    span: Span


class Label(NamedTuple):
    key: Value
    value: Value
    span: Span


class PortSpec(NamedTuple):
    protocol: Value  # tcp | udp | sctp
    port: Value
    end_port: Value | None
    span: Span


PeerKind = Literal["dns", "tenant", "namespace", "pods", "cidr"]


class Allow(NamedTuple):
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


class Block(NamedTuple):
    kind: BlockKind
    name: Value | None  # None for `cluster`
    statements: tuple[Statement, ...]
    span: Span


class Module(NamedTuple):
    """One parsed file."""

    path: str
    policy: tuple[PolicyDecl, ...]
    blocks: tuple[Block, ...]
