"""What `mutate` precomputes once per policy object: the bundle digest and, per tier, the
JSON fragments it writes (node terms, tolerations, annotations, volumes, formatted defaults).

Keyed by the policy object's identity, not its value: hashing a CompiledPolicy walks every
tenant, which would make each call cost O(tenants). A weak reference drops the entry when
the policy is garbage collected (the webhook swaps policies on reload).
"""

from __future__ import annotations

import weakref
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, Final

from compiler import bundle
from compiler.model import BandwidthKeys, CompiledPolicy, Requirement, Tier
from compiler.quantity import format_bytes, format_cpu, parse
from compiler.targets.calico import shaping_annotations

BLOCK_IO: Final = "blockio.resources.beta.kubernetes.io/pod"
MESH_CONTAINERS: Final = {
    "istio-sidecar": frozenset({"istio-proxy", "istio-init", "istio-validation"}),
    "linkerd": frozenset({"linkerd-proxy", "linkerd-init", "linkerd-network-validator"}),
}


def expression(r: Requirement) -> dict[str, Any]:
    """A Kubernetes matchExpression; Exists/DoesNotExist take no values."""
    out: dict[str, Any] = {"key": r.key, "operator": r.operator}
    if r.operator in ("In", "NotIn"):
        out["values"] = list(r.values)
    return out


@dataclass(frozen=True, slots=True)
class Fragments:
    """JSON objects a tier writes: `items` to compare with what a pod has (shared: never
    written), and `fresh()` for the copies to write. Flat objects are copied with `copy()`;
    nested ones by a recursive copy of their dicts and lists that shares the (immutable)
    strings: compiled, it takes a third of the instructions of `marshal.loads` of a copy,
    which builds every string anew."""

    items: tuple[dict[str, Any], ...]
    flat: bool  # no item holds a dict or a list

    @classmethod
    def of(cls, items: Iterable[dict[str, Any]]) -> Fragments:
        shared = tuple(items)
        return cls(shared, all(type(v) not in (dict, list) for i in shared for v in i.values()))

    def fresh(self) -> list[dict[str, Any]]:
        if self.flat:
            return [item.copy() for item in self.items]
        return [_copy_dict(item) for item in self.items]


def _copy_dict(value: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in value.items():
        t = type(v)
        out[k] = _copy_dict(v) if t is dict else _copy_list(v) if t is list else v
    return out


def _copy_list(value: list[Any]) -> list[Any]:
    out: list[Any] = []
    for v in value:
        t = type(v)
        out.append(_copy_dict(v) if t is dict else _copy_list(v) if t is list else v)
    return out


@dataclass(frozen=True, slots=True)
class Shape:
    key: str  # the annotation
    value: str  # the tier's value, as written on the pod
    limit: int  # the same, as a number, for comparing a user's value
    missing: str  # the problem its absence is, for `validate`


@dataclass(frozen=True, slots=True)
class TierData:
    """One tier's fragments, ready to write (copied before writing: they are shared)."""

    defaults: dict[str, str | None]  # cpu, memory, ephemeral-storage -> default quantity
    node_expressions: Fragments
    node_preferences: Fragments
    tolerations: Fragments
    shaping: tuple[Shape, ...]
    mesh_containers: frozenset[str]
    scratch_volumes: Fragments
    preemption_policy: str
    # What passes derive from the tier alone, filled on first use (resources: the Want of
    # each (mesh proxy?, resource name)); the dict is mutable, the fields are not.
    memo: dict[Any, Any] = field(default_factory=dict, compare=False, repr=False)


def _tier_data(tier: Tier, keys: BandwidthKeys) -> TierData:
    r = tier.resources
    eph = r.ephemeral_storage
    prefs = (
        {"weight": p.weight, "preference": {"matchExpressions": [expression(p.requirement)]}}
        for p in tier.node_preferred
    )
    tolerations = []
    for t in tier.tolerations:
        tol: dict[str, Any] = {"key": t.key, "operator": t.operator}
        if t.value is not None:
            tol["value"] = t.value
        if t.effect is not None:
            tol["effect"] = t.effect
        tolerations.append(tol)
    shaping = tuple(
        Shape(k, v, _number(v), f"the pod has no {k} annotation")
        for k, v in sorted(shaping_annotations(tier, keys).items())
    )
    volumes = (
        {
            "name": d.volume,
            "emptyDir": {"sizeLimit": format_bytes(d.size)}
            | ({"medium": "Memory"} if d.medium == "memory" else {}),
        }
        for d in tier.scratch
    )
    return TierData(
        defaults={
            "cpu": format_cpu(r.cpu.default) if r.cpu.default is not None else None,
            "memory": format_bytes(r.memory.default) if r.memory.default is not None else None,
            "ephemeral-storage": format_bytes(eph.default)
            if eph is not None and eph.default is not None
            else None,
        },
        node_expressions=Fragments.of(expression(x) for x in tier.node_required),
        node_preferences=Fragments.of(prefs),
        tolerations=Fragments.of(tolerations),
        shaping=shaping,
        mesh_containers=MESH_CONTAINERS.get(tier.mtls.mesh, frozenset()),
        scratch_volumes=Fragments.of(volumes),
        preemption_policy="PreemptLowerPriority" if tier.priority.preempting else "Never",
    )


def _number(value: str) -> int:
    return int(parse(value))


class PolicyCache:
    __slots__ = ("_digest", "_policy", "tiers")

    def __init__(self, policy: CompiledPolicy) -> None:
        keys = policy.cluster.bandwidth_keys
        self.tiers = {t.name: _tier_data(t, keys) for t in policy.tiers}
        self._policy = weakref.ref(policy)
        self._digest: str | None = None

    def digest(self) -> str:
        """The digest of the policy's bundle; computed once (it serialises the whole policy)."""
        if self._digest is None:
            policy = self._policy()
            assert policy is not None
            self._digest = bundle.digest_for(policy)
        return self._digest


_CACHE: Final[dict[int, tuple[weakref.ref[CompiledPolicy], PolicyCache]]] = {}


def for_policy(policy: CompiledPolicy) -> PolicyCache:
    """The cache of this policy object, built on first use."""
    key = id(policy)
    hit = _CACHE.get(key)
    if hit is not None and hit[0]() is policy:
        return hit[1]
    cache = PolicyCache(policy)
    _CACHE[key] = (weakref.ref(policy), cache)
    weakref.finalize(policy, _drop, key)
    return cache


def _drop(key: int) -> None:
    hit = _CACHE.get(key)
    if hit is not None and hit[0]() is None:
        del _CACHE[key]
