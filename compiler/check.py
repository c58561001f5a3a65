"""`check`: the typed syntax trees of every file -> one CompiledPolicy and diagnostics.

The work is a tuple of small passes (collect, tiers, tenants, then the cross-cutting
checks in `compiler.conflicts`), each adding diagnostics to one sink, so that one run
reports every problem in every file. The policy is returned only when there is no error.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Literal, cast

from compiler import conflicts, values
from compiler.labels import SYSTEM_NAMESPACES
from compiler.model import (
    BandwidthKeys,
    Cluster,
    Cni,
    CompiledPolicy,
    Requirement,
    Tenant,
    Tier,
)
from compiler.tenants import build_tenant
from compiler.tiers import build_tier
from compiler.values import Sink
from dsl import ast
from dsl.diagnostics import Diagnostic, Span, sort_diagnostics

DEFAULT_WEBHOOK_NAMESPACE = "hermetic-system"
DEFAULT_WEBHOOK_SERVICE = "hermetic"


@dataclass
class Collected:
    """Every named block of every file, first definition wins; duplicates reported."""

    policy: ast.PolicyDecl | None = None
    cluster: ast.Block | None = None
    profiles: dict[str, ast.Block] = field(default_factory=dict)
    tiers: dict[str, ast.Block] = field(default_factory=dict)
    tenants: dict[str, ast.Block] = field(default_factory=dict)
    first_file: str = "<policy>"


def collect(modules: Sequence[ast.Module], sink: Sink) -> Collected:
    c = Collected(first_file=modules[0].path if modules else "<policy>")
    for m in modules:
        for p in m.policy:
            if c.policy is None:
                c.policy = p
            else:
                sink.error("E015", "the policy is declared twice", p.span, _first(c.policy.span))
        for b in m.blocks:
            if b.kind == "cluster":
                if c.cluster is None:
                    c.cluster = b
                else:
                    sink.error("E015", "a second cluster block", b.span, _first(c.cluster.span))
                continue
            assert b.name is not None
            table = {"profile": c.profiles, "tier": c.tiers, "tenant": c.tenants}[b.kind]
            if values.name(sink, b.name, b.kind) is None:
                continue
            if b.name.text in table:
                prev = table[b.name.text]
                sink.error(
                    "E015", f"duplicate {b.kind} '{b.name.text}'", b.name.span, _first(prev.span)
                )
            else:
                table[b.name.text] = b
    return c


def _first(span: Span) -> str:
    return f"first defined at {span.path}:{span.line}:{span.column}"


def _cluster(c: Collected, sink: Sink) -> Cluster:
    stmts = c.cluster.statements if c.cluster else ()
    governs: list[Requirement] = []
    excluded: list[str] = []
    cni: str = "none"
    cni_version: str | None = None
    mesh_cni: list[str] = []
    wh_ns, wh_svc, wh_port = DEFAULT_WEBHOOK_NAMESPACE, DEFAULT_WEBHOOK_SERVICE, 443
    failure: Literal["Fail", "Ignore"] = "Fail"
    timeout = 3
    seen: dict[type, ast.Statement] = {}
    for s in stmts:
        if type(s) in seen and not isinstance(s, ast.Governs | ast.ExcludeNamespaces):
            sink.error("E018", "this setting is given twice", s.span, _first(seen[type(s)].span))
            continue
        seen[type(s)] = s
        if isinstance(s, ast.Governs):
            governs.extend(
                r for sel in s.selectors if (r := values.requirement(sink, sel)) is not None
            )
        elif isinstance(s, ast.ExcludeNamespaces):
            excluded.extend(n for v in s.names if (n := values.namespace(sink, v)) is not None)
        elif isinstance(s, ast.Cni):
            cni = s.kind.text
            if s.version is not None:
                if _version(s.version.text) is None:
                    sink.error(
                        "E036",
                        f"invalid version '{s.version.text}'",
                        s.version.span,
                        "write e.g. 3.31",
                    )
                elif cni != "calico":
                    sink.error("E016", "only `cni calico` takes a version", s.version.span, None)
                else:
                    cni_version = s.version.text
        elif isinstance(s, ast.MeshCni):
            mesh_cni.extend(m.text for m in s.meshes)
        elif isinstance(s, ast.WebhookService):
            wh_ns = values.namespace(sink, s.namespace) or wh_ns
            wh_svc = values.name(sink, s.service, "Service") or wh_svc
            if s.port is not None:
                wh_port = values.port(sink, s.port) or wh_port
        elif isinstance(s, ast.FailurePolicy):
            failure = "Fail" if s.value.text == "fail" else "Ignore"
        elif isinstance(s, ast.Timeout):
            seconds = ast.Value.at(s.value.text.removesuffix("s"), s.value.span)
            limit = values.integer(sink, seconds, "the webhook timeout", 1, 30)
            timeout = limit if limit is not None else timeout
    excluded_all = sorted({*SYSTEM_NAMESPACES, wh_ns, *excluded})
    return Cluster(
        governs=tuple(governs),
        excluded_namespaces=tuple(excluded_all),
        cni=cast(Cni, cni),
        cni_version=cni_version,
        bandwidth_keys=bandwidth_keys(cni, cni_version),
        mesh_cni=tuple(sorted(set(mesh_cni))),
        webhook_namespace=wh_ns,
        webhook_service=wh_svc,
        webhook_port=wh_port,
        failure_policy=failure,
        timeout_seconds=timeout,
    )


def _version(text: str) -> tuple[int, int] | None:
    parts = text.split(".")
    if len(parts) < 2 or not all(p.isdigit() for p in parts):
        return None
    return int(parts[0]), int(parts[1])


def bandwidth_keys(cni: str, version: str | None) -> BandwidthKeys:
    """Which pod annotations shape traffic: Calico >= 3.30 reads its own `qos.projectcalico.org/*`
    (and they override the `kubernetes.io/*-bandwidth` pair, so only one set is emitted);
    older Calico, Cilium and the CNI bandwidth plugin read the Kubernetes pair."""
    if cni == "calico":
        v = _version(version) if version else None
        return "calico-qos" if v is None or v >= (3, 30) else "kubernetes"
    if cni in ("cilium", "bandwidth-plugin"):
        return "kubernetes"
    return "none"


def _policy_id(c: Collected, sink: Sink) -> tuple[str, str]:
    if c.policy is None:
        sink.error(
            "E019",
            'the policy has no `policy NAME version "V"` declaration',
            Span.point(c.first_file, 1, 1),
            'add e.g. `policy backtest-farm version "1.0.0"` to one file',
        )
        return "policy", "0"
    name = values.name(sink, c.policy.name, "policy") or "policy"
    return name, c.policy.version.text


def _unused(c: Collected, tiers: Iterable[Tier], tenants: Iterable[Tenant], sink: Sink) -> None:
    used_profiles = {
        s.name.text for b in c.tiers.values() for s in b.statements if isinstance(s, ast.UseProfile)
    }
    for name, block in c.profiles.items():
        if name not in used_profiles:
            assert block.name is not None
            sink.warn(
                "W060",
                f"profile '{name}' is not used by any tier",
                block.name.span,
                "remove it, or use it with `profile " + name + "` in a tier",
            )
    used_tiers = {t for tenant in tenants for t in tenant.tiers}
    for tier in tiers:
        if tier.name not in used_tiers and tier.origin is not None:
            sink.warn(
                "W061",
                f"tier '{tier.name}' is not allowed to any tenant",
                tier.origin,
                "add it to a tenant's `tiers`, or remove it",
            )


def check(modules: Sequence[ast.Module]) -> tuple[CompiledPolicy | None, list[Diagnostic]]:
    """Check the modules of one policy. The policy is None when there is any error."""
    sink = Sink()
    c = collect(modules, sink)
    name, version = _policy_id(c, sink)
    cluster = _cluster(c, sink)
    tiers = tuple(
        t
        for tname in sorted(c.tiers)
        if (t := build_tier(c.tiers[tname], c.profiles, sink)) is not None
    )
    tier_names, tenant_names = set(c.tiers), set(c.tenants)
    tenants = tuple(
        tn
        for tname in sorted(c.tenants)
        if (tn := build_tenant(c.tenants[tname], tier_names, tenant_names, cluster, sink))
        is not None
    )
    if not c.tiers and not sink.has_errors:
        sink.error(
            "E019",
            "the policy declares no tier",
            Span.point(c.first_file, 1, 1),
            "add a `tier NAME { ... }` block",
        )
    _unused(c, tiers, tenants, sink)
    policy = CompiledPolicy(
        name=name, version=version, cluster=cluster, tiers=tiers, tenants=tenants
    )
    conflicts.run(policy, sink)
    diagnostics = sort_diagnostics(sink.items)
    return (None if sink.has_errors else policy), diagnostics
