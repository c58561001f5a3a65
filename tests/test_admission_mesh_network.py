"""Mesh injection and proxy resources; traffic shaping annotations and their excess."""

from __future__ import annotations

import dataclasses

from compiler.model import Mtls
from tests.test_admission_support import admitted, bundled, denied, pod, variant

ISTIO_PROXY = {
    "sidecar.istio.io/proxyCPU": "200m",
    "sidecar.istio.io/proxyCPULimit": "200m",
    "sidecar.istio.io/proxyMemory": "256Mi",
    "sidecar.istio.io/proxyMemoryLimit": "256Mi",
}


def with_mesh(mesh: str, mode: str):  # type: ignore[no-untyped-def]
    """The bundled policy with tier1 on another mesh."""
    p = bundled()
    tiers = tuple(
        dataclasses.replace(t, mtls=Mtls(mesh=mesh, mode=mode)) if t.name == "tier1" else t  # type: ignore[arg-type]
        for t in p.tiers
    )
    return dataclasses.replace(p, tiers=tiers)


def test_istio_sidecar_label_and_equal_proxy_resources() -> None:
    meta = admitted(pod("tier1"))["metadata"]
    assert meta["labels"]["sidecar.istio.io/inject"] == "true"
    assert ISTIO_PROXY.items() <= meta["annotations"].items()


def test_ambient_label_and_no_sidecar() -> None:
    meta = admitted(pod("tier0"))["metadata"]
    assert meta["labels"]["istio.io/dataplane-mode"] == "ambient"
    assert "sidecar.istio.io/inject" not in meta["labels"]


def test_opting_out_of_a_strict_mesh_is_denied() -> None:
    d = denied(pod("tier0", labels={"istio.io/dataplane-mode": "none"}))
    assert "mesh.opt-out" in d.rules
    d = denied(pod("tier0", labels={"sidecar.istio.io/inject": "true"}))
    assert "mesh.mode" in d.rules
    strict = with_mesh("istio-sidecar", "strict")
    d = denied(pod("tier1", annotations={"sidecar.istio.io/inject": "false"}), strict)
    assert d.rules == ("mesh.opt-out",)


def test_opting_out_of_a_permissive_mesh_is_kept_with_a_warning() -> None:
    p = bundled()
    from tests.test_admission_support import check

    obj = pod("tier1", labels={"sidecar.istio.io/inject": "false"})
    d = check(obj, p)
    assert d.allowed and any("kept" in w for w in d.warnings)
    assert not any("proxyCPU" in op["path"] for op in d.patch)


def test_linkerd_annotations() -> None:
    ann = admitted(pod("tier1"), with_mesh("linkerd", "strict"))["metadata"]["annotations"]
    assert ann["linkerd.io/inject"] == "enabled"
    assert ann["config.linkerd.io/proxy-cpu-request"] == ann["config.linkerd.io/proxy-cpu-limit"]
    assert ann["config.linkerd.io/proxy-memory-request"] == "256Mi"
    d = denied(
        pod("tier1", annotations={"linkerd.io/inject": "disabled"}), with_mesh("linkerd", "strict")
    )
    assert d.rules == ("mesh.opt-out",)


def test_user_proxy_resources_are_overwritten_with_a_warning() -> None:
    from tests.test_admission_support import check

    obj = pod("tier1", annotations={"sidecar.istio.io/proxyCPULimit": "2"})
    d = check(obj, bundled())
    assert any("proxyCPULimit" in w for w in d.warnings)


def test_shaping_annotations_use_the_compilers_keys() -> None:
    ann = admitted(pod("tier0"))["metadata"]["annotations"]
    assert ann["qos.projectcalico.org/ingressBandwidth"] == "2G"
    assert ann["qos.projectcalico.org/egressMaxConnections"] == "4096"
    assert "kubernetes.io/ingress-bandwidth" not in ann
    kube = dataclasses.replace(
        bundled(), cluster=dataclasses.replace(bundled().cluster, bandwidth_keys="kubernetes")
    )
    ann = admitted(pod("tier2"), kube)["metadata"]["annotations"]
    assert ann["kubernetes.io/egress-bandwidth"] == "100M"
    assert not any(k.startswith("qos.projectcalico.org") for k in ann)


def test_asking_for_less_bandwidth_is_kept() -> None:
    ann = admitted(pod("tier2", annotations={"qos.projectcalico.org/egressBandwidth": "10M"}))
    assert ann["metadata"]["annotations"]["qos.projectcalico.org/egressBandwidth"] == "10M"


def test_excess_is_lowered_or_denied_per_tier() -> None:
    from tests.test_admission_support import check

    obj = pod("tier2", annotations={"qos.projectcalico.org/egressBandwidth": "10G"})
    d = check(obj, bundled())
    assert d.allowed and "network.excess" in d.rules and any("lowered" in w for w in d.warnings)
    d = denied(pod("tier0", annotations={"qos.projectcalico.org/ingressBandwidth": "5G"}))
    assert d.rules == ("network.excess",)
    d = denied(pod("tier0", annotations={"qos.projectcalico.org/ingressBandwidth": "fast"}))
    assert d.rules == ("network.excess",)


def test_governs_nothing_passes_everything() -> None:
    from compiler.admission import mutate
    from compiler.model import Requirement

    quiet = variant(bundled(), governs=(Requirement(key="never", operator="Exists"),))
    d = mutate(
        pod("tier0", labels={"istio.io/dataplane-mode": "none"}), quiet, namespace="alpha-research"
    )
    assert d.allowed and d.patch == [] and not d.governed
