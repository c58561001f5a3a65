"""Thread counts, the tier's variables, seeds and pinned images."""

from __future__ import annotations

from typing import Any

from compiler.admission import mutate
from compiler.admission.seed import derive
from tests.test_admission_support import (
    NS,
    admitted,
    bundled,
    check,
    container,
    denied,
    pod,
    variant,
)


def env(obj: dict[str, Any], i: int = 0, field: str = "containers") -> dict[str, str]:
    return {e["name"]: e.get("value") for e in obj["spec"][field][i].get("env", [])}


def test_threads_follow_each_containers_cpu_limit() -> None:
    cs = [
        container("a", resources={"limits": {"cpu": "2500m"}}),
        container("b", resources={"limits": {"cpu": "500m"}}),
    ]
    out = admitted(pod("tier1", containers=cs))
    assert env(out, 0)["OMP_NUM_THREADS"] == "2" and env(out, 0)["NUMEXPR_MAX_THREADS"] == "2"
    assert env(out, 1)["MKL_NUM_THREADS"] == "1"  # at least one


def test_user_values_win_and_valuefrom_counts() -> None:
    mine = [
        {"name": "OMP_NUM_THREADS", "value": "16"},
        {"name": "TZ", "valueFrom": {"configMapKeyRef": {"name": "c", "key": "tz"}}},
    ]
    out = admitted(pod("tier1", containers=[container(env=mine)]))
    e = env(out)
    assert e["OMP_NUM_THREADS"] == "16" and e["TZ"] is None
    assert e["OPENBLAS_NUM_THREADS"] == "2"


def test_tier_environment_on_init_containers_too() -> None:
    out = admitted(pod("tier0", initContainers=[container("fetch")]))
    assert env(out, 0, "initContainers")["PYTHONHASHSEED"] == "0"
    assert env(out, 0, "initContainers")["BACKTEST_SEED"] == "7"


def test_seed_required_is_denied_without_one() -> None:
    d = denied(pod("tier0", containers=[container()]))
    assert d.rules == ("seed.required",)
    assert "BACKTEST_SEED" in d.message and "hermetic.io/seed" in d.message


def test_seed_from_annotation_goes_to_every_container() -> None:
    obj = pod(
        "tier0", containers=[container("a"), container("b")], annotations={"hermetic.io/seed": "99"}
    )
    out = admitted(obj)
    assert env(out, 0)["BACKTEST_SEED"] == env(out, 1)["BACKTEST_SEED"] == "99"


def test_seed_from_env_is_recorded_as_annotation() -> None:
    out = admitted(pod("tier0"))
    assert out["metadata"]["annotations"]["hermetic.io/seed"] == "7"


def test_two_seeds_are_denied() -> None:
    obj = pod("tier0", annotations={"hermetic.io/seed": "8"})
    assert denied(obj).rules == ("seed.conflict",)


def test_injected_seed_is_deterministic_per_request() -> None:
    obj = pod("tier1", containers=[container()])
    a = mutate(obj, bundled(), namespace=NS, request_uid="uid-1")
    b = mutate(obj, bundled(), namespace=NS, request_uid="uid-1")
    c = mutate(obj, bundled(), namespace=NS, request_uid="uid-2")
    assert a.patch == b.patch and a.patch != c.patch
    out = admitted(obj)  # check() runs with uid u1 and asserts reinvocation keeps it
    assert out["metadata"]["annotations"]["hermetic.io/seed"] == derive(NS, "bt-1", "u1")
    assert env(out)["BACKTEST_SEED"] == derive(NS, "bt-1", "u1")
    assert 0 <= int(derive(NS, "x", "")) < 2**32


def test_generate_name_seeds_differ_by_uid() -> None:
    obj = pod("tier1", containers=[container()])
    obj["metadata"] = {"generateName": "bt-", "labels": obj["metadata"]["labels"]}
    seeds = {admitted_seed(obj, uid) for uid in ("a", "b", "c")}
    assert len(seeds) == 3


def admitted_seed(obj: dict[str, Any], uid: str) -> str:
    d = check(obj, bundled(), uid=uid)
    (op,) = [op for op in d.patch if op["path"] == "/metadata/annotations"]
    return str(op["value"]["hermetic.io/seed"])


def test_seed_off_does_nothing() -> None:
    out = admitted(pod("tier2", containers=[container()]))
    assert (
        "BACKTEST_SEED" not in env(out) and "hermetic.io/seed" not in out["metadata"]["annotations"]
    )


def test_unpinned_images_are_denied_everywhere() -> None:
    obj = pod(
        "tier0",
        initContainers=[{"name": "i", "image": "busybox:1.36"}],
        ephemeralContainers=[{"name": "e", "image": "busybox"}],
    )
    d = denied(obj)
    assert d.rules == ("images.pinned",) and len(d.denials) == 2
    assert "pin it as NAME@sha256:<digest>" in d.message


def test_tag_and_digest_is_pinned() -> None:
    c = container(
        image=f"python:3.12@sha256:{'0' * 64}", env=[{"name": "BACKTEST_SEED", "value": "1"}]
    )
    admitted(pod("tier0", containers=[c]))


def test_threads_off_when_the_tier_says_so() -> None:
    p = variant(bundled(), threads=False)
    out = admitted(pod("tier1"), p)
    assert "OMP_NUM_THREADS" not in env(out)
