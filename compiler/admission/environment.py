"""Environment: thread counts, the tier's variables and the seed; pinned images.

Each variable is added to a container (app or init) only when the container does not set
it already (by value or valueFrom): a user's value always wins. Thread counts are the
container's CPU limit rounded down, at least 1, so that BLAS and OpenMP pools match the
cores the container may use. Mesh proxies are left alone.
"""

from __future__ import annotations

import re
from typing import Any

from compiler.admission.context import APP, EPHEMERAL, INIT, Container, Ctx, obj, q, seq
from compiler.admission.resources import quantity

THREAD_VARS = (
    "OMP_NUM_THREADS",
    "MKL_NUM_THREADS",
    "OPENBLAS_NUM_THREADS",
    "NUMEXPR_NUM_THREADS",
    "NUMEXPR_MAX_THREADS",  # numexpr caps NUM_THREADS at MAX_THREADS: keep them equal
)
PINNED = re.compile(r"@sha256:[0-9a-f]{64}$")


def apply(ctx: Ctx, seed: str | None) -> None:
    for c in ctx.containers(APP, INIT):
        if not c.mesh:
            _container(ctx, c, seed)


def _container(ctx: Ctx, c: Container, seed: str | None) -> None:
    env = seq(c.body, "env", c.full)
    have = {e.get("name") for e in env if isinstance(e, dict) and isinstance(e.get("name"), str)}
    add: list[tuple[str, str, str]] = []
    if ctx.tier.threads:
        res = obj(c.body, "resources", c.full)
        limit = quantity("cpu", obj(res, "limits", (*c.full, "resources")).get("cpu"))
        if limit is not None:
            n = str(max(1, limit // 1000))
            add += [(v, n, "env.threads") for v in THREAD_VARS]
    add += [(k, v, "env.tier") for k, v in ctx.tier.env]
    if seed is not None:
        add.append((ctx.tier.seed_env, seed, "seed.record"))
    new = [(name, value, rule) for name, value, rule in add if name not in have]
    if not new:
        return
    path = (*c.path, "env")
    if not env:
        entries = [{"name": n, "value": v} for n, v, _ in new]
        ctx.set(path, entries, new[0][2], f"{c.label} lacks {new[0][0]}")
        for n, _, rule in new[1:]:
            ctx.note(rule, f"{c.label} lacks {n}", path)
        return
    added = [({"name": n, "value": v}, rule, f"{c.label} lacks {n}") for n, v, rule in new]
    ctx.extend(path, added)


def images(ctx: Ctx) -> None:
    """Deny images without a digest in tiers that pin images (mesh proxies excepted)."""
    if not ctx.tier.pin_images:
        return
    for c in ctx.containers(APP, INIT, EPHEMERAL):
        image: Any = c.body.get("image")
        if c.mesh or (isinstance(image, str) and PINNED.search(image)):
            continue
        subject = f"{c.label} uses image {q(image)} without a digest"
        fix = (
            f"pin it as NAME@sha256:<digest>: tier {ctx.tier.name} pins images so that "
            "backtests can be rerun"
        )
        ctx.deny("images.pinned", subject, fix, (*c.path, "image"))
