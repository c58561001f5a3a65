"""What every target shares: the result type, the options, the `Target` protocol, and helpers
for metadata, label selectors, namespace globs and positions of diagnostics.

A target reads only the CompiledPolicy (plus `Options`: facts about the live cluster that the
policy cannot know, such as which namespaces exist) and returns plain dicts. Namespaced
targets are written as one function per namespace (`NamespaceFn`), so that the same code
serves `generate_all`, the bundle's per-tenant templates and `hermetic sync`.
"""

from __future__ import annotations

import bisect
import functools
import ipaddress
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any, Protocol

from compiler.globs import literal_prefix, matches
from compiler.labels import MANAGED_BY, MANAGER, POLICY
from compiler.model import CompiledPolicy, Requirement, Tenant, Tier
from dsl.diagnostics import Diagnostic, Span, warning

Obj = dict[str, Any]


@dataclass(frozen=True, slots=True)
class Generated:
    """Objects (plain dicts, in a stable order) and the diagnostics of what they cannot say."""

    objects: tuple[Obj, ...] = ()
    diagnostics: tuple[Diagnostic, ...] = ()


def merge(parts: Iterable[Generated]) -> Generated:
    """Concatenate objects; keep each diagnostic once (namespaces of a tenant repeat them)."""
    objects: list[Obj] = []
    diagnostics: dict[Diagnostic, None] = {}
    for p in parts:
        objects.extend(p.objects)
        diagnostics.update(dict.fromkeys(p.diagnostics))
    return Generated(tuple(objects), tuple(diagnostics))


class Target(Protocol):
    """One generator: everything of its kind that a policy implies."""

    def generate(self, policy: CompiledPolicy) -> Generated: ...


class Known:
    """The names of existing namespaces, indexed for glob lookups (sorted + bisect on the
    glob's literal prefix, results cached): no scan of every name per glob."""

    def __init__(self, names: Iterable[str] = ()) -> None:
        self.names: tuple[str, ...] = tuple(sorted(set(names)))
        self._cache: dict[str, tuple[str, ...]] = {}

    def matching(self, glob: str) -> tuple[str, ...]:
        """The known namespaces that match a glob, sorted."""
        hit = self._cache.get(glob)
        if hit is None:
            prefix = literal_prefix(glob)
            i = bisect.bisect_left(self.names, prefix)
            out = []
            while i < len(self.names) and self.names[i].startswith(prefix):
                if matches(self.names[i], glob):
                    out.append(self.names[i])
                i += 1
            hit = self._cache[glob] = tuple(out)
        return hit


@dataclass(frozen=True, kw_only=True)  # no slots: `known` is cached per instance
class Options:
    """What the compiler is told about the cluster, beyond the policy.

    namespaces: names of namespaces that exist (for glob namespaces, see `tenant_namespaces`).
    webhook_url: register the webhook by URL (e.g. `https://127.0.0.1:8443`) instead of
    by Service; `/mutate` and `/validate` are appended.
    """

    namespaces: tuple[str, ...] = ()
    webhook_url: str | None = None

    @cached_property
    def known(self) -> Known:
        return Known(self.namespaces)


NamespaceFn = Callable[[CompiledPolicy, Tenant, str, Known], Generated]


def tenant_namespaces(policy: CompiledPolicy, known: Known) -> list[tuple[Tenant, str]]:
    """Every (tenant, namespace) to generate for: exact names, then the known namespaces
    that a tenant owns through a glob (an exact name of another tenant wins; excluded
    namespaces are never a tenant's)."""
    out: list[tuple[Tenant, str]] = []
    for t in policy.tenants:
        seen = set(t.namespaces)  # two globs of one tenant may match the same name
        out.extend((t, ns) for ns in t.namespaces)
        for g in t.globs:
            for ns in known.matching(g):
                if ns not in seen and policy.tenant_for_namespace(ns) is t:
                    seen.add(ns)
                    out.append((t, ns))
    return out


def owned(policy: CompiledPolicy, tenant: Tenant, glob: str, known: Known) -> tuple[str, ...]:
    """The known namespaces a tenant owns through one of its globs."""
    return tuple(n for n in known.matching(glob) if policy.tenant_for_namespace(n) is tenant)


@dataclass(frozen=True, slots=True)
class PerNamespace:
    """A namespaced target: one function applied to every tenant namespace."""

    fn: NamespaceFn
    options: Options = field(default_factory=Options)

    def generate(self, policy: CompiledPolicy) -> Generated:
        known = self.options.known
        return merge(self.fn(policy, t, ns, known) for t, ns in tenant_namespaces(policy, known))


# --- small builders ------------------------------------------------------------------------


def meta(policy: CompiledPolicy, name: str, namespace: str | None = None) -> Obj:
    """`metadata` of an emitted object: its name, namespace and hermetic's labels."""
    m: Obj = {"name": name, "labels": {MANAGED_BY: MANAGER, POLICY: policy.name}}
    if namespace is not None:
        m["namespace"] = namespace
    return m


def selector(requirements: Sequence[Requirement]) -> Obj:
    """A LabelSelector: `In` with one value as matchLabels, everything else as
    matchExpressions (same semantics, easier to read). Empty selects everything."""
    labels: dict[str, str] = {}
    exprs: list[Obj] = []
    for r in requirements:
        if r.operator == "In" and len(r.values) == 1 and r.key not in labels:
            labels[r.key] = r.values[0]
            continue
        e: Obj = {"key": r.key, "operator": r.operator}
        if r.operator in ("In", "NotIn"):
            e["values"] = sorted(r.values)
        exprs.append(e)
    out: Obj = {}
    if labels:
        out["matchLabels"] = labels
    if exprs:
        out["matchExpressions"] = exprs
    return out


def in_selector(key: str, values: Iterable[str]) -> Obj:
    """Select label `key` in `values`: matchLabels for one value, else an `In` expression."""
    vals = sorted(set(values))
    if len(vals) == 1:
        return {"matchLabels": {key: vals[0]}}
    return {"matchExpressions": [{"key": key, "operator": "In", "values": vals}]}


def tiers_of(policy: CompiledPolicy, tenant: Tenant) -> list[Tier]:
    """The tiers a tenant may use, in the tenant's order."""
    return [t for n in tenant.tiers if (t := policy.tier(n)) is not None]


def span_of(*candidates: Span | None) -> Span:
    """The first known position; a policy loaded from a bundle has none."""
    for s in candidates:
        if s is not None:
            return s
    return Span.point("<policy>", 1, 1)


def glob_diagnostic(glob: str, names: Sequence[str], target: str, span: Span) -> Diagnostic:
    """W070 (expanded to the namespaces known now) or W071 (none known: left out)."""
    if names:
        shown = ", ".join(names[:5]) + (f", ... ({len(names)} in all)" if len(names) > 5 else "")
        return warning(
            "W070",
            f"{target} cannot select the namespace glob '{glob}': it is expanded to the "
            f"namespaces known at compile time: {shown}",
            span,
            "namespaces created later are not reached until the policy is compiled again with a "
            "fresh `--namespaces` list",
        )
    return warning(
        "W071",
        f"{target} cannot select the namespace glob '{glob}', and no namespace known at "
        "compile time matches it: this peer is left out",
        span,
        "pass the existing namespaces with `--namespaces FILE` (`kubectl get ns -o name`), or "
        "name the namespaces exactly",
    )


@functools.lru_cache(maxsize=4096)
def excepts_inside(cidr: str, excepts: tuple[str, ...]) -> tuple[str, ...] | None:
    """The exceptions that lie inside `cidr`; None when one is `cidr` itself (nothing left)."""
    net = ipaddress.ip_network(cidr)
    lo, hi = int(net.network_address), int(net.broadcast_address)
    inside: list[str] = []
    for x in excepts:
        e = ipaddress.ip_network(x)
        if e == net:
            return None
        if (
            e.version == net.version
            and lo <= int(e.network_address) <= int(e.broadcast_address) <= hi
        ):
            inside.append(x)
    return tuple(inside)
