"""The admission decision: `mutate` (the mutating webhook, `hermetic mutate`, `hermetic
check`) and `validate` (the validating backstop after every mutating webhook).

Both are pure functions of an object and a CompiledPolicy, never change their input and
never raise: a malformed object is denied with a message naming the field; an unexpected
failure becomes a denial with rule `internal.error` (a bug: tests prove it never happens).

Where each decision is documented (module docstrings):
- engine: what is governed (tenant from the namespace argument, else the object's own, an
  exact name before a glob; the `governs` selector; mirror pods pass; a pod without
  containers or with unreadable labels is denied), the tier (label or tenant default).
- stamps: tenant/tier/cost-center labels are hermetic's (another tenant's is overwritten,
  with a warning); `hermetic.io/rules` is rewritten only when something else changes.
- resources: bounds are per container; a missing value copies its partner, both missing
  get the default; user values are never rewritten, only denied; values the LimitRanger
  plugin set (its `kubernetes.io/limit-ranger` annotation says which) count as missing.
- security (strict removes the ServiceAccount plugin's token volume and mounts), mesh,
  network, scratch (a user's mount at a scratch path is kept, a volume with a scratch
  volume's name is denied), scheduling (priority set to the class's value, without a
  warning when it was the Priority plugin's default; families selected by the pod's own
  label value), seed (derived from namespace, name and request uid; none injected into
  templates), environment, controllers, update (pods: no patch; checks on stamped pods;
  deleting and pre-hermetic pods pass).
- validate (below): a Pod is checked as final; a workload's template only as `mutate`
  would decide it (denied for what `mutate` denies, never for what it would add).
"""

from __future__ import annotations

from typing import Any

from compiler.admission import cache, engine, update
from compiler.admission.context import line
from compiler.admission.patch import pointer
from compiler.admission.rules import RULES
from compiler.decision import Decision, Denial
from compiler.model import CompiledPolicy

__all__ = ["RULES", "Decision", "mutate", "validate"]


def mutate(
    obj: Any,
    policy: CompiledPolicy,
    *,
    namespace: str,
    operation: str = "CREATE",
    request_uid: str = "",
    digest: str | None = None,
    dry_run: bool = False,
) -> Decision:
    """Admit (with an RFC 6902 patch), pass untouched, or deny a Pod or a pod controller.

    namespace: the request's namespace (wins over the object's own). request_uid: seeds
    injected seeds. digest: the bundle digest to stamp (default: computed once per policy).
    dry_run changes nothing: the decision has no side effects either way.
    """
    del dry_run  # pure: a dry run decides exactly like a real one
    try:
        if operation in ("DELETE", "CONNECT"):
            return engine.PASS
        s = engine.subject(obj, policy, namespace)
        if s is None:
            return engine.PASS
        if operation == "UPDATE" and not s.base and update.exempt(s.obj):
            return update.exempted(s)
        if s.denial is not None:
            return s.denial
        ctx = engine.context(s, cache.for_policy(policy), request_uid, digest)
        if operation == "UPDATE" and not s.base:
            return update.decide(ctx)
        engine.run_passes(ctx)
        return engine.decide(ctx)
    except Exception as exc:  # the promise: never raise
        return _failed(exc, obj, policy, namespace)


def validate(obj: Any, policy: CompiledPolicy, *, namespace: str) -> Decision:
    """Re-check an object after every mutating webhook; never patches.

    A Pod is final: denies what `mutate` would deny, what a guarantee rule would still
    have to change (a later webhook undid hermetic's work, e.g. added a container without
    requests == limits to an exclusive-core pod), and missing stamps (the pod skipped
    `mutate`). Convenience rules (thread counts, scratch mounts, seeds recorded) only warn.

    A workload's pod template is not mutated (only pods are; each pod the controller
    creates goes through `mutate`): it is denied exactly when `mutate` of it would be
    denied (a tier not allowed, resources out of range, privileged, unpinned images, a
    missing required seed...), never for what mutation will add, and is admitted with the
    warnings `mutate` would give. A template `hermetic mutate` previewed passes as well.
    """
    try:
        s = engine.subject(obj, policy, namespace)
        if s is None:
            return engine.PASS
        if s.denial is not None:
            return s.denial
        ctx = engine.context(s, cache.for_policy(policy), "", None)
        if s.base:
            engine.run_passes(ctx)
            return engine.decide(ctx) if ctx.denials else _admitted(ctx)
        ctx.changes = []
        engine.run_passes(ctx)
        return _backstop(ctx)
    except Exception as exc:
        return _failed(exc, obj, policy, namespace)


def _backstop(ctx: engine.Ctx) -> Decision:
    fix = (
        "hermetic sets it at admission and a later mutating webhook undid it: "
        "let hermetic run after that webhook (reinvocationPolicy IfNeeded) or fix it"
    )
    for change in ctx.changes or ():
        if engine.guarantee(change.rule):
            text = line(ctx.tenant.name, ctx.tier.name, ctx.where, change.what, change.rule, fix)
            where = pointer(change.path)
            ctx.denials.append(Denial(rule=change.rule, message=text, path=where))
    for rule, problem, path in engine.stamp_problems(ctx):
        fix = "the pod did not go through hermetic's mutating webhook: recreate it"
        ctx.deny(rule, problem, fix, path)
    if ctx.denials:
        return engine.decide(ctx)
    return _admitted(ctx)


def _admitted(ctx: engine.Ctx) -> Decision:
    return Decision(
        allowed=True,
        warnings=tuple(ctx.warnings),
        tenant=ctx.tenant.name,
        tier=ctx.tier.name,
        governed=True,
    )


def _failed(exc: Exception, obj: Any, policy: CompiledPolicy, namespace: str) -> Decision:
    """The decision after an exception: the object's fault if it is not JSON, else ours."""
    try:
        found = engine.not_json_decision(obj, policy, namespace)
    except Exception:
        found = None
    return found if found is not None else _internal(exc)


def _internal(exc: Exception) -> Decision:
    subject = f"hermetic failed on this object ({type(exc).__name__})"
    fix = "report this bug to the platform team; the object is denied to stay safe"
    text = line("unknown", "unknown", "", subject, "internal.error", fix)
    return Decision(
        allowed=False,
        code=500,
        message=text,
        rules=("internal.error",),
        denials=(Denial(rule="internal.error", message=text),),
        governed=True,
    )
