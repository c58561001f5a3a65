"""`hermetic serve --sync`: the controller runs inside the webhook process (the deploy base's
layout), follows the webhook's policy, and stops with it."""

from __future__ import annotations

import json
import os
from pathlib import Path

from tests.e2e.cluster import Cluster
from tests.e2e.fixtures_hermetic import POLICIES, hermetic_cli, poll, unique
from tests.e2e.hermetic_proc import HermeticProcess, free_port


def _labels(cluster: Cluster, namespace: str) -> dict[str, str]:
    out = cluster.kubectl("get", "namespace", namespace, "-o", "json").stdout
    return dict(json.loads(out)["metadata"].get("labels", {}))


def _network_policies(cluster: Cluster, namespace: str) -> set[str]:
    out = cluster.kubectl("get", "networkpolicies", "-n", namespace, "-o", "json").stdout
    return {item["metadata"]["name"] for item in json.loads(out)["items"]}


def test_serve_with_sync_reconciles_new_tenant_namespaces(cluster: Cluster, tmp_path: Path) -> None:
    certs_dir = tmp_path / "certs"
    hermetic_cli(
        "certs", "issue", "--service", "hermetic", "--namespace", "hermetic-system",
        "--out", certs_dir, "--ip", "127.0.0.1",
    )  # fmt: skip
    cluster.kubectl("create", "namespace", "hermetic-serve-sync", check=False)
    serve = HermeticProcess(
        "hermetic serve --sync",
        [
            "serve", "--policy", str(POLICIES),
            "--cert", str(certs_dir / "tls.crt"), "--key", str(certs_dir / "tls.key"),
            "--host", "127.0.0.1", "--port", str(free_port()),
            "--sync", "--sync-namespace", "hermetic-serve-sync",
            "--sync-lease-name", "serve-sync-test", "--sync-resync-seconds", "30",
        ],
        tmp_path / "serve.log",
        env={**os.environ, "KUBECONFIG": str(cluster.kubeconfig)},
    ).start()  # fmt: skip
    namespace = unique("beta-quant")  # a glob namespace of tenant beta-quant
    try:
        cluster.kubectl("create", "namespace", namespace)
        poll(
            f"{namespace} labelled by the controller inside serve",
            lambda: _labels(cluster, namespace).get("hermetic.io/tenant") == "beta-quant",
            timeout=30,
        )
        policies = poll(
            f"NetworkPolicies in {namespace}", lambda: _network_policies(cluster, namespace), 30
        )
        assert "hermetic-default-deny" in policies
        lease = json.loads(
            cluster.kubectl(
                "get", "lease", "serve-sync-test", "-n", "hermetic-serve-sync", "-o", "json"
            ).stdout
        )
        assert lease["spec"]["holderIdentity"]
    finally:
        code = serve.stop()
        cluster.kubectl("delete", "namespace", namespace, "--wait=false", check=False)
    assert code == 0, serve.tail()
