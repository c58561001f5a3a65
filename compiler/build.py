"""Everything a policy compiles to, for the CLI, the bundle and `hermetic sync`.

    generate_all(policy, namespaces) -> Generated     every object, every diagnostic
    plan_all(policy, namespaces) -> Plan              the same, namespaced objects as templates
    bundle_for(policy, namespaces=()) -> dict         the webhook's bundle with templates
    bundle_of(plan) -> dict                           the same, from a plan
    namespace_objects(policy, tenant, namespace)      what one tenant namespace needs
    namespace_labels / namespace_annotations(policy, tenant)

`namespaces` lists the namespaces that exist (e.g. `kubectl get ns -o name`): the ones a
tenant owns through a glob get objects too, and namespace globs in allow rules are expanded
against it (W070/W071). The bundle's templates are the objects of one namespace of each
tenant with `metadata.namespace` = `bundle.NAMESPACE_PLACEHOLDER`; the placeholder can also
appear inside values that name the namespace (mesh identities of `pods` peers), so whoever
instantiates a template substitutes it in every string.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from compiler import bundle
from compiler.model import CompiledPolicy, Tenant
from compiler.targets import (
    NAMESPACED,
    Generated,
    Known,
    Options,
    Plan,
    generate,
    merge,
    paused_gc,
    plan,
)
from compiler.targets import namespaces as namespace_target


def _tenant(policy: CompiledPolicy, tenant: Tenant | str) -> Tenant:
    if isinstance(tenant, Tenant):
        return tenant
    found = policy.tenant(tenant)
    if found is None:
        raise KeyError(f"no tenant '{tenant}' in policy {policy.name}")
    return found


def namespace_labels(policy: CompiledPolicy, tenant: Tenant | str) -> dict[str, str]:
    """The labels every namespace of the tenant carries (tenant, cost center, PSS, mesh)."""
    return namespace_target.labels_for(policy, _tenant(policy, tenant))


def namespace_annotations(policy: CompiledPolicy, tenant: Tenant | str) -> dict[str, str]:
    """The annotations every namespace of the tenant carries (Linkerd injection)."""
    return namespace_target.annotations_for(policy, _tenant(policy, tenant))


def namespace_generated(
    policy: CompiledPolicy, tenant: Tenant | str, namespace: str, known: Known | None = None
) -> Generated:
    """`namespace_objects` with the diagnostics."""
    t = _tenant(policy, tenant)
    k = known if known is not None else Known()
    return merge(fn(policy, t, namespace, k) for fn in NAMESPACED.values())


def namespace_objects(
    policy: CompiledPolicy,
    tenant: Tenant | str,
    namespace: str,
    namespaces: Sequence[str] = (),
) -> list[dict[str, Any]]:
    """Every object a namespace of this tenant needs (quotas, LimitRange, NetworkPolicies,
    mTLS objects), not the Namespace itself. `namespaces`: existing namespaces, for globs."""
    return list(namespace_generated(policy, tenant, namespace, Known(namespaces)).objects)


def templates(
    policy: CompiledPolicy, namespaces: Sequence[str] = ()
) -> dict[str, list[dict[str, Any]]]:
    """Per tenant, the objects of one namespace, at `bundle.NAMESPACE_PLACEHOLDER`."""
    known = Known(namespaces)
    with paused_gc():
        return {
            t.name: list(
                namespace_generated(policy, t, bundle.NAMESPACE_PLACEHOLDER, known).objects
            )
            for t in policy.tenants
        }


def bundle_for(policy: CompiledPolicy, namespaces: Sequence[str] = ()) -> dict[str, Any]:
    """The webhook's bundle: the policy and the per-tenant namespace templates."""
    return bundle.build(policy, templates=templates(policy, namespaces))


def bundle_of(plan: Plan) -> dict[str, Any]:
    """`bundle_for` the plan's policy and namespaces, from the templates the plan holds."""
    names = tuple(NAMESPACED)
    return bundle.build(plan.policy, {tt.tenant.name: tt.objects(names) for tt in plan.tenants})


def plan_all(
    policy: CompiledPolicy, namespaces: Sequence[str], *, webhook_url: str | None = None
) -> Plan:
    """What `generate_all` generates, with each namespaced target run once per tenant
    (see `compiler.targets.stamping`): `hermetic compile` renders from it."""
    return plan(policy, Options(namespaces=tuple(namespaces), webhook_url=webhook_url))


def generate_all(
    policy: CompiledPolicy, namespaces: Sequence[str], *, webhook_url: str | None = None
) -> Generated:
    """Every object of every target for every tenant: exact namespaces plus those of
    `namespaces` a tenant owns through a glob. Linear in tenants and namespaces."""
    return generate(policy, Options(namespaces=tuple(namespaces), webhook_url=webhook_url))
