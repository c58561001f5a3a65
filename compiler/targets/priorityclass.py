"""PriorityClass (scheduling.k8s.io/v1, cluster-scoped): one per tier, `hermetic-<tier>`.

The webhook sets `priorityClassName` on governed pods; quota.py scopes per-tier quotas by
these names. None is the global default: ungoverned pods keep the cluster's default.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from compiler.model import CompiledPolicy, Tier
from compiler.targets.base import Generated, Obj, Options, meta


def priority_class(policy: CompiledPolicy, tier: Tier) -> Obj:
    """The PriorityClass of one tier."""
    p = tier.priority
    preempt = "PreemptLowerPriority" if p.preempting else "Never"
    who = "preempts lower-priority pods" if p.preempting else "never preempts"
    victim = "may be preempted" if p.preemptible else "is not preempted by other hermetic tiers"
    return {
        "apiVersion": "scheduling.k8s.io/v1",
        "kind": "PriorityClass",
        "metadata": meta(policy, p.class_name),
        "value": p.value,
        "globalDefault": False,
        "preemptionPolicy": preempt,
        "description": f"hermetic tier {tier.name} (policy {policy.name}): {who}, {victim}",
    }


@dataclass(frozen=True, slots=True)
class PriorityClasses:
    """The target: one PriorityClass per tier, in tier order."""

    options: Options = field(default_factory=Options)

    def generate(self, policy: CompiledPolicy) -> Generated:
        return Generated(tuple(priority_class(policy, t) for t in policy.tiers))
