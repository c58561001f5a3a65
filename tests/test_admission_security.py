"""Security levels: what is filled, what is denied, and that stricter values stay."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from compiler.admission import validate
from tests.test_admission_support import (
    NS,
    admitted,
    apply,
    bundled,
    check,
    container,
    denied,
    pod,
)

SEED = [{"name": "BACKTEST_SEED", "value": "1"}]


def test_restricted_fills_pod_and_container_settings() -> None:
    out = admitted(pod("tier1"))
    spec = out["spec"]
    assert spec["securityContext"] == {
        "runAsNonRoot": True,
        "seccompProfile": {"type": "RuntimeDefault"},
    }
    assert spec["containers"][0]["securityContext"] == {
        "allowPrivilegeEscalation": False,
        "capabilities": {"drop": ["ALL"]},
    }
    assert "hostUsers" not in spec and "automountServiceAccountToken" not in spec


def test_strict_also_fills_read_only_root_user_namespace_and_token() -> None:
    spec = admitted(pod("tier0"))["spec"]
    assert spec["hostUsers"] is False and spec["automountServiceAccountToken"] is False
    assert spec["containers"][0]["securityContext"]["readOnlyRootFilesystem"] is True


def test_baseline_fills_nothing() -> None:
    spec = admitted(pod("tier2"))["spec"]
    assert "securityContext" not in spec and "securityContext" not in spec["containers"][0]


def test_stricter_user_values_are_kept() -> None:
    sc = {"seccompProfile": {"type": "Localhost", "localhostProfile": "bt.json"}, "runAsUser": 1000}
    c = container(
        env=SEED,
        securityContext={"capabilities": {"drop": ["NET_RAW"]}, "readOnlyRootFilesystem": True},
    )
    out = admitted(pod("tier1", containers=[c], securityContext=sc))
    assert out["spec"]["securityContext"]["seccompProfile"]["type"] == "Localhost"
    assert out["spec"]["containers"][0]["securityContext"]["capabilities"]["drop"] == [
        "NET_RAW",
        "ALL",
    ]


@pytest.mark.parametrize(
    ("tier", "spec", "csc", "rule"),
    [
        ("tier2", {"hostNetwork": True}, {}, "security.host-namespaces"),
        ("tier2", {}, {"privileged": True}, "security.privileged"),
        ("tier2", {}, {"capabilities": {"add": ["NET_RAW"]}}, "security.capabilities"),
        ("tier1", {}, {"capabilities": {"add": ["CHOWN"]}}, "security.capabilities"),
        (
            "tier2",
            {"volumes": [{"name": "h", "hostPath": {"path": "/"}}]},
            {},
            "security.host-path",
        ),
        (
            "tier1",
            {"volumes": [{"name": "n", "nfs": {"server": "s", "path": "/"}}]},
            {},
            "security.volume-types",
        ),
        ("tier1", {}, {"runAsUser": 0}, "security.run-as-root"),
        ("tier1", {"securityContext": {"runAsNonRoot": False}}, {}, "security.run-as-non-root"),
        ("tier1", {}, {"allowPrivilegeEscalation": True}, "security.privilege-escalation"),
        ("tier2", {}, {"seccompProfile": {"type": "Unconfined"}}, "security.seccomp"),
        ("tier2", {}, {"procMount": "Unmasked"}, "security.proc-mount"),
        ("tier1", {"hostUsers": False}, {"procMount": "Unmasked"}, "security.proc-mount"),
        (
            "tier2",
            {"securityContext": {"sysctls": [{"name": "kernel.msgmax", "value": "1"}]}},
            {},
            "security.sysctls",
        ),
        ("tier2", {}, {"seLinuxOptions": {"user": "root"}}, "security.selinux"),
        ("tier2", {}, {"appArmorProfile": {"type": "Unconfined"}}, "security.apparmor"),
        ("tier2", {}, {"windowsOptions": {"hostProcess": True}}, "security.host-process"),
        ("tier0", {}, {"readOnlyRootFilesystem": False}, "security.read-only-root"),
        ("tier0", {"hostUsers": True}, {}, "security.host-users"),
        ("tier0", {"automountServiceAccountToken": True}, {}, "security.automount-token"),
        ("tier1", {"os": {"name": "windows"}}, {}, "security.windows"),
    ],
)
def test_violations_are_denied(
    tier: str, spec: dict[str, Any], csc: dict[str, Any], rule: str
) -> None:
    c = container(env=SEED, securityContext=csc) if csc else container(env=SEED)
    d = denied(pod(tier, containers=[c], **spec))
    assert rule in d.rules, d.message


def test_unmasked_proc_is_baseline_with_a_user_namespace() -> None:
    c = container(securityContext={"procMount": "Unmasked"})
    admitted(pod("tier2", containers=[c], hostUsers=False))


def test_host_ports_and_probe_hosts_are_denied() -> None:
    probe = {"httpGet": {"path": "/", "port": 80, "host": "10.0.0.1"}}
    c = container(ports=[{"containerPort": 80, "hostPort": 80}], livenessProbe=probe)
    d = denied(pod("tier2", containers=[c]))
    assert set(d.rules) == {"security.host-port", "security.host-probes"}


def test_apparmor_annotation_unconfined_is_denied() -> None:
    ann = {"container.apparmor.security.beta.kubernetes.io/backtest": "unconfined"}
    assert "security.apparmor" in denied(pod("tier2", annotations=ann)).rules


def test_denial_message_names_tenant_tier_rule_and_fix() -> None:
    c = container(env=SEED, securityContext={"privileged": True})
    d = denied(pod("tier0", containers=[c]))
    assert d.message == (
        'hermetic: tenant alpha-research, tier tier0: container "backtest" sets privileged: true '
        "(rule security.privileged); remove it: tier0 runs at security level strict"
    )


def test_every_container_kind_is_checked() -> None:
    bad = {"privileged": True}
    obj = pod(
        "tier2",
        initContainers=[container("init", securityContext=bad)],
        ephemeralContainers=[{"name": "dbg", "image": "busybox", "securityContext": bad}],
    )
    d = denied(obj)
    assert [x.path for x in d.denials] == [
        "/spec/initContainers/0/securityContext/privileged",
        "/spec/ephemeralContainers/0/securityContext/privileged",
    ]


# --- the ServiceAccount plugin's token, under strict ------------------------------------

TOKEN_PATH = "/var/run/secrets/kubernetes.io/serviceaccount"


def token_volume(name: str = "kube-api-access-z52f4", **changes: Any) -> dict[str, Any]:
    """The volume kube-apiserver v1.37's ServiceAccount plugin adds (read back from one)."""
    sources: list[dict[str, Any]] = [
        {"serviceAccountToken": {"expirationSeconds": 3607, "path": "token"}},
        {"configMap": {"items": [{"key": "ca.crt", "path": "ca.crt"}], "name": "kube-root-ca.crt"}},
        {
            "downwardAPI": {
                "items": [
                    {
                        "fieldRef": {"apiVersion": "v1", "fieldPath": "metadata.namespace"},
                        "path": "namespace",
                    }
                ]
            }
        },
    ]
    projected = {"defaultMode": 420, "sources": sources} | changes
    return {"name": name, "projected": projected}


def token_mount(name: str = "kube-api-access-z52f4", path: str = TOKEN_PATH) -> dict[str, Any]:
    return {"mountPath": path, "name": name, "readOnly": True}


def with_token(tier: str, **spec: Any) -> dict[str, Any]:
    """A pod as the ServiceAccount plugin leaves it: the volume and a mount per container."""
    main = container(env=SEED, volumeMounts=[token_mount()])
    init = container("fetch", volumeMounts=[{"name": "data", "mountPath": "/d"}, token_mount()])
    volumes = [{"name": "data", "emptyDir": {}}, token_volume()]
    return pod(tier, containers=[main], initContainers=[init], volumes=volumes, **spec)


def test_strict_removes_the_service_account_plugins_token_volume_and_mounts() -> None:
    obj = with_token("tier0")
    d = check(obj, bundled())
    assert d.allowed and "security.automount-token" in d.rules
    spec = apply(obj, d)["spec"]
    assert spec["automountServiceAccountToken"] is False
    assert all(not v["name"].startswith("kube-api-access-") for v in spec["volumes"])
    assert {"name": "data", "emptyDir": {}} in spec["volumes"]
    mounts = [m for c in (*spec["containers"], *spec["initContainers"]) for m in c["volumeMounts"]]
    assert TOKEN_PATH not in {m["mountPath"] for m in mounts}
    assert {"name": "data", "mountPath": "/d"} in mounts  # the user's own mount stays
    removed = {op["path"] for op in d.patch if op["op"] == "remove"}
    assert removed == {
        "/spec/volumes/1",
        "/spec/containers/0/volumeMounts",  # its only mount: no empty list left
        "/spec/initContainers/0/volumeMounts/1",
    }


def test_below_strict_the_token_stays() -> None:
    for tier in ("tier1", "tier2"):
        spec = admitted(with_token(tier))["spec"]
        assert token_volume() in spec["volumes"]
        assert token_mount() in spec["containers"][0]["volumeMounts"]


@pytest.mark.parametrize(
    "volume",
    [
        token_volume("my-token"),  # the shape, without the plugin's name
        token_volume("kube-api-access-mine", defaultMode=256),
        token_volume(
            "kube-api-access-mine",
            sources=[{"serviceAccountToken": {"audience": "vault", "path": "token"}}],
        ),
        token_volume(
            "kube-api-access-mine",
            sources=[
                {"serviceAccountToken": {"expirationSeconds": 3607, "path": "token"}},
                {"configMap": {"items": [{"key": "ca.crt", "path": "ca.crt"}], "name": "my-ca"}},
                {
                    "downwardAPI": {
                        "items": [{"fieldRef": {"fieldPath": "metadata.name"}, "path": "n"}]
                    }
                },
            ],
        ),
        {"name": "kube-api-access-mine", "emptyDir": {}},
    ],
    ids=["other-name", "mode", "audience", "other-sources", "emptydir"],
)
def test_a_users_own_volume_is_never_removed(volume: dict[str, Any]) -> None:
    mount = token_mount(volume["name"], "/var/run/secrets/mine")
    obj = pod("tier0", containers=[container(env=SEED, volumeMounts=[mount])], volumes=[volume])
    spec = admitted(obj)["spec"]
    assert volume in spec["volumes"] and mount in spec["containers"][0]["volumeMounts"]


def test_a_mount_of_the_plugins_volume_elsewhere_is_denied() -> None:
    mounts = [token_mount(), token_mount(path="/token")]
    obj = pod(
        "tier0", containers=[container(env=SEED, volumeMounts=mounts)], volumes=[token_volume()]
    )
    d = denied(obj)
    assert d.rules == ("security.automount-token",)
    assert 'container "backtest" mounts the service-account token at "/token"' in d.message
    assert d.denials[0].path == "/spec/containers/0/volumeMounts/1"


def test_a_token_volume_a_later_webhook_adds_back_is_denied_by_the_backstop() -> None:
    out = admitted(with_token("tier0"))
    later = copy.deepcopy(out)
    later["spec"]["volumes"].append(token_volume())
    later["spec"]["containers"][0]["volumeMounts"].append(token_mount())
    v = validate(later, bundled(), namespace=NS)
    assert not v.allowed and v.rules == ("security.automount-token",)
    assert validate(out, bundled(), namespace=NS).allowed
