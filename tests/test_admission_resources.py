"""Resources: defaults, partners, ranges, exclusive cores, swap, ephemeral storage."""

from __future__ import annotations

import dataclasses

import pytest

from compiler.admission import mutate
from tests.test_admission_support import NS, admitted, bundled, container, denied, pod


def resources(obj: dict, i: int = 0, field: str = "containers") -> dict:
    return obj["spec"][field][i]["resources"]


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
def test_exclusive_tier_denials(res: dict, rule: str) -> None:
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
