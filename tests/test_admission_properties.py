"""Property tests: generated pods (plausible and hostile) keep every invariant of
test_admission_support.check; thousands of examples in the normal run.

Hypothesis draws a seed and the pod is built from it with `random.Random`: drawing each of
a pod's hundred-odd choices through Hypothesis costs ~20 ms an example, a seed costs
nothing, which buys ten times the examples in the same time. The price is shrinking: a
failure reports the seed and the full pod (`note`), not a minimal one.
"""

from __future__ import annotations

import datetime
import functools
import json
import random
from typing import Any

from hypothesis import HealthCheck, given, note, settings
from hypothesis import strategies as st

from compiler.admission import mutate, validate
from compiler.model import CompiledPolicy
from tests.test_admission_support import BACKTEST, NS, SHA, bundled, check, check_denial, variant

SEEDS = st.integers(0, 2**63)
NAMESPACES = ["alpha-research", "alpha-x", "beta-quant", "risk-models", "replay-7", "default"]


def budget(n: int) -> settings:
    # derandomized: the same examples on every run, so the suite's time is predictable
    return settings(
        max_examples=n,
        deadline=None,
        suppress_health_check=list(HealthCheck),
        derandomize=True,
        database=None,
    )


@functools.cache
def policies() -> tuple[CompiledPolicy, ...]:
    p = bundled()
    return (p, variant(p, pin_images=False, seed="inject"), variant(p, governs=()))


# Values that fit the tier (by the tier asked for; None: the namespace's default) ...
FITS: dict[str | None, list[dict[str, Any]]] = {
    "tier0": [{"limits": {"cpu": "4", "memory": "16Gi"}}, {"requests": {"cpu": 4}}, {}],
    "tier1": [
        {"limits": {"cpu": "2500m"}},
        {"requests": {"cpu": "1", "memory": "2Gi"}, "limits": {"cpu": "3", "memory": "4Gi"}},
        {},
    ],
    "tier2": [
        {"limits": {"cpu": "1", "memory": "1Gi"}},
        {"requests": {"ephemeral-storage": "1Gi"}},
        {},
    ],
}
# ... and values that break some tier.
CPU = ["100m", "500m", "1", "2", "2500m", "4", "8", "16", 2, 4, "0.5", "x"]
MEM = ["256Mi", "1Gi", "2Gi", "4Gi", "8Gi", "16Gi", "64Gi", 1073741824, "1e9"]
CAPS = ["ALL", "NET_RAW", "NET_BIND_SERVICE", "CHOWN", "SYS_ADMIN"]
NAMES = ["backtest", "worker", "fetch", "istio-proxy", "linkerd-proxy", "log"]
ENV = ["BACKTEST_SEED", "OMP_NUM_THREADS", "TZ", "FOO", "HERMETIC_SEED"]
AFFINITY: list[dict[str, Any] | None] = [
    None,
    {
        "nodeAffinity": {
            "requiredDuringSchedulingIgnoredDuringExecution": {
                "nodeSelectorTerms": [
                    {"matchExpressions": [{"key": "a", "operator": "Exists"}]},
                    {"matchFields": [{"key": "metadata.name", "operator": "In", "values": ["n"]}]},
                ]
            }
        }
    },
    {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": []}}},
    {"podAntiAffinity": {"preferredDuringSchedulingIgnoredDuringExecution": []}},
]
SAFE_POD_SC = [
    None,
    {},
    {"runAsNonRoot": True, "seccompProfile": {"type": "Localhost", "localhostProfile": "p.json"}},
    {"fsGroup": 2000},
]
SAFE_SC = [
    None,
    {},
    {"allowPrivilegeEscalation": False},
    {"capabilities": {"drop": ["NET_RAW"]}},
    {"readOnlyRootFilesystem": True, "runAsUser": 1000},
]
SAFE_VOLUMES: list[list[dict[str, Any]]] = [
    [],
    [{"name": "data", "emptyDir": {}}],
    [{"name": "data", "configMap": {"name": "c"}}],
]
# One of these makes a pod break some tier: (where, value).
RISKS: list[tuple[str, Any]] = [
    ("spec.hostNetwork", True),
    ("spec.hostUsers", True),
    ("spec.automountServiceAccountToken", True),
    ("spec.priorityClassName", "other"),
    ("spec.runtimeClassName", "gvisor"),
    ("spec.volumes", [{"name": "data", "hostPath": {"path": "/x"}}]),
    ("spec.volumes", [{"name": "data", "nfs": {"server": "s", "path": "/"}}]),
    ("spec.volumes", [{"name": "scratch-tmp", "emptyDir": {}}]),
    ("spec.securityContext", {"runAsNonRoot": False}),
    ("spec.securityContext", {"sysctls": [{"name": "kernel.msgmax", "value": "1"}]}),
    ("c.securityContext", {"privileged": True}),
    ("c.securityContext", {"allowPrivilegeEscalation": True}),
    ("c.securityContext", {"readOnlyRootFilesystem": False}),
    ("c.securityContext", {"runAsUser": 0}),
    ("c.securityContext", {"capabilities": {"add": ["NET_RAW"]}}),
    ("c.securityContext", {"procMount": "Unmasked"}),
    ("c.securityContext", {"seccompProfile": {"type": "Unconfined"}}),
    ("c.image", "python:3.12"),
    ("c.ports", [{"containerPort": 80, "hostPort": 80}]),
    ("c.resources", "random"),
    ("label", ("hermetic.io/tier", "tier9")),
    ("label", ("istio.io/dataplane-mode", "none")),
    ("label", ("sidecar.istio.io/inject", "false")),
    ("annotation", ("qos.projectcalico.org/ingressBandwidth", "5G")),
    ("annotation", ("qos.projectcalico.org/egressBandwidth", "fast")),
    ("annotation", ("hermetic.io/seed", "8")),
]


def _container(
    r: random.Random, name: str, tier: str | None, sidecar: bool = False
) -> dict[str, Any]:
    values = {"BACKTEST_SEED": "7", "HERMETIC_SEED": "7"}  # one seed, or a conflict
    env = [
        {"name": n, "value": values.get(n, r.choice(["1", "UTC"]))}
        for n in r.sample(ENV, r.randint(0, 3))
    ]
    fits: list[dict[str, Any]] = FITS.get(tier, [{}])
    c: dict[str, Any] = {
        "name": name,
        "image": r.choice([f"repo/{name}@{SHA}", f"python:3.12@{SHA}"]),
    }
    c |= {
        k: v
        for k, v in (
            ("env", env),
            ("resources", r.choice(fits)),
            ("securityContext", r.choice(SAFE_SC)),
        )
        if v
    }
    c |= (
        {"volumeMounts": [{"name": "data", "mountPath": r.choice(["/tmp", "/data"])}]}
        if r.random() < 0.2
        else {}
    )
    if sidecar:
        c["restartPolicy"] = "Always"
    return c


def _containers(
    r: random.Random, lo: int, hi: int, tier: str | None, prefix: str = ""
) -> list[dict[str, Any]]:
    names = r.sample(NAMES, r.randint(lo, hi))
    return [
        _container(r, prefix + n, tier, sidecar=bool(prefix) and r.random() < 0.4) for n in names
    ]


def _risk(r: random.Random, obj: dict[str, Any]) -> None:
    where, value = r.choice(RISKS)
    c = r.choice(obj["spec"]["containers"])
    if where == "c.resources":
        value = {r.choice(["requests", "limits"]): {"cpu": r.choice(CPU), "memory": r.choice(MEM)}}
    if where.startswith("c."):
        c[where[2:]] = value
    elif where.startswith("spec."):
        obj["spec"][where[5:]] = value
    else:
        key, text = value
        obj["metadata"].setdefault(where + "s", {})[key] = text


def random_pod(seed: int) -> dict[str, Any]:
    """A plausible backtest pod; about half carry one to three things some tier denies."""
    r = random.Random(seed)
    labels = dict(BACKTEST)
    tier = r.choice([None, "tier0", "tier1", "tier2"])
    if tier:
        labels["hermetic.io/tier"] = tier
    if r.random() < 0.5:
        labels["strategy.hermetic.io/family"] = r.choice(["momentum", "carry"])
    if r.random() < 0.2:
        labels["hermetic.io/tenant"] = "risk-models"
    ann = {"hermetic.io/seed": "7"} if r.random() < 0.6 else {}
    if r.random() < 0.2:
        ann["qos.projectcalico.org/egressBandwidth"] = r.choice(["10M", "20G"])
    spec = _some(
        {
            "containers": _containers(r, 1, 3, tier),
            "initContainers": _containers(r, 0, 2, tier, "init-"),
            "priorityClassName": _maybe(r, [f"hermetic-{tier}"], 0.2) if tier else None,
            "priority": _maybe(r, [0], 0.2),
            "volumes": r.choice(SAFE_VOLUMES),
            "tolerations": r.choice(
                [
                    [],
                    [
                        {
                            "key": "node.hermetic.io/spot",
                            "operator": "Exists",
                            "effect": "NoSchedule",
                        }
                    ],
                ]
            ),
            "affinity": r.choice(AFFINITY),
            "securityContext": r.choice(SAFE_POD_SC),
            "topologySpreadConstraints": r.choice(
                [
                    [],
                    [
                        {
                            "maxSkew": 1,
                            "topologyKey": "topology.kubernetes.io/zone",
                            "whenUnsatisfiable": "ScheduleAnyway",
                            "labelSelector": {"matchLabels": {"app": "x"}},
                        }
                    ],
                ]
            ),
        }
    )
    meta: dict[str, Any] = {"name": "bt", "labels": labels} | ({"annotations": ann} if ann else {})
    obj = {"apiVersion": "v1", "kind": "Pod", "metadata": meta, "spec": spec}
    if "data" not in {v["name"] for v in spec.get("volumes", [])}:
        for c in spec["containers"] + spec.get("initContainers", []):
            c.pop("volumeMounts", None)
    for _ in range(r.choice([0, 0, 0, 1, 1, 2, 3])):
        _risk(r, obj)
    # The tables above are shared (and tests plant junk in pods): a JSON round trip
    # unshares them, as a pod that came over the wire is (deepcopy would keep the aliases).
    result: dict[str, Any] = json.loads(json.dumps(obj))
    return result


def _some(d: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in d.items() if v is not None and v != {} and v != []}


def _maybe(r: random.Random, values: list[Any], p: float = 0.5) -> Any:
    return r.choice(values) if r.random() < p else None


@budget(2000)
@given(SEEDS)
def test_generated_pods_keep_every_invariant(seed: int) -> None:
    r = random.Random(seed)
    obj, policy, ns = random_pod(seed), r.choice(policies()), r.choice(NAMESPACES)
    note(repr((obj, ns)))
    check(obj, policy, ns)


JSON_SCALARS: list[Any] = [None, True, False, 0, -1, 2.5, "", "x", "4", "0.5", "ALL"]
JSON_KEYS: list[Any] = ["name", "cpu", "a", "value", "type", ""]


def junk(
    r: random.Random, depth: int = 0, scalars: list[Any] = JSON_SCALARS, keys: list[Any] = JSON_KEYS
) -> Any:
    """Any JSON value, a few levels deep (of the given scalars, and keys in objects)."""
    kind = r.randint(0, 7 if depth < 3 else 4)
    if kind <= 4:
        return r.choice(scalars)
    if kind == 5:
        return [junk(r, depth + 1, scalars, keys) for _ in range(r.randint(0, 3))]
    return {r.choice(keys): junk(r, depth + 1, scalars, keys) for _ in range(r.randint(0, 3))}


PLACES: list[tuple[Any, ...]] = [
    ("spec",),
    ("spec", "containers"),
    ("spec", "containers", 0),
    ("spec", "containers", 0, "resources"),
    ("spec", "containers", 0, "resources", "limits"),
    ("spec", "containers", 0, "env"),
    ("spec", "containers", 0, "securityContext"),
    ("spec", "containers", 0, "securityContext", "capabilities"),
    ("spec", "containers", 0, "volumeMounts"),
    ("spec", "containers", 0, "image"),
    ("spec", "containers", 0, "name"),
    ("spec", "containers", 0, "ports"),
    ("spec", "containers", 0, "livenessProbe"),
    ("spec", "initContainers"),
    ("spec", "volumes"),
    ("spec", "securityContext"),
    ("spec", "affinity"),
    ("spec", "affinity", "nodeAffinity"),
    ("spec", "tolerations"),
    ("spec", "topologySpreadConstraints"),
    ("metadata",),
    ("metadata", "labels"),
    ("metadata", "annotations"),
    ("metadata", "labels", "hermetic.io/tier"),
    ("metadata", "annotations", "hermetic.io/rules"),
    ("spec", "priorityClassName"),
    ("spec", "hostUsers"),
    ("metadata", "name"),
    ("spec", "os"),
    ("spec", "resources"),
]


def _plant(obj: dict[str, Any], path: tuple[Any, ...], value: Any) -> None:
    node: Any = obj
    for key in path[:-1]:
        if isinstance(node, list):
            if not node:
                return
            node = node[0]
        elif isinstance(node, dict):
            node = node.setdefault(key, {})
        if not isinstance(node, dict | list):
            return
    if isinstance(node, dict):
        node[path[-1]] = value


@budget(1200)
@given(SEEDS)
def test_hostile_values_anywhere_keep_every_invariant(seed: int) -> None:
    r = random.Random(seed)
    obj = random_pod(seed)
    for _ in range(r.randint(1, 3)):
        _plant(obj, r.choice(PLACES), junk(r))
    policy, op = r.choice(policies()), r.choice(["CREATE", "CREATE", "UPDATE"])
    note(repr(obj))
    check(obj, policy, NS, operation=op)


@budget(500)
@given(SEEDS, st.sampled_from(["Pod", "Deployment", "CronJob", None]))
def test_hostile_objects_never_raise(seed: int, kind: str | None) -> None:
    r = random.Random(seed)
    obj = {"kind": kind, "metadata": {"labels": BACKTEST}, "spec": junk(r)} if kind else junk(r)
    d = mutate(obj, policies()[2], namespace=NS)
    assert "internal.error" not in d.rules
    assert "internal.error" not in validate(obj, policies()[2], namespace=NS).rules


def not_json(r: random.Random) -> Any:
    """Values YAML can hold and JSON cannot: keys that are not strings, numbers that are not
    finite, dates, bytes; mixed with ordinary values."""
    scalars = [float("inf"), float("nan"), datetime.date(2024, 7, 1), b"x", 10**30, "x", 1]
    keys: list[Any] = [1, True, None, 2.5, "name", "cpu", "hermetic.io/tier", "drop"]
    return junk(r, scalars=scalars, keys=keys)


@budget(600)
@given(SEEDS)
def test_objects_that_are_not_json_are_denied_by_name_or_decided(seed: int) -> None:
    # `hermetic mutate` reads YAML as kubectl would send it (cli.kubeyaml), but `mutate` is
    # a library function too: whatever it is given, it never fails with internal.error.
    r = random.Random(seed)
    obj = random_pod(seed)
    for _ in range(r.randint(1, 3)):
        _plant(obj, r.choice(PLACES), not_json(r))
    note(repr(obj))
    policy = r.choice(policies())
    for d in (
        mutate(obj, policy, namespace=NS, request_uid="u"),
        validate(obj, policy, namespace=NS),
    ):
        assert "internal.error" not in d.rules, d.message
        if not d.allowed:
            check_denial(d)


def test_a_label_key_that_is_not_a_string_is_named() -> None:
    obj = random_pod(1)
    obj["metadata"]["labels"][2024] = "q3"
    d = mutate(obj, policies()[0], namespace=NS)
    assert not d.allowed and d.rules == ("pod.malformed",)
    assert "metadata.labels must be an object with string keys" in d.message
