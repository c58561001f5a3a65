"""UPDATE of a Pod: most of a pod's spec is immutable, so hermetic patches nothing.

What an update can still change is checked on stamped pods: hermetic's labels must keep
naming the pod's tenant, tier and cost center (NetworkPolicies and quotas select on them),
and images (mutable in place) stay pinned in tiers that pin them. Pods without the bundle
stamp were admitted before hermetic governed them and pass with a warning, and so does a
pod being deleted, so that removing a finalizer never wedges. Controllers' templates are
mutable: their UPDATE gets the full decision, like CREATE.
"""

from __future__ import annotations

from typing import Any, Final

from compiler.admission import engine, environment
from compiler.admission.context import Ctx
from compiler.admission.engine import Subject
from compiler.decision import Decision
from compiler.labels import DIGEST

PREDATES: Final = "hermetic: the pod predates hermetic (no bundle stamp); update not checked"


def exempt(pod: dict[str, Any]) -> bool:
    """A pod being deleted, or admitted before hermetic governed it (no bundle stamp)."""
    meta = pod.get("metadata")
    if not isinstance(meta, dict):
        return False
    annotations = meta.get("annotations")
    stamped = isinstance(annotations, dict) and annotations.get(DIGEST)
    return bool(meta.get("deletionTimestamp")) or not stamped


def exempted(s: Subject) -> Decision:
    meta = s.obj.get("metadata")
    deleting = isinstance(meta, dict) and meta.get("deletionTimestamp")
    warnings = () if deleting else (PREDATES,)
    tier = s.tier.name if s.tier is not None else None
    return Decision(allowed=True, warnings=warnings, tenant=s.tenant.name, tier=tier, governed=True)


def decide(ctx: Ctx) -> Decision:
    """The decision on an UPDATE of a stamped pod that is not being deleted."""
    for rule, problem, path in engine.stamp_problems(ctx):
        if rule != "stamp.digest":
            fix = "put it back: the label is hermetic's and set at admission"
            ctx.deny("update.stamps", f"the update sets {problem}", fix, path)
    environment.images(ctx)
    if ctx.denials:
        return engine.decide(ctx)
    return _allowed(ctx)


def _allowed(ctx: Ctx) -> Decision:
    return Decision(
        allowed=True,
        warnings=tuple(ctx.warnings),
        tenant=ctx.tenant.name,
        tier=ctx.tier.name,
        governed=True,
    )
