"""ResourceQuota and LimitRange (v1) for each tenant namespace.

- `hermetic-tenant`: the tenant's total quota (`requests.*` and `limits.*` of cpu, memory and
  ephemeral storage, and `pods`). A ResourceQuota binds one namespace, so a tenant with
  several namespaces gets the whole amount in each (W073).
- `hermetic-tier-<tier>`: a per-tier quota, scoped to the tier's PriorityClass.
- `hermetic-disallowed-tiers`: `pods: 0` for the PriorityClasses of tiers the tenant may not
  use, so that no pod (governed or not) borrows another tier's priority.
- `hermetic-defaults`, a LimitRange of type Container. A LimitRange applies to every
  container of every pod in the namespace, whatever its tier, so:
  - defaults are the default tier's (`defaultRequest` = the tier's defaults; `default`, the
    limit, equal to it for exclusive cores and for memory with swap off, where request ==
    limit, else the tier's maximum so that a pod that asks for more than the default
    request is not given a lower limit);
  - `max` is the largest maximum among the tenant's tiers, and only for a resource that every
    one of them bounds: a smaller max would refuse pods of a bigger tier;
  - no `min`: a per-container minimum also binds injected mesh proxies, init containers and
    ungoverned pods (istio-proxy asks 128Mi, under any tier minimum here), and would make
    them inadmissible. Tier minimums are per pod, which the webhook enforces.
"""

from __future__ import annotations

from compiler.model import Bound, CompiledPolicy, Quota, Tenant, Tier
from compiler.quantity import format_bytes, format_cpu
from compiler.targets.base import Generated, Known, Obj, meta, span_of, tiers_of
from dsl.diagnostics import Diagnostic, warning

_RESOURCES = (("cpu", format_cpu), ("memory", format_bytes), ("ephemeral-storage", format_bytes))


def for_namespace(
    policy: CompiledPolicy, tenant: Tenant, namespace: str, known: Known
) -> Generated:
    """The ResourceQuotas and the LimitRange of one tenant namespace."""
    objects = [_quota(policy, q, namespace) for q in tenant.quotas]
    disallowed = [t.priority.class_name for t in policy.tiers if t.name not in tenant.tiers]
    if disallowed:
        objects.append(_disallowed(policy, disallowed, namespace))
    limits = _limit_range(policy, tenant, namespace)
    if limits is not None:
        objects.append(limits)
    return Generated(tuple(objects), _per_namespace(tenant))


def hard(q: Quota) -> dict[str, str]:
    """`spec.hard` of one quota."""
    out: dict[str, str] = {}
    for kind, value, fmt in (
        ("cpu", q.cpu, format_cpu),
        ("memory", q.memory, format_bytes),
        ("ephemeral-storage", q.ephemeral_storage, format_bytes),
    ):
        if value is not None:
            out[f"requests.{kind}"] = out[f"limits.{kind}"] = fmt(value)
    if q.pods is not None:
        out["pods"] = str(q.pods)
    return out


def _scope(class_names: list[str]) -> Obj:
    expr = {"scopeName": "PriorityClass", "operator": "In", "values": sorted(class_names)}
    return {"matchExpressions": [expr]}


def _quota(policy: CompiledPolicy, q: Quota, namespace: str) -> Obj:
    spec: Obj = {"hard": hard(q)}
    name = "hermetic-tenant"
    if q.tier is not None:
        tier = policy.tier(q.tier)
        spec["scopeSelector"] = _scope([tier.priority.class_name if tier else q.tier])
        name = f"hermetic-tier-{q.tier}"
    return _object(policy, "ResourceQuota", name, namespace, spec)


def _disallowed(policy: CompiledPolicy, class_names: list[str], namespace: str) -> Obj:
    spec = {"hard": {"pods": "0"}, "scopeSelector": _scope(class_names)}
    return _object(policy, "ResourceQuota", "hermetic-disallowed-tiers", namespace, spec)


def _bound(tier: Tier, resource: str) -> Bound | None:
    r = tier.resources
    return {"cpu": r.cpu, "memory": r.memory, "ephemeral-storage": r.ephemeral_storage}[resource]


def _limit_range(policy: CompiledPolicy, tenant: Tenant, namespace: str) -> Obj | None:
    tiers = tiers_of(policy, tenant)
    home = policy.tier(tenant.default_tier)
    item: dict[str, Obj] = {"defaultRequest": {}, "default": {}, "max": {}}
    for resource, fmt in _RESOURCES:
        b = _bound(home, resource) if home is not None else None
        if home is not None and b is not None and b.default is not None:
            item["defaultRequest"][resource] = fmt(b.default)
            item["default"][resource] = fmt(_default_limit(home, resource, b))
        maxima = [m.max if (m := _bound(t, resource)) is not None else None for t in tiers]
        if maxima and all(m is not None for m in maxima):
            item["max"][resource] = fmt(max(m for m in maxima if m is not None))
    spec_item: Obj = {"type": "Container", **{k: v for k, v in item.items() if v}}
    if len(spec_item) == 1:
        return None
    return _object(policy, "LimitRange", "hermetic-defaults", namespace, {"limits": [spec_item]})


def _default_limit(tier: Tier, resource: str, b: Bound) -> int:
    assert b.default is not None
    pinned = tier.resources.exclusive_cores is not None and resource in ("cpu", "memory")
    if pinned or (resource == "memory" and not tier.resources.swap) or b.max is None:
        return b.default
    return b.max


def _per_namespace(tenant: Tenant) -> tuple[Diagnostic, ...]:
    if not tenant.quotas or (len(tenant.namespaces) <= 1 and not tenant.globs):
        return ()
    q = tenant.quotas[0]
    return (
        warning(
            "W073",
            f"tenant '{tenant.name}' has several namespaces, but a ResourceQuota binds one "
            "namespace: each of them gets the whole quota",
            span_of(tenant.where.get(f"quota:{q.tier or ''}"), tenant.origin),
            "the tenant-wide sum is not enforced; divide the quota, or give the tenant one "
            "namespace",
        ),
    )


def _object(policy: CompiledPolicy, kind: str, name: str, namespace: str, spec: Obj) -> Obj:
    return {
        "apiVersion": "v1",
        "kind": kind,
        "metadata": meta(policy, name, namespace),
        "spec": spec,
    }
