"""`hermetic sync` against a real API server: tenant namespaces get their labels and objects.

The controller runs as a subprocess (`hermetic sync --policy COPY --kubeconfig ...`) on a
copy of policies/ that the last test edits. The expected labels and objects are what
`hermetic compile --namespaces` wrote for the same namespaces (the session fixture compiles
with alpha-77 and replay-2026 listed, but never applies them). The resync period is 60 s,
longer than every deadline here: what happens within seconds happens by watch.
"""

from __future__ import annotations

import json
import re
import shutil
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml
from kubernetes import client
from kubernetes.utils.quantity import parse_quantity

from .fixtures_hermetic import (
    DIGEST_ANNOTATION,
    POLICIES,
    WEBHOOK_NAMESPACE,
    Hermetic,
    diff,
    hermetic_cli,
    hermetic_fixture,  # noqa: F401 - fixture `hermetic`
    hermetic_log_plugin_fixture,  # noqa: F401 - fixture
    hermetic_logs_on_failure,  # noqa: F401 - autouse fixture
    manifest,
    poll,
    qos_class,
    write_yaml,
)
from .hermetic_proc import SyncProcess

pytestmark = pytest.mark.e2e

CRDS = Path("/work/shared/schemas/crds")
RESYNC_SECONDS = 60
MANAGED = "app.kubernetes.io/managed-by=hermetic"
TENANT = "hermetic.io/tenant"
NEW_NAMESPACES = {"alpha-77": "alpha-research", "replay-2026": "replay"}

Key = tuple[str, str]  # (kind.group for kubectl, name)


def _kubectl_type(obj: dict[str, Any]) -> str:
    api = obj["apiVersion"]
    kind = obj["kind"].lower()
    return f"{kind}.{api.split('/')[0]}" if "/" in api else kind


@dataclass
class Expected:
    labels: dict[str, dict[str, str]]  # namespace -> the labels hermetic sets
    objects: dict[str, dict[Key, dict[str, Any]]]  # namespace -> objects

    @property
    def types(self) -> list[str]:
        return sorted({t for objs in self.objects.values() for t, _ in objs})


def _expected(h: Hermetic) -> Expected:
    manifests = h.out_dir / "manifests"
    labels = {
        d["metadata"]["name"]: d["metadata"]["labels"]
        for d in yaml.safe_load_all((manifests / "namespaces.yaml").read_text())
        if d and d["metadata"]["name"] in NEW_NAMESPACES
    }
    objects: dict[str, dict[Key, dict[str, Any]]] = {ns: {} for ns in NEW_NAMESPACES}
    for f in (manifests / "tenants").glob("*.yaml"):
        for d in yaml.safe_load_all(f.read_text()):
            if d and d["metadata"].get("namespace") in objects:
                objects[d["metadata"]["namespace"]][(_kubectl_type(d), d["metadata"]["name"])] = d
    assert set(labels) == set(NEW_NAMESPACES), labels
    for ns, objs in objects.items():
        assert objs, f"hermetic compile declared nothing for {ns}"
    return Expected(labels, objects)


def _live(h: Hermetic, namespace: str, types: list[str]) -> dict[Key, dict[str, Any]]:
    out = h.kubectl("get", ",".join(types), "-n", namespace, "-l", MANAGED, "-o", "json")
    return {(_kubectl_type(o), o["metadata"]["name"]): o for o in json.loads(out.stdout)["items"]}


def _ns_labels(core: client.CoreV1Api, namespace: str) -> dict[str, str]:
    return dict(core.read_namespace(namespace).metadata.labels or {})


def _contained(want: Any, got: Any) -> bool:
    """`want` is in `got`: equal, where mappings in `got` may have more keys (defaults) and
    quantities may be written differently."""
    if isinstance(want, dict) and isinstance(got, dict):
        return all(k in got and _contained(v, got[k]) for k, v in want.items())
    if isinstance(want, list) and isinstance(got, list):
        return len(want) == len(got) and all(
            _contained(w, g) for w, g in zip(want, got, strict=True)
        )
    if isinstance(want, str) and isinstance(got, str) and want != got:
        try:  # the API server normalises quantities: pods "2000" is stored as "2k"
            return bool(parse_quantity(want) == parse_quantity(got))
        except ValueError:
            return False
    return bool(want == got)


def _body(obj: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in obj.items() if k not in ("apiVersion", "kind", "metadata", "status")}


@dataclass
class Synced:
    sync: SyncProcess
    policy_dir: Path
    expected: Expected
    core: client.CoreV1Api
    seconds: dict[str, float]  # namespace -> time from creation to labelled and complete


@pytest.fixture(scope="module")
def synced(hermetic: Hermetic, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Synced]:
    """CRDs registered; `hermetic sync` leading; then alpha-77 and replay-2026 created and
    waited for (labels and every declared object)."""
    h = hermetic
    work = tmp_path_factory.mktemp("sync")
    h.kubectl("apply", "--server-side", "-f", str(CRDS), timeout=120)
    h.kubectl("wait", "--for=condition=Established", "crd", "--all", "--timeout=60s", timeout=90)
    policy_dir = work / "policies"
    shutil.copytree(POLICIES, policy_dir)
    expected = _expected(h)
    sync = SyncProcess(
        [policy_dir],
        h.cluster.kubeconfig,
        h.workdir / "logs" / "sync.log",
        resync_seconds=RESYNC_SECONDS,
        extra=["--namespace", WEBHOOK_NAMESPACE],
    )
    core = client.CoreV1Api(h.cluster.api_client())
    try:
        sync.start_leading(timeout=60)
        for ns in NEW_NAMESPACES:
            with pytest.raises(client.ApiException):
                core.read_namespace(ns)  # created after sync started, not before
        t0 = time.monotonic()
        for ns in NEW_NAMESPACES:
            core.create_namespace({"metadata": {"name": ns}})
        seconds: dict[str, float] = {}

        def complete() -> bool:
            for ns in NEW_NAMESPACES:
                if ns in seconds:
                    continue
                labels = _ns_labels(core, ns)
                if labels.items() >= expected.labels[ns].items() and set(
                    _live(h, ns, expected.types)
                ) == set(expected.objects[ns]):
                    seconds[ns] = time.monotonic() - t0
            return len(seconds) == len(NEW_NAMESPACES)

        poll("new tenant namespaces labelled, their objects applied", complete, 30, 0.25)
        yield Synced(sync, policy_dir, expected, core, seconds)
    finally:
        code = sync.stop()
        h.kubectl(
            "delete", ",".join(expected.types), "-A", "-l", MANAGED, "--wait=false",
            "--ignore-not-found", check=False,
        )  # fmt: skip
        h.kubectl("delete", "namespace", *NEW_NAMESPACES, "--wait=false", check=False)
    assert code == 0, f"hermetic sync exited {code} on SIGTERM:\n{sync.tail()}"
    assert sync.has_event("lease_released"), sync.tail()


def test_new_tenant_namespaces_are_labelled_and_get_their_objects(
    hermetic: Hermetic, synced: Synced
) -> None:
    h, exp = hermetic, synced.expected
    print(f"\n[e2e] sync: namespaces complete after {synced.seconds}")
    assert max(synced.seconds.values()) < 15, synced.seconds  # seconds, not a resync period
    for ns, tenant in NEW_NAMESPACES.items():
        labels = _ns_labels(synced.core, ns)
        assert labels[TENANT] == tenant
        assert labels.items() >= exp.labels[ns].items(), diff(exp.labels[ns], labels)
        live = _live(h, ns, exp.types)
        assert set(live) == set(exp.objects[ns])
        for key, want in exp.objects[ns].items():
            got = live[key]
            assert got["metadata"]["labels"].items() >= want["metadata"]["labels"].items(), key
            assert _contained(_body(want), _body(got)), (key, diff(_body(want), _body(got)))
    kinds = {t.split(".")[0] for t, _ in exp.objects["alpha-77"]}
    # NetworkPolicies, quotas and the mTLS objects (Istio CRDs) are all there.
    assert {"networkpolicy", "resourcequota", "limitrange", "peerauthentication"} <= kinds, kinds
    modes = {
        o["metadata"]["name"]: o["spec"]["mtls"]["mode"]
        for (t, _), o in _live(h, "alpha-77", exp.types).items()
        if t.startswith("peerauthentication")
    }
    assert modes == {"hermetic-tier0": "STRICT", "hermetic-tier1": "PERMISSIVE"}, modes


def test_tier0_pod_is_admitted_in_a_synced_namespace(hermetic: Hermetic, synced: Synced) -> None:
    pod = manifest("pod-tier0.yaml", namespace="alpha-77")
    r = hermetic.kubectl(
        "create", "--dry-run=server", "-o", "json", "-f", "-", input=json.dumps(pod), check=False
    )
    assert r.returncode == 0, r.stderr
    stored = json.loads(r.stdout)
    assert stored["metadata"]["annotations"][DIGEST_ANNOTATION] == hermetic.digest
    assert qos_class(stored["spec"]) == stored["status"]["qosClass"] == "Guaranteed"


def test_tier1_pod_in_a_synced_namespace_matches_the_preview(
    hermetic: Hermetic, synced: Synced, tmp_path: Path
) -> None:
    pod = manifest("pod-tier1.yaml", namespace="alpha-77")
    src = write_yaml(tmp_path / "pod.yaml", pod)
    r = hermetic.kubectl("create", "--dry-run=server", "-o", "json", "-f", str(src))
    stored = json.loads(r.stdout)
    assert stored["metadata"]["annotations"][DIGEST_ANNOTATION] == hermetic.digest
    preview = yaml.safe_load(hermetic_cli("mutate", "--bundle", hermetic.bundle, src).stdout)
    want = preview["spec"]["containers"][0]["resources"]
    got = stored["spec"]["containers"][0]["resources"]
    assert got == want, diff(want, got)


def test_deleted_or_edited_networkpolicy_is_restored(hermetic: Hermetic, synced: Synced) -> None:
    h, exp = hermetic, synced.expected
    ns, name = "alpha-77", "hermetic-default-deny"
    key = ("networkpolicy.networking.k8s.io", name)
    want = _body(exp.objects[ns][key])
    before = _live(h, ns, exp.types)[key]

    t0 = time.monotonic()
    h.kubectl("delete", "networkpolicy", name, "-n", ns)

    def recreated() -> dict[str, Any] | None:
        got = _live(h, ns, exp.types).get(key)
        return got if got and got["metadata"]["uid"] != before["metadata"]["uid"] else None

    got = poll(f"NetworkPolicy {ns}/{name} recreated", recreated, 15, 0.2)
    restored_in = time.monotonic() - t0
    assert _contained(want, _body(got)), diff(want, _body(got))
    assert restored_in < RESYNC_SECONDS / 2, restored_in  # by watch, not the resync

    # An edit by hand (drift) is undone too.
    h.kubectl(
        "patch", "networkpolicy", name, "-n", ns, "--type=merge",
        "-p", json.dumps({"spec": {"podSelector": {"matchLabels": {"edited": "by-hand"}}}}),
    )  # fmt: skip
    poll(
        f"NetworkPolicy {ns}/{name} edited by hand restored",
        lambda: _contained(want, _body(_live(h, ns, exp.types)[key])),
        15,
        0.2,
    )
    print(f"\n[e2e] sync: deleted NetworkPolicy back after {restored_in:.1f}s")


def test_tenant_removed_from_the_policy_loses_its_objects(
    hermetic: Hermetic, synced: Synced
) -> None:
    h, exp = hermetic, synced.expected
    tenants = synced.policy_dir / "tenants.hermetic"
    text = tenants.read_text()
    edited = re.sub(r"\ntenant replay \{.*?\n\}\n", "\n", text, flags=re.S)
    assert edited != text and "tenant replay" not in edited
    alpha_before = {k: o["metadata"]["uid"] for k, o in _live(h, "alpha-77", exp.types).items()}
    assert set(_live(h, "replay-2026", exp.types)) == set(exp.objects["replay-2026"])

    t0 = time.monotonic()
    tenants.write_text(edited)  # sync watches its policy files

    def replay_gone() -> bool:
        return not _live(h, "replay-2026", exp.types) and TENANT not in _ns_labels(
            synced.core, "replay-2026"
        )

    poll("replay-2026 stripped of hermetic's objects and tenant label", replay_gone, 20, 0.25)
    took = time.monotonic() - t0
    assert synced.sync.has_event("policy_reloaded"), synced.sync.tail()
    labels = _ns_labels(synced.core, "replay-2026")
    assert not any(k.startswith("hermetic.io/") for k in labels), labels
    # The namespace itself stays; the other tenants are untouched.
    assert synced.core.read_namespace("replay-2026").status.phase == "Active"
    alpha_after = {k: o["metadata"]["uid"] for k, o in _live(h, "alpha-77", exp.types).items()}
    assert alpha_after == alpha_before
    print(f"\n[e2e] sync: tenant replay's objects gone {took:.1f}s after the policy edit")
