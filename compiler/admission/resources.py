"""Requests and limits of every container, init container and native sidecar.

Per-container semantics: the tier's range and default apply to each container on its own
(a pod of three containers in a tier of `cpu 500m..8` may ask for up to 24 CPUs); the
tenant's quotas bound what a pod or namespace adds up to.

- Both values missing: the tier's default for both (no overcommit, nothing to guess).
- One missing: it copies the other, exactly as written (what the API server does for a
  missing request; for a missing limit it keeps the pod from bursting past its request).
- Exclusive-core tiers: CPU whole and requests == limits for CPU and memory on every
  container, so the pod is Guaranteed and its containers get pinned cores.
- `swap off` tiers: memory requests == limits (the kubelet swaps only Burstable containers
  whose memory request differs from their limit).
- Mesh proxy containers already in the pod (reinvocation after injection) take the tier's
  proxy resources instead of its per-container range, and the same equality rules.
Values outside the range, or breaking an equality, are denied: hermetic never rewrites a
resource value the user wrote.
"""

from __future__ import annotations

from typing import Any, NamedTuple

from compiler.admission.context import Container, Ctx, Fill, Fills, obj, q
from compiler.model import Bound
from compiler.quantity import bytes_of, cpu_of, format_bytes, format_cpu

NAMES = ("cpu", "memory", "ephemeral-storage")


class Want(NamedTuple):
    """What one resource of one container must satisfy."""

    bound: Bound | None  # None: no range (mesh proxies)
    default: str | None
    equal: bool  # requests == limits
    whole: bool  # whole CPUs


def apply(ctx: Ctx) -> None:
    if ctx.tier.resources.exclusive_cores is not None and ctx.get(("spec", "resources")):
        ctx.deny(
            "resources.pod-level",
            "the pod sets spec.resources",
            f"remove it and set resources per container: tier {ctx.tier.name} pins exclusive "
            "cores, which the kubelet does not align for pod-level resources",
            ("spec", "resources"),
        )
    for c in ctx.containers():
        _container(ctx, c)


def _want(ctx: Ctx, c: Container, name: str) -> Want | None:
    r = ctx.tier.resources
    exclusive = r.exclusive_cores is not None
    equal = (name == "cpu" and exclusive) or (name == "memory" and (exclusive or not r.swap))
    if c.mesh:
        proxy = ctx.tier.proxy
        if name == "ephemeral-storage" or proxy is None:
            return Want(None, None, equal, False) if name != "ephemeral-storage" else None
        text = format_cpu(proxy.cpu) if name == "cpu" else format_bytes(proxy.memory)
        return Want(None, text, equal, False)
    bound = {"cpu": r.cpu, "memory": r.memory, "ephemeral-storage": r.ephemeral_storage}[name]
    if bound is None:
        return None
    return Want(bound, ctx.data.defaults[name], equal, name == "cpu" and exclusive)


def _container(ctx: Ctx, c: Container) -> None:
    res = obj(c.body, "resources", c.full)
    requests = obj(res, "requests", (*c.full, "resources"))
    limits = obj(res, "limits", (*c.full, "resources"))
    fill_req: Fills = {}
    fill_lim: Fills = {}
    for name in NAMES:
        want = _want(ctx, c, name)
        if want is not None:
            _one(ctx, c, name, want, requests.get(name), limits.get(name), (fill_req, fill_lim))
    fills: Fills = {}
    if fill_req:
        fills["requests"] = fill_req
    if fill_lim:
        fills["limits"] = fill_lim
    ctx.merge((*c.path, "resources"), fills)


_QUANTITIES: dict[tuple[bool, Any], int | None] = {}


def quantity(name: str, raw: Any) -> int | None:
    """Millicores (cpu) or bytes of a value in a pod; memoised, as parsing is slow and pods
    repeat a handful of spellings ("4", "16Gi")."""
    if isinstance(raw, bool) or not isinstance(raw, str | int | float):
        return None
    key = (name == "cpu", raw)
    try:
        return _QUANTITIES[key]
    except KeyError:
        pass
    value = cpu_of(raw) if name == "cpu" else bytes_of(raw)
    if len(_QUANTITIES) > 10_000:
        _QUANTITIES.clear()
    _QUANTITIES[key] = value
    return value


def _read(ctx: Ctx, c: Container, name: str, which: str, raw: Any) -> int | None:
    if raw is None:
        return None
    value = quantity(name, raw)
    if value is None or isinstance(raw, bool):
        ctx.deny(
            "resources.malformed",
            f"{c.label} has {which} {name} {q(raw)}, which is not a quantity",
            "write a Kubernetes quantity such as 2, 500m or 8Gi",
            (*c.path, "resources", which, name),
        )
        raise _Skip
    return value


class _Skip(Exception):
    pass


def _one(
    ctx: Ctx,
    c: Container,
    name: str,
    want: Want,
    req_raw: Any,
    lim_raw: Any,
    out: tuple[Fills, Fills],
) -> None:
    try:
        req, lim = _read(ctx, c, name, "requests", req_raw), _read(ctx, c, name, "limits", lim_raw)
    except _Skip:
        return
    fill_req, fill_lim = out
    if req is None and lim is None:
        if want.default is not None:
            what = f"{c.label} has no {name} request or limit"
            rule = f"resources.{name}.default"
            fill_req[name] = Fill(want.default, rule, what)
            fill_lim[name] = Fill(want.default, rule, what)
        return
    if req is None:
        fill_req[name] = Fill(
            lim_raw, f"resources.{name}.partner", f"{c.label} has no {name} request"
        )
    elif lim is None:
        fill_lim[name] = Fill(
            req_raw, f"resources.{name}.partner", f"{c.label} has no {name} limit"
        )
    for which, value, raw in (("requests", req, req_raw), ("limits", lim, lim_raw)):
        if value is not None:
            _check_value(ctx, c, name, want, which, value, raw)
    if req is not None and lim is not None:
        _check_pair(ctx, c, name, want, req, lim)


def _fmt(name: str, value: int) -> str:
    return format_cpu(value) if name == "cpu" else format_bytes(value)


def _range_text(name: str, b: Bound) -> str:
    if b.min is not None and b.min == b.max:
        return f"exactly {_fmt(name, b.min)}"
    lo = _fmt(name, b.min) if b.min is not None else "0"
    hi = _fmt(name, b.max) if b.max is not None else "any"
    return f"{lo}..{hi}"


def _check_value(
    ctx: Ctx, c: Container, name: str, want: Want, which: str, value: int, raw: Any
) -> None:
    path = (*c.path, "resources", which, name)
    t = ctx.tier.name
    if want.whole and value % 1000:
        ctx.deny(
            "resources.cpu.whole",
            f"{c.label} {which} cpu {q(raw)}, a fraction of a CPU",
            f"use whole CPUs: tier {t} pins exclusive cores",
            path,
        )
    elif want.bound is not None and not want.bound.contains(value):
        ctx.deny(
            f"resources.{name}.range",
            f"{c.label} {which} {name} {q(raw)}, outside {_range_text(name, want.bound)}",
            f"set it within the range: tier {t} allows {_range_text(name, want.bound)} "
            "per container",
            path,
        )


def _check_pair(ctx: Ctx, c: Container, name: str, want: Want, req: int, lim: int) -> None:
    path = (*c.path, "resources")
    t = ctx.tier.name
    if want.equal and req != lim:
        why = (
            "pins exclusive cores (Guaranteed QoS)"
            if ctx.tier.resources.exclusive_cores is not None
            else "turns swap off (a memory request below the limit lets the pod swap)"
        )
        ctx.deny(
            f"resources.{name}.guaranteed",
            f"{c.label} requests {_fmt(name, req)} {name} but limits {_fmt(name, lim)}",
            f"set {name} requests equal to limits: tier {t} {why}",
            path,
        )
    elif req > lim:
        ctx.deny(
            f"resources.{name}.order",
            f"{c.label} requests more {name} ({_fmt(name, req)}) than its limit "
            f"({_fmt(name, lim)})",
            "lower the request or raise the limit",
            path,
        )
