"""Namespaced targets run once per tenant and stamped for each namespace
(compiler/targets/stamping.py), and `hermetic compile`'s YAML rendered from those templates
(cli/compile.py `render`): both must give exactly what running every target namespace by
namespace, and dumping every object, gives. Checked over every golden case, policies/, a
generated policy, and a policy whose strings hold the placeholder's braces."""

from __future__ import annotations

from typing import Any

import pytest

import compiler
from bench.generate import namespaces as bench_namespaces
from bench.generate import policy_text
from cli.compile import _file_of, dump, render
from compiler.build import bundle_for, bundle_of, plan_all
from compiler.model import CompiledPolicy
from compiler.targets import PLACEHOLDER, TARGETS, Generated, Options, merge
from dsl import Source

from .test_targets_golden import NAMES, case_inputs

BRACES = """policy braces version "{{namespace}}"
cluster {
  governs app = backtest
}
tier t {
  cpu 1..2 default 1
  memory 1Gi..2Gi default 1Gi
}
tenant a {
  namespaces a, a-*
  tiers t
  allow egress dns
  allow ingress tenant a
}
"""


def _cases() -> list[tuple[str, CompiledPolicy, list[str], str | None]]:
    out = []
    for case in [*NAMES, "policies"]:
        policy, names, url = case_inputs(case)
        out.append((case, policy, names, url))
    generated = compiler.load_sources([Source(path="g.hermetic", text=policy_text(12))])
    assert generated.policy is not None
    out.append(("generated", generated.policy, bench_namespaces(12), None))
    braces = compiler.load_sources([Source(path="b.hermetic", text=BRACES)])
    assert braces.policy is not None, [d.message for d in braces.diagnostics]
    out.append(("braces", braces.policy, ["a", "a-1", "a-2"], None))
    return out


CASES = _cases()
IDS = [c[0] for c in CASES]


def _direct(policy: CompiledPolicy, names: list[str], url: str | None) -> Generated:
    """Every target run namespace by namespace: what stamping must reproduce."""
    options = Options(namespaces=tuple(names), webhook_url=url)
    return merge(make(options).generate(policy) for make in TARGETS.values())


def _render_directly(policy: CompiledPolicy, objects: tuple[dict[str, Any], ...]) -> Any:
    """The manifest files as dumping every object gives them."""
    groups: dict[str, list[dict[str, Any]]] = {}
    for obj in objects:
        groups.setdefault(_file_of(policy, obj), []).append(obj)
    out = {}
    for name in sorted(groups):
        items = sorted(groups[name], key=lambda o: o["metadata"].get("namespace", ""))
        out[f"manifests/{name}.yaml"] = dump(items, "yaml")
    return out


@pytest.mark.parametrize(("case", "policy", "names", "url"), CASES, ids=IDS)
def test_stamping_gives_what_running_every_target_gives(
    case: str, policy: CompiledPolicy, names: list[str], url: str | None
) -> None:
    plan = plan_all(policy, names, webhook_url=url)
    assert plan.stampable == (case != "braces")
    direct = _direct(policy, names, url)
    stamped = plan.generated()
    assert stamped.objects == direct.objects
    assert stamped.diagnostics == direct.diagnostics
    assert plan.diagnostics() == direct.diagnostics
    assert plan.count() == len(direct.objects)


STAMPABLE = [c for c in CASES if c[0] != "braces"]  # braces: generated per namespace


@pytest.mark.parametrize(
    ("case", "policy", "names", "url"), STAMPABLE, ids=[c[0] for c in STAMPABLE]
)
def test_each_template_stamps_to_its_namespace_objects(
    case: str, policy: CompiledPolicy, names: list[str], url: str | None
) -> None:
    plan = plan_all(policy, names, webhook_url=url)
    assert plan.stampable
    options = Options(namespaces=tuple(names), webhook_url=url)
    for tt in plan.tenants:
        for step in plan.steps:
            if step.fn is None:
                continue
            template = tt.templates[step.name]
            assert all(PLACEHOLDER in o["metadata"].values() for o in template.objects)
            for ns in tt.namespaces:
                expected = step.fn(policy, tt.tenant, ns, options.known).objects
                assert template.stamp(ns) == list(expected)


@pytest.mark.parametrize(("case", "policy", "names", "url"), CASES, ids=IDS)
def test_rendered_manifests_are_the_dump_of_every_object(
    case: str, policy: CompiledPolicy, names: list[str], url: str | None
) -> None:
    plan = plan_all(policy, names, webhook_url=url)
    doc = bundle_of(plan)
    assert doc == bundle_for(policy, names)
    rendered = render(plan, doc, "yaml")
    expected = _render_directly(policy, _direct(policy, names, url).objects)
    assert {k: v for k, v in rendered.items() if k != "bundle.json"} == expected
    assert set(rendered) == {"bundle.json", *expected}
