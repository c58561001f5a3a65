"""`mutate` and `validate`: from an object and a policy to a Decision. Pure: no I/O.

Order of the passes (each reads what the earlier ones wrote): mesh, security, resources,
scratch (needs the read-only roots), network, scheduling, seed, environment (needs the CPU
limits and the seed), images, and stamps last (they record the rules that fired).
"""

from __future__ import annotations

import math
from typing import Any, Final

from compiler.admission import (
    cache,
    controllers,
    environment,
    mesh,
    network,
    resources,
    scheduling,
    scratch,
    security,
    seed,
    stamps,
)
from compiler.admission.context import Ctx, Subject, line, q

__all__ = ["Ctx", "Subject"]
from compiler.admission.patch import Editor, Malformed, Path, pointer
from compiler.admission.rules import RULES
from compiler.decision import Decision, Denial
from compiler.labels import COST_CENTER, DIGEST, TENANT, TIER
from compiler.model import CompiledPolicy, Tenant, Tier

MIRROR: Final = "kubernetes.io/config.mirror"
PASS: Final = Decision(allowed=True)
FORBIDDEN: Final = 403


def _namespace(obj: dict[str, Any], namespace: str) -> str:
    if namespace:
        return namespace
    meta = obj.get("metadata")
    ns = meta.get("namespace") if isinstance(meta, dict) else None
    return ns if isinstance(ns, str) and ns else "default"


def _where(obj: dict[str, Any], base: Path) -> str:
    if not base:
        return ""
    meta = obj.get("metadata")
    name = meta.get("name") if isinstance(meta, dict) else None
    return f"{obj.get('kind')} {q(name or '')} pod template: "


def _string_maps(obj: dict[str, Any], base: Path) -> tuple[dict[str, Any], dict[str, Any]]:
    """The pod's labels and annotations ({} when absent); Malformed unless objects of strings."""
    meta = Editor(obj, base).get(("metadata",))
    if meta is None:
        return {}, {}
    if not isinstance(meta, dict):
        raise Malformed((*base, "metadata"), "an object")
    return _string_map(meta, "labels", base), _string_map(meta, "annotations", base)


def _string_map(meta: dict[str, Any], key: str, base: Path) -> dict[str, Any]:
    value = meta.get(key)
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise Malformed((*base, "metadata", key), "an object of strings")
    for k, v in value.items():
        if not isinstance(k, str):
            raise Malformed((*base, "metadata", key), "an object with string keys")
        if not isinstance(v, str):
            raise Malformed((*base, "metadata", key, k), "a string")
    return value


def not_json(obj: Any) -> Malformed | None:
    """Where obj is not a JSON document (a key that is not a string, a number that is not
    finite, a value of another type, a node inside itself), or None.

    The API server only ever sends JSON; YAML (`hermetic mutate`, `hermetic check`) can say
    more. Run only when a decision failed: a failure on such an object is the object's."""
    on_path: set[int] = set()
    stack: list[tuple[Any, Path, bool]] = [(obj, (), False)]
    while stack:
        node, path, leaving = stack.pop()
        if leaving:
            on_path.discard(id(node))
            continue
        if isinstance(node, dict | list):
            if id(node) in on_path:
                return Malformed(path, "a tree (a YAML alias must not refer to a node around it)")
            on_path.add(id(node))
            stack.append((node, path, True))
            if isinstance(node, list):
                stack += [(v, (*path, i), False) for i, v in enumerate(node)]
                continue
            for k, v in node.items():
                if not isinstance(k, str):
                    return Malformed(path, f"an object with string keys, not {q(k)}")
                stack.append((v, (*path, k), False))
        elif isinstance(node, float) and not math.isfinite(node):
            return Malformed(path, "a finite number")
        elif node is not None and not isinstance(node, str | int | float):
            return Malformed(path, "a string, number, boolean, null, object or list")
    return None


def not_json_decision(obj: Any, policy: CompiledPolicy, namespace: str) -> Decision | None:
    """The denial of a governed object that is not a JSON document, or None."""
    m = not_json(obj)
    if m is None or not isinstance(obj, dict):
        return None
    base = controllers.template_path(obj)
    tenant = policy.tenant_for_namespace(_namespace(obj, namespace))
    if base is None or tenant is None:
        return None  # not a pod or a pod controller, or not in a tenant's namespace
    return _malformed_subject(obj, base, tenant, policy, _where(obj, base), "", m).denial


def subject(obj: Any, policy: CompiledPolicy, namespace: str) -> Subject | None:
    """The governed object, or None when the object passes untouched."""
    if not isinstance(obj, dict):
        return None
    base = controllers.template_path(obj)
    if base is None:
        return None
    ns = _namespace(obj, namespace)
    tenant = policy.tenant_for_namespace(ns)
    if tenant is None:
        return None
    where = _where(obj, base)
    try:
        labels, annotations = _string_maps(obj, base)
    except Malformed as m:
        return _malformed_subject(obj, base, tenant, policy, where, ns, m)
    if not policy.governs(labels) or (not base and MIRROR in annotations):
        return None
    tier, denial = _tier(tenant, policy, labels.get(TIER), where, base)
    return Subject(obj, base, tenant, tier, where, ns, labels, annotations, denial)


def _malformed_subject(
    obj: dict[str, Any],
    base: Path,
    tenant: Tenant,
    policy: CompiledPolicy,
    where: str,
    ns: str,
    m: Malformed,
) -> Subject:
    # Labels we cannot read might have been the ones that govern the pod: deny, to stay safe.
    subject_text = f"{'.'.join(str(k) for k in m.path)} must be {m.expected}"
    fix = "correct the manifest (the API server would reject it as well)"
    text = line(tenant.name, tenant.default_tier, where, subject_text, "pod.malformed", fix)
    denial = Denial(rule="pod.malformed", message=text, path=pointer(m.path))
    decision = _denied(tenant.name, tenant.default_tier, [denial], [])
    return Subject(obj, base, tenant, None, where, ns, {}, {}, decision)


def _tier(
    tenant: Tenant, policy: CompiledPolicy, asked: str | None, where: str, base: Path
) -> tuple[Tier | None, Decision | None]:
    name = asked if asked else tenant.default_tier
    tier = policy.tier(name) if name in tenant.tiers else None
    if tier is not None:
        return tier, None
    allowed = ", ".join(tenant.tiers)
    fix = (
        f"use one of {allowed} in label {TIER}, or remove the label for the tenant's default "
        f"{tenant.default_tier}"
    )
    text = line(tenant.name, name, where, f"the pod asks for tier {q(name)}", "tier.allowed", fix)
    path = pointer((*base, "metadata", "labels", TIER))
    return None, _denied(
        tenant.name, name, [Denial(rule="tier.allowed", message=text, path=path)], []
    )


def _denied(tenant: str, tier: str, denials: list[Denial], warnings: list[str]) -> Decision:
    # One line per problem: a problem fixed by two writes (a request and a limit) is one.
    unique: dict[str, Denial] = {}
    for d in denials:
        unique.setdefault(d.message, d)
    denials = list(unique.values())
    rules = tuple(sorted({d.rule for d in denials}))
    return Decision(
        allowed=False,
        code=FORBIDDEN,
        message="\n".join(d.message for d in denials),
        warnings=tuple(warnings),
        rules=rules,
        tenant=tenant,
        tier=tier,
        governed=True,
        denials=tuple(denials),
        audit_annotations={"tenant": tenant, "tier": tier, "denied": ",".join(rules)},
    )


def context(s: Subject, cached: cache.PolicyCache, uid: str, digest: str | None) -> Ctx:
    """The decision's context; digest: the bundle's (default: the policy's own)."""
    assert s.tier is not None
    return Ctx(s, cached.tiers[s.tier.name], uid, digest or cached.digest())


def run_passes(ctx: Ctx) -> None:
    """Every pass but the stamps; a Malformed field ends the run with a denial."""
    try:
        containers = ctx.get(("spec", "containers"))
        if not isinstance(containers, list) or not containers:
            # The API server rejects a pod without containers; so do we, by name.
            raise Malformed((*ctx.ed.base, "spec", "containers"), "a non-empty list of containers")
        mesh.apply(ctx)
        security.apply(ctx)
        resources.apply(ctx)
        scratch.apply(ctx)
        network.apply(ctx)
        scheduling.apply(ctx)
        environment.apply(ctx, seed.apply(ctx))
        environment.images(ctx)
    except Malformed as m:
        ctx.deny_malformed(m)


def decide(ctx: Ctx) -> Decision:
    """The decision of a context whose passes have run: the denial, or the stamped patch."""
    if ctx.denials:
        return _denied(ctx.tenant.name, ctx.tier.name, ctx.denials, ctx.warnings)
    rules = stamps.apply(ctx)
    audit = {"tenant": ctx.tenant.name, "tier": ctx.tier.name, "bundle-digest": ctx.digest}
    audit["rules"] = ",".join(rules)
    return Decision(
        allowed=True,
        patch=ctx.ed.ops,
        warnings=tuple(ctx.warnings),
        audit_annotations=audit,
        rules=rules,
        tenant=ctx.tenant.name,
        tier=ctx.tier.name,
        governed=True,
    )


def guarantee(rule: str) -> bool:
    r = RULES.get(rule)
    return r is None or r.guarantee


def stamp_problems(ctx: Ctx) -> list[tuple[str, str, Path]]:
    """Stamps the final object lacks: (rule, problem, path)."""
    labels = ctx.labels
    out: list[tuple[str, str, Path]] = []
    for key, want, rule in (
        (TENANT, ctx.tenant.name, "stamp.tenant"),
        (TIER, ctx.tier.name, "stamp.tier"),
        (COST_CENTER, ctx.tenant.cost_center, "stamp.cost-center"),
    ):
        if want is not None and labels.get(key) != want:
            out.append(
                (
                    rule,
                    f"label {key} is {q(labels.get(key))}, not {want}",
                    ("metadata", "labels", key),
                )
            )
    if not ctx.annotations.get(DIGEST):
        out.append(("stamp.digest", f"annotation {DIGEST} is missing", ("metadata", "annotations")))
    return out
