"""Scratch directories: the tier's emptyDir volumes, mounted where the root is read-only.

A container with a read-only root filesystem (after the security pass) gets each of the
tier's scratch directories mounted at its path. A container that already mounts something
at that path keeps its own mount (the user chose that storage deliberately; a warning says
the tier's scratch was not added there). The volume is added only when some container
mounts it. A user volume that has the scratch volume's name but another definition is
denied: hermetic cannot rename the user's volume, and clobbering it would lose data.
"""

from __future__ import annotations

import posixpath
from typing import Any, Final

from compiler.admission.context import Ctx, q, seq

VOLUMES: Final = ("spec", "volumes")


def _at(mounts: list[Any], path: str) -> dict[str, Any] | None:
    for m in mounts:
        if not isinstance(m, dict):
            continue
        where = m.get("mountPath")
        if isinstance(where, str) and where and posixpath.normpath(where) == path:
            return m
    return None


def _read_only(body: dict[str, Any]) -> bool:
    sc = body.get("securityContext")
    return isinstance(sc, dict) and sc.get("readOnlyRootFilesystem") is True


def apply(ctx: Ctx) -> None:
    scratch = ctx.tier.scratch
    if not scratch:
        return
    used: set[str] = set()
    for c in ctx.containers():
        mounts = seq(c.body, "volumeMounts", c.full)
        for m in mounts:
            if isinstance(m, dict) and isinstance(n := m.get("name"), str):
                used.add(n)
        if c.mesh or not _read_only(c.body):
            continue
        add = []
        for d in scratch:
            hit = _at(mounts, d.path) if mounts else None
            if hit is None:
                what = f"{c.label} has a read-only root but nothing writable at {d.path}"
                add.append(({"name": d.volume, "mountPath": d.path}, "scratch.mount", what))
                used.add(d.volume)
            elif hit.get("name") != d.volume:
                ctx.warn(
                    f"hermetic: {c.label} mounts its own volume at {d.path}; tier scratch not added"
                )
        if add:
            ctx.add(c.body, "volumeMounts", add)
    _volumes(ctx, used)


def _volumes(ctx: Ctx, used: set[str]) -> None:
    volumes = seq(ctx.spec, "volumes", ctx.spec_path)
    scratch, wanted = ctx.tier.scratch, ctx.data.scratch_volumes
    missing = []  # indexes of the tier's scratch directories
    for i, d in enumerate(scratch):
        if d.volume not in used:
            continue
        index = _named(volumes, d.volume)
        if index is None:
            missing.append(i)
        elif volumes[index] != wanted.items[i]:
            subject = f"volume {q(d.volume)} is not the tier's scratch volume"
            fix = f"rename it: tier {ctx.tier.name} reserves the name for its {d.path} scratch"
            ctx.deny("scratch.clash", subject, fix, (*VOLUMES, index))
    if missing:  # appended in one walk: the same operations as one append each
        fresh = wanted.fresh()
        add = [
            (fresh[i], "scratch.volume", f"the pod has no scratch volume for {scratch[i].path}")
            for i in missing
        ]
        ctx.add(ctx.spec, "volumes", add)


def _named(volumes: list[Any], name: str) -> int | None:
    for i, v in enumerate(volumes):
        if isinstance(v, dict) and v.get("name") == name:
            return i
    return None
