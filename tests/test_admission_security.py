"""Security levels: what is filled, what is denied, and that stricter values stay."""

from __future__ import annotations

import pytest

from tests.test_admission_support import admitted, container, denied, pod

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
def test_violations_are_denied(tier: str, spec: dict, csc: dict, rule: str) -> None:
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
