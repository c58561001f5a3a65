"""Desired vs. actual -> actions. Pure: no I/O, no clock; every input is an argument.

    plan(namespaces, desired, actual, available, remembered) -> Plan

- A declared object that is missing is created; one whose digest annotation differs from the
  compiled object's is updated (the policy changed); one whose declared fields differ is
  updated too (drift: someone edited it), unless its `resourceVersion` is the one the
  controller last saw after applying it (the server normalises values, e.g. quantities, so
  a byte-wise comparison alone would re-apply forever). Otherwise: no-op.
- An object labelled `app.kubernetes.io/managed-by=hermetic` that nothing declares is
  deleted — only in namespaces that exist and are not frozen (exempt or terminating), and
  only objects that carry the label (the caller lists by label; this checks it again).
- A namespace gets the tenant's labels and annotations; labels and annotations hermetic
  applied before and no longer declares (a tenant removed, a label dropped) are removed by
  applying the namespace's metadata without them (server-side apply drops fields its
  manager stops declaring).
- Kinds that are not `available` (a CRD not installed, a list that failed) are skipped:
  nothing of theirs is applied or deleted until they are.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from compiler.labels import MANAGED_BY, MANAGER
from webhook.sync.desired import OBJECT_DIGEST, Namespace, Want
from webhook.sync.kinds import Key, Kind, Obj


@dataclass(frozen=True, slots=True, kw_only=True)
class Apply:
    """Server-side apply of a declared object."""

    key: Key
    body: Obj
    reason: Literal["create", "update", "drift"]


@dataclass(frozen=True, slots=True, kw_only=True)
class Delete:
    """Delete a hermetic-managed object nothing declares any more."""

    key: Key
    reason: Literal["undeclared"] = "undeclared"


@dataclass(frozen=True, slots=True, kw_only=True)
class LabelNamespace:
    """Server-side apply of a namespace's labels and annotations (all of hermetic's)."""

    name: str
    labels: Mapping[str, str]
    annotations: Mapping[str, str]
    reason: Literal["label", "unlabel"]


@dataclass(frozen=True, slots=True, kw_only=True)
class Noop:
    """The object is as declared; `resource_version` is what the controller remembers."""

    key: Key
    resource_version: str


Action = Apply | Delete | LabelNamespace | Noop


@dataclass(frozen=True, slots=True)
class Plan:
    """Actions in a stable order: namespaces first, then applies, deletes and no-ops."""

    actions: tuple[Action, ...] = ()
    skipped: frozenset[Kind] = field(default_factory=frozenset)  # wanted but unavailable

    def changes(self) -> tuple[Action, ...]:
        """The actions that write (everything but no-ops)."""
        return tuple(a for a in self.actions if not isinstance(a, Noop))


def contains(actual: Any, wanted: Any) -> bool:
    """Whether `actual` has every field of `wanted` with the same value. Lists must have the
    same length (hermetic's lists are atomic or keyed: an extra rule is drift too)."""
    if isinstance(wanted, dict):
        return isinstance(actual, dict) and all(
            k in actual and contains(actual[k], v) for k, v in wanted.items()
        )
    if isinstance(wanted, list):
        return (
            isinstance(actual, list)
            and len(actual) == len(wanted)
            and all(contains(a, w) for a, w in zip(actual, wanted, strict=True))
        )
    return bool(actual == wanted)


def _meta(obj: Obj) -> dict[str, Any]:
    meta = obj.get("metadata")
    return meta if isinstance(meta, dict) else {}


def _object_action(key: Key, body: Obj, have: Obj | None, remembered: str | None) -> Action:
    if have is None:
        return Apply(key=key, body=body, reason="create")
    have_digest = (_meta(have).get("annotations") or {}).get(OBJECT_DIGEST)
    if have_digest != body["metadata"]["annotations"][OBJECT_DIGEST]:
        return Apply(key=key, body=body, reason="update")
    version = str(_meta(have).get("resourceVersion", ""))
    if (remembered is not None and remembered == version) or contains(have, body):
        return Noop(key=key, resource_version=version)
    return Apply(key=key, body=body, reason="drift")


def namespace_action(ns: Namespace, want: Want | None) -> LabelNamespace | None:
    """The label/annotation apply a namespace needs, or None."""
    labels = dict(want.labels) if want else {}
    notes = dict(want.annotations) if want else {}
    stale = bool(ns.owned_labels - labels.keys() or ns.owned_annotations - notes.keys())
    missing = any(ns.labels.get(k) != v for k, v in labels.items()) or any(
        ns.annotations.get(k) != v for k, v in notes.items()
    )
    if not (stale or missing):
        return None
    reason: Literal["label", "unlabel"] = "label" if want is not None else "unlabel"
    return LabelNamespace(name=ns.name, labels=labels, annotations=notes, reason=reason)


def _managed(obj: Obj) -> bool:
    return (_meta(obj).get("labels") or {}).get(MANAGED_BY) == MANAGER


def plan(
    namespaces: Iterable[Namespace],
    desired: Mapping[str, Want],
    actual: Mapping[Key, Obj],
    available: Iterable[Kind],
    remembered: Mapping[Key, str] | None = None,
) -> Plan:
    """Everything to do so that the cluster matches `desired` (see the module docstring)."""
    usable, seen = frozenset(available), remembered or {}
    live = {ns.name: ns for ns in namespaces}
    labels: list[Action] = []
    for ns in sorted(live.values(), key=lambda n: n.name):
        action = None if ns.frozen else namespace_action(ns, desired.get(ns.name))
        if action is not None:
            labels.append(action)
    objects: list[Action] = []
    skipped: set[Kind] = set()
    declared: set[Key] = set()
    for name in sorted(desired):
        if name not in live or live[name].frozen:
            continue
        for key, body in sorted(desired[name].objects.items()):
            declared.add(key)
            if key.kind not in usable:
                skipped.add(key.kind)
                continue
            objects.append(_object_action(key, body, actual.get(key), seen.get(key)))
    deletes: list[Action] = [
        Delete(key=key)
        for key, obj in sorted(actual.items())
        if key not in declared
        and key.kind in usable
        and _managed(obj)
        and key.namespace in live
        and not live[key.namespace].frozen
    ]
    writes = [a for a in objects if isinstance(a, Apply)]
    noops = [a for a in objects if isinstance(a, Noop)]
    return Plan(actions=(*labels, *writes, *deletes, *noops), skipped=frozenset(skipped))
