"""deploy/ and the Dockerfile: rendered with the real `kubectl kustomize`, every object
validated (`kubernetes-validate --strict`; cert-manager's kinds by a minimal schema, their
CRDs are not among the shared schemas), and the operational invariants checked.

The generated files (deploy/base/generated/, the policy copy in deploy/base/policy/) must
equal what the compiler makes of policies/; `HERMETIC_UPDATE_DEPLOY=1` rewrites them.
"""

from __future__ import annotations

import atexit
import base64
import functools
import os
import re
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml
from kubernetes_validate import utils as kv_utils

import certs
from cli.main import main
from webhook.sync.kinds import MANAGED_KINDS

ROOT = Path(__file__).resolve().parent.parent
DEPLOY = ROOT / "deploy"
BASE = DEPLOY / "base"
POLICIES = ROOT / "policies"
VERSIONS = ("1.34.0", kv_utils.latest_version())
UPDATE = bool(os.environ.get("HERMETIC_UPDATE_DEPLOY"))
SERVICE_NAMES = [
    "hermetic",
    "hermetic.hermetic-system",
    "hermetic.hermetic-system.svc",
    "hermetic.hermetic-system.svc.cluster.local",
]
Obj = dict[str, Any]

needs_kubectl = pytest.mark.skipif(
    shutil.which("kubectl") is None,
    reason="kubectl is not installed: deploy/ cannot be rendered (kubectl kustomize) here",
)


# --- rendering --------------------------------------------------------------------------------


def kustomize(path: Path) -> list[Obj]:
    out = subprocess.run(
        ["kubectl", "kustomize", str(path)], capture_output=True, text=True, check=False
    )
    assert out.returncode == 0, out.stderr
    return [d for d in yaml.safe_load_all(out.stdout) if d]


@functools.cache
def _tree() -> Path:
    """A temporary copy of deploy/ with TLS files issued as an operator would."""
    top = Path(tempfile.mkdtemp(prefix="hermetic-deploy-"))
    atexit.register(shutil.rmtree, top, ignore_errors=True)
    root = top / "deploy"
    shutil.copytree(DEPLOY, root, ignore=shutil.ignore_patterns("*.crt", "*.key"))
    certs.issue(root / "overlays/hermetic-certs/tls", "hermetic", "hermetic-system")
    combined = root / "overlays/separate-sync"
    shutil.copytree(root / "overlays/hermetic-certs", combined)
    with (combined / "kustomization.yaml").open("a") as fh:
        fh.write("\ncomponents:\n  - ../../components/separate-sync\n")
    return root


@functools.cache
def rendered(name: str) -> tuple[Obj, ...]:
    path = DEPLOY / "base" if name == "base" else _tree() / "overlays" / name
    return tuple(kustomize(path))


LAYOUTS = ["base", "hermetic-certs", "cert-manager", "separate-sync"]


def find(objs: tuple[Obj, ...], kind: str, name: str | None = None) -> Obj:
    hits = [o for o in objs if o["kind"] == kind and name in (None, o["metadata"]["name"])]
    assert len(hits) == 1, f"{kind}/{name}: {len(hits)} found"
    found: Obj = hits[0]
    return found


def container(objs: tuple[Obj, ...], deployment: str = "hermetic") -> Obj:
    c: list[Obj] = find(objs, "Deployment", deployment)["spec"]["template"]["spec"]["containers"]
    assert len(c) == 1
    return c[0]


# --- schema validation ------------------------------------------------------------------------


def cert_manager_errors(obj: Obj) -> list[str]:
    """A minimal check of cert-manager's Issuer and Certificate (no CRD schema here)."""
    spec, errors = obj.get("spec") or {}, []
    if obj["apiVersion"] != "cert-manager.io/v1":
        errors.append(f"apiVersion {obj['apiVersion']}")
    if not obj.get("metadata", {}).get("namespace"):
        errors.append("no metadata.namespace")
    if obj["kind"] == "Issuer":
        kinds = {"selfSigned", "ca", "acme", "vault", "venafi"} & set(spec)
        if len(kinds) != 1:
            errors.append(f"an Issuer needs exactly one issuer type, has {sorted(kinds)}")
        if "ca" in spec and not spec["ca"].get("secretName"):
            errors.append("spec.ca.secretName is required")
    elif obj["kind"] == "Certificate":
        for field in ("secretName", "issuerRef"):
            if field not in spec:
                errors.append(f"spec.{field} is required")
        if not spec.get("issuerRef", {}).get("name"):
            errors.append("spec.issuerRef.name is required")
        if not (spec.get("commonName") or spec.get("dnsNames")):
            errors.append("a Certificate needs a commonName or dnsNames")
    else:
        errors.append(f"unexpected cert-manager kind {obj['kind']}")
    return errors


@needs_kubectl
@pytest.mark.parametrize("layout", LAYOUTS)
def test_every_rendered_object_validates_strictly(layout: str) -> None:
    problems = []
    for obj in rendered(layout):
        who = f"{obj['kind']}/{obj['metadata'].get('name')}"
        if obj["apiVersion"].startswith("cert-manager.io/"):
            problems += [f"{who}: {e}" for e in cert_manager_errors(obj)]
            continue
        for version in VERSIONS:
            try:
                kubernetes_validate.validate(obj, version, strict=True)
            except kubernetes_validate.ValidationError as exc:
                problems.append(f"{who} ({version}): {exc.message} at {list(exc.path)}")
    assert not problems, "\n".join(problems)


def test_the_minimal_cert_manager_check_finds_mistakes() -> None:
    cert = {"apiVersion": "cert-manager.io/v1", "kind": "Certificate", "metadata": {"name": "x"}}
    assert len(cert_manager_errors(cert)) == 5
    issuer = {"apiVersion": "cert-manager.io/v1", "kind": "Issuer", "metadata": {"namespace": "n"}}
    assert cert_manager_errors({**issuer, "spec": {"ca": {}}}) == ["spec.ca.secretName is required"]


# --- the Deployment ---------------------------------------------------------------------------


@needs_kubectl
@pytest.mark.parametrize("layout", LAYOUTS)
def test_the_webhook_deployment_is_highly_available(layout: str) -> None:
    objs = rendered(layout)
    d = find(objs, "Deployment", "hermetic")
    pod = d["spec"]["template"]["spec"]
    labels = d["spec"]["template"]["metadata"]["labels"]
    assert d["spec"]["replicas"] >= 3
    (term,) = pod["affinity"]["podAntiAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"]
    assert term["topologyKey"] == "kubernetes.io/hostname"
    assert term["labelSelector"]["matchLabels"].items() <= labels.items()
    pdb = find(objs, "PodDisruptionBudget")["spec"]
    assert pdb.get("minAvailable") == 2 or pdb.get("maxUnavailable") == 1
    assert pdb["selector"]["matchLabels"].items() <= labels.items()
    assert pod["priorityClassName"] == "system-cluster-critical"
    assert pod["serviceAccountName"] == "hermetic"


@needs_kubectl
@pytest.mark.parametrize("layout", LAYOUTS)
def test_containers_are_restricted_guaranteed_and_read_only(layout: str) -> None:
    objs = rendered(layout)
    for d in (o for o in objs if o["kind"] == "Deployment"):
        pod = d["spec"]["template"]["spec"]
        assert pod["securityContext"]["runAsNonRoot"] is True
        assert pod["securityContext"]["runAsUser"] == 65532  # the image's USER
        assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
        for c in pod["containers"]:
            sc = c["securityContext"]
            assert sc["allowPrivilegeEscalation"] is False
            assert sc["capabilities"] == {"drop": ["ALL"]}
            assert sc["readOnlyRootFilesystem"] is True
            assert sc["runAsNonRoot"] is True
            assert c["resources"]["requests"] == c["resources"]["limits"]
            mounts = {m["mountPath"]: m["name"] for m in c["volumeMounts"]}
            volumes = {v["name"]: v for v in pod["volumes"]}
            assert "emptyDir" in volumes[mounts["/tmp"]]
            assert all(m.get("readOnly") for m in c["volumeMounts"] if m["mountPath"] != "/tmp")


@needs_kubectl
def test_webhook_args_probes_and_service() -> None:
    objs = rendered("base")
    c = container(objs)
    assert c["args"] == [
        "serve",
        "--policy",
        "/etc/hermetic/policy",
        "--cert",
        "/etc/hermetic/tls/tls.crt",
        "--key",
        "/etc/hermetic/tls/tls.key",
        "--sync",
    ]
    ports = {p["name"]: p["containerPort"] for p in c["ports"]}
    assert ports == {"https": 8443}
    for probe, path in (("readinessProbe", "/readyz"), ("livenessProbe", "/healthz")):
        get = c[probe]["httpGet"]
        assert (get["path"], get["scheme"], ports[get["port"]]) == (path, "HTTPS", 8443)
    svc = find(objs, "Service", "hermetic")
    assert svc["metadata"]["namespace"] == "hermetic-system"
    (port,) = svc["spec"]["ports"]
    assert (port["port"], ports[port["targetPort"]]) == (443, 8443)
    pod_labels = find(objs, "Deployment", "hermetic")["spec"]["template"]["metadata"]["labels"]
    assert svc["spec"]["selector"].items() <= pod_labels.items()


@needs_kubectl
def test_mounts_match_the_args() -> None:
    objs = rendered("cert-manager")
    c = container(objs)
    pod = find(objs, "Deployment", "hermetic")["spec"]["template"]["spec"]
    volumes = {v["name"]: v for v in pod["volumes"]}
    mounts = {m["mountPath"]: volumes[m["name"]] for m in c["volumeMounts"]}
    assert mounts["/etc/hermetic/policy"]["configMap"]["name"] == "hermetic-policy"
    assert mounts["/etc/hermetic/tls"]["secret"]["secretName"] == "hermetic-tls"
    find(objs, "ConfigMap", "hermetic-policy")  # no hash suffix: updated in place


@needs_kubectl
def test_separate_sync_moves_the_controller_out_of_the_webhook() -> None:
    objs = rendered("separate-sync")
    assert "--sync" not in container(objs)["args"]
    sync = container(objs, "hermetic-sync")
    assert sync["args"][:3] == ["sync", "--policy", "/etc/hermetic/policy"]
    env = {e["name"]: e["value"] for e in sync["env"]}
    assert env == {"HERMETIC_SYNC_CERTS_DIR": "/etc/hermetic/ca"}
    svc = find(objs, "Service", "hermetic")["spec"]["selector"]
    sync_labels = find(objs, "Deployment", "hermetic-sync")["spec"]["template"]["metadata"]
    assert not svc.items() <= sync_labels["labels"].items()  # not a webhook endpoint


# --- RBAC -------------------------------------------------------------------------------------


def _rules(objs: tuple[Obj, ...], kind: str) -> list[Obj]:
    return [r for o in objs if o["kind"] == kind for r in o["rules"]]


@needs_kubectl
def test_rbac_grants_only_what_the_controller_uses() -> None:
    objs = rendered("base")
    cluster = _rules(objs, "ClusterRole")
    granted = {(g, r) for rule in cluster for g in rule["apiGroups"] for r in rule["resources"]}
    managed = {(k.group, k.plural) for k in MANAGED_KINDS}
    webhooks = {
        ("admissionregistration.k8s.io", "mutatingwebhookconfigurations"),
        ("admissionregistration.k8s.io", "validatingwebhookconfigurations"),
    }
    assert granted == managed | webhooks | {("", "namespaces")}
    for rule in cluster:
        verbs = set(rule["verbs"])
        assert "*" not in verbs and "*" not in rule["resources"] and "*" not in rule["apiGroups"]
        if "namespaces" in rule["resources"]:
            assert verbs == {"get", "list", "watch", "patch"}  # never create
        elif "mutatingwebhookconfigurations" in rule["resources"]:
            assert verbs == {"get", "list", "watch", "patch"}
            assert rule["resourceNames"] == ["zz-hermetic"]
        else:
            assert verbs == {"get", "list", "watch", "create", "patch", "delete"}
    role = find(objs, "Role")
    assert role["metadata"]["namespace"] == "hermetic-system"
    local = {(r, v) for rule in role["rules"] for r in rule["resources"] for v in rule["verbs"]}
    assert local == {
        ("leases", "get"),
        ("leases", "create"),
        ("leases", "update"),
        ("events", "create"),
    }
    for binding in ("ClusterRoleBinding", "RoleBinding"):
        (subject,) = find(objs, binding)["subjects"]
        assert subject == {
            "kind": "ServiceAccount",
            "name": "hermetic",
            "namespace": "hermetic-system",
        }


# --- webhook configurations and TLS ----------------------------------------------------------


@needs_kubectl
@pytest.mark.parametrize("layout", LAYOUTS)
def test_webhooks_call_the_service(layout: str) -> None:
    objs = rendered(layout)
    for kind in ("MutatingWebhookConfiguration", "ValidatingWebhookConfiguration"):
        for hook in find(objs, kind, "zz-hermetic")["webhooks"]:
            service = hook["clientConfig"]["service"]
            assert (service["namespace"], service["name"], service["port"]) == (
                "hermetic-system",
                "hermetic",
                443,
            )
            assert hook["timeoutSeconds"] <= 3
            names = hook["namespaceSelector"]["matchExpressions"][0]
            assert names["operator"] == "NotIn" and "hermetic-system" in names["values"]


@needs_kubectl
def test_hermetic_certs_sets_ca_bundles_and_ships_no_ca_key() -> None:
    objs = rendered("hermetic-certs")
    bundle = (_tree() / "overlays/hermetic-certs/tls/ca-bundle.crt").read_bytes()
    for kind in ("MutatingWebhookConfiguration", "ValidatingWebhookConfiguration"):
        for hook in find(objs, kind, "zz-hermetic")["webhooks"]:
            assert base64.b64decode(hook["clientConfig"]["caBundle"]) == bundle
    secrets = [o for o in objs if o["kind"] == "Secret"]
    keys = {re.sub(r"-[a-z0-9]{10}$", "", o["metadata"]["name"]): set(o["data"]) for o in secrets}
    assert keys == {"hermetic-ca-bundle": {"ca-bundle.crt"}, "hermetic-tls": {"tls.crt", "tls.key"}}
    tls = next(o for o in secrets if o["metadata"]["name"].startswith("hermetic-tls-"))
    assert tls["type"] == "kubernetes.io/tls"
    pod = find(objs, "Deployment", "hermetic")["spec"]["template"]["spec"]
    assert {v["name"]: v.get("secret", {}).get("secretName") for v in pod["volumes"]}["tls"] == (
        tls["metadata"]["name"]
    )
    assert {"name": "HERMETIC_SYNC_CERTS_DIR", "value": "/etc/hermetic/ca"} in container(objs)[
        "env"
    ]


def test_private_keys_are_git_ignored() -> None:
    tls = DEPLOY / "overlays/hermetic-certs/tls"
    for name in ("tls.key", "ca.key", "tls.crt", "ca-bundle.crt", "ca.old.crt"):
        check = subprocess.run(
            ["git", "check-ignore", "-q", str(tls / name)], cwd=ROOT, check=False
        )
        assert check.returncode == 0, f"{name} is not git-ignored"
    check = subprocess.run(
        ["git", "check-ignore", "-q", str(tls / "kustomization.yaml")], cwd=ROOT, check=False
    )
    assert check.returncode == 1


@needs_kubectl
def test_cert_manager_issues_the_service_names_and_injects_both_configurations() -> None:
    objs = rendered("cert-manager")
    cert = find(objs, "Certificate", "hermetic")
    assert cert["metadata"]["namespace"] == "hermetic-system"
    assert cert["spec"]["dnsNames"] == SERVICE_NAMES
    assert cert["spec"]["secretName"] == "hermetic-tls"
    issuer = find(objs, "Issuer", cert["spec"]["issuerRef"]["name"])
    find(objs, "Certificate", issuer["spec"]["ca"]["secretName"])
    for kind in ("MutatingWebhookConfiguration", "ValidatingWebhookConfiguration"):
        config = find(objs, kind, "zz-hermetic")
        annotation = config["metadata"]["annotations"]["cert-manager.io/inject-ca-from"]
        assert annotation == "hermetic-system/hermetic"
        assert all("caBundle" not in h["clientConfig"] for h in config["webhooks"])
    assert not [o for o in objs if o["kind"] == "Secret"]
    assert "env" not in container(objs)  # no --certs-dir: the injector owns caBundle


# --- generated files ----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def compiled(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("compiled") / "out"
    assert main(["compile", str(POLICIES), "--out", str(out)]) == 0
    return out / "manifests"


@pytest.mark.parametrize("name", ["webhooks.yaml", "priorityclasses.yaml"])
def test_generated_manifests_are_the_compilers_output(compiled: Path, name: str) -> None:
    expected = (compiled / name).read_text()
    target = BASE / "generated" / name
    if UPDATE:
        target.write_text(expected)
    assert target.read_text() == expected, (
        f"{target.relative_to(ROOT)} is stale: HERMETIC_UPDATE_DEPLOY=1 pytest tests/test_deploy.py"
    )


def test_the_policy_copy_equals_policies() -> None:
    copy_dir = BASE / "policy"
    if UPDATE:
        for old in copy_dir.glob("*.hermetic"):
            old.unlink()
        for src in POLICIES.glob("*.hermetic"):
            shutil.copyfile(src, copy_dir / src.name)
    originals = {p.name: p.read_bytes() for p in POLICIES.glob("*.hermetic")}
    copies = {p.name: p.read_bytes() for p in copy_dir.glob("*.hermetic")}
    assert copies == originals, (
        "deploy/base/policy/ is stale: HERMETIC_UPDATE_DEPLOY=1 pytest tests/test_deploy.py"
    )
    kustomization = yaml.safe_load((BASE / "kustomization.yaml").read_text())
    (generator,) = kustomization["configMapGenerator"]
    assert sorted(generator["files"]) == sorted(f"policy/{n}" for n in originals)


# --- the image --------------------------------------------------------------------------------


def dockerfile() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) of the Dockerfile, continuation lines joined."""
    text = re.sub(r"\\\n", " ", (ROOT / "Dockerfile").read_text())
    out = []
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            word, _, rest = line.partition(" ")
            out.append((word.upper(), rest.strip()))
    return out


def stages() -> list[list[tuple[str, str]]]:
    result: list[list[tuple[str, str]]] = []
    for instruction in dockerfile():
        if instruction[0] == "FROM":
            result.append([])
        if result:
            result[-1].append(instruction)
    return result


def test_dockerfile_builds_a_wheel_then_installs_it_into_a_venv() -> None:
    build, final = stages()[0], stages()[-1]
    assert len(stages()) >= 2
    assert " AS " in build[0][1].upper()
    build_runs = " ".join(a for i, a in build if i == "RUN")
    assert "pip wheel" in build_runs and "venv" in build_runs and "compileall" in build_runs
    assert not [a for i, a in final if i == "RUN"], "the final stage runs nothing: no build tools"
    copies = [a for i, a in final if i == "COPY"]
    assert copies and all(a.startswith("--from=") for a in copies)


def test_dockerfile_ships_the_compiled_admission_path() -> None:
    build = stages()[0]
    copied = " ".join(a for i, a in build if i == "COPY")
    assert "setup.py" in copied.split()  # the build that compiles compiler/admission
    runs = " ".join(a for i, a in build if i == "RUN")
    assert "gcc" in runs  # the build stage's C compiler; the final stage has none
    assert "native.compiled()" in runs  # the image build fails on a pure-Python install
    ignored = (ROOT / ".dockerignore").read_text().split()
    assert "**/*.so" in ignored  # a developer's in-place build never enters the image


def test_dockerfile_runs_non_root_on_a_read_only_root() -> None:
    final = stages()[-1]
    users = [a for i, a in final if i == "USER"]
    assert users and re.fullmatch(r"\d+(:\d+)?", users[-1]), "USER must be numeric"
    assert all(int(x) != 0 for x in users[-1].split(":"))
    assert users[-1].split(":")[0] == "65532"
    env = " ".join(a for i, a in final if i == "ENV")
    assert "PYTHONDONTWRITEBYTECODE=1" in env  # bytecode compiled at build time, none at run time
    assert "HOME=/tmp" in env  # the only writable place in the pod (an emptyDir)
    assert ("ENTRYPOINT", '["hermetic"]') in final
    last_user = max(n for n, (i, _) in enumerate(final) if i == "USER")
    assert all(i not in ("RUN", "COPY", "ADD") for i, _ in final[last_user:])
    assert not [i for i, _ in final if i in ("VOLUME", "ADD")]


def test_dockerfile_base_is_the_pinned_slim_python() -> None:
    args = {
        a.split("=", 1)[0]: a.split("=", 1)[1] for i, a in dockerfile() if i == "ARG" and "=" in a
    }
    image = args["PYTHON_IMAGE"]
    assert image.startswith("python:3.11-slim")
    assert all(
        a == "${PYTHON_IMAGE}" or a.startswith("${PYTHON_IMAGE} ")
        for i, a in dockerfile()
        if i == "FROM"
    )


def test_dockerignore_keeps_secrets_and_clutter_out() -> None:
    patterns = {
        line.strip()
        for line in (ROOT / ".dockerignore").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    }
    assert {".git", ".venv", "**/*.key", "tests", "deploy"} <= patterns


def _packages() -> Iterator[str]:
    for init in sorted(ROOT.glob("*/**/__init__.py")):
        rel = init.parent.relative_to(ROOT)
        if rel.parts[0] in {"dsl", "compiler", "webhook", "certs", "cli"}:
            yield ".".join(rel.parts)


def test_the_wheel_holds_every_package() -> None:
    import tomllib

    from setuptools import find_packages

    find = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"]
    packaged = set(find_packages(where=str(ROOT), include=find["find"]["include"]))
    assert set(_packages()) <= packaged
