"""Smoke tests of the e2e control plane itself (no webhook involved)."""

from __future__ import annotations

import json
import os
import shutil
import time
import urllib.error
import uuid
from pathlib import Path

import pytest
from kubernetes import client

from .cluster import Cluster, k8s_version

pytestmark = pytest.mark.e2e

needs_kubectl = pytest.mark.skipif(shutil.which("kubectl") is None, reason="kubectl not on PATH")


def _pod(name: str) -> dict[str, object]:
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "labels": {"app": "smoke"}},
        "spec": {"containers": [{"name": "main", "image": "busybox:1.36", "command": ["true"]}]},
    }


def test_apiserver_is_ready(cluster: Cluster) -> None:
    version = cluster.request("GET", "/version")
    assert version["gitVersion"].startswith(k8s_version()), version
    with pytest.raises(urllib.error.HTTPError) as err:
        cluster.request("GET", "/api/v1/namespaces/does-not-exist")
    assert err.value.code == 404
    body = cluster._get("/readyz?verbose")
    assert body is not None and "readyz check passed" in body
    # Admission webhooks are on (the API server would refuse unknown plugins).
    log = (cluster.logs / "kube-apiserver.log").read_text()
    assert "--enable-admission-plugins=MutatingAdmissionWebhook" in log


@needs_kubectl
def test_kubectl_creates_namespace(cluster: Cluster) -> None:
    name = f"smoke-{uuid.uuid4().hex[:8]}"
    out = cluster.kubectl("create", "namespace", name).stdout
    assert f"namespace/{name} created" in out
    ns = json.loads(cluster.kubectl("get", "namespace", name, "-o", "json").stdout)
    assert ns["status"]["phase"] == "Active"


@needs_kubectl
def test_pod_created_right_after_namespace_and_read_back(cluster: Cluster) -> None:
    name = f"smoke-{uuid.uuid4().hex[:8]}"
    cluster.kubectl("create", "namespace", name)
    core = client.CoreV1Api(cluster.api_client())
    t0 = time.monotonic()
    core.create_namespaced_pod(name, _pod("p1"))
    created_in = time.monotonic() - t0
    pod = core.read_namespaced_pod("p1", name)
    assert pod.metadata.labels == {"app": "smoke"}
    assert pod.status.phase == "Pending"  # no scheduler, no kubelet
    # The ServiceAccount admission plugin ran, as on a real cluster.
    assert pod.spec.service_account_name == "default"
    assert any(v.name.startswith("kube-api-access-") for v in pod.spec.volumes)
    assert created_in < 5, f"pod creation took {created_in:.1f}s"
    # kubectl sees it too.
    got = json.loads(cluster.kubectl("get", "pod", "p1", "-n", name, "-o", "json").stdout)
    assert got["metadata"]["uid"] == pod.metadata.uid


@needs_kubectl
def test_job_creates_pod(cluster: Cluster, namespace: str) -> None:
    job = {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {"name": "smoke-job", "namespace": namespace},
        "spec": {
            "backoffLimit": 0,
            "template": {
                "spec": {
                    "restartPolicy": "Never",
                    "containers": [{"name": "main", "image": "busybox:1.36", "command": ["true"]}],
                }
            },
        },
    }
    cluster.kubectl("apply", "-f", "-", input=json.dumps(job))
    deadline = time.monotonic() + 60
    pods: list[dict[str, object]] = []
    while time.monotonic() < deadline:
        out = cluster.kubectl(
            "get", "pods", "-n", namespace, "-l", "job-name=smoke-job", "-o", "json"
        ).stdout
        pods = json.loads(out)["items"]
        if pods:
            break
        time.sleep(0.5)
    assert pods, "the Job controller created no Pod within 60 s"


def test_cluster_without_controller_manager_stops_cleanly(
    e2e_bin_dir: Path, tmp_path: Path
) -> None:
    """A second, minimal cluster: pods work without the ServiceAccount plugin,
    and stop() leaves no process behind."""
    with Cluster(tmp_path, e2e_bin_dir, controller_manager=False) as c:
        pids = c.pids()
        assert len(pids) == 2  # etcd, kube-apiserver
        c.request("POST", "/api/v1/namespaces", {"metadata": {"name": "bare"}})
        pod = c.request("POST", "/api/v1/namespaces/bare/pods", _pod("p"))
        assert pod["metadata"]["name"] == "p"
    assert c.pids() == []
    for pid in pids:
        with pytest.raises(ProcessLookupError):
            os.killpg(pid, 0)
