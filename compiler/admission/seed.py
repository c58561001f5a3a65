"""The backtest's random seed: kept, required or injected, and recorded twice.

A pod carries a seed when a container has the tier's seed variable (tier.seed_env) or the
pod has the `hermetic.io/seed` annotation; one seed is then written to both places (every
container and the annotation), and two different seeds are denied.

`inject` derives the seed from the request: sha256 of namespace, pod name (or generateName)
and the request uid, as a 32-bit decimal (NumPy's legacy seeding takes at most 2**32 - 1).
The same request gives the same seed, and reinvocation keeps the seed the first call wrote.
`hermetic mutate` has no request uid, so its preview seed is that of namespace and name
only; pods created from one generateName get distinct seeds in the cluster but share one in
the preview.

Pod templates (Deployments, Jobs, ...) get no injected seed: each pod gets its own when it
is admitted. A template in a `seed required` tier must carry one (its pods would be denied).
"""

from __future__ import annotations

import hashlib

from compiler.admission.context import Ctx, q, seq
from compiler.labels import SEED


def derive(namespace: str, name: str, uid: str) -> str:
    digest = hashlib.sha256(f"{namespace}\x00{name}\x00{uid}".encode()).digest()
    return str(int.from_bytes(digest[:4], "big"))


def _carried(ctx: Ctx) -> tuple[set[str], bool]:
    """The literal seed values the pod carries, and whether a container reads one from elsewhere."""
    values: set[str] = set()
    opaque = False
    annotation = ctx.annotations.get(SEED)
    if isinstance(annotation, str) and annotation:
        values.add(annotation)
    for c in ctx.containers():
        for e in seq(c.body, "env", c.full):
            if isinstance(e, dict) and e.get("name") == ctx.tier.seed_env:
                if isinstance(e.get("value"), str):
                    values.add(e["value"])
                else:
                    opaque = True
    return values, opaque


def apply(ctx: Ctx) -> str | None:
    """The seed to record in every container, if any."""
    tier = ctx.tier
    if tier.seed == "off":
        return None
    values, opaque = _carried(ctx)
    if len(values) > 1:
        seeds = ", ".join(q(v) for v in sorted(values))
        fix = f"use one seed in env {tier.seed_env} and annotation {SEED}"
        ctx.deny("seed.conflict", f"the pod carries different seeds ({seeds})", fix)
        return None
    if values:
        (value,) = values
        return _record(ctx, value, "seed.record")
    if opaque:
        return None
    if tier.seed == "required":
        fix = (
            f"set env {tier.seed_env} on the containers or annotation {SEED}: tier {tier.name} "
            "requires reproducible backtests"
        )
        ctx.deny("seed.required", "the pod carries no seed", fix, ("metadata", "annotations"))
        return None
    if ctx.template:
        return None
    meta = ctx.mapping(("metadata",))
    name = meta.get("name") or meta.get("generateName") or ""
    return _record(ctx, derive(ctx.namespace, str(name), ctx.uid), "seed.inject")


def _record(ctx: Ctx, value: str, rule: str) -> str:
    ctx.put_meta("annotations", SEED, value, rule, f"the pod's seed is not recorded in {SEED}")
    return value
