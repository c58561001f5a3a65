"""The compiled objects against a real kube-apiserver (the e2e control plane, no kubelet).

- Every object of every golden case is accepted by server-side validation (`kubectl apply
  --dry-run=server`), custom resources after their CRDs are installed: this checks what
  schemas cannot, e.g. the CEL of matchConditions and of the Istio CRDs, or that an
  `except` lies inside its CIDR.
- The webhook configurations send exactly the intended requests: registered at a URL where
  nothing listens (with `failurePolicy: Fail`), a request that reaches the webhook fails and
  one that does not is admitted.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import compiler
from compiler.build import generate_all
from tests.e2e.cluster import Cluster, ClusterError, default_bin_dir, missing_binaries

from .k8s_schemas import CRD_DIRS
from .test_targets_golden import NAMES, _compile

pytestmark = pytest.mark.e2e
CLUSTER_SCOPED = {"Namespace", "PriorityClass"}
NOWHERE = "https://127.0.0.1:9"  # nothing listens: a call fails at once


@pytest.fixture(scope="module")
def apiserver(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    if missing_binaries(default_bin_dir()) or shutil.which("kubectl") is None:
        pytest.skip("needs the e2e control plane (tests/e2e/build.sh) and kubectl")
    try:
        c = Cluster(tmp_path_factory.mktemp("targets-apiserver"), controller_manager=False).start()
    except ClusterError as exc:
        pytest.fail(f"could not start the control plane: {exc}", pytrace=False)
    try:
        for folder in CRD_DIRS:
            for path in sorted(folder.glob("*.yaml")):
                c.kubectl("apply", "--server-side", "-f", str(path), timeout=120)
        c.kubectl("wait", "--for=condition=established", "crd", "--all", timeout=120)
        yield c
    finally:
        c.stop()


def _apply(c: Cluster, objects: list[dict[str, Any]], *flags: str) -> str:
    doc = json.dumps({"apiVersion": "v1", "kind": "List", "items": objects})
    proc = c.kubectl("apply", *flags, "-f", "-", input=doc, check=False, timeout=120)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


@pytest.mark.parametrize("case", [*NAMES, "policies"])
def test_server_side_validation_accepts_every_object(apiserver: Cluster, case: str) -> None:
    objects = list(_compile(case)[0].objects)
    # Namespaces and PriorityClasses for real (the rest needs the namespaces to exist).
    _apply(apiserver, [o for o in objects if o["kind"] in CLUSTER_SCOPED], "--server-side")
    rest = [o for o in objects if o["kind"] not in CLUSTER_SCOPED]
    out = _apply(apiserver, rest, "--dry-run=server", "--server-side")
    assert out.count("serverside-applied") == len(rest), out


def _pod(
    name: str, labels: dict[str, str], annotations: dict[str, str] | None = None
) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": name, "labels": labels}
    if annotations:
        meta["annotations"] = annotations
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": meta,
        "spec": {"containers": [{"name": "main", "image": "busybox:1.36"}]},
    }


def _deployment(name: str, labels: dict[str, str]) -> dict[str, Any]:
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name},
        "spec": {
            "selector": {"matchLabels": {"app": name}},
            "template": {
                "metadata": {"labels": {"app": name, **labels}},
                "spec": {"containers": [{"name": "main", "image": "busybox:1.36"}]},
            },
        },
    }


def _reaches_webhook(c: Cluster, namespace: str, obj: dict[str, Any]) -> bool:
    proc = c.kubectl(
        "create", "--dry-run=server", "-n", namespace, "-f", "-", input=json.dumps(obj), check=False
    )
    if proc.returncode == 0:
        return False
    assert "failed calling webhook" in proc.stderr, proc.stderr
    return True


GOVERNED = {"app.kubernetes.io/component": "backtest"}


def test_webhooks_see_governed_objects_only(apiserver: Cluster) -> None:
    loaded = compiler.load([str(Path(__file__).parent.parent / "policies")])
    assert loaded.policy is not None
    objects = generate_all(loaded.policy, ["market-data"], webhook_url=NOWHERE).objects
    hooks = [o for o in objects if o["kind"].endswith("WebhookConfiguration")]
    _apply(apiserver, [o for o in objects if o["kind"] == "Namespace"], "--server-side")
    apiserver.kubectl("create", "namespace", "market-data", check=False)
    apiserver.kubectl("create", "namespace", "beta-quant-exempt", check=False)
    apiserver.kubectl(
        "label",
        "namespace",
        "beta-quant-exempt",
        "hermetic.io/tenant=beta-quant",
        "hermetic.io/exempt=true",
    )
    _apply(apiserver, hooks, "--server-side")
    try:
        c = apiserver
        assert _reaches_webhook(c, "alpha-research", _pod("governed", GOVERNED))
        assert not _reaches_webhook(c, "alpha-research", _pod("plain", {"app": "x"}))
        assert not _reaches_webhook(
            c, "alpha-research", {**_pod("bare", {}), "metadata": {"name": "bare"}}
        )
        # a namespace not (yet) labelled with its tenant: governed pods are sent, and the
        # admission function decides (it passes namespaces of no tenant untouched)
        assert _reaches_webhook(c, "market-data", _pod("elsewhere", GOVERNED))
        assert not _reaches_webhook(c, "market-data", _pod("other", {"app": "x"}))
        assert not _reaches_webhook(c, "kube-system", _pod("system", GOVERNED))
        assert not _reaches_webhook(c, "beta-quant-exempt", _pod("exempt", GOVERNED))
        mirror = _pod("mirror", GOVERNED, {"kubernetes.io/config.mirror": "x"})
        mirror["spec"]["nodeName"] = "node-1"  # the API server requires it of mirror pods
        assert not _reaches_webhook(c, "alpha-research", mirror)
        assert _reaches_webhook(c, "risk-models", _deployment("deploy", GOVERNED))
        assert not _reaches_webhook(c, "risk-models", _deployment("other", {"tier": "x"}))
    finally:
        for hook in hooks:
            c.kubectl("delete", hook["kind"], hook["metadata"]["name"], check=False)
