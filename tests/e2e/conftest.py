"""Fixtures for the end-to-end suite: a real kube-apiserver on loopback.

The binaries come from ``tests/e2e/build.sh`` (Go + the Go module proxy).
When they are missing the ``cluster`` fixture builds them if Go is on PATH
(a cold build takes a while, a cached one is quick) and skips otherwise.
Set ``HERMETIC_E2E_BIN_DIR`` to use binaries from elsewhere.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from .cluster import HERE, Cluster, ClusterError, default_bin_dir, missing_binaries

HOW_TO_RUN = (
    "the e2e tests need kube-apiserver, kube-controller-manager and etcd built from Go "
    "modules: install Go >= 1.26 (with access to the Go module proxy) and run "
    "`tests/e2e/build.sh`, then `pytest -m e2e tests/e2e` (see tests/e2e/README.md)"
)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    # Everything under tests/e2e is an e2e test, marked or not.
    for item in items:
        if HERE in Path(str(item.path)).resolve().parents:
            item.add_marker(pytest.mark.e2e)


def _ensure_binaries(bin_dir: Path) -> None:
    missing = missing_binaries(bin_dir)
    if not missing:
        return
    if os.environ.get("HERMETIC_E2E_BIN_DIR"):
        pytest.fail(f"HERMETIC_E2E_BIN_DIR={bin_dir} lacks {', '.join(missing)}")
    if not shutil.which("go"):
        pytest.skip(f"{', '.join(missing)} not built and Go is not on PATH; {HOW_TO_RUN}")
    log = bin_dir.parent / f"build-{bin_dir.name}.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    with open(log, "wb") as out:
        proc = subprocess.run(
            ["bash", str(HERE / "build.sh")], stdout=out, stderr=subprocess.STDOUT, check=False
        )
    tail = "\n".join(log.read_text(errors="replace").splitlines()[-30:])
    if proc.returncode != 0 or missing_binaries(bin_dir):
        pytest.fail(f"tests/e2e/build.sh failed ({proc.returncode}); {log} ends with:\n{tail}")
    print(f"\n[e2e] built the control plane in {time.monotonic() - started:.0f}s ({log})")


@pytest.fixture(scope="session")
def e2e_bin_dir() -> Path:
    """The directory with etcd, kube-apiserver and kube-controller-manager."""
    bin_dir = default_bin_dir()
    _ensure_binaries(bin_dir)
    return bin_dir


@pytest.fixture(scope="session")
def cluster(e2e_bin_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    """etcd + kube-apiserver + kube-controller-manager for the whole session."""
    bin_dir = e2e_bin_dir
    workdir = tmp_path_factory.mktemp("e2e-cluster")
    try:
        c = Cluster(workdir, bin_dir).start()
    except ClusterError as exc:
        pytest.fail(f"could not start the e2e cluster: {exc}", pytrace=False)
    try:
        print(f"\n[e2e] cluster ready in {c.start_seconds:.1f}s at {c.server} ({workdir})")
        yield c
    finally:
        c.stop()


@pytest.fixture
def namespace(cluster: Cluster) -> Iterator[str]:
    """A fresh namespace, deleted (without waiting) after the test."""
    name = f"e2e-{uuid.uuid4().hex[:8]}"
    cluster.kubectl("create", "namespace", name)
    yield name
    cluster.kubectl("delete", "namespace", name, "--wait=false", check=False)
