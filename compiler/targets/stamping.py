"""Namespaced targets run once per tenant and stamped out for each of its namespaces.

What a namespaced target emits for one namespace of a tenant depends on the namespace only
through its name: the same objects, with the name in `metadata.namespace` and in the values
that name the namespace (mesh identities of `pods` peers). So each namespaced target runs
once per tenant, at `PLACEHOLDER`, and its output is a template: the bundle's per-tenant
templates are these objects (`hermetic sync` instantiates them for namespaces created
later), `hermetic compile` renders each template's YAML once and fills in every namespace
of the tenant (`cli.yamlblock.Stencil`), and `Template.stamp` makes fresh objects for a
namespace by substituting the name in every string of the template's JSON. A test holds
every target to this over every golden policy: stamping gives exactly the objects, the
order and the diagnostics of running the targets namespace by namespace.

The one way stamping could differ is a policy whose own strings contain the placeholder:
for a policy with `{{` in any string (`stampable` false), each namespaced target is run
namespace by namespace as well, and its steps hold that output like a cluster-scoped one.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import orjson

from compiler.model import CompiledPolicy, Tenant
from compiler.targets.base import (
    Generated,
    NamespaceFn,
    Obj,
    Options,
    PerNamespace,
    Target,
    merge,
    tenant_namespaces,
)
from dsl.diagnostics import Diagnostic
from dsl.gc import paused_gc

PLACEHOLDER = "{{namespace}}"


class Template:
    """What one namespaced target emits for one namespace of a tenant, at `PLACEHOLDER`."""

    __slots__ = ("_json", "diagnostics", "objects")

    def __init__(self, generated: Generated) -> None:
        self.objects: tuple[Obj, ...] = generated.objects
        self.diagnostics: tuple[Diagnostic, ...] = generated.diagnostics
        self._json: bytes | None = None  # the objects as JSON, written at the first stamp

    def stamp(self, namespace: str) -> list[Obj]:
        """Fresh objects for `namespace` (a namespace name needs no JSON escape)."""
        if not self.objects:
            return []
        if self._json is None:
            self._json = orjson.dumps(self.objects)
        return list(orjson.loads(self._json.replace(_PLACEHOLDER, namespace.encode())))


_PLACEHOLDER = PLACEHOLDER.encode()


@dataclass(frozen=True, slots=True)
class TenantTemplates:
    """One tenant's templates (namespaced target name -> Template, in output order) and
    the namespaces to stamp them for."""

    tenant: Tenant
    namespaces: tuple[str, ...]
    templates: dict[str, Template]

    def objects(self, targets: tuple[str, ...]) -> list[Obj]:
        """The objects at `PLACEHOLDER` of the given targets, in order."""
        return [o for name in targets for o in self.templates[name].objects]


@dataclass(frozen=True, slots=True)
class Step:
    """One target in output order, with what it generated; or, for a namespaced target
    whose objects are the tenants' templates stamped, `generated` None. `fn` is a
    namespaced target's per-namespace function."""

    name: str
    generated: Generated | None
    fn: NamespaceFn | None


@dataclass(frozen=True, slots=True)
class Plan:
    """Every target's output for a policy, with namespaced targets kept as templates."""

    policy: CompiledPolicy
    steps: tuple[Step, ...]
    tenants: tuple[TenantTemplates, ...]
    stampable: bool

    def generated(self) -> Generated:
        """The objects and diagnostics of running every target in order."""
        with paused_gc():
            return merge(self._parts())

    def diagnostics(self) -> tuple[Diagnostic, ...]:
        """The diagnostics of `generated()`, without making its objects."""
        seen: dict[Diagnostic, None] = {}
        for step in self.steps:
            if step.generated is not None:
                seen.update(dict.fromkeys(step.generated.diagnostics))
                continue
            for tt in self.tenants:
                if tt.namespaces:
                    seen.update(dict.fromkeys(tt.templates[step.name].diagnostics))
        return tuple(seen)

    def count(self) -> int:
        """How many objects `generated()` holds, without making them."""
        return sum(
            len(step.generated.objects)
            if step.generated is not None
            else sum(
                len(tt.namespaces) * len(tt.templates[step.name].objects) for tt in self.tenants
            )
            for step in self.steps
        )

    def _parts(self) -> Iterator[Generated]:
        for step in self.steps:
            if step.generated is not None:
                yield step.generated
                continue
            for tt in self.tenants:
                if tt.namespaces:
                    template = tt.templates[step.name]
                    objects = [o for ns in tt.namespaces for o in template.stamp(ns)]
                    yield Generated(tuple(objects), template.diagnostics)


def stampable(policy: CompiledPolicy) -> bool:
    """Whether no string of the policy holds `{{` (JSON's own syntax never writes `{{`)."""
    return b"{{" not in orjson.dumps(policy, default=repr)


def plan(policy: CompiledPolicy, targets: dict[str, Target], options: Options) -> Plan:
    """Run the cluster-scoped targets, and each namespaced one once per tenant (and, for a
    policy that is not `stampable`, namespace by namespace too)."""
    owned: dict[str, list[str]] = {t.name: [] for t in policy.tenants}
    for t, ns in tenant_namespaces(policy, options.known):
        owned[t.name].append(ns)
    exact = stampable(policy)
    steps: list[Step] = []
    namespaced: dict[str, NamespaceFn] = {}
    for name, target in targets.items():
        if isinstance(target, PerNamespace):
            steps.append(Step(name, None if exact else target.generate(policy), target.fn))
            namespaced[name] = target.fn
        else:
            steps.append(Step(name, target.generate(policy), None))
    known = options.known
    tenants = tuple(
        TenantTemplates(
            tenant=t,
            namespaces=tuple(owned[t.name]),
            templates={
                name: Template(fn(policy, t, PLACEHOLDER, known)) for name, fn in namespaced.items()
            },
        )
        for t in policy.tenants
    )
    return Plan(policy, tuple(steps), tenants, exact)
