"""Environment: thread counts, the tier's variables and the seed; pinned images.

Each variable is added to a container (app or init) only when the container does not set
it already (by value or valueFrom): a user's value always wins. Thread counts are the
container's CPU limit rounded down, at least 1, so that BLAS and OpenMP pools match the
cores the container may use. Mesh proxies are left alone.
"""

from __future__ import annotations

import re
from typing import Any, Final

from compiler.admission.context import Container, Ctx, obj, q, seq
from compiler.admission.resources import quantity

THREAD_VARS: Final = (
    "OMP_NUM_THREADS",
    "MKL_NUM_THREADS",
    "OPENBLAS_NUM_THREADS",
    "NUMEXPR_NUM_THREADS",
    "NUMEXPR_MAX_THREADS",  # numexpr caps NUM_THREADS at MAX_THREADS: keep them equal
)
PINNED: Final = re.compile(r"@sha256:[0-9a-f]{64}$")


def apply(ctx: Ctx, seed: str | None) -> None:
    for c in ctx.containers():
        if not c.mesh:
            _container(ctx, c, seed)


def _container(ctx: Ctx, c: Container, seed: str | None) -> None:
    env = seq(c.body, "env", c.full)
    have = set()
    for e in env:
        if isinstance(e, dict) and isinstance(name := e.get("name"), str):
            have.add(name)
    tier = ctx.tier
    new: list[tuple[str, str, str]] = []  # (name, value, rule)
    if tier.threads:
        threads = _threads(c)
        if threads is not None:
            for name in THREAD_VARS:
                if name not in have:
                    new.append((name, threads, "env.threads"))
    for name, value in tier.env:
        if name not in have:
            new.append((name, value, "env.tier"))
    if seed is not None and tier.seed_env not in have:
        new.append((tier.seed_env, seed, "seed.record"))
    if not new:
        return
    if not env:
        entries = [{"name": n, "value": v} for n, v, _ in new]
        ctx.put(c.body, "env", entries, new[0][2], f"{c.label} lacks {new[0][0]}")
        for n, _, rule in new[1:]:
            ctx.note(rule, f"{c.label} lacks {n}", (*c.path, "env"))
        return
    added = [({"name": n, "value": v}, rule, f"{c.label} lacks {n}") for n, v, rule in new]
    ctx.add(c.body, "env", added)


def _threads(c: Container) -> str | None:
    """The thread count for the container's CPU limit (rounded down, at least 1)."""
    res = obj(c.body, "resources", c.full)
    limit = quantity("cpu", obj(res, "limits", (*c.full, "resources")).get("cpu"))
    return None if limit is None else str(max(1, limit // 1000))


def images(ctx: Ctx) -> None:
    """Deny images without a digest in tiers that pin images (mesh proxies excepted)."""
    if not ctx.tier.pin_images:
        return
    for c in ctx.containers(ephemeral=True):
        image: Any = c.body.get("image")
        if c.mesh or (isinstance(image, str) and PINNED.search(image)):
            continue
        subject = f"{c.label} uses image {q(image)} without a digest"
        fix = (
            f"pin it as NAME@sha256:<digest>: tier {ctx.tier.name} pins images so that "
            "backtests can be rerun"
        )
        ctx.deny("images.pinned", subject, fix, (*c.path, "image"))
