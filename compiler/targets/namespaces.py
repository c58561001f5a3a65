"""Namespace manifests for tenant namespaces, with the labels hermetic relies on.

- `hermetic.io/tenant=<tenant>`: the webhook's namespaceSelector and other tenants'
  NetworkPolicies select tenant namespaces by it. Plus `hermetic.io/cost-center` and the
  tenant's own `label`s.
- Mesh injection only when every tier the tenant may use agrees on the mesh
  (`istio-injection: enabled`, `istio.io/dataplane-mode: ambient`, or the annotation
  `linkerd.io/inject: enabled`); otherwise the webhook opts each pod in, and the namespace
  gets none, so that no pod is meshed against its tier.
- Pod Security Admission: `enforce` is the weakest level among the tenant's tiers (PSS has no
  `strict`: it maps to `restricted`, the rest is the webhook's), so that no tier's pods are
  refused by PSA; `warn` and `audit` are the strongest, so that gaps are visible.

Namespaces carry no `app.kubernetes.io/managed-by` label: pruning by that label must never
delete a tenant namespace and everything in it.
"""

from __future__ import annotations

from compiler.labels import COST_CENTER, TENANT
from compiler.model import CompiledPolicy, Tenant, Tier
from compiler.targets.base import Generated, Known, Obj, tiers_of

PSS = "pod-security.kubernetes.io"
_LEVEL = {"baseline": "baseline", "restricted": "restricted", "strict": "restricted"}
_STRENGTH = {"baseline": 0, "restricted": 1}
_MESH_LABEL = {
    "istio-sidecar": ("istio-injection", "enabled"),
    "istio-ambient": ("istio.io/dataplane-mode", "ambient"),
}
LINKERD_INJECT = "linkerd.io/inject"


def _common_mesh(tiers: list[Tier]) -> str | None:
    meshes = {t.mtls.mesh for t in tiers}
    return meshes.pop() if len(meshes) == 1 else None


def labels_for(policy: CompiledPolicy, tenant: Tenant) -> dict[str, str]:
    """The labels every namespace of this tenant carries."""
    tiers = tiers_of(policy, tenant)
    out = {TENANT: tenant.name}
    if tenant.cost_center is not None:
        out[COST_CENTER] = tenant.cost_center
    out.update(tenant.labels)
    levels = sorted({_LEVEL[t.security] for t in tiers}, key=_STRENGTH.__getitem__)
    if levels:
        out[f"{PSS}/enforce"] = levels[0]
        out[f"{PSS}/warn"] = out[f"{PSS}/audit"] = levels[-1]
    mesh = _common_mesh(tiers)
    if mesh in _MESH_LABEL:
        key, value = _MESH_LABEL[mesh]
        out[key] = value
    return out


def annotations_for(policy: CompiledPolicy, tenant: Tenant) -> dict[str, str]:
    """The annotations every namespace of this tenant carries (Linkerd injection)."""
    if _common_mesh(tiers_of(policy, tenant)) == "linkerd":
        return {LINKERD_INJECT: "enabled"}
    return {}


def for_namespace(
    policy: CompiledPolicy, tenant: Tenant, namespace: str, known: Known
) -> Generated:
    """The Namespace object of one tenant namespace."""
    metadata: Obj = {"name": namespace, "labels": labels_for(policy, tenant)}
    notes = annotations_for(policy, tenant)
    if notes:
        metadata["annotations"] = notes
    return Generated(({"apiVersion": "v1", "kind": "Namespace", "metadata": metadata},))
