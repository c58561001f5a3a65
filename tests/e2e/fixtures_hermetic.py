"""Fixtures for the hermetic e2e tests: certificates, the webhook, its registration.

Import them into a test module (``from .fixtures_hermetic import ...``). The session
fixture ``hermetic`` does, once, what an operator does:

    hermetic certs issue --service hermetic --namespace hermetic-system --out CERTS \
        --ip 127.0.0.1 --dns localhost
    hermetic serve --policy policies/ --cert SERVED/tls.crt --key SERVED/tls.key \
        --host 127.0.0.1 --port P
    hermetic compile policies/ --out OUT --webhook-url https://127.0.0.1:P --namespaces NS
    hermetic certs inject --ca-bundle CERTS/ca-bundle.crt OUT/manifests/webhooks.yaml
    kubectl apply: hermetic-system, RuntimeClass runc-pinned, OUT's PriorityClasses, the
        tenant Namespaces the admission tests use, OUT's webhook configurations

then waits until the API server really calls the webhook (a dry-run pod comes back
stamped). SERVED is laid out like a Secret volume (``tls.crt -> ..data/tls.crt``,
``..data -> ..<version>``): ``deploy_serving_pair()`` publishes CERTS' current pair by
swapping ``..data`` atomically, the way the kubelet updates a mounted Secret — so a
rotation can push the CA bundle to the API server before the webhook serves the new pair.
"""

from __future__ import annotations

import base64
import contextlib
import copy
import json
import os
import shutil
import subprocess
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from . import hermetic_proc
from .cluster import Cluster
from .hermetic_proc import HERMETIC, ServeProcess

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent
POLICIES = REPO / "policies"
MANIFESTS = HERE / "manifests"

WEBHOOK_NAMESPACE = "hermetic-system"
WEBHOOK_CONFIG = "zz-hermetic"  # both the Mutating- and the ValidatingWebhookConfiguration
MUTATING_WEBHOOK = "mutate.pods.hermetic.io"
DIGEST_ANNOTATION = "hermetic.io/bundle-digest"
COMPONENT = "app.kubernetes.io/component"
BACKTEST = {COMPONENT: "backtest"}

# Tenant namespaces the admission and rotation tests create pods in (the exact ones come
# from the policy; the glob-owned ones are passed to `hermetic compile --namespaces`).
ADMISSION_NAMESPACES = (
    "alpha-research",
    "beta-quant",
    "risk-models",
    "replay-adm",
    "alpha-rotation",
)
# Namespaces the sync test creates itself, after `hermetic sync` started: compiled (for the
# expected objects) but never applied here.
SYNC_NAMESPACES = ("alpha-77", "replay-2026")

RUNTIME_CLASS = {  # tier0's runtime-class; the RuntimeClass admission plugin requires it
    "apiVersion": "node.k8s.io/v1",
    "kind": "RuntimeClass",
    "metadata": {"name": "runc-pinned"},
    "handler": "runc",
}


# --------------------------------------------------------------------------------------
# small helpers


def hermetic_cli(
    *args: str | os.PathLike[str], check: bool = True, input: str | None = None, timeout: float = 60
) -> subprocess.CompletedProcess[str]:
    """Run `.venv/bin/hermetic ARGS`; raise with its output when `check` and it fails."""
    proc = subprocess.run(
        [str(HERMETIC), *map(str, args)],
        input=input,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    if check and proc.returncode != 0:
        raise AssertionError(
            f"hermetic {' '.join(map(str, args))} exited {proc.returncode}\n"
            f"stdout:\n{proc.stdout[-3000:]}\nstderr:\n{proc.stderr[-3000:]}"
        )
    return proc


def hermetic_parallel(*commands: list[str | os.PathLike[str]], timeout: float = 90) -> list[str]:
    """Run several `hermetic` commands at once (each pays ~1.5 s of imports); their stdout.
    Raises naming the first that failed."""
    procs = [
        subprocess.Popen(
            [str(HERMETIC), *map(str, c)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )
        for c in commands
    ]
    outs = [p.communicate(timeout=timeout) for p in procs]
    for c, p, (out, err) in zip(commands, procs, outs, strict=True):
        if p.returncode != 0:
            raise AssertionError(
                f"hermetic {' '.join(map(str, c))} exited {p.returncode}\n"
                f"stdout:\n{out[-3000:]}\nstderr:\n{err[-3000:]}"
            )
    return [out for out, _ in outs]


def load_manifest(name: str) -> dict[str, Any]:
    doc = yaml.safe_load((MANIFESTS / name).read_text())
    assert isinstance(doc, dict)
    return doc


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:6]}"


def manifest(
    name: str, *, rename: str | None = None, namespace: str | None = None
) -> dict[str, Any]:
    """A manifest from tests/e2e/manifests with a unique name (prefix = its name)."""
    obj = load_manifest(name)
    meta = obj["metadata"]
    meta["name"] = rename or unique(meta["name"])
    if namespace is not None:
        meta["namespace"] = namespace
    return obj


def write_yaml(path: Path, *docs: Any) -> Path:
    path.write_text(yaml.safe_dump_all(docs, sort_keys=False))
    return path


def poll(what: str, check: Callable[[], Any], timeout: float, interval: float = 0.2) -> Any:
    """Call `check` until it returns something truthy; fail naming `what` after `timeout`."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while True:
        last = check()
        if last:
            return last
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: not true after {timeout:g}s (last: {last!r})")
        time.sleep(interval)


def qos_class(spec: dict[str, Any]) -> str:
    """The QoS class Kubernetes computes from a pod spec (containers and init containers):
    Guaranteed when every container has cpu and memory limits with requests equal to them,
    BestEffort when none has any cpu/memory request or limit, else Burstable."""
    containers = list(spec.get("containers") or []) + list(spec.get("initContainers") or [])
    any_set, guaranteed = False, True
    for c in containers:
        res = c.get("resources") or {}
        req, lim = res.get("requests") or {}, res.get("limits") or {}
        for r in ("cpu", "memory"):
            if r in req or r in lim:
                any_set = True
            if r not in lim or req.get(r, lim[r]) != lim[r]:
                guaranteed = False
    if not any_set:
        return "BestEffort"
    return "Guaranteed" if guaranteed else "Burstable"


def ca_bundle_of(config: dict[str, Any]) -> list[bytes]:
    """The decoded caBundle of every webhook of a webhook configuration."""
    return [base64.b64decode(w["clientConfig"].get("caBundle", "")) for w in config["webhooks"]]


def pem_certs(pem: bytes) -> list[bytes]:
    """The PEM blocks of a bundle, normalised."""
    out, block = [], []
    for line in pem.decode().splitlines():
        line = line.strip()
        if line.startswith("-----BEGIN"):
            block = [line]
        elif line.startswith("-----END"):
            block.append(line)
            out.append("\n".join(block).encode())
            block = []
        elif block:
            block.append(line)
    return out


# --------------------------------------------------------------------------------------
# the deployment


@dataclass
class Hermetic:
    """The webhook of the session, registered with the cluster."""

    cluster: Cluster
    workdir: Path
    certs_dir: Path  # `hermetic certs issue/rotate` work here
    served_dir: Path  # what `hermetic serve` reads (a Secret-volume layout)
    out_dir: Path  # `hermetic compile` output
    webhook: ServeProcess
    digest: str  # bundle.json's metadata.digest

    @property
    def bundle(self) -> Path:
        return self.out_dir / "bundle.json"

    def kubectl(self, *args: str, **kw: Any) -> subprocess.CompletedProcess[str]:
        return self.cluster.kubectl(*args, **kw)

    def deploy_serving_pair(self) -> None:
        """Publish CERTS/tls.crt and tls.key to SERVED in one atomic `..data` swap."""
        version = self.served_dir / f"..{time.strftime('%H%M%S')}.{uuid.uuid4().hex[:6]}"
        version.mkdir()
        for name in ("tls.crt", "tls.key"):
            shutil.copy2(self.certs_dir / name, version / name)
        tmp = self.served_dir / "..data_tmp"
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
        tmp.symlink_to(version.name)
        os.replace(tmp, self.served_dir / "..data")
        for name in ("tls.crt", "tls.key"):
            link = self.served_dir / name
            if not link.is_symlink():
                link.symlink_to(Path("..data") / name)

    def webhook_config(self, kind: str) -> dict[str, Any]:
        out = self.kubectl("get", kind, WEBHOOK_CONFIG, "-o", "json").stdout
        return dict(json.loads(out))

    def set_ca_bundle(self, pem: bytes) -> None:
        """Patch every webhook's caBundle in both configurations (what `certs inject` +
        apply, or `hermetic sync --certs-dir`, would do)."""
        value = base64.b64encode(pem).decode()
        for kind in ("mutatingwebhookconfiguration", "validatingwebhookconfiguration"):
            count = len(self.webhook_config(kind)["webhooks"])
            ops = [
                {"op": "replace", "path": f"/webhooks/{i}/clientConfig/caBundle", "value": value}
                for i in range(count)
            ]
            self.kubectl("patch", kind, WEBHOOK_CONFIG, "--type=json", "-p", json.dumps(ops))

    def dry_run_pod(self, namespace: str = "alpha-research") -> subprocess.CompletedProcess[str]:
        pod = manifest("pod-tier1.yaml", rename=unique("probe"), namespace=namespace)
        return self.kubectl(
            "create",
            "--dry-run=server",
            "-o",
            "json",
            "-f",
            "-",
            input=json.dumps(pod),
            check=False,
        )

    def wait_webhook_called(self, timeout: float = 20) -> None:
        """Until a dry-run backtest pod comes back stamped with our digest: the API server has
        the configuration and reaches the webhook."""

        def stamped() -> bool:
            r = self.dry_run_pod()
            if r.returncode != 0:
                return False
            pod = json.loads(r.stdout)
            return bool(
                (pod["metadata"].get("annotations") or {}).get(DIGEST_ANNOTATION) == self.digest
            )

        poll("the API server calls the webhook", stamped, timeout)

    def restart_webhook(self) -> None:
        """Start `hermetic serve` again on the same port (the configurations point at it)."""
        self.webhook.start_ready(keep_port=True)
        self.wait_webhook_called()


def _setup(cluster: Cluster, workdir: Path) -> Hermetic:
    certs_dir, served_dir, out_dir = workdir / "certs", workdir / "served", workdir / "out"
    served_dir.mkdir(parents=True)
    port = hermetic_proc.free_port()
    namespaces = workdir / "namespaces.txt"
    namespaces.write_text("\n".join((*ADMISSION_NAMESPACES, *SYNC_NAMESPACES)) + "\n")
    hermetic_parallel(
        ["certs", "issue", "--service", "hermetic", "--namespace", WEBHOOK_NAMESPACE,
         "--out", certs_dir, "--ip", "127.0.0.1", "--dns", "localhost"],
        ["compile", POLICIES, "--out", out_dir, "--namespaces", namespaces,
         "--webhook-url", f"https://127.0.0.1:{port}"],
    )  # fmt: skip
    h = Hermetic(
        cluster=cluster,
        workdir=workdir,
        certs_dir=certs_dir,
        served_dir=served_dir,
        out_dir=out_dir,
        webhook=ServeProcess(
            [POLICIES],
            served_dir / "tls.crt",
            served_dir / "tls.key",
            certs_dir / "ca-bundle.crt",
            workdir / "logs" / "serve.log",
            port=port,
        ),
        digest=json.loads((out_dir / "bundle.json").read_text())["metadata"]["digest"],
    )
    h.deploy_serving_pair()
    h.webhook.start()  # boots while the bundle is injected; readiness is checked below
    ns_docs = [
        d
        for d in yaml.safe_load_all((out_dir / "manifests" / "namespaces.yaml").read_text())
        if d and d["metadata"]["name"] in ADMISSION_NAMESPACES
    ]
    assert {d["metadata"]["name"] for d in ns_docs} == set(ADMISSION_NAMESPACES), ns_docs
    system = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": WEBHOOK_NAMESPACE}}
    cluster.kubectl("apply", "-f", "-", input=yaml.safe_dump_all([system, RUNTIME_CLASS, *ns_docs]))
    webhooks = out_dir / "manifests" / "webhooks.yaml"
    hermetic_cli("certs", "inject", "--ca-bundle", certs_dir / "ca-bundle.crt", webhooks)
    h.webhook.wait_for("ready on " + h.webhook.url, h.webhook.ready, 30)
    cluster.kubectl(
        "apply", "-f", str(out_dir / "manifests" / "priorityclasses.yaml"), "-f", str(webhooks)
    )
    h.wait_webhook_called()
    return h


# One deployment per cluster. Each test module imports the fixture, and pytest keeps a
# session fixture per module that defines it (conftest.py is not ours to extend), so the
# first instance sets up and tears down; the others hand out the same object.
_DEPLOYED: dict[int, Hermetic] = {}


@pytest.fixture(scope="session", name="hermetic")
def hermetic_fixture(
    cluster: Cluster, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Hermetic]:
    """Certificates, `hermetic serve`, and its webhook configurations in the cluster."""
    if id(cluster) in _DEPLOYED:
        yield _DEPLOYED[id(cluster)]
        return
    workdir = tmp_path_factory.mktemp("hermetic")
    t0 = time.monotonic()
    try:
        h = _setup(cluster, workdir)
    except BaseException:
        for p in hermetic_proc.started():
            p.stop()
        print(f"\n[e2e] hermetic setup failed; logs:\n{hermetic_proc.tails()}")
        raise
    print(f"\n[e2e] hermetic webhook registered in {time.monotonic() - t0:.1f}s at {h.webhook.url}")
    _DEPLOYED[id(cluster)] = h
    try:
        yield h
    finally:
        del _DEPLOYED[id(cluster)]
        h.webhook.stop()
        # Leave no webhook pointing at a closed port in the shared cluster.
        cluster.kubectl(
            "delete", "mutatingwebhookconfiguration,validatingwebhookconfiguration",
            WEBHOOK_CONFIG, "--ignore-not-found", check=False,
        )  # fmt: skip


# --------------------------------------------------------------------------------------
# log tails in failure reports


class _LogTails:
    """Adds the tails of the hermetic processes' logs to the report of a failed test."""

    @pytest.hookimpl(hookwrapper=True)
    def pytest_runtest_makereport(self, item: pytest.Item, call: Any) -> Iterator[None]:
        outcome = yield
        report = outcome.get_result()  # type: ignore[attr-defined]
        if (
            report.failed
            and "hermetic_logs_on_failure" in getattr(item, "fixturenames", ())
            and hermetic_proc.started()
        ):
            report.sections.append(("hermetic serve/sync logs (tails)", hermetic_proc.tails()))


@pytest.fixture(scope="session", name="_hermetic_log_plugin")
def hermetic_log_plugin_fixture(pytestconfig: pytest.Config) -> None:
    if not pytestconfig.pluginmanager.has_plugin("hermetic-e2e-log-tails"):
        pytestconfig.pluginmanager.register(_LogTails(), "hermetic-e2e-log-tails")


@pytest.fixture(autouse=True)
def hermetic_logs_on_failure(_hermetic_log_plugin: None) -> None:
    """Autouse in the modules that import it: failed tests show the processes' log tails."""


# --------------------------------------------------------------------------------------
# comparing stored pods


SERVER_METADATA = ("uid", "creationTimestamp", "resourceVersion", "managedFields", "generation")
LAST_APPLIED = "kubectl.kubernetes.io/last-applied-configuration"
# Fields the API server defaults on every pod (hermetic sets none of them).
SERVER_DEFAULTED_SPEC = (
    "dnsPolicy",
    "enableServiceLinks",
    "restartPolicy",
    "schedulerName",
    "serviceAccount",
    "serviceAccountName",
    "terminationGracePeriodSeconds",
)
SERVER_DEFAULTED_CONTAINER = (
    "terminationMessagePath",
    "terminationMessagePolicy",
    "imagePullPolicy",
)
TOKEN_VOLUME_PREFIX = "kube-api-access-"  # the ServiceAccount plugin's (random suffix)
DEFAULT_TOLERATION_KEYS = ("node.kubernetes.io/not-ready", "node.kubernetes.io/unreachable")


def strip_server_fields(pod: dict[str, Any]) -> dict[str, Any]:
    """The pod without what the API server generates or defaults on its own: metadata it
    generates, kubectl's last-applied annotation (a copy of the input), status, the
    defaulted spec fields above, the service-account token volume and its mounts, and the
    DefaultTolerationSeconds tolerations. Everything hermetic sets stays."""
    p = copy.deepcopy(pod)
    p.pop("status", None)
    meta = p["metadata"]
    for k in SERVER_METADATA:
        meta.pop(k, None)
    annotations = meta.get("annotations") or {}
    annotations.pop(LAST_APPLIED, None)
    if not annotations:
        meta.pop("annotations", None)
    spec = p["spec"]
    for k in SERVER_DEFAULTED_SPEC:
        spec.pop(k, None)
    if spec.get("securityContext") == {}:  # defaulted to {} when absent
        del spec["securityContext"]
    for c in (*spec.get("containers", ()), *spec.get("initContainers", ())):
        for k in SERVER_DEFAULTED_CONTAINER:
            c.pop(k, None)
        mounts = [
            m for m in c.get("volumeMounts", ()) if not m["name"].startswith(TOKEN_VOLUME_PREFIX)
        ]
        if mounts:
            c["volumeMounts"] = mounts
        else:
            c.pop("volumeMounts", None)
    volumes = [v for v in spec.get("volumes", ()) if not v["name"].startswith(TOKEN_VOLUME_PREFIX)]
    if volumes:
        spec["volumes"] = volumes
    else:
        spec.pop("volumes", None)
    tolerations = [
        t
        for t in spec.get("tolerations", ())
        if not (
            t.get("key") in DEFAULT_TOLERATION_KEYS
            and t.get("effect") == "NoExecute"
            and t.get("tolerationSeconds") == 300
        )
    ]
    if tolerations:
        spec["tolerations"] = tolerations
    else:
        spec.pop("tolerations", None)
    return p


def diff(a: Any, b: Any, path: str = "") -> list[str]:
    """Readable differences between two JSON values (for assertion messages)."""
    if isinstance(a, dict) and isinstance(b, dict):
        out = []
        for k in sorted(set(a) | set(b), key=str):
            if k not in a:
                out.append(f"{path}/{k}: only in the second: {b[k]!r}")
            elif k not in b:
                out.append(f"{path}/{k}: only in the first: {a[k]!r}")
            else:
                out.extend(diff(a[k], b[k], f"{path}/{k}"))
        return out
    if isinstance(a, list) and isinstance(b, list) and len(a) == len(b):
        return [
            d for i, (x, y) in enumerate(zip(a, b, strict=True)) for d in diff(x, y, f"{path}/{i}")
        ]
    return [] if a == b else [f"{path}: {a!r} != {b!r}"]
