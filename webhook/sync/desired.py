"""What the cluster should hold, from the policy and the namespaces that exist. Pure.

A namespace is *managed* when a tenant owns it (`policy.tenant_for_namespace`: exact name or
glob; excluded namespaces never), it is not a system namespace or the webhook's own, and it
is not *frozen*. Frozen namespaces — labelled `hermetic.io/exempt` (any value: the same test
as the webhook's namespaceSelector) or being deleted — are left completely alone: nothing is
applied, labelled or deleted there, so that an operator can take one out of hermetic in an
emergency and edit its objects by hand without the controller undoing it.

Each desired object carries the annotation `hermetic.io/object-digest` (sha256 of its compiled
form), so that a changed policy is recognised even where it only removes fields.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Final, Protocol

from compiler.build import namespace_annotations, namespace_generated, namespace_labels
from compiler.labels import DOMAIN, EXEMPT, MANAGER, SYSTEM_NAMESPACES
from compiler.model import CompiledPolicy, Tenant
from compiler.targets import Known
from webhook.sync.kinds import Key, Kind, Obj, key_of, kind_of

OBJECT_DIGEST: Final = f"{DOMAIN}/object-digest"
FIELD_MANAGER: Final = MANAGER


@dataclass(frozen=True, slots=True, kw_only=True)
class Namespace:
    """What the controller needs of a live Namespace."""

    name: str
    labels: Mapping[str, str] = field(default_factory=dict)
    annotations: Mapping[str, str] = field(default_factory=dict)
    terminating: bool = False
    owned_labels: frozenset[str] = frozenset()  # label keys hermetic's apply owns
    owned_annotations: frozenset[str] = frozenset()

    @property
    def exempt(self) -> bool:
        return EXEMPT in self.labels

    @property
    def frozen(self) -> bool:
        return self.exempt or self.terminating


@dataclass(frozen=True, slots=True, kw_only=True)
class Want:
    """One managed namespace: its tenant, the labels and annotations hermetic sets, its objects."""

    tenant: str
    labels: Mapping[str, str]
    annotations: Mapping[str, str]
    objects: Mapping[Key, Obj]


class Builder(Protocol):
    """How a tenant namespace's labels and objects are compiled (`compiler.build`)."""

    def labels(self, policy: CompiledPolicy, tenant: Tenant) -> dict[str, str]: ...

    def annotations(self, policy: CompiledPolicy, tenant: Tenant) -> dict[str, str]: ...

    def objects(
        self, policy: CompiledPolicy, tenant: Tenant, namespace: str, known: Known
    ) -> Iterable[Obj]: ...


class CompilerBuilder:
    """The real builder: `compiler.build`."""

    def labels(self, policy: CompiledPolicy, tenant: Tenant) -> dict[str, str]:
        return namespace_labels(policy, tenant)

    def annotations(self, policy: CompiledPolicy, tenant: Tenant) -> dict[str, str]:
        return namespace_annotations(policy, tenant)

    def objects(
        self, policy: CompiledPolicy, tenant: Tenant, namespace: str, known: Known
    ) -> Iterable[Obj]:
        return namespace_generated(policy, tenant, namespace, known).objects


def namespace_from(obj: Obj) -> Namespace:
    """A live Namespace object (a dict as the API returns it) as the controller sees it."""
    meta = obj.get("metadata") or {}
    return Namespace(
        name=str(meta.get("name", "")),
        labels=dict(meta.get("labels") or {}),
        annotations=dict(meta.get("annotations") or {}),
        terminating=bool(meta.get("deletionTimestamp"))
        or (obj.get("status") or {}).get("phase") == "Terminating",
        owned_labels=owned_keys(meta, "labels"),
        owned_annotations=owned_keys(meta, "annotations"),
    )


def owned_keys(meta: Mapping[str, Any], what: str) -> frozenset[str]:
    """The keys of `metadata.<what>` owned by hermetic's server-side apply (managedFields)."""
    keys: set[str] = set()
    for entry in meta.get("managedFields") or ():
        if entry.get("manager") != FIELD_MANAGER or entry.get("operation") != "Apply":
            continue
        fields = ((entry.get("fieldsV1") or {}).get("f:metadata") or {}).get(f"f:{what}") or {}
        keys.update(k[2:] for k in fields if k.startswith("f:"))
    return frozenset(keys)


def digest(obj: Obj) -> str:
    """The digest of a compiled object (sorted-key JSON), as stamped on the applied object."""
    text = json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return "sha256:" + hashlib.sha256(text.encode()).hexdigest()


def stamp(obj: Obj) -> Obj:
    """A copy of `obj` with its digest annotation."""
    meta = dict(obj.get("metadata") or {})
    meta["annotations"] = {**(meta.get("annotations") or {}), OBJECT_DIGEST: digest(obj)}
    return {**obj, "metadata": meta}


def never_managed(policy: CompiledPolicy) -> frozenset[str]:
    """Namespaces hermetic never touches, whatever a glob says."""
    return frozenset((*SYSTEM_NAMESPACES, policy.cluster.webhook_namespace))


def desired_state(
    policy: CompiledPolicy,
    namespaces: Iterable[Namespace],
    builder: Builder | None = None,
) -> tuple[dict[str, Want], set[str]]:
    """Per managed namespace, what it should hold; plus the `apiVersion/kind`s the compiler
    emitted that hermetic sync does not manage (the caller logs them)."""
    build = builder or CompilerBuilder()
    live = list(namespaces)
    known = Known(n.name for n in live)
    never = never_managed(policy)
    out: dict[str, Want] = {}
    unmanaged: set[str] = set()
    for ns in live:
        tenant = policy.tenant_for_namespace(ns.name)
        if tenant is None or ns.frozen or ns.name in never:
            continue
        objects: dict[Key, Obj] = {}
        for obj in build.objects(policy, tenant, ns.name, known):
            kind = kind_of(obj)
            if kind is None:
                unmanaged.add(f"{obj.get('apiVersion')}/{obj.get('kind')}")
                continue
            objects[key_of(obj, kind)] = stamp(obj)
        labels, notes = build.labels(policy, tenant), build.annotations(policy, tenant)
        out[ns.name] = Want(tenant=tenant.name, labels=labels, annotations=notes, objects=objects)
    return out, unmanaged


def kinds_wanted(desired: Mapping[str, Want]) -> set[Kind]:
    """Every kind some desired object has."""
    return {key.kind for want in desired.values() for key in want.objects}
