"""Scheduling: priority, runtime class, node affinity, tolerations, spreading, block I/O.

- priorityClassName is the tier's; another class is denied. `priority` and
  `preemptionPolicy` are set to the class's values: the Priority admission plugin fills
  them before webhooks run (from the class the pod had, or none) and runs again after us,
  rejecting a pod whose values disagree with its class. Replacing a value warns, except
  when the pod had no class and the value is what the plugin fills then (priority 0,
  PreemptLowerPriority, when no PriorityClass is the global default): that is every pod
  that leaves scheduling to hermetic, and nothing the user wrote.
- Required node labels are ANDed into every nodeSelectorTerm (terms are ORed, so a term
  without them would escape the tier's nodes); with no term, one is created.
- Preferred terms and tolerations are merged without duplicates.
- Strategy families: anti-affinity and topology spread select the pod's own family value
  (`labelSelector.matchLabels {label: value}`), which works on every Kubernetes version
  and never puts one key in both labelSelector and matchLabelKeys. A pod without the
  family label has no family to keep apart and gets no term.
"""

from __future__ import annotations

from typing import Any, Final

from compiler.admission.cache import BLOCK_IO, Fragments
from compiler.admission.context import Ctx, q, seq
from compiler.admission.patch import Path
from compiler.model import Spread

REQUIRED: Final = "requiredDuringSchedulingIgnoredDuringExecution"
PREFERRED: Final = "preferredDuringSchedulingIgnoredDuringExecution"
NODE: Final = ("spec", "affinity", "nodeAffinity")
TERMS: Final = (*NODE, REQUIRED, "nodeSelectorTerms")
ANTI: Final = ("spec", "affinity", "podAntiAffinity")
SPREAD: Final = ("spec", "topologySpreadConstraints")


def apply(ctx: Ctx) -> None:
    tier, data = ctx.tier, ctx.data
    _priority(ctx)
    if tier.runtime_class is not None:
        _runtime_class(ctx, tier.runtime_class)
    if data.node_expressions.items:
        _required_nodes(ctx, data.node_expressions)
    if data.node_preferences.items:
        rule = "scheduling.node-preferred"
        _merge(ctx, NODE, PREFERRED, data.node_preferences, rule, "preference")
    if data.tolerations.items:
        _merge(ctx, ("spec",), "tolerations", data.tolerations, "scheduling.tolerations", None)
    labels = ctx.labels
    for s in tier.spreads:
        value = labels.get(s.label)
        if isinstance(value, str):
            _spread(ctx, s, value)
    if tier.block_io is not None:
        _block_io(ctx, tier.block_io)


def _priority(ctx: Ctx) -> None:
    p = ctx.tier.priority
    spec = ctx.spec
    name = spec.get("priorityClassName")
    if name not in (None, "", p.class_name):
        subject = f"the pod sets priorityClassName {q(name)}"
        fix = f"remove it: tier {ctx.tier.name} runs at PriorityClass {p.class_name}"
        ctx.deny("scheduling.priority-class", subject, fix, ("spec", "priorityClassName"))
        return
    what = "the pod has no priorityClassName"
    ctx.put(spec, "priorityClassName", p.class_name, "scheduling.priority-class", what)
    classless = not name
    for key, value in (("priority", p.value), ("preemptionPolicy", ctx.data.preemption_policy)):
        old = spec.get(key)
        if old is None and ctx.template:
            continue  # the Priority plugin fills it when each pod is created
        what = f"the pod's {key} is not its class's ({value})"
        if not ctx.put(spec, key, value, "scheduling.priority", what) or old is None:
            continue
        if classless and _plugin_default(key, old):
            continue  # the Priority plugin's value for a pod without a class: not the user's
        ctx.warn(f"hermetic: {key} set to {value} to match {p.class_name} (was {q(old)})")


# What the Priority plugin fills in a pod without priorityClassName when no PriorityClass
# is the global default (scheduling.DefaultPriorityWhenNoDefaultClassExists).
PLUGIN_DEFAULTS: Final[dict[str, object]] = {
    "priority": 0,
    "preemptionPolicy": "PreemptLowerPriority",
}


def _plugin_default(key: str, value: object) -> bool:
    want = PLUGIN_DEFAULTS[key]
    return type(value) is type(want) and value == want


def _runtime_class(ctx: Ctx, want: str) -> None:
    have = ctx.spec.get("runtimeClassName")
    if have not in (None, "", want):
        subject = f"the pod sets runtimeClassName {q(have)}"
        fix = f"remove it: tier {ctx.tier.name} runs with RuntimeClass {want}"
        ctx.deny("scheduling.runtime-class", subject, fix, ("spec", "runtimeClassName"))
        return
    what = "the pod has no runtimeClassName"
    ctx.put(ctx.spec, "runtimeClassName", want, "scheduling.runtime-class", what)


def _required_nodes(ctx: Ctx, exprs: Fragments) -> None:
    terms = ctx.items(TERMS)
    rule = "scheduling.node-required"
    if not terms:
        term = {"matchExpressions": exprs.fresh()}
        ctx.set(TERMS, [term], rule, "the pod may run on any node")
        return
    for i, term in enumerate(terms):
        if not isinstance(term, dict):
            continue  # the API server rejects it
        path = (*TERMS, i, "matchExpressions")
        have = ctx.items(path)
        missing = [
            e for e, want in zip(exprs.fresh(), exprs.items, strict=True) if want not in have
        ]
        what = f"node selector term {i} lets the pod run outside the tier's nodes"
        if not have:
            ctx.set(path, missing, rule, what)
            continue
        for e in missing:
            ctx.append(path, e, rule, what)


def _merge(
    ctx: Ctx, where: Path, field: str, wanted: Fragments, rule: str, key: str | None
) -> None:
    """Append each wanted item to the list `field` of the object at `where`, unless an equal
    one (or one with an equal `key`) is there."""
    parent = ctx.node(where)
    have = seq(parent, field, ctx.ed.path_of(parent)) if parent is not None else []
    add = wanted.fresh()
    if have:
        seen = [h.get(key) if key and isinstance(h, dict) else h for h in have]
        add = [
            a
            for a, w in zip(add, wanted.items, strict=True)
            if (w.get(key) if key else w) not in seen
        ]
        if not add:
            return
    what = f"the pod lacks the tier's {field} entry"
    _append(ctx, parent, where, field, [(item, rule, what) for item in add])


def _spread(ctx: Ctx, s: Spread, value: str) -> None:
    selector = {"matchLabels": {s.label: value}}
    if s.kind == "anti-affinity":
        term = {"labelSelector": selector, "topologyKey": s.topology_key}
        if s.hard:
            _add_term(ctx, REQUIRED, term, term)
        else:
            _add_term(ctx, PREFERRED, {"weight": 100, "podAffinityTerm": term}, term)
        return
    mode = "DoNotSchedule" if s.hard else "ScheduleAnyway"
    want = {
        "maxSkew": s.max_skew,
        "topologyKey": s.topology_key,
        "whenUnsatisfiable": mode,
        "labelSelector": selector,
    }
    for i, c in enumerate(ctx.items(SPREAD)):
        if c == want:
            return
        if isinstance(c, dict) and (c.get("topologyKey"), c.get("whenUnsatisfiable")) == (
            s.topology_key,
            mode,
        ):
            _spread_clash(ctx, s, i)
            return
    ctx.append(SPREAD, want, "scheduling.spread", f"the pod does not spread by {s.label}")


def _add_term(ctx: Ctx, field: str, item: dict[str, Any], term: dict[str, Any]) -> None:
    """Append an anti-affinity item (built for this pod) unless the pod has one with its
    term (a preferred item holds it in podAffinityTerm; a required item is the term)."""
    parent = ctx.node(ANTI)
    have = seq(parent, field, ctx.ed.path_of(parent)) if parent is not None else []
    preferred = item is not term
    for h in have:
        if (h.get("podAffinityTerm") if preferred and isinstance(h, dict) else h) == term:
            return
    what = f"the pod lacks the tier's {field} entry"
    _append(ctx, parent, ANTI, field, [(item, "scheduling.anti-affinity", what)])


def _append(
    ctx: Ctx,
    parent: dict[str, Any] | None,
    where: Path,
    field: str,
    items: list[tuple[Any, str, str]],
) -> None:
    """Append to the list `field` of parent, the owned object at `where` (None when absent:
    the first item then creates it, with the list)."""
    if parent is not None:
        ctx.add(parent, field, items)
    else:
        ctx.extend((*where, field), items)


def _spread_clash(ctx: Ctx, s: Spread, index: int) -> None:
    # Kubernetes forbids two constraints with one (topologyKey, whenUnsatisfiable) pair.
    subject = f"the pod has its own topology spread over {s.topology_key}"
    if s.hard:
        fix = f"remove it: tier {ctx.tier.name} spreads by {s.label} (max skew {s.max_skew})"
        ctx.deny("scheduling.spread", subject, fix, (*SPREAD, index))
    else:
        ctx.warn(f"hermetic: {subject}; kept instead of the tier's soft spread by {s.label}")


def _block_io(ctx: Ctx, klass: str) -> None:
    old = ctx.annotations.get(BLOCK_IO)
    what = "the pod has no block-I/O class"
    if (
        ctx.put_meta("annotations", BLOCK_IO, klass, "scheduling.block-io", what)
        and old is not None
    ):
        ctx.warn(f"hermetic: {BLOCK_IO} set to {klass} (was {q(old)})")
