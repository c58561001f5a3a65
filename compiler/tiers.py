"""Building one tier: its profile's statements, then its own (which override them)."""

from __future__ import annotations

import hashlib
import posixpath
import re
from collections.abc import Mapping
from dataclasses import dataclass, field

from compiler import values
from compiler.labels import priority_class_name
from compiler.model import (
    Bound,
    Medium,
    Mtls,
    NodePreference,
    Priority,
    ProxyResources,
    Requirement,
    Resources,
    ScratchDir,
    Shaping,
    Spread,
    Tier,
    Toleration,
)
from compiler.values import Sink
from dsl import ast
from dsl.diagnostics import Span, did_you_mean

REPEATABLE = (ast.Scratch, ast.Env, ast.NodeRule, ast.Tolerate, ast.Spread)
HIGHEST_USER_PRIORITY = 1_000_000_000
BANDWIDTH = (1_000, 10**15)  # 1k..1P bit/s: Calico's bounds and the Kubernetes annotations'
BURST = (1_000, 34_359_738_360)  # bits: Calico's bounds (MaxUint32 bytes)
PACKET_RATE = (1, 10_000)  # packets/s: Calico clamps to this
CONNECTIONS = (1, 4_294_967_295)
DEFAULT_SEED_ENV = "HERMETIC_SEED"


def _key(s: ast.Statement) -> str:
    """Statements with the same key are the same setting: the later one overrides."""
    if isinstance(s, ast.Amount):
        return s.resource
    if isinstance(s, ast.Shaping):
        return s.what
    return type(s).__name__


@dataclass
class Settings:
    single: dict[str, ast.Statement] = field(default_factory=dict)
    repeated: list[ast.Statement] = field(default_factory=list)


def _settings(block: ast.Block, sink: Sink, into: Settings | None = None) -> Settings:
    out = into or Settings()
    own: dict[str, ast.Statement] = {}
    for s in block.statements:
        if isinstance(s, ast.UseProfile):
            continue
        if isinstance(s, REPEATABLE):
            out.repeated.append(s)
            continue
        k = _key(s)
        if k in own:
            first = own[k].span
            sink.error(
                "E018",
                "this setting is given twice in one block",
                s.span,
                f"first given at {first.path}:{first.line}:{first.column}",
            )
            continue
        own[k] = s
        out.single[k] = s
    return out


def _resolve(block: ast.Block, profiles: Mapping[str, ast.Block], sink: Sink) -> Settings | None:
    uses = [s for s in block.statements if isinstance(s, ast.UseProfile)]
    base = Settings()
    for extra in uses[1:]:
        sink.error(
            "E018",
            "a tier uses one profile",
            extra.span,
            "merge the profiles, or set the differences in the tier",
        )
    if uses:
        p = profiles.get(uses[0].name.text)
        if p is None:
            sink.error(
                "E013",
                f"unknown profile '{uses[0].name.text}'",
                uses[0].name.span,
                did_you_mean(uses[0].name.text, profiles),
            )
            return None
        _settings(p, sink, base)
    return _settings(block, sink, base)


def _get(st: Settings, key: str) -> ast.Statement | None:
    return st.single.get(key)


def bound(
    sink: Sink, rng: ast.Range, default: ast.Value | None, read: object, what: str
) -> Bound | None:
    conv = read  # values.cpu or values.size
    assert callable(conv)
    lo = conv(sink, rng.low) if rng.low is not None else None
    hi = lo if rng.fixed else (conv(sink, rng.high) if rng.high is not None else None)
    d = conv(sink, default) if default is not None else None
    if (
        (rng.low is not None and lo is None)
        or (rng.high is not None and hi is None)
        or (default is not None and d is None)
    ):
        return None
    if rng.fixed and default is not None:
        sink.error(
            "E021",
            f"a fixed {what} takes no default",
            default.span,
            f"write a range, e.g. {rng.low.text if rng.low else ''}..MAX default {default.text}",
        )
        return None
    if lo is not None and hi is not None and lo > hi:
        sink.error(
            "E021",
            f"{what} range {rng.span and (rng.low.text if rng.low else '')}..{rng.high.text if rng.high else ''} is inverted: min > max",
            rng.span,
            "write MIN..MAX",
        )
        return None
    if d is not None and ((lo is not None and d < lo) or (hi is not None and d > hi)):
        sink.error(
            "E021",
            f"default {what} {default.text if default else ''} is outside its range",
            default.span if default else rng.span,
            "min <= default <= max",
        )
        return None
    if d is None:
        d = lo if lo is not None else hi
    return Bound(min=lo, max=hi, default=d)


def _resources(block: ast.Block, st: Settings, sink: Sink) -> Resources | None:
    assert block.name is not None
    cpu_s, mem_s = _get(st, "Cpu"), _get(st, "memory")
    eph_s, swap_s = _get(st, "ephemeral-storage"), _get(st, "Swap")
    for key, s in (("cpu", cpu_s), ("memory", mem_s)):
        if s is None:
            sink.error(
                "E019",
                f"tier '{block.name.text}' sets no {key}",
                block.name.span,
                f"add `{key} ...` to the tier or its profile",
            )
    if cpu_s is None or mem_s is None:
        return None
    assert isinstance(cpu_s, ast.Cpu) and isinstance(mem_s, ast.Amount)
    exclusive = None
    if cpu_s.exclusive is not None:
        milli = values.cpu(sink, cpu_s.exclusive)
        if milli is None:
            return None
        if milli % 1000 or milli == 0:
            sink.error(
                "E022",
                f"exclusive CPUs must be whole cores, found '{cpu_s.exclusive.text}'",
                cpu_s.exclusive.span,
                "the CPU manager pins whole cores only: write e.g. `cpu exclusive 4`, or a range for shared CPUs",
            )
            return None
        exclusive = milli // 1000
        cpu = Bound(min=milli, max=milli, default=milli)
    else:
        assert cpu_s.range is not None
        cpu_b = bound(sink, cpu_s.range, cpu_s.default, values.cpu, "CPU")
        if cpu_b is None:
            return None
        cpu = cpu_b
    memory = bound(sink, mem_s.range, mem_s.default, values.size, "memory")
    if memory is None:
        return None
    if exclusive is not None and not memory.fixed:
        sink.error(
            "E023",
            "exclusive cores need a fixed memory, but memory is a range",
            mem_s.range.span,
            "Guaranteed QoS (which exclusive cores require) needs memory requests == limits: write one value, e.g. `memory 16Gi`",
        )
        return None
    eph = None
    if eph_s is not None:
        assert isinstance(eph_s, ast.Amount)
        eph = bound(
            sink,
            eph_s.range,
            eph_s.default,
            lambda s, v: values.size(s, v, "storage quantity"),
            "ephemeral storage",
        )
        if eph is None:
            return None
    swap = True if swap_s is None else (isinstance(swap_s, ast.Swap) and swap_s.enabled)
    return Resources(
        cpu=cpu, memory=memory, ephemeral_storage=eph, exclusive_cores=exclusive, swap=swap
    )


_VOLUME_CHARS = re.compile(r"[^a-z0-9-]+")


def scratch_volume_name(path: str) -> str:
    slug = _VOLUME_CHARS.sub("-", path.lower()).strip("-") or "root"
    name = f"scratch-{slug}"
    if len(name) > 63 or slug != path.strip("/").replace("/", "-"):
        digest = hashlib.sha256(path.encode()).hexdigest()[:8]
        name = f"scratch-{slug[:45].strip('-')}-{digest}"
    return name


def _scratch(st: Settings, sink: Sink) -> tuple[ScratchDir, ...]:
    out: dict[str, ScratchDir] = {}
    for s in st.repeated:
        if not isinstance(s, ast.Scratch):
            continue
        path = s.path.text
        if (
            not path.startswith("/")
            or posixpath.normpath(path) != path
            or path == "/"
            or ":" in path
        ):
            sink.error(
                "E033",
                f"scratch path '{path}' is not a clean absolute directory",
                s.path.span,
                "write an absolute path such as /tmp or /scratch, without '..' or a trailing '/'",
            )
            continue
        size = values.size(sink, s.size, "scratch size")
        if size is None:
            continue
        if size == 0:
            sink.error("E021", "a scratch directory needs a size above 0", s.size.span, None)
            continue
        medium: Medium = "memory" if s.medium is not None and s.medium.text == "memory" else "disk"
        out[path] = ScratchDir(
            volume=scratch_volume_name(path), path=path, size=size, medium=medium
        )
    return tuple(sorted(out.values(), key=lambda d: d.path))


def _shaping(st: Settings, sink: Sink) -> Shaping | None:
    table = {
        "bandwidth": (BANDWIDTH, "bandwidth", "200M"),
        "burst": (BURST, "burst", "64M"),
        "packet-rate": (PACKET_RATE, "packet rate", "10k"),
        "max-connections": (CONNECTIONS, "connection limit", "4096"),
    }
    fields: dict[str, int | None] = {}
    for key, ((lo, hi), what, example) in table.items():
        s = _get(st, key)
        if not isinstance(s, ast.Shaping):
            continue
        attr = key.replace("-", "_")
        for direction, v in (("ingress", s.ingress), ("egress", s.egress)):
            if v is not None:
                fields[f"{direction}_{attr}"] = values.rate(
                    sink, v, f"{direction} {what}", lo, hi, example
                )
    excess = _get(st, "BandwidthExcess")
    if not fields and excess is None:
        return None
    mode = excess.action.text if isinstance(excess, ast.BandwidthExcess) else "deny"
    return Shaping(excess=mode, **fields)  # type: ignore[arg-type]


def _placement(
    st: Settings, sink: Sink
) -> tuple[
    tuple[Requirement, ...], tuple[NodePreference, ...], tuple[Toleration, ...], tuple[Spread, ...]
]:
    required: list[Requirement] = []
    preferred: list[NodePreference] = []
    tolerations: list[Toleration] = []
    spreads: list[Spread] = []
    for s in st.repeated:
        if isinstance(s, ast.NodeRule):
            r = values.requirement(sink, s.selector)
            if r is None:
                continue
            if s.required:
                required.append(r)
            else:
                w = (
                    values.integer(sink, s.weight, "a preference weight", 1, 100)
                    if s.weight
                    else 50
                )
                if w is not None:
                    preferred.append(NodePreference(requirement=r, weight=w))
        elif isinstance(s, ast.Tolerate):
            key = values.label_key(sink, s.selector.key)
            val = values.label_value(sink, s.selector.values[0]) if s.selector.values else None
            if key is None or (s.selector.values and val is None):
                continue
            tolerations.append(
                Toleration(
                    key=key,
                    operator="Equal" if s.selector.op == "=" else "Exists",
                    value=val,
                    effect=s.effect.text if s.effect else None,  # type: ignore[arg-type]
                )
            )
        elif isinstance(s, ast.Spread):
            label, topo = values.label_key(sink, s.label), values.label_key(sink, s.topology)
            skew = values.integer(sink, s.max_skew, "max-skew", 1, 1000) if s.max_skew else 1
            if label and topo and skew:
                spreads.append(
                    Spread(kind=s.kind, label=label, topology_key=topo, max_skew=skew, hard=s.hard)
                )
    return (
        tuple(dict.fromkeys(required)),
        tuple(dict.fromkeys(preferred)),
        tuple(dict.fromkeys(tolerations)),
        tuple(dict.fromkeys(spreads)),
    )


def _env(st: Settings, sink: Sink) -> tuple[tuple[str, str], ...]:
    env: dict[str, str] = {}
    for s in st.repeated:
        if isinstance(s, ast.Env) and values.env_name(sink, s.name) is not None:
            env[s.name.text] = s.value.text
    return tuple(sorted(env.items()))


def _priority(name: str, st: Settings, sink: Sink) -> Priority | None:
    s = _get(st, "Priority")
    if not isinstance(s, ast.Priority):
        return Priority(
            class_name=priority_class_name(name), value=0, preempting=False, preemptible=True
        )
    value = values.integer(sink, s.value, "a priority", -2_147_483_648, HIGHEST_USER_PRIORITY)
    if value is None:
        return None
    return Priority(
        class_name=priority_class_name(name),
        value=value,
        preempting=s.preempting is None or s.preempting.text == "preempting",
        preemptible=s.preemptible is None or s.preemptible.text == "preemptible",
    )


def build_tier(block: ast.Block, profiles: Mapping[str, ast.Block], sink: Sink) -> Tier | None:
    assert block.name is not None
    before = sink.errors
    st = _resolve(block, profiles, sink)
    if st is None:
        return None
    resources = _resources(block, st, sink)
    scratch = _scratch(st, sink)
    shaping = _shaping(st, sink)
    required, preferred, tolerations, spreads = _placement(st, sink)
    env = _env(st, sink)
    priority = _priority(block.name.text, st, sink)
    seed_s, images_s, threads_s = _get(st, "Seed"), _get(st, "Images"), _get(st, "Threads")
    sec_s, mtls_s, proxy_s = _get(st, "Security"), _get(st, "Mtls"), _get(st, "ProxyResources")
    rc_s, bio_s = _get(st, "RuntimeClass"), _get(st, "BlockIo")
    proxy = None
    if isinstance(proxy_s, ast.ProxyResources):
        pc, pm = values.cpu(sink, proxy_s.cpu), values.size(sink, proxy_s.memory)
        if pc is not None and pm is not None:
            proxy = ProxyResources(cpu=pc, memory=pm)
    seed_env = DEFAULT_SEED_ENV
    if isinstance(seed_s, ast.Seed) and seed_s.env is not None:
        seed_env = values.env_name(sink, seed_s.env) or seed_env
    runtime_class = (
        values.name(sink, rc_s.name, "RuntimeClass") if isinstance(rc_s, ast.RuntimeClass) else None
    )
    if sink.errors > before or resources is None or priority is None:
        return None
    mtls = Mtls(mesh="none", mode="strict")
    if isinstance(mtls_s, ast.Mtls):
        mtls = Mtls(mesh=mtls_s.mesh.text, mode=mtls_s.mode.text if mtls_s.mode else "strict")  # type: ignore[arg-type]
    return Tier(
        name=block.name.text,
        resources=resources,
        scratch=scratch,
        shaping=shaping,
        threads=isinstance(threads_s, ast.Threads) and threads_s.mode.text == "match-cpu",
        seed=seed_s.mode.text if isinstance(seed_s, ast.Seed) else "off",  # type: ignore[arg-type]
        seed_env=seed_env,
        pin_images=isinstance(images_s, ast.Images) and images_s.mode.text == "pinned",
        env=env,
        priority=priority,
        security=sec_s.level.text if isinstance(sec_s, ast.Security) else "restricted",  # type: ignore[arg-type]
        mtls=mtls,
        proxy=proxy,
        runtime_class=runtime_class,
        node_required=required,
        node_preferred=preferred,
        tolerations=tolerations,
        spreads=spreads,
        block_io=bio_s.klass.text if isinstance(bio_s, ast.BlockIo) else None,
        origin=block.name.span,
        where=_where(st),
    )


def _where(st: Settings) -> dict[str, Span]:
    where = {k: s.span for k, s in st.single.items()}
    for s in st.repeated:
        where.setdefault(type(s).__name__, s.span)
    return where
