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

LimitRange defaults are not the user's. The API server's LimitRanger plugin runs before
mutating webhooks and fills missing requests and limits from the namespace's LimitRanges
(hermetic's own `hermetic-defaults` holds the tenant's default tier's), recording what it
set in the pod annotation `kubernetes.io/limit-ranger`, e.g. `LimitRanger plugin set: cpu,
memory request for container main; cpu limit for init container setup`. In a Pod (not a
template: the plugin sets nothing there), a value that annotation names counts as unset:
the tier's default or the partner replaces it, under the rule that fills an unset value
(resources.NAME.default or .partner, recorded even when the value is already the same), so
that the pod gets what `hermetic mutate` previews without a LimitRange. The annotation
stays. When the tier has nothing to put in its place (no default and no partner), the
value is kept and checked like a user's. The plugin rewrites the annotation per LimitRange:
with several LimitRanges in a namespace, only the last one's values are recognised.
"""

from __future__ import annotations

import re
from typing import Any, Final, NamedTuple

from compiler.admission.context import APP, INIT, Container, Ctx, Fills, obj, q
from compiler.model import Bound
from compiler.quantity import bytes_of, cpu_of, format_bytes, format_cpu

NAMES: Final = ("cpu", "memory", "ephemeral-storage")
LIMIT_RANGER: Final = "kubernetes.io/limit-ranger"
_LR_PREFIX: Final = "LimitRanger plugin set: "
_LR_ENTRY: Final = re.compile(r"(.+) (request|limit) for (container|init container) (.+)")
_LR_FIELDS: Final = {"container": APP, "init container": INIT}
_LR_WHICH: Final = {"request": "requests", "limit": "limits"}
# (containers field, container name) -> {(requests|limits, resource)}
SetByPlugin = dict[tuple[str, str], frozenset[tuple[str, str]]]
_NOTHING: Final[frozenset[tuple[str, str]]] = frozenset()


class Want(NamedTuple):
    """What one resource of one container must satisfy."""

    bound: Bound | None  # None: no range (mesh proxies)
    default: str | None
    equal: bool  # requests == limits
    whole: bool  # whole CPUs


Wants = tuple[tuple[str, Want], ...]  # (resource name, what the tier wants of it)
_DEFAULT_RULE: Final = {n: f"resources.{n}.default" for n in NAMES}
_PARTNER_RULE: Final = {n: f"resources.{n}.partner" for n in NAMES}


def apply(ctx: Ctx) -> None:
    if ctx.tier.resources.exclusive_cores is not None and ctx.spec.get("resources"):
        ctx.deny(
            "resources.pod-level",
            "the pod sets spec.resources",
            f"remove it and set resources per container: tier {ctx.tier.name} pins exclusive "
            "cores, which the kubelet does not align for pod-level resources",
            ("spec", "resources"),
        )
    plugin = {} if ctx.template else limit_ranger_set(ctx.annotations.get(LIMIT_RANGER))
    for c in ctx.containers():
        by_plugin = _NOTHING
        if plugin:
            name = c.body.get("name")
            if isinstance(name, str):
                by_plugin = plugin.get((c.field, name), _NOTHING)
        _container(ctx, c, _wants(ctx, c.mesh), by_plugin)


_PARSED: Final[dict[str, SetByPlugin]] = {}


def limit_ranger_set(annotation: Any) -> SetByPlugin:
    """What the LimitRanger plugin's annotation says it set, per container (memoised: the
    webhook sees a handful of distinct texts). Anything unreadable names nothing."""
    if not isinstance(annotation, str) or not annotation.startswith(_LR_PREFIX):
        return {}
    hit = _PARSED.get(annotation)
    if hit is not None:
        return hit
    sets: dict[tuple[str, str], set[tuple[str, str]]] = {}
    for entry in annotation[len(_LR_PREFIX) :].split("; "):
        m = _LR_ENTRY.fullmatch(entry)
        if m is None:
            continue
        names, which, kind, container = m.groups()
        key = (_LR_FIELDS[kind], container)
        sets.setdefault(key, set()).update((_LR_WHICH[which], n) for n in names.split(", "))
    out = {k: frozenset(v) for k, v in sets.items()}
    if len(_PARSED) > 1_000:
        _PARSED.clear()
    _PARSED[annotation] = out
    return out


def _wants(ctx: Ctx, mesh: bool) -> Wants:
    """What the tier wants of a container's resources (of a mesh proxy's, with `mesh`):
    memoised per tier, as it depends on nothing else."""
    memo = ctx.data.memo
    key = ("resources.wants", mesh)
    try:
        hit: Wants = memo[key]
    except KeyError:
        wants = ((name, _want_of(ctx, mesh, name)) for name in NAMES)
        hit = memo[key] = tuple((name, want) for name, want in wants if want is not None)
    return hit


def _want_of(ctx: Ctx, mesh: bool, name: str) -> Want | None:
    r = ctx.tier.resources
    exclusive = r.exclusive_cores is not None
    equal = (name == "cpu" and exclusive) or (name == "memory" and (exclusive or not r.swap))
    if mesh:
        proxy = ctx.tier.proxy
        if name == "ephemeral-storage" or proxy is None:
            return Want(None, None, equal, False) if name != "ephemeral-storage" else None
        text = format_cpu(proxy.cpu) if name == "cpu" else format_bytes(proxy.memory)
        return Want(None, text, equal, False)
    bound = {"cpu": r.cpu, "memory": r.memory, "ephemeral-storage": r.ephemeral_storage}[name]
    if bound is None:
        return None
    return Want(bound, ctx.data.defaults[name], equal, name == "cpu" and exclusive)


def _container(ctx: Ctx, c: Container, wants: Wants, by_plugin: frozenset[tuple[str, str]]) -> None:
    res = obj(c.body, "resources", c.full)
    requests = limits = res  # both absent when res is
    if res:
        where = (*c.full, "resources")
        requests, limits = obj(res, "requests", where), obj(res, "limits", where)
    fill_req: Fills = {}
    fill_lim: Fills = {}
    for name, want in wants:
        req, lim = requests.get(name), limits.get(name)
        if by_plugin:
            req, lim = _unset_plugin_values(name, want, req, lim, by_plugin)
        _one(ctx, c, name, want, req, lim, (fill_req, fill_lim))
        if by_plugin:
            # A fill of a plugin's value may write nothing (the same value): its rule
            # applied all the same, as in the preview, which writes it.
            for which, pending in (("requests", fill_req), ("limits", fill_lim)):
                f = pending.get(name)
                if isinstance(f, tuple) and (which, name) in by_plugin:
                    ctx.applied(f[1])
    fills: Fills = {}
    if fill_req:
        fills["requests"] = fill_req
    if fill_lim:
        fills["limits"] = fill_lim
    ctx.merge(c.body, "resources", fills)


def _unset_plugin_values(
    name: str, want: Want, req: Any, lim: Any, by_plugin: frozenset[tuple[str, str]]
) -> tuple[Any, Any]:
    """The request and limit with the values the LimitRanger set as unset (None)."""
    new_req = None if ("requests", name) in by_plugin else req
    new_lim = None if ("limits", name) in by_plugin else lim
    if new_req is None and new_lim is None and want.default is None:
        return req, lim  # nothing to put in their place: kept, checked as written
    return new_req, new_lim


_QUANTITIES: Final[dict[tuple[bool, Any], int | None]] = {}


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


def _read(ctx: Ctx, c: Container, name: str, which: str, raw: Any) -> int:
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
        req = None if req_raw is None else _read(ctx, c, name, "requests", req_raw)
        lim = None if lim_raw is None else _read(ctx, c, name, "limits", lim_raw)
    except _Skip:
        return
    fill_req, fill_lim = out
    if req is None and lim is None:
        if want.default is not None:
            what = f"{c.label} has no {name} request or limit"
            rule = _DEFAULT_RULE[name]
            fill_req[name] = (want.default, rule, what)
            fill_lim[name] = (want.default, rule, what)
        return
    if req is None:
        fill_req[name] = (lim_raw, _PARTNER_RULE[name], f"{c.label} has no {name} request")
    elif lim is None:
        fill_lim[name] = (req_raw, _PARTNER_RULE[name], f"{c.label} has no {name} limit")
    if req is not None and not _fits(want, req):
        _deny_value(ctx, c, name, want, "requests", req, req_raw)
    if lim is not None and not _fits(want, lim):
        _deny_value(ctx, c, name, want, "limits", lim, lim_raw)
    if req is not None and lim is not None and (req > lim or (want.equal and req != lim)):
        _deny_pair(ctx, c, name, want, req, lim)


def _fits(want: Want, value: int) -> bool:
    if want.whole and value % 1000:
        return False
    return want.bound is None or want.bound.contains(value)


def _fmt(name: str, value: int) -> str:
    return format_cpu(value) if name == "cpu" else format_bytes(value)


def _range_text(name: str, b: Bound) -> str:
    if b.min is not None and b.min == b.max:
        return f"exactly {_fmt(name, b.min)}"
    lo = _fmt(name, b.min) if b.min is not None else "0"
    hi = _fmt(name, b.max) if b.max is not None else "any"
    return f"{lo}..{hi}"


def _deny_value(
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


def _deny_pair(ctx: Ctx, c: Container, name: str, want: Want, req: int, lim: int) -> None:
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
