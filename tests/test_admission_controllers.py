"""Pod controllers' templates, operations (UPDATE, DELETE, CONNECT) and the backstop."""

from __future__ import annotations

import copy
from typing import Any

import jsonpatch
import pytest

from compiler.admission import mutate, validate
from tests.test_admission_support import NS, admitted, bundled, check, container, denied, pod

SEED = [{"name": "BACKTEST_SEED", "value": "3"}]


def template(tier: str = "tier1", **kw: Any) -> dict[str, Any]:
    p = pod(tier, **kw)
    return {"metadata": {"labels": p["metadata"]["labels"]}, "spec": p["spec"]}


CONTROLLERS = [
    ("apps/v1", "Deployment", ("spec", "template")),
    ("apps/v1", "ReplicaSet", ("spec", "template")),
    ("apps/v1", "StatefulSet", ("spec", "template")),
    ("apps/v1", "DaemonSet", ("spec", "template")),
    ("batch/v1", "Job", ("spec", "template")),
    ("v1", "ReplicationController", ("spec", "template")),
    ("batch/v1", "CronJob", ("spec", "jobTemplate", "spec", "template")),
    ("v1", "PodTemplate", ("template",)),
]


def wrap(api: str, kind: str, path: tuple[str, ...], tpl: dict[str, Any]) -> dict[str, Any]:
    obj: dict[str, Any] = {"apiVersion": api, "kind": kind, "metadata": {"name": "w"}}
    node = obj
    for key in path[:-1]:
        node = node.setdefault(key, {})
    node[path[-1]] = tpl
    return obj


@pytest.mark.parametrize(("api", "kind", "path"), CONTROLLERS, ids=[c[1] for c in CONTROLLERS])
def test_templates_get_the_pods_decision(api: str, kind: str, path: tuple[str, ...]) -> None:
    obj = wrap(api, kind, path, template("tier1"))
    d = check(obj, bundled())
    prefix = "/" + "/".join(path) + "/"
    assert d.allowed and d.patch and all(op["path"].startswith(prefix) for op in d.patch)
    bare = check(pod("tier1"), bundled())
    assert d.rules == tuple(
        sorted(
            set(bare.rules) - {"scheduling.priority", "seed.record"}
            | {"seed.record"} & set(d.rules)
        )
    )


def test_template_denial_names_the_controller() -> None:
    tpl = template("tier1", containers=[container(securityContext={"privileged": True})])
    d = denied(wrap("apps/v1", "Deployment", ("spec", "template"), tpl))
    assert 'Deployment "w" pod template: container "backtest" sets privileged' in d.message
    assert d.denials[0].path == "/spec/template/spec/containers/0/securityContext/privileged"


def test_templates_get_no_injected_seed_but_required_seeds_are_checked() -> None:
    tpl = template("tier1", containers=[container()])
    out = admitted(wrap("apps/v1", "Deployment", ("spec", "template"), tpl))
    t = out["spec"]["template"]
    assert "hermetic.io/seed" not in t["metadata"]["annotations"]
    assert "BACKTEST_SEED" not in {e["name"] for e in t["spec"]["containers"][0]["env"]}
    d = denied(
        wrap("batch/v1", "Job", ("spec", "template"), template("tier0", containers=[container()]))
    )
    assert d.rules == ("seed.required",)


def test_template_priority_is_left_to_the_priority_plugin() -> None:
    out = admitted(wrap("batch/v1", "Job", ("spec", "template"), template("tier1")))
    spec = out["spec"]["template"]["spec"]
    assert spec["priorityClassName"] == "hermetic-tier1" and "priority" not in spec


def test_custom_kinds_and_other_objects_pass() -> None:
    crd = wrap("kubeflow.org/v1", "Deployment", ("spec", "template"), template("tier0"))
    assert not mutate(crd, bundled(), namespace=NS).governed
    svc = {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "s"}}
    assert mutate(svc, bundled(), namespace=NS) == mutate(
        svc, bundled(), namespace=NS, operation="UPDATE"
    )


@pytest.mark.parametrize("op", ["DELETE", "CONNECT"])
def test_delete_and_connect_pass(op: str) -> None:
    d = mutate(pod("tier0"), bundled(), namespace=NS, operation=op)
    assert d.allowed and d.patch == [] and not d.governed


def test_pod_update_patches_nothing_and_checks_what_can_change() -> None:
    out = admitted(pod("tier0"))
    d = mutate(out, bundled(), namespace=NS, operation="UPDATE")
    assert d.allowed and d.patch == [] and d.governed
    relabel = copy.deepcopy(out)
    relabel["metadata"]["labels"]["hermetic.io/tenant"] = "risk-models"
    d = mutate(relabel, bundled(), namespace=NS, operation="UPDATE")
    assert d.rules == ("update.stamps",) and "put it back" in d.message
    image = copy.deepcopy(out)
    image["spec"]["containers"][0]["image"] = "python:3.12"
    assert mutate(image, bundled(), namespace=NS, operation="UPDATE").rules == ("images.pinned",)
    deleting = copy.deepcopy(relabel)
    deleting["metadata"]["deletionTimestamp"] = "2026-01-01T00:00:00Z"
    assert mutate(deleting, bundled(), namespace=NS, operation="UPDATE").allowed


def test_pods_from_before_hermetic_update_freely() -> None:
    d = mutate(pod("tier0"), bundled(), namespace=NS, operation="UPDATE")
    assert d.allowed and d.patch == [] and any("predates hermetic" in w for w in d.warnings)


def test_controller_update_is_a_full_decision() -> None:
    obj = wrap("apps/v1", "Deployment", ("spec", "template"), template("tier1"))
    assert (
        mutate(obj, bundled(), namespace=NS, operation="UPDATE").patch
        == mutate(obj, bundled(), namespace=NS).patch
    )


def test_backstop_admits_what_mutate_produced() -> None:
    for tier in ("tier0", "tier1", "tier2"):
        out = admitted(pod(tier))
        v = validate(out, bundled(), namespace=NS)
        assert v.allowed and v.patch == [] and v.tier == tier


def test_backstop_denies_what_a_later_webhook_undid() -> None:
    out = admitted(pod("tier0"))
    later = copy.deepcopy(out)
    later["spec"]["containers"].append(
        {
            "name": "injected",
            "image": f"x@sha256:{'c' * 64}",
            "resources": {"requests": {"cpu": "100m"}},
        }
    )
    v = validate(later, bundled(), namespace=NS)
    assert not v.allowed and v.patch == []
    assert "resources.cpu.whole" in v.rules
    later = copy.deepcopy(out)
    del later["spec"]["containers"][0]["securityContext"]["allowPrivilegeEscalation"]
    v = validate(later, bundled(), namespace=NS)
    assert v.rules == ("security.privilege-escalation",)
    assert "a later mutating webhook undid it" in v.message


def test_backstop_denies_missing_stamps_and_warns_only_for_conveniences() -> None:
    v = validate(pod("tier2"), bundled(), namespace=NS)
    assert not v.allowed and {"stamp.tenant", "stamp.digest"} <= set(v.rules)
    out = admitted(pod("tier1"))
    del out["spec"]["containers"][0]["env"][-1]  # TZ: a convenience
    assert validate(out, bundled(), namespace=NS).allowed


def test_backstop_passes_what_mutate_passes() -> None:
    assert validate({"kind": "Pod"}, bundled(), namespace="default").allowed
    jsonpatch.apply_patch({}, [])


def istio_injected(obj: dict[str, Any]) -> dict[str, Any]:
    """What Istio's injector (CNI mode, native sidecars) adds, with the proxy resources
    hermetic's annotations asked for."""
    out = copy.deepcopy(obj)
    ann = out["metadata"]["annotations"]
    res = {
        "requests": {
            "cpu": ann["sidecar.istio.io/proxyCPU"],
            "memory": ann["sidecar.istio.io/proxyMemory"],
        },
        "limits": {
            "cpu": ann["sidecar.istio.io/proxyCPULimit"],
            "memory": ann["sidecar.istio.io/proxyMemoryLimit"],
        },
    }
    sc = {
        "allowPrivilegeEscalation": False,
        "capabilities": {"drop": ["ALL"]},
        "privileged": False,
        "readOnlyRootFilesystem": True,
        "runAsGroup": 1337,
        "runAsNonRoot": True,
        "runAsUser": 1337,
    }
    proxy = {
        "name": "istio-proxy",
        "image": "docker.io/istio/proxyv2:1.28.0",
        "restartPolicy": "Always",
    }
    check = {"name": "istio-validation", "image": "docker.io/istio/proxyv2:1.28.0"}
    out["spec"]["initContainers"] = [
        check | {"resources": res, "securityContext": sc},
        proxy | {"resources": res, "securityContext": sc},
    ]
    out["spec"]["volumes"] = [
        {"name": "istio-envoy", "emptyDir": {"medium": "Memory"}},
        {
            "name": "istio-token",
            "projected": {
                "sources": [
                    {"serviceAccountToken": {"audience": "istio-ca", "path": "istio-token"}}
                ]
            },
        },
    ]
    out["metadata"]["labels"]["security.istio.io/tlsMode"] = "istio"
    ann["sidecar.istio.io/status"] = '{"initContainers":["istio-validation"]}'
    return out


def test_istio_injection_after_hermetic_keeps_the_tier() -> None:
    injected = istio_injected(admitted(pod("tier1")))
    again = mutate(injected, bundled(), namespace=NS)  # reinvocation (IfNeeded)
    assert again.allowed and again.patch == []
    assert validate(injected, bundled(), namespace=NS).allowed


def test_injected_proxy_with_istio_defaults_breaks_guaranteed_qos() -> None:
    """Istio's chart defaults (100m/2 CPU) in an exclusive-core pod: the backstop denies."""
    out = admitted(pod("tier0"))
    out["spec"]["initContainers"] = [
        {
            "name": "istio-proxy",
            "image": "docker.io/istio/proxyv2:1.28.0",
            "restartPolicy": "Always",
            "resources": {
                "requests": {"cpu": "100m", "memory": "128Mi"},
                "limits": {"cpu": "2", "memory": "1Gi"},
            },
        }
    ]
    v = validate(out, bundled(), namespace=NS)
    assert not v.allowed and "resources.cpu.guaranteed" in v.rules


def test_a_pod_being_deleted_is_never_wedged() -> None:
    out = admitted(pod("tier0"))
    out["metadata"]["labels"]["hermetic.io/tier"] = "tier9"
    assert mutate(out, bundled(), namespace=NS, operation="UPDATE").rules == ("tier.allowed",)
    out["metadata"]["deletionTimestamp"] = "2026-01-01T00:00:00Z"
    d = mutate(out, bundled(), namespace=NS, operation="UPDATE")
    assert d.allowed and d.patch == [] and d.warnings == ()


# --- validate of a workload: its template is not mutated yet ------------------------------


@pytest.mark.parametrize(("api", "kind", "path"), CONTROLLERS, ids=[c[1] for c in CONTROLLERS])
def test_validate_admits_a_plain_workload_whose_pods_mutate_will_admit(
    api: str, kind: str, path: tuple[str, ...]
) -> None:
    """No stamps, no security context, no resources: all of it comes at pod admission."""
    tpl = template("tier1", containers=[container(image="busybox:1.36")])
    tpl["metadata"]["labels"].pop("hermetic.io/tier")
    obj = wrap(api, kind, path, tpl)
    assert mutate(obj, bundled(), namespace=NS).allowed
    v = validate(obj, bundled(), namespace=NS)
    assert v.allowed and v.patch == [] and v.governed, v.message
    assert (v.tenant, v.tier) == ("alpha-research", "tier1")


@pytest.mark.parametrize(
    ("tpl", "rules"),
    [
        (template("tier9"), ("tier.allowed",)),
        (template("tier1", containers=[container(resources={"limits": {"cpu": "16"}})]),
         ("resources.cpu.range",)),
        (template("tier2", containers=[container(securityContext={"privileged": True})]),
         ("security.privileged",)),
        (template("tier0", containers=[container(env=SEED, image="python:3.12")]),
         ("images.pinned",)),
        (template("tier0", containers=[container()]), ("seed.required",)),
    ],
    ids=["tier", "cpu-range", "privileged", "unpinned", "no-seed"],
)  # fmt: skip
def test_validate_denies_a_workload_exactly_as_mutate_would(
    tpl: dict[str, Any], rules: tuple[str, ...]
) -> None:
    for api, kind, path in CONTROLLERS:
        obj = wrap(api, kind, path, copy.deepcopy(tpl))
        m = mutate(obj, bundled(), namespace=NS)
        v = validate(obj, bundled(), namespace=NS)
        assert not v.allowed and v.rules == m.rules == rules, (kind, v.message)
        assert v.message == m.message and v.denials == m.denials and v.patch == []
        assert f'{kind} "w" pod template: ' in v.message


def test_validate_admits_the_workload_hermetic_mutate_previewed() -> None:
    obj = wrap(
        "batch/v1", "Job", ("spec", "template"), template("tier0", containers=[container(env=SEED)])
    )
    out = admitted(obj)
    assert validate(out, bundled(), namespace=NS).allowed
    assert validate(obj, bundled(), namespace=NS).allowed


def test_validate_still_holds_a_pod_to_its_stamps() -> None:
    v = validate(pod("tier1"), bundled(), namespace=NS)
    assert not v.allowed and {"stamp.tenant", "stamp.digest"} <= set(v.rules)


def test_backstop_says_each_problem_once() -> None:
    """A container a later webhook added without resources misses a request and a limit of
    cpu, memory and ephemeral storage: one line per resource, not one per write."""
    out = admitted(pod("tier1"))
    out["spec"]["containers"].append({"name": "late", "image": f"x@sha256:{'c' * 64}"})
    v = validate(out, bundled(), namespace=NS)
    assert not v.allowed
    lines = v.message.split("\n")
    assert len(lines) == len(set(lines)) == len(v.denials)
    for name in ("cpu", "memory", "ephemeral-storage"):
        subject = f'container "late" has no {name} request or limit'
        assert sum(subject in x for x in lines) == 1, (name, lines)
