"""Every rule `mutate` applies, with a one-line summary and whether it is a guarantee.

A rule id names what hermetic did or refused (`resources.cpu.default`, `security.privileged`).
Ids appear in denial messages, warnings, the `hermetic.io/rules` annotation, audit
annotations and `hermetic check` output (as the diagnostic code and SARIF rule).

Guarantee rules protect isolation: when one of them would still change the final pod, the
validating backstop (`validate`) denies it, because a webhook that ran after hermetic undid
hermetic's work. Convenience rules (thread counts, scratch mounts, stamps of rules) only warn.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final


@dataclass(frozen=True, slots=True)
class Rule:
    summary: str
    guarantee: bool


def _r(summary: str, guarantee: bool = True) -> Rule:
    return Rule(summary, guarantee)


RULES: Final[dict[str, Rule]] = {
    "pod.malformed": _r("the object has a field of the wrong JSON type"),
    "internal.error": _r("hermetic failed on this object (a bug); it is denied to stay safe"),
    "tier.allowed": _r("the pod asks for a tier its tenant may not use"),
    "update.stamps": _r("an update changed hermetic's labels or broke a tier guarantee"),
    # resources (per container: containers, init containers, native sidecars)
    "resources.malformed": _r("a resource quantity cannot be read"),
    "resources.pod-level": _r("pod-level resources defeat exclusive-core alignment"),
    "resources.cpu.default": _r("a missing CPU request/limit gets the tier's default"),
    "resources.cpu.partner": _r("a missing CPU request/limit copies its partner"),
    "resources.cpu.range": _r("CPU outside the tier's per-container range"),
    "resources.cpu.whole": _r("exclusive cores need whole-CPU requests"),
    "resources.cpu.guaranteed": _r("exclusive cores need CPU requests == limits"),
    "resources.cpu.order": _r("a CPU request above its limit"),
    "resources.memory.default": _r("a missing memory request/limit gets the tier's default"),
    "resources.memory.partner": _r("a missing memory request/limit copies its partner"),
    "resources.memory.range": _r("memory outside the tier's per-container range"),
    "resources.memory.guaranteed": _r("exclusive cores or swap off need memory requests == limits"),
    "resources.memory.order": _r("a memory request above its limit"),
    "resources.ephemeral-storage.default": _r("missing ephemeral storage gets the tier's default"),
    "resources.ephemeral-storage.partner": _r("missing ephemeral storage copies its partner"),
    "resources.ephemeral-storage.range": _r("ephemeral storage outside the tier's range"),
    "resources.ephemeral-storage.guaranteed": _r("ephemeral storage requests != limits"),
    "resources.ephemeral-storage.order": _r("an ephemeral-storage request above its limit"),
    # security
    "security.host-namespaces": _r("hostNetwork, hostPID and hostIPC are forbidden"),
    "security.privileged": _r("privileged containers are forbidden"),
    "security.capabilities": _r("capabilities added beyond the level's allowance"),
    "security.capabilities.drop": _r("restricted levels drop ALL capabilities"),
    "security.host-path": _r("hostPath volumes are forbidden"),
    "security.host-port": _r("host ports are forbidden"),
    "security.volume-types": _r("restricted levels allow only ephemeral and projected volumes"),
    "security.run-as-root": _r("runAsUser 0 is forbidden at restricted levels"),
    "security.run-as-non-root": _r("restricted levels run as non-root"),
    "security.privilege-escalation": _r("restricted levels forbid privilege escalation"),
    "security.seccomp": _r("a seccomp profile is required; Unconfined is forbidden"),
    "security.proc-mount": _r("an Unmasked /proc is forbidden"),
    "security.sysctls": _r("only namespaced safe sysctls are allowed"),
    "security.selinux": _r("SELinux options beyond the container types are forbidden"),
    "security.apparmor": _r("an Unconfined AppArmor profile is forbidden"),
    "security.host-process": _r("Windows host-process containers are forbidden"),
    "security.host-probes": _r("probes and lifecycle hooks may not target another host"),
    "security.read-only-root": _r("the strict level mounts the root filesystem read-only"),
    "security.host-users": _r("the strict level runs the pod in a user namespace"),
    "security.automount-token": _r(
        "the strict level mounts no service-account token (the plugin's volume is removed)"
    ),
    "security.windows": _r("restricted levels need Linux settings a Windows pod cannot carry"),
    # mesh
    "mesh.inject": _r("the tier's mesh injection label or annotation"),
    "mesh.opt-out": _r("a pod may not opt out of a strict mesh"),
    "mesh.mode": _r("the pod asks for a different mesh data plane than its tier"),
    "mesh.proxy-resources": _r("sidecar proxy requests == limits keep the QoS class"),
    # scratch
    "scratch.volume": _r("the tier's scratch emptyDir volumes", guarantee=False),
    "scratch.mount": _r("scratch mounted where the root filesystem is read-only", False),
    "scratch.clash": _r("a user volume has the name of a tier scratch volume"),
    # network shaping
    "network.shaping": _r("the tier's bandwidth, burst, packet-rate and connection limits"),
    "network.excess": _r("a shaping annotation above the tier's limit"),
    # scheduling
    "scheduling.priority-class": _r("the tier's PriorityClass"),
    "scheduling.priority": _r("priority and preemption match the tier's class", False),
    "scheduling.runtime-class": _r("the tier's RuntimeClass"),
    "scheduling.node-required": _r("the tier's required node labels, in every term"),
    "scheduling.node-preferred": _r("the tier's preferred node labels", guarantee=False),
    "scheduling.tolerations": _r("the tier's tolerations", guarantee=False),
    "scheduling.anti-affinity": _r("anti-affinity between pods of one strategy family"),
    "scheduling.spread": _r("topology spread of one strategy family"),
    "scheduling.block-io": _r("the tier's block-I/O class"),
    # environment
    "env.threads": _r("BLAS/OpenMP thread counts match the CPU limit", guarantee=False),
    "env.tier": _r("the tier's environment variables", guarantee=False),
    "seed.required": _r("the tier requires a seed"),
    "seed.conflict": _r("the pod carries two different seeds"),
    "seed.inject": _r("a seed derived from the request", guarantee=False),
    "seed.record": _r("the pod's seed recorded as env and annotation", guarantee=False),
    "images.pinned": _r("images must be pinned by digest"),
    # stamps
    "stamp.tenant": _r("the tenant label is hermetic's, from the namespace", False),
    "stamp.tier": _r("the tier label names the tier applied", guarantee=False),
    "stamp.cost-center": _r("the tenant's cost-center label", guarantee=False),
    "stamp.digest": _r("the policy bundle's digest", guarantee=False),
}


def known(ids: str) -> set[str]:
    """The rule ids in a `hermetic.io/rules` annotation that hermetic knows (others dropped)."""
    return {r for r in (s.strip() for s in ids.split(",")) if r in RULES}
