"""hermetic's admission webhook behind a real kube-apiserver.

What the API server stores is what counts: pods are created with the python client or
kubectl and read back. The webhook (`hermetic serve`) runs as a subprocess on loopback and
is registered by URL with the configurations `hermetic compile --webhook-url` wrote (see
fixtures_hermetic.py).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml
from kubernetes import client

from .cluster import Cluster
from .fixtures_hermetic import (
    BACKTEST,
    COMPONENT,
    MUTATING_WEBHOOK,
    POLICIES,
    WEBHOOK_NAMESPACE,
    Hermetic,
    diff,
    hermetic_fixture,  # noqa: F401 - fixture `hermetic`
    hermetic_log_plugin_fixture,  # noqa: F401 - fixture
    hermetic_logs_on_failure,  # noqa: F401 - autouse fixture
    hermetic_parallel,
    manifest,
    poll,
    qos_class,
    strip_server_fields,
    unique,
    write_yaml,
)
from .hermetic_proc import port_open

pytestmark = pytest.mark.e2e

TENANT, TIER, COST_CENTER = "hermetic.io/tenant", "hermetic.io/tier", "hermetic.io/cost-center"
DIGEST, SEED, RULES = "hermetic.io/bundle-digest", "hermetic.io/seed", "hermetic.io/rules"


@pytest.fixture(scope="module")
def core(cluster: Cluster) -> client.CoreV1Api:
    return client.CoreV1Api(cluster.api_client())


def create_pod(core: client.CoreV1Api, pod: dict[str, Any]) -> dict[str, Any]:
    """Create, then read back what the API server stored (raw JSON, camelCase)."""
    meta = pod["metadata"]
    core.create_namespaced_pod(meta["namespace"], pod)
    return read_pod(core, meta["namespace"], meta["name"])


def read_pod(core: client.CoreV1Api, namespace: str, name: str) -> dict[str, Any]:
    resp = core.read_namespaced_pod(name, namespace, _preload_content=False)
    return dict(json.loads(resp.data))


def env_of(container: dict[str, Any]) -> dict[str, str | None]:
    return {e["name"]: e.get("value") for e in container.get("env", ())}


# --- 1. a backtest pod is stored mutated ---------------------------------------------------

CASES: dict[str, dict[str, Any]] = {
    "tier0-exclusive": {
        "file": "pod-tier0.yaml",
        "tenant": "alpha-research",
        "tier": "tier0",
        "cost_center": "CC-1042",
        "requests": {"cpu": "4", "memory": "16Gi", "ephemeral-storage": "20Gi"},
        "qos": "Guaranteed",
        "priority": ("hermetic-tier0", 100000),
        "security": "strict",
        "seed": "42",
        "env": {"PYTHONHASHSEED": "0", "TZ": "UTC", "OMP_NUM_THREADS": "4"},
    },
    "tier1-default": {
        "file": "pod-tier1.yaml",
        "tenant": "alpha-research",
        "tier": "tier1",
        "cost_center": "CC-1042",
        "requests": {"cpu": "2", "memory": "8Gi", "ephemeral-storage": "10Gi"},
        "priority": ("hermetic-tier1", 10000),
        "security": "restricted",
        "env": {"TZ": "UTC", "OMP_NUM_THREADS": "2"},
    },
    "tier2-replay": {
        "file": "pod-tier2-replay.yaml",
        "tenant": "replay",
        "tier": "tier2",
        "cost_center": "CC-9000",
        "requests": {"cpu": "500m", "memory": "1Gi", "ephemeral-storage": "2Gi"},
        "priority": ("hermetic-tier2", -10),
        "security": "baseline",
    },
}


@pytest.mark.parametrize("case", list(CASES.values()), ids=list(CASES))
def test_backtest_pod_is_stored_mutated(
    hermetic: Hermetic, core: client.CoreV1Api, case: dict[str, Any]
) -> None:
    pod = manifest(case["file"])
    assert all("resources" not in c for c in pod["spec"]["containers"])  # hermetic's to set
    stored = create_pod(core, pod)
    meta, spec = stored["metadata"], stored["spec"]

    # Stamps: tenant, tier, cost center; the digest of the compiled bundle.
    labels, annotations = meta["labels"], meta["annotations"]
    assert labels[COMPONENT] == "backtest"
    assert (labels.get(TENANT), labels.get(TIER), labels.get(COST_CENTER)) == (
        case["tenant"],
        case["tier"],
        case["cost_center"],
    ), labels
    assert annotations.get(DIGEST) == hermetic.digest, annotations
    assert "stamp.digest" in annotations.get(RULES, "").split(","), annotations

    # Resources: the tier's values, requests == limits for cpu and memory.
    for c in spec["containers"]:
        res = c["resources"]
        assert res["requests"] == case["requests"], (c["name"], res)
        for r in ("cpu", "memory"):
            assert res["requests"][r] == res["limits"][r], (c["name"], r, res)
    assert stored["status"]["qosClass"] == qos_class(spec)
    if "qos" in case:
        assert qos_class(spec) == case["qos"] == stored["status"]["qosClass"]

    # Priority: the tier's PriorityClass, and its value resolved.
    assert (spec.get("priorityClassName"), spec.get("priority")) == case["priority"]

    # Security context by level.
    psc = spec.get("securityContext") or {}
    level = case["security"]
    if level in ("strict", "restricted"):
        assert psc.get("runAsNonRoot") is True, psc
        assert psc.get("seccompProfile") == {"type": "RuntimeDefault"}, psc
        for c in spec["containers"]:
            sc = c.get("securityContext") or {}
            assert sc.get("allowPrivilegeEscalation") is False, (c["name"], sc)
            assert sc.get("capabilities", {}).get("drop") == ["ALL"], (c["name"], sc)
    if level == "strict":
        assert spec.get("hostUsers") is False, spec.get("hostUsers")
        assert spec.get("automountServiceAccountToken") is False
        assert spec.get("runtimeClassName") == "runc-pinned"
        assert all(
            c["securityContext"].get("readOnlyRootFilesystem") is True for c in spec["containers"]
        )
        assert labels.get("istio.io/dataplane-mode") == "ambient", labels
        assert {"key": "node.hermetic.io/dedicated", "operator": "Equal", "value": "tier0",
                "effect": "NoSchedule"} in spec["tolerations"]  # fmt: skip
    else:
        assert "hostUsers" not in spec, spec.get("hostUsers")

    # Environment, and one seed everywhere (tier0's is the pod's own).
    for c in spec["containers"]:
        env = env_of(c)
        for k, v in case.get("env", {}).items():
            assert env.get(k) == v, (c["name"], k, env)
        if case["tier"] != "tier2":
            assert env.get("BACKTEST_SEED") == annotations.get(SEED), (env, annotations)
    if "seed" in case:
        assert annotations[SEED] == case["seed"]


def test_digest_is_the_compiled_bundles(hermetic: Hermetic) -> None:
    """The webhook started from policies/ serves the digest `hermetic compile` wrote."""
    status, body = hermetic.webhook.get("/readyz")
    assert status == 200
    bundle = json.loads(hermetic.bundle.read_text())
    assert json.loads(body)["digest"] == bundle["metadata"]["digest"] == hermetic.digest
    assert hermetic.digest.startswith("sha256:") and len(hermetic.digest) == 71


def test_strict_tier_pods_mount_no_service_account_token(
    hermetic: Hermetic, core: client.CoreV1Api
) -> None:
    stored = create_pod(core, manifest("pod-tier0.yaml"))
    spec = stored["spec"]
    assert stored["metadata"]["annotations"][DIGEST] == hermetic.digest
    assert spec.get("automountServiceAccountToken") is False
    assert [v["name"] for v in spec.get("volumes", ()) if "projected" in v] == []
    mounts = [m["mountPath"] for c in spec["containers"] for m in c.get("volumeMounts", ())]
    assert "/var/run/secrets/kubernetes.io/serviceaccount" not in mounts


# --- 2. refusals carry hermetic's message -------------------------------------------------

DENIALS = {
    "tier-not-allowed": (
        "pod-forbidden-tier.yaml",
        "beta-quant",
        "tier0",
        'the pod asks for tier "tier0" (rule tier.allowed)',
    ),
    "too-much-cpu": (
        "pod-too-much-cpu.yaml",
        "alpha-research",
        "tier1",
        'container "main" requests cpu "16", outside 500m..8 (rule resources.cpu.range)',
    ),
}


@pytest.mark.parametrize("case", list(DENIALS.values()), ids=list(DENIALS))
def test_refused_with_hermetics_message(
    hermetic: Hermetic, core: client.CoreV1Api, tmp_path: Path, case: tuple[str, str, str, str]
) -> None:
    file, tenant, tier, reason = case
    pod = manifest(file)
    name, ns = pod["metadata"]["name"], pod["metadata"]["namespace"]
    denied_before = hermetic.webhook.admissions(endpoint="mutate", decision="denied", tenant=tenant)
    r = hermetic.kubectl("apply", "-f", str(write_yaml(tmp_path / "pod.yaml", pod)), check=False)
    assert r.returncode == 1, (r.stdout, r.stderr)
    expected = (
        f'Error from server (Forbidden): error when creating "{tmp_path / "pod.yaml"}": '
        f'admission webhook "{MUTATING_WEBHOOK}" denied the request: '
        f"hermetic: tenant {tenant}, tier {tier}: {reason}"
    )
    assert expected in r.stderr, r.stderr
    with pytest.raises(client.ApiException) as err:
        core.read_namespaced_pod(name, ns)
    assert err.value.status == 404
    denied_after = hermetic.webhook.admissions(endpoint="mutate", decision="denied", tenant=tenant)
    assert denied_after == denied_before + 1


# --- 3. the preview is what the cluster stores --------------------------------------------

PREVIEWS = {
    "tier0": "pod-tier0.yaml",
    "tier1-seeded": "pod-tier1-seeded.yaml",
    "tier1-injected-seed": "pod-tier1.yaml",
    "tier2-replay": "pod-tier2-replay.yaml",
    "job": "job-backtest.yaml",  # for test_job_with_previewed_template_pods_are_mutated
}


@dataclass
class Preview:
    src: Path  # the manifest (unique name)
    obj: dict[str, Any]
    mutated: dict[str, Any]  # `hermetic mutate --bundle` of it
    mutated_path: Path
    from_policy: dict[str, Any] | None = None  # `hermetic mutate --policy policies/` of it


@pytest.fixture(scope="module")
def previews(hermetic: Hermetic, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Preview]:
    """`hermetic mutate` of every PREVIEWS manifest: one run for all (each run pays the
    CLI's start-up), and one with `--policy` beside it."""
    d = tmp_path_factory.mktemp("previews")
    objs = {k: manifest(f) for k, f in PREVIEWS.items()}
    srcs = {k: write_yaml(d / f"{k}.yaml", o) for k, o in objs.items()}
    from_bundle, from_policy = hermetic_parallel(
        ["mutate", "--bundle", hermetic.bundle, *srcs.values()],
        ["mutate", "--policy", POLICIES, srcs["tier1-seeded"]],
    )
    docs = [x for x in yaml.safe_load_all(from_bundle) if x]
    assert len(docs) == len(objs), from_bundle
    out = {}
    for (k, obj), m in zip(objs.items(), docs, strict=True):
        assert m["metadata"]["name"] == obj["metadata"]["name"]
        out[k] = Preview(srcs[k], obj, m, write_yaml(d / f"{k}.mutated.yaml", m))
    out["tier1-seeded"].from_policy = yaml.safe_load(from_policy)
    return out


def _dry_run(hermetic: Hermetic, path: Path) -> dict[str, Any]:
    r = hermetic.kubectl("apply", "--dry-run=server", "-o", "json", "-f", str(path))
    return dict(json.loads(r.stdout))


def _with_seed(pod: dict[str, Any], seed: str) -> dict[str, Any]:
    pod["metadata"]["annotations"][SEED] = seed
    for c in pod["spec"]["containers"]:
        for e in c.get("env", ()):
            if e["name"] == "BACKTEST_SEED":
                e["value"] = seed
    return pod


@pytest.mark.parametrize("key", [k for k in PREVIEWS if k != "job"])
def test_preview_equals_what_the_cluster_stores(
    hermetic: Hermetic, previews: dict[str, Preview], key: str
) -> None:
    """`hermetic mutate` (M), `kubectl apply --dry-run=server` of the manifest (A) and of
    M itself (B): once what the API server generates or defaults by itself is removed
    (`strip_server_fields`), A == B == M. A == M: the preview never disagrees with the
    cluster; B == M: the webhook leaves its own output alone (idempotent through the real
    API server). The one documented exception: a seed hermetic injects is derived from the
    request uid, which `hermetic mutate` does not have; the cluster's is checked to be
    consistent, then set to the preview's."""
    p = previews[key]
    pod, m = p.obj, p.mutated
    assert m["metadata"]["annotations"][DIGEST] == hermetic.digest  # it did mutate
    a = _dry_run(hermetic, p.src)
    b = _dry_run(hermetic, p.mutated_path)
    for stored in (a, b):
        assert stored["metadata"]["annotations"][DIGEST] == hermetic.digest

    injected = SEED not in (pod["metadata"].get("annotations") or {}) and not any(
        "BACKTEST_SEED" in env_of(c) for c in pod["spec"]["containers"]
    )
    if injected and SEED in m["metadata"]["annotations"]:
        seed = a["metadata"]["annotations"][SEED]
        assert seed.isdigit() and int(seed) < 2**32, seed
        assert all(env_of(c).get("BACKTEST_SEED") == seed for c in a["spec"]["containers"])
        _with_seed(a, m["metadata"]["annotations"][SEED])

    sa, sb, sm = strip_server_fields(a), strip_server_fields(b), strip_server_fields(m)
    assert diff(sa, sm) == [], "the cluster (first) and the preview (second) disagree"
    assert diff(sb, sm) == [], "the webhook changed the preview's own output"
    assert sa == sb == sm


def test_preview_from_policy_files_stamps_the_served_digest(
    hermetic: Hermetic, previews: dict[str, Preview]
) -> None:
    """`hermetic mutate --policy policies/` (what users run) gives what `--bundle` gives,
    the digest the webhook stamps included (it did not before compiler/bundle.py's digest
    covered the policy alone)."""
    p = previews["tier1-seeded"]
    assert p.from_policy is not None
    assert p.from_policy["metadata"]["annotations"][DIGEST] == hermetic.digest
    assert diff(p.from_policy, p.mutated) == []


# --- 4. system namespaces never reach the webhook -----------------------------------------


def _label_tenant(hermetic: Hermetic, namespaces: list[str], on: bool) -> None:
    arg = f"{TENANT}=alpha-research" if on else f"{TENANT}-"
    for ns in namespaces:
        hermetic.kubectl("label", "namespace", ns, arg, "--overwrite")


def test_system_namespaces_are_never_sent_to_the_webhook(
    hermetic: Hermetic, core: client.CoreV1Api, namespace: str
) -> None:
    """kube-system and the webhook's namespace are excluded by name in the namespaceSelector:
    even labelled as a tenant's, their pods never reach the webhook. A control namespace
    labelled the same way shows the label has reached the API server and is honoured."""
    webhook = hermetic.webhook
    system = ["kube-system", WEBHOOK_NAMESPACE]
    _label_tenant(hermetic, [*system, namespace], on=True)
    try:
        # The control: once the API server sees the label, its pods are sent.
        def control_sent() -> bool:
            before = webhook.admissions(endpoint="mutate")
            probe = manifest("pod-ungoverned.yaml", namespace=namespace)
            hermetic.kubectl("create", "--dry-run=server", "-f", "-", input=json.dumps(probe))
            return webhook.admissions(endpoint="mutate") > before

        poll("a labelled control namespace's pod is sent to the webhook", control_sent, 10)

        before = webhook.admissions()
        stored = {}
        for ns in system:
            pod = manifest("pod-ungoverned.yaml", namespace=ns)
            stored[ns] = create_pod(core, pod)
        assert webhook.admissions() == before, "a system namespace's pod reached the webhook"
        for ns, pod in stored.items():
            meta = pod["metadata"]
            assert meta["labels"] == BACKTEST, (ns, meta["labels"])
            assert DIGEST not in (meta.get("annotations") or {}), (ns, meta)
            c = pod["spec"]["containers"][0]
            assert c.get("resources", {}) == {} and "securityContext" not in c, (ns, c)
            assert "priorityClassName" not in pod["spec"], (ns, pod["spec"])
            assert pod["status"]["qosClass"] == "BestEffort"
        assert control_sent(), "the webhook stopped counting: the check above proves nothing"
    finally:
        _label_tenant(hermetic, [*system, namespace], on=False)


# --- 5. failurePolicy when the webhook is down --------------------------------------------


def test_webhook_down_failure_policy_fail(
    hermetic: Hermetic, core: client.CoreV1Api, namespace: str, tmp_path: Path
) -> None:
    """The policy says `failure-policy fail`: with `hermetic serve` stopped, backtest pods are
    refused naming the webhook and the refused connection; what is never sent (pods that are
    not backtests, system namespaces) is unaffected."""
    for kind in ("mutatingwebhookconfiguration", "validatingwebhookconfiguration"):
        config = hermetic.webhook_config(kind)
        assert {w["failurePolicy"] for w in config["webhooks"]} == {"Fail"}, kind
    port = hermetic.webhook.port
    hermetic.webhook.stop()
    try:
        assert not port_open(port), f"port {port} still open after stopping hermetic serve"
        pod = manifest("pod-tier1.yaml")
        r = hermetic.kubectl(
            "apply", "-f", str(write_yaml(tmp_path / "pod.yaml", pod)), check=False, timeout=30
        )
        assert r.returncode == 1, (r.stdout, r.stderr)
        assert f'failed calling webhook "{MUTATING_WEBHOOK}"' in r.stderr, r.stderr
        assert f"https://127.0.0.1:{port}/mutate" in r.stderr, r.stderr
        assert "connection refused" in r.stderr, r.stderr
        with pytest.raises(client.ApiException) as err:
            core.read_namespaced_pod(pod["metadata"]["name"], pod["metadata"]["namespace"])
        assert err.value.status == 404

        # Never sent, so the outage does not matter: a pod that is not a backtest, in the
        # same tenant namespace, and a backtest-labelled pod in kube-system.
        plain = manifest(
            "pod-ungoverned.yaml", rename=unique("plain"), namespace=pod["metadata"]["namespace"]
        )
        plain["metadata"]["labels"] = {"app": "notebook"}
        free = create_pod(core, plain)
        assert DIGEST not in (free["metadata"].get("annotations") or {})
        system = manifest(
            "pod-ungoverned.yaml", rename=unique("bt-system"), namespace="kube-system"
        )
        created = create_pod(core, system)
        try:
            assert DIGEST not in (created["metadata"].get("annotations") or {})
        finally:
            core.delete_namespaced_pod(created["metadata"]["name"], "kube-system")
    finally:
        hermetic.restart_webhook()
    assert hermetic.webhook.port == port


# --- 8. a Job's pods ----------------------------------------------------------------------


def _job_pods(hermetic: Hermetic, namespace: str, job: str, count: int) -> list[dict[str, Any]]:
    def pods() -> list[dict[str, Any]]:
        out = hermetic.kubectl(
            "get", "pods", "-n", namespace, "-l", f"job-name={job}", "-o", "json"
        )
        items = json.loads(out.stdout)["items"]
        return items if len(items) >= count else []

    return list(poll(f"{count} pods of Job {job}", pods, 30))


def _assert_job_pods_mutated(hermetic: Hermetic, pods: list[dict[str, Any]]) -> None:
    seeds = set()
    for p in pods:
        meta, spec = p["metadata"], p["spec"]
        assert meta["generateName"].startswith(meta["labels"]["job-name"])
        assert meta["annotations"][DIGEST] == hermetic.digest
        assert (meta["labels"][TENANT], meta["labels"][TIER]) == ("alpha-research", "tier1")
        for c in spec["containers"]:
            assert c["resources"]["requests"]["cpu"] == c["resources"]["limits"]["cpu"] == "2"
            assert c["securityContext"]["allowPrivilegeEscalation"] is False
        assert spec["priorityClassName"] == "hermetic-tier1"
        # Injected per pod at admission (templates get none): the pod webhook ran on each.
        assert "seed.inject" in meta["annotations"][RULES].split(","), meta["annotations"]
        seeds.add(meta["annotations"][SEED])
    assert len(seeds) == len(pods), f"pods share a seed: {seeds}"


def test_job_pods_are_mutated(hermetic: Hermetic, tmp_path: Path) -> None:
    job = manifest("job-backtest.yaml")
    r = hermetic.kubectl("apply", "-f", str(write_yaml(tmp_path / "job.yaml", job)), check=False)
    assert r.returncode == 0, r.stderr
    pods = _job_pods(hermetic, "alpha-research", job["metadata"]["name"], 2)
    _assert_job_pods_mutated(hermetic, pods)


def test_job_with_previewed_template_pods_are_mutated(
    hermetic: Hermetic, previews: dict[str, Preview]
) -> None:
    """The workaround for the bug above: the Job as `hermetic mutate` previews it. Its
    template gets no seed (`hermetic mutate` injects none into templates); each pod the Job
    controller creates is admitted by the pod webhook and gets its own."""
    p = previews["job"]
    template_meta = p.mutated["spec"]["template"]["metadata"]
    assert template_meta["annotations"][DIGEST] == hermetic.digest
    assert SEED not in template_meta["annotations"], template_meta
    before = hermetic.webhook.admissions(endpoint="mutate", tenant="alpha-research")
    hermetic.kubectl("apply", "-f", str(p.mutated_path))
    pods = _job_pods(hermetic, "alpha-research", p.obj["metadata"]["name"], 2)
    _assert_job_pods_mutated(hermetic, pods)
    assert hermetic.webhook.admissions(endpoint="mutate", tenant="alpha-research") >= before + 2
