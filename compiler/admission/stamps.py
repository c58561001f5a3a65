"""Provenance stamps: who the pod belongs to, under which tier and bundle, by which rules.

The labels `hermetic.io/tenant`, `hermetic.io/tier` and `hermetic.io/cost-center` are
hermetic's: the namespace decides the tenant, so a pod claiming another tenant (or cost
center) is corrected, with a warning, rather than denied: the claim gains nothing and the
pod is otherwise fine. The tier label is the tier applied (the one the pod asked for, or
the tenant's default; an empty label counts as none).

`hermetic.io/rules` lists the rules applied, sorted. It is rewritten only when this call
changes something else (then it is the union of the rules already recorded and those that
fired now), so that reinvocation on an admitted pod yields an empty patch.
"""

from __future__ import annotations

from compiler.admission.context import Ctx, q
from compiler.admission.rules import known
from compiler.labels import COST_CENTER, DIGEST, RULES, TENANT, TIER

LABELS, ANNOTATIONS = ("metadata", "labels"), ("metadata", "annotations")


def apply(ctx: Ctx) -> tuple[str, ...]:
    """Write the stamps; the rules applied (recorded and new), sorted."""
    _label(ctx, TENANT, ctx.tenant.name, "stamp.tenant")
    _label(ctx, TIER, ctx.tier.name, "stamp.tier")
    if ctx.tenant.cost_center is not None:
        _label(ctx, COST_CENTER, ctx.tenant.cost_center, "stamp.cost-center")
    what = "the pod does not record the policy bundle that admitted it"
    ctx.put_meta("annotations", DIGEST, ctx.digest, "stamp.digest", what)
    recorded = ctx.annotations.get(RULES)
    rules = known(recorded) if isinstance(recorded, str) else set()
    if ctx.fired:
        rules.update(ctx.fired)
    ordered = sorted(rules)  # sorted once: for the annotation and the decision
    if ctx.fired:
        ctx.meta["annotations"][RULES] = ",".join(ordered)
    ctx.flush()
    return tuple(ordered)


def _label(ctx: Ctx, key: str, value: str, rule: str) -> None:
    old = ctx.labels.get(key)
    what = f"the pod's label {key} is not {value}"
    if ctx.put_meta("labels", key, value, rule, what) and old is not None:
        ctx.warn(f"hermetic: label {key} set to {value} (was {q(old)}): it is hermetic's")
