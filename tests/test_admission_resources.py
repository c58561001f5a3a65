"""Resources: defaults, partners, ranges, exclusive cores, swap, ephemeral storage."""

from __future__ import annotations

import copy
import dataclasses
from typing import Any

import pytest

from compiler.admission import mutate
from compiler.admission.resources import limit_ranger_set
from compiler.model import Bound
from tests.test_admission_support import (
    NS,
    admitted,
    apply,
    bundled,
    check,
    container,
    denied,
    pod,
)


def resources(obj: dict[str, Any], i: int = 0, field: str = "containers") -> dict[str, Any]:
    r: dict[str, Any] = obj["spec"][field][i]["resources"]
    return r


def test_both_missing_get_the_tier_default_for_both() -> None:
    out = admitted(pod("tier1"))
    assert resources(out) == {
        "requests": {"cpu": "2", "memory": "8Gi", "ephemeral-storage": "10Gi"},
        "limits": {"cpu": "2", "memory": "8Gi", "ephemeral-storage": "10Gi"},
    }


def test_a_missing_value_copies_its_partner_as_written() -> None:
    c = container(resources={"requests": {"cpu": "1500m"}, "limits": {"memory": "4Gi"}})
    out = admitted(pod("tier1", containers=[c]))
    r = resources(out)
    assert r["limits"]["cpu"] == "1500m" and r["requests"]["memory"] == "4Gi"


def test_request_below_limit_is_kept_where_swap_is_on() -> None:
    c = container(resources={"requests": {"memory": "2Gi"}, "limits": {"memory": "4Gi"}})
    out = admitted(pod("tier1", containers=[c]))
    assert resources(out)["requests"]["memory"] == "2Gi"


def test_swap_off_needs_memory_requests_equal_to_limits() -> None:
    p = bundled()
    t1 = p.tier("tier1")
    assert t1 is not None
    no_swap = dataclasses.replace(t1, resources=dataclasses.replace(t1.resources, swap=False))
    policy = dataclasses.replace(p, tiers=tuple(no_swap if t is t1 else t for t in p.tiers))
    c = container(resources={"requests": {"memory": "2Gi"}, "limits": {"memory": "4Gi"}})
    d = denied(pod("tier1", containers=[c]), policy)
    assert d.rules == ("resources.memory.guaranteed",)
    assert "turns swap off" in d.message
    out = admitted(
        pod("tier1", containers=[container(resources={"limits": {"memory": "4Gi"}})]), policy
    )
    assert resources(out)["requests"]["memory"] == "4Gi"


def test_out_of_range_names_container_resource_value_and_range() -> None:
    c = container(resources={"limits": {"cpu": "16"}})
    d = denied(pod("tier1", containers=[c]))
    assert d.rules == ("resources.cpu.range",)
    assert 'container "backtest" limits cpu "16", outside 500m..8' in d.message
    assert d.denials[0].path == "/spec/containers/0/resources/limits/cpu"


def test_exclusive_tier_is_guaranteed_on_every_container() -> None:
    sidecar = container("log", restartPolicy="Always")
    init = container("fetch")
    obj = pod("tier0", initContainers=[init, sidecar])
    obj["spec"]["containers"][0]["resources"] = {"limits": {"cpu": "4"}}
    out = admitted(obj)
    for field, i in (("containers", 0), ("initContainers", 0), ("initContainers", 1)):
        r = resources(out, i, field)
        assert r["requests"]["cpu"] == r["limits"]["cpu"] in ("4", 4)
        assert r["requests"]["memory"] == r["limits"]["memory"] == "16Gi"


@pytest.mark.parametrize(
    ("res", "rule"),
    [
        ({"requests": {"cpu": "3500m"}}, "resources.cpu.whole"),
        ({"limits": {"cpu": "4.5"}}, "resources.cpu.whole"),
        ({"requests": {"cpu": "4"}, "limits": {"cpu": "8"}}, "resources.cpu.range"),
        ({"requests": {"memory": "8Gi"}}, "resources.memory.range"),
        ({"requests": {"memory": "16Gi"}, "limits": {"memory": "32Gi"}}, "resources.memory.range"),
    ],
)
def test_exclusive_tier_denials(res: dict[str, Any], rule: str) -> None:
    d = denied(
        pod(
            "tier0",
            containers=[container(resources=res, env=[{"name": "BACKTEST_SEED", "value": "1"}])],
        )
    )
    assert rule in d.rules


def test_request_above_limit_is_denied() -> None:
    c = container(resources={"requests": {"cpu": "4"}, "limits": {"cpu": "2"}})
    assert denied(pod("tier1", containers=[c])).rules == ("resources.cpu.order",)


def test_unreadable_quantity_is_denied() -> None:
    c = container(resources={"limits": {"cpu": "lots"}})
    d = denied(pod("tier1", containers=[c]))
    assert d.rules == ("resources.malformed",) and '"lots"' in d.message


def test_pod_level_resources_are_denied_for_exclusive_cores() -> None:
    d = denied(pod("tier0", resources={"limits": {"cpu": "4"}}))
    assert "resources.pod-level" in d.rules


def test_bounds_are_per_container() -> None:
    """Three containers at the tier's maximum each: admitted (quotas bound the total)."""
    big = {"limits": {"cpu": "8", "memory": "32Gi"}}
    cs = [container(f"c{i}", resources=big) for i in range(3)]
    out = admitted(pod("tier1", containers=cs))
    assert [resources(out, i)["requests"]["cpu"] for i in range(3)] == ["8", "8", "8"]


def test_numbers_are_quantities() -> None:
    c = container(resources={"limits": {"cpu": 2, "memory": 4294967296}})
    out = admitted(pod("tier1", containers=[c]))
    assert resources(out)["requests"] == {
        "cpu": 2,
        "memory": 4294967296,
        "ephemeral-storage": "10Gi",
    }


def test_mesh_proxy_already_injected_takes_proxy_resources() -> None:
    proxy = {"name": "istio-proxy", "image": "istio/proxyv2:1.28"}
    out = admitted(pod("tier1", containers=[container(), proxy]))
    r = resources(out, 1)
    assert r == {
        "requests": {"cpu": "200m", "memory": "256Mi"},
        "limits": {"cpu": "200m", "memory": "256Mi"},
    }
    assert "env" not in out["spec"]["containers"][1]


def test_defaults_only_fill_missing_values_never_rewrite() -> None:
    c = container(resources={"requests": {"cpu": "1"}, "limits": {"cpu": "3"}})
    out = admitted(pod("tier1", containers=[c]))
    assert resources(out)["requests"]["cpu"] == "1" and resources(out)["limits"]["cpu"] == "3"


def test_ephemeral_containers_get_no_resources() -> None:
    obj = pod("tier2", ephemeralContainers=[{"name": "dbg", "image": "busybox"}])
    d = mutate(obj, bundled(), namespace=NS)
    assert not any("ephemeralContainers/0/resources" in op["path"] for op in d.patch)


# --- values the LimitRanger plugin set --------------------------------------------------

LR = "kubernetes.io/limit-ranger"
# hermetic-defaults in alpha-* (default tier tier1): requests 2/8Gi/10Gi, limits 8/32Gi/50Gi
LR_REQUESTS = {"cpu": "2", "ephemeral-storage": "10Gi", "memory": "8Gi"}
LR_LIMITS = {"cpu": "8", "ephemeral-storage": "50Gi", "memory": "32Gi"}
LR_MAIN = (
    "LimitRanger plugin set: cpu, ephemeral-storage, memory request for container backtest; "
    "cpu, ephemeral-storage, memory limit for container backtest"
)


def limit_ranged(tier: str, annotation: str = LR_MAIN, **res: dict[str, str]) -> dict[str, Any]:
    """The pod as the LimitRanger leaves it (the annotation read back from kube-apiserver)."""
    resources_ = {"requests": dict(LR_REQUESTS), "limits": dict(LR_LIMITS)} | res
    seed = [{"name": "BACKTEST_SEED", "value": "1"}]
    c = container(resources=resources_, env=seed)
    return pod(tier, containers=[c], annotations={LR: annotation})


def preview_of(obj: dict[str, Any]) -> dict[str, Any]:
    """What `mutate` makes of the same pod without the LimitRange (the annotation kept)."""
    plain = copy.deepcopy(obj)
    for c in plain["spec"]["containers"]:
        c.pop("resources", None)
    return plain


@pytest.mark.parametrize("tier", ["tier0", "tier1", "tier2"])
def test_limit_ranger_values_are_unset_and_the_result_is_the_previews(tier: str) -> None:
    obj = limit_ranged(tier)
    d = check(obj, bundled())
    assert d.allowed, d.message
    want = check(preview_of(obj), bundled())
    assert apply(obj, d) == apply(preview_of(obj), want)  # the annotation stays in both
    assert d.rules == want.rules and d.warnings == want.warnings


def test_tier0_in_a_limit_ranged_namespace_gets_exclusive_cores() -> None:
    out = admitted(limit_ranged("tier0"))
    r = resources(out)
    assert (
        r["requests"] == r["limits"] == {"cpu": "4", "ephemeral-storage": "20Gi", "memory": "16Gi"}
    )
    assert out["metadata"]["annotations"][LR] == LR_MAIN


def test_tier1_in_a_limit_ranged_namespace_gets_its_defaults_not_the_ranges_limits() -> None:
    d = check(limit_ranged("tier1"), bundled())
    assert {op["path"]: op["op"] for op in d.patch if "/resources" in op["path"]} == {
        "/spec/containers/0/resources/limits/cpu": "replace",
        "/spec/containers/0/resources/limits/memory": "replace",
        "/spec/containers/0/resources/limits/ephemeral-storage": "replace",
    }  # the requests already are tier1's defaults; their rules are recorded all the same
    r = resources(apply(limit_ranged("tier1"), d))
    assert (
        r["requests"] == r["limits"] == {"cpu": "2", "ephemeral-storage": "10Gi", "memory": "8Gi"}
    )


def test_the_same_values_without_the_annotation_are_the_users() -> None:
    obj = limit_ranged("tier0")
    del obj["metadata"]["annotations"][LR]
    d = denied(obj)
    assert 'container "backtest" requests cpu "2", outside exactly 4' in d.message


def test_a_limit_the_plugin_set_copies_the_users_request() -> None:
    text = (
        "LimitRanger plugin set: ephemeral-storage, memory request for container backtest; "
        "cpu, ephemeral-storage, memory limit for container backtest; "
        "cpu, ephemeral-storage, memory limit for init container fetch"
    )
    obj = limit_ranged("tier1", text, requests=dict(LR_REQUESTS, cpu="3"))
    obj["spec"]["initContainers"] = [
        container("fetch", resources={"requests": {**LR_REQUESTS, "cpu": "1"}, "limits": LR_LIMITS})
    ]
    out = admitted(obj)
    assert resources(out)["limits"]["cpu"] == resources(out)["requests"]["cpu"] == "3"
    init = resources(out, 0, "initContainers")
    assert init["limits"] == {"cpu": "1", "ephemeral-storage": "10Gi", "memory": "8Gi"}
    # the init container's requests were not the plugin's (the text names only its limits)
    assert init["requests"] == {**LR_REQUESTS, "cpu": "1"}


def test_only_the_named_container_and_kind_count() -> None:
    text = "LimitRanger plugin set: cpu request for init container backtest"
    obj = limit_ranged("tier0", text)
    assert "resources.cpu.range" in denied(obj).rules  # an app container, not an init one


def test_a_template_is_never_limit_ranged() -> None:
    """The plugin sets nothing in a workload's template: values there are the user's."""
    p = limit_ranged("tier0")
    job = {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {"name": "j"},
        "spec": {"template": {"metadata": p["metadata"], "spec": p["spec"]}},
    }
    assert "resources.cpu.range" in denied(job).rules


def test_a_plugin_value_the_tier_cannot_replace_is_kept_and_checked() -> None:
    """A tier with a range and no default: nothing to put in place of the plugin's pair."""
    p = bundled()
    t1 = p.tier("tier1")
    assert t1 is not None
    no_default = dataclasses.replace(
        t1,
        resources=dataclasses.replace(t1.resources, cpu=Bound(min=500, max=8000, default=None)),
    )
    policy = dataclasses.replace(p, tiers=tuple(no_default if t is t1 else t for t in p.tiers))
    r = resources(admitted(limit_ranged("tier1"), policy))
    assert (r["requests"]["cpu"], r["limits"]["cpu"]) == ("2", "8")
    assert r["limits"]["memory"] == "8Gi"  # memory has a default: replaced


@pytest.mark.parametrize(
    ("text", "want"),
    [
        (
            "LimitRanger plugin set: cpu, ephemeral-storage, memory request for container main; "
            "cpu, ephemeral-storage, memory limit for container main; cpu, ephemeral-storage "
            "request for container side; ephemeral-storage, memory request for init container "
            "setup; cpu, ephemeral-storage, memory limit for init container setup",
            {
                ("containers", "main"): {
                    *(("requests", n) for n in ("cpu", "ephemeral-storage", "memory")),
                    *(("limits", n) for n in ("cpu", "ephemeral-storage", "memory")),
                },
                ("containers", "side"): {("requests", "cpu"), ("requests", "ephemeral-storage")},
                ("initContainers", "setup"): {
                    ("requests", "ephemeral-storage"),
                    ("requests", "memory"),
                    *(("limits", n) for n in ("cpu", "ephemeral-storage", "memory")),
                },
            },
        ),
        (
            "LimitRanger plugin set: nvidia.com/gpu limit for container m",
            {("containers", "m"): {("limits", "nvidia.com/gpu")}},
        ),
        ("set by hand: cpu request for container main", {}),
        ("LimitRanger plugin set: garbage; cpu request for sidecar x", {}),
        (None, {}),
    ],
)
def test_the_limit_ranger_annotation_is_read_as_kubernetes_writes_it(
    text: str | None, want: dict[tuple[str, str], set[tuple[str, str]]]
) -> None:
    assert limit_ranger_set(text) == {k: frozenset(v) for k, v in want.items()}
