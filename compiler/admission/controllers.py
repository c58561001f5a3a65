"""Where the pod is: a Pod itself, or the pod template of a workload controller.

The same decision applies to a template as to a pod (patch paths carry the template's
prefix), so that `kubectl apply` of a Deployment or CronJob shows a denial at once instead
of failing later, silently, in ReplicaSet or Job events.
"""

from __future__ import annotations

from typing import Any, Final

from compiler.admission.patch import Path

_TEMPLATE: Final = ("spec", "template")
# kind -> (API groups it may come from, path of the pod template; () for a Pod)
KINDS: Final[dict[str, tuple[frozenset[str], Path]]] = {
    "Pod": (frozenset({""}), ()),
    "PodTemplate": (frozenset({""}), ("template",)),
    "ReplicationController": (frozenset({""}), _TEMPLATE),
    "Deployment": (frozenset({"apps", "extensions"}), _TEMPLATE),
    "ReplicaSet": (frozenset({"apps", "extensions"}), _TEMPLATE),
    "StatefulSet": (frozenset({"apps"}), _TEMPLATE),
    "DaemonSet": (frozenset({"apps", "extensions"}), _TEMPLATE),
    "Job": (frozenset({"batch"}), _TEMPLATE),
    "CronJob": (frozenset({"batch"}), ("spec", "jobTemplate", "spec", "template")),
}


def template_path(obj: dict[str, Any]) -> Path | None:
    """The path of the object's pod ((), for a Pod), or None for any other kind."""
    kind = obj.get("kind")
    hit = KINDS.get(kind) if isinstance(kind, str) else None
    if hit is None:
        return None
    groups, path = hit
    api = obj.get("apiVersion")
    if isinstance(api, str) and (api.rpartition("/")[0] if "/" in api else "") not in groups:
        return None  # a custom resource that reuses a built-in kind name
    return path
