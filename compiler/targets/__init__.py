"""Generators: the CompiledPolicy -> Kubernetes objects as plain dicts, one module per target.

Every target has the same shape, a `Target` with one `generate(policy) -> Generated`
method. Cluster-scoped ones (priorityclass, webhooks) are small classes; namespaced ones are
a function per tenant namespace (`for_namespace(policy, tenant, namespace, known)`) wrapped
in `PerNamespace`, so that `compiler.build` can also call them for one namespace.
`calico` holds the shaping annotations `mutate` writes (it emits no object).

    TARGETS: name -> (Options -> Target), in output order
    NAMESPACED: name -> for_namespace function, in output order

Diagnostics (warnings; a target never drops a feature silently):
    W070  a namespace glob expanded to the namespaces known at compile time
    W071  a namespace glob that matches no known namespace: the peer is left out
    W072  `as SA` not enforceable by NetworkPolicy for tiers without a mesh
    W073  a tenant quota repeated in each of the tenant's namespaces
    W074  a rule the mesh cannot mirror exactly (UDP/SCTP, too many ports, no port, CIDR + `as`)
"""

from __future__ import annotations

from collections.abc import Callable

from compiler.model import CompiledPolicy
from compiler.targets import (
    calico,
    istio,
    linkerd,
    namespaces,
    networkpolicy,
    priorityclass,
    quota,
    stamping,
    webhooks,
)
from compiler.targets.base import (
    Generated,
    Known,
    NamespaceFn,
    Obj,
    Options,
    PerNamespace,
    Target,
    merge,
    tenant_namespaces,
)
from compiler.targets.stamping import PLACEHOLDER, Plan, Template, TenantTemplates
from dsl.gc import paused_gc

__all__ = [
    "NAMESPACED",
    "PLACEHOLDER",
    "TARGETS",
    "Generated",
    "Known",
    "NamespaceFn",
    "Obj",
    "Options",
    "PerNamespace",
    "Plan",
    "Target",
    "Template",
    "TenantTemplates",
    "generate",
    "merge",
    "paused_gc",
    "plan",
    "tenant_namespaces",
]

NAMESPACED: dict[str, NamespaceFn] = {
    "quota": quota.for_namespace,
    "networkpolicy": networkpolicy.for_namespace,
    "istio": istio.for_namespace,
    "linkerd": linkerd.for_namespace,
}


def _namespaced(fn: NamespaceFn) -> Callable[[Options], Target]:
    return lambda options: PerNamespace(fn, options)


TARGETS: dict[str, Callable[[Options], Target]] = {
    "namespaces": _namespaced(namespaces.for_namespace),
    "priorityclass": priorityclass.PriorityClasses,
    **{name: _namespaced(fn) for name, fn in NAMESPACED.items()},
    "calico": lambda options: calico.ShapingTarget(),
    "webhooks": webhooks.Webhooks,
}


def plan(policy: CompiledPolicy, options: Options | None = None) -> Plan:
    """Every target's output, namespaced targets as per-tenant templates (`stamping`)."""
    opts = options or Options()
    with paused_gc():
        return stamping.plan(policy, {name: make(opts) for name, make in TARGETS.items()}, opts)


def generate(policy: CompiledPolicy, options: Options | None = None) -> Generated:
    """Run every target in order (see `compiler.build.generate_all`)."""
    return plan(policy, options).generated()
