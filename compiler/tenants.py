"""Building one tenant: namespaces, tiers, quotas, labels and network allows."""

from __future__ import annotations

import ipaddress
from collections.abc import Set

from compiler import values
from compiler.globs import matches
from compiler.labels import DOMAIN
from compiler.model import Cluster, NetworkRule, Port, Protocol, Quota, Requirement, Tenant
from compiler.values import Sink
from dsl import ast
from dsl.diagnostics import Span, did_you_mean

_PROTOCOLS: dict[str, Protocol] = {"tcp": "TCP", "udp": "UDP", "sctp": "SCTP"}
MAX_PODS = 1_000_000


def _first(span: Span) -> str:
    return f"first given at {span.path}:{span.line}:{span.column}"


def _namespaces(
    b: ast.Block, cluster: Cluster, sink: Sink, where: dict[str, Span]
) -> tuple[list[str], list[str]]:
    exact: list[str] = []
    globs: list[str] = []
    for s in b.statements:
        if not isinstance(s, ast.Namespaces):
            continue
        for v in s.names:
            ns = values.namespace_pattern(sink, v)
            if ns is None:
                continue
            if ns in where:
                sink.error("E018", f"namespace '{ns}' is listed twice", v.span, _first(where[ns]))
                continue
            if "*" not in ns and ns in cluster.excluded_namespaces:
                sink.error(
                    "E030",
                    f"namespace '{ns}' is never governed",
                    v.span,
                    "system namespaces, the webhook's namespace and `exclude`d ones cannot belong to a tenant",
                )
                continue
            if "*" in ns:
                hit = [x for x in cluster.excluded_namespaces if matches(x, ns)]
                if hit:
                    sink.warn(
                        "W030",
                        f"glob '{ns}' also matches {', '.join(hit)}, which is never governed",
                        v.span,
                        "those namespaces are skipped; narrow the glob to say what you mean",
                    )
            where[ns] = v.span
            (globs if "*" in ns else exact).append(ns)
    return exact, globs


def _tiers(
    b: ast.Block, known: Set[str], sink: Sink, where: dict[str, Span]
) -> tuple[list[str], str | None]:
    assert b.name is not None
    tiers: list[str] = []
    default: ast.DefaultTier | None = None
    for s in b.statements:
        if isinstance(s, ast.Tiers):
            for v in s.names:
                if v.text not in known:
                    sink.error(
                        "E012", f"unknown tier '{v.text}'", v.span, did_you_mean(v.text, known)
                    )
                elif f"tier:{v.text}" in where:
                    sink.error(
                        "E018",
                        f"tier '{v.text}' is listed twice",
                        v.span,
                        _first(where[f"tier:{v.text}"]),
                    )
                else:
                    where[f"tier:{v.text}"] = v.span
                    tiers.append(v.text)
        elif isinstance(s, ast.DefaultTier):
            if default is not None:
                sink.error("E018", "`default-tier` is given twice", s.span, _first(default.span))
            else:
                default = s
    if not any(isinstance(s, ast.Tiers) for s in b.statements):
        sink.error(
            "E019", f"tenant '{b.name.text}' allows no tier", b.name.span, "add `tiers TIER, ...`"
        )
        return tiers, None
    if default is None:
        if len(tiers) == 1:
            return tiers, tiers[0]
        sink.error(
            "E019",
            f"tenant '{b.name.text}' allows several tiers but names no default",
            b.name.span,
            f"add `default-tier {tiers[0] if tiers else 'TIER'}`",
        )
        return tiers, None
    if default.name.text not in tiers:
        hint = f"allowed tiers: {', '.join(tiers)}" if tiers else None
        if default.name.text not in known:
            hint = did_you_mean(default.name.text, known) or hint
        sink.error(
            "E024",
            f"default tier '{default.name.text}' is not among the tenant's tiers",
            default.name.span,
            hint,
        )
        return tiers, None
    return tiers, default.name.text


def _quotas(b: ast.Block, tiers: list[str], sink: Sink, where: dict[str, Span]) -> list[Quota]:
    out: list[Quota] = []
    for s in b.statements:
        if not isinstance(s, ast.Quota):
            continue
        tier = s.tier.text if s.tier else None
        if s.tier is not None and tier not in tiers:
            sink.error(
                "E034",
                f"quota for tier '{tier}', which the tenant may not use",
                s.tier.span,
                f"allowed tiers: {', '.join(tiers)}" if tiers else None,
            )
            continue
        key = f"quota:{tier or ''}"
        if key in where:
            sink.error("E018", "a second quota for the same scope", s.span, _first(where[key]))
            continue
        where[key] = s.span
        amounts: dict[str, int | None] = {}
        for item in s.items:
            res = item.resource.text
            if res in amounts:
                sink.error("E018", f"`{res}` is given twice in one quota", item.span, None)
                continue
            if res == "cpu":
                amounts[res] = values.cpu(sink, item.amount)
            elif res == "pods":
                amounts[res] = values.integer(sink, item.amount, "a pod count", 0, MAX_PODS)
            else:
                amounts[res] = values.size(sink, item.amount, f"{res} quantity")
            where[f"{key}:{res}"] = item.amount.span
        out.append(
            Quota(
                tier=tier,
                cpu=amounts.get("cpu"),
                memory=amounts.get("memory"),
                pods=amounts.get("pods"),
                ephemeral_storage=amounts.get("ephemeral-storage"),
            )
        )
    return out


def _labels(b: ast.Block, sink: Sink) -> tuple[str | None, list[tuple[str, str]]]:
    cost: str | None = None
    labels: dict[str, str] = {}
    for s in b.statements:
        if isinstance(s, ast.CostCenter):
            cost = values.label_value(sink, s.value)
        elif isinstance(s, ast.Label):
            k, v = values.label_key(sink, s.key), values.label_value(sink, s.value)
            if k is None or v is None:
                continue
            if k.split("/", 1)[0] == DOMAIN:
                sink.error(
                    "E029",
                    f"label key '{k}' is reserved for hermetic",
                    s.key.span,
                    "use your own prefix, e.g. example.com/team",
                )
            elif k in labels:
                sink.error("E018", f"label '{k}' is given twice", s.key.span, None)
            else:
                labels[k] = v
    return cost, sorted(labels.items())


def _ports(s: ast.Allow, sink: Sink) -> tuple[Port, ...] | None:
    out: list[Port] = []
    for p in s.ports:
        lo = values.port(sink, p.port)
        hi = values.port(sink, p.end_port) if p.end_port else None
        if lo is None or (p.end_port is not None and hi is None):
            return None
        if hi is not None and hi < lo:
            sink.error("E026", f"port range {lo}-{hi} is inverted", p.span, "write LOW-HIGH")
            return None
        out.append(
            Port(protocol=_PROTOCOLS[p.protocol.text], port=lo, end_port=hi if hi != lo else None)
        )
    return tuple(dict.fromkeys(out)) if len(out) > 1 else tuple(out)


def _within(
    inner: ipaddress.IPv4Network | ipaddress.IPv6Network,
    outer: ipaddress.IPv4Network | ipaddress.IPv6Network,
) -> bool:
    if isinstance(inner, ipaddress.IPv4Network) and isinstance(outer, ipaddress.IPv4Network):
        return inner.subnet_of(outer)
    if isinstance(inner, ipaddress.IPv6Network) and isinstance(outer, ipaddress.IPv6Network):
        return inner.subnet_of(outer)
    return False


def _rule(s: ast.Allow, tenants: Set[str], sink: Sink) -> NetworkRule | None:
    before = len(sink.items)
    names: list[str] = []
    excepts: list[str] = []  # only `cidr` takes exceptions
    if s.peer == "tenant":
        for v in s.names:
            if v.text not in tenants:
                sink.error(
                    "E014", f"unknown tenant '{v.text}'", v.span, did_you_mean(v.text, tenants)
                )
            else:
                names.append(v.text)
    elif s.peer == "namespace":
        names = [n for v in s.names if (n := values.namespace_pattern(sink, v)) is not None]
    elif s.peer == "cidr":
        nets = {v.text: values.cidr(sink, v) for v in s.names}
        for x in s.excepts:
            xnet = values.cidr(sink, x)
            if xnet is None:
                continue
            inside = [n for n in nets.values() if n is not None and _within(xnet, n)]
            if not inside:
                sink.error(
                    "E027",
                    f"except '{x.text}' is not inside any CIDR of the rule",
                    x.span,
                    "an exception narrows a CIDR of the same rule",
                )
            excepts.append(str(xnet))
        names = [str(n) for n in nets.values() if n is not None]
    pods: list[Requirement] = (
        [r for sel in s.pods if (r := values.requirement(sink, sel)) is not None] if s.pods else []
    )
    if s.peer == "dns" and s.ports:
        sink.error(
            "E016",
            "`allow egress dns` opens UDP and TCP 53 to the cluster DNS; it takes no ports",
            s.ports[0].span,
            None,
        )
    if s.identities and s.direction == "egress":
        sink.error(
            "E016",
            "`as` names the service accounts allowed in; it applies to ingress rules",
            s.identities[0].span,
            None,
        )
    identities = (
        [v.text for v in s.identities if values.name(sink, v, "service account")]
        if s.identities
        else []
    )
    ports = _ports(s, sink)
    if len(sink.items) > before or ports is None:
        return None
    return NetworkRule(
        direction=s.direction,
        peer=s.peer,
        names=tuple(names),
        pods=tuple(pods),
        excepts=tuple(excepts),
        ports=ports,
        identities=tuple(identities),
        origin=s.span,
    )


def build_tenant(
    b: ast.Block, known_tiers: Set[str], tenants: Set[str], cluster: Cluster, sink: Sink
) -> Tenant | None:
    assert b.name is not None
    before = sink.errors
    where: dict[str, Span] = {}
    exact, globs = _namespaces(b, cluster, sink, where)
    if not any(isinstance(s, ast.Namespaces) for s in b.statements):
        sink.error(
            "E019",
            f"tenant '{b.name.text}' has no namespaces",
            b.name.span,
            "add `namespaces NAME, GLOB-*`",
        )
    tiers, default = _tiers(b, known_tiers, sink, where)
    quotas = _quotas(b, tiers, sink, where)
    cost, labels = _labels(b, sink)
    rules = [
        r
        for s in b.statements
        if isinstance(s, ast.Allow) and (r := _rule(s, tenants, sink)) is not None
    ]
    if sink.errors > before or default is None:
        return None
    return Tenant(
        name=b.name.text,
        namespaces=tuple(sorted(exact)),
        globs=tuple(sorted(globs)),
        tiers=tuple(tiers),
        default_tier=default,
        quotas=tuple(sorted(quotas, key=lambda q: q.tier or "")),
        cost_center=cost,
        labels=tuple(labels),
        rules=tuple(rules),
        origin=b.name.span,
        where=where,
    )
