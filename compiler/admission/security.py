"""Security levels: fill what the tier's level requires, deny what breaks it.

baseline: nothing to fill; deny the PSS baseline violations (host namespaces, privileged,
  added capabilities outside the default set, hostPath, host ports, Unconfined seccomp or
  AppArmor, SELinux options, unsafe sysctls, Unmasked /proc without a user namespace,
  host-process, probes aimed at other hosts).
restricted: also fill runAsNonRoot true and seccomp RuntimeDefault (pod level),
  allowPrivilegeEscalation false and capabilities drop ALL (every container); deny the
  explicit opposites, runAsUser 0, capabilities other than NET_BIND_SERVICE, volume types
  outside the restricted list, any /proc mount other than Default, and Windows pods.
strict: also fill readOnlyRootFilesystem true (every container), hostUsers false and
  automountServiceAccountToken false; deny their explicit opposites. The API server's
  ServiceAccount admission plugin runs before mutating webhooks and has already mounted the
  token by then, so strict also removes what it added (rule security.automount-token, the
  one security rule that overwrites): the volume recognised precisely, by its name prefix
  `kube-api-access-` AND its projected shape (a token at `token` with no audience, ConfigMap
  kube-root-ca.crt's ca.crt, the downward-API namespace; nothing else), and every mount of
  it at /var/run/secrets/kubernetes.io/serviceaccount (a list left empty goes as well).
  A user's own volume, projected token or not, is never removed; a mount of the plugin's
  volume at another path is denied (removing the volume would leave it dangling).
A stricter value the user wrote is never touched; every check covers containers, init
containers (native sidecars included) and ephemeral containers.
"""

from __future__ import annotations

from typing import Any, Final

from compiler.admission import pss
from compiler.admission.context import Container, Ctx, Fills, obj, q, seq
from compiler.admission.patch import Path

POD_SC: Final = ("spec", "securityContext")


def _in(value: Any, allowed: frozenset[str]) -> bool:
    return isinstance(value, str) and value in allowed


def _zero(value: Any) -> bool:
    return not isinstance(value, bool) and isinstance(value, (int, float)) and value == 0


def _deny(ctx: Ctx, rule: str, subject: str, change: str, path: Path) -> None:
    level = ctx.tier.security
    ctx.deny(rule, subject, f"{change}: {ctx.tier.name} runs at security level {level}", path)


def apply(ctx: Ctx) -> None:
    restricted = ctx.tier.security != "baseline"
    spec, where = ctx.spec, ctx.spec_path
    if restricted and obj(spec, "os", where).get("name") == "windows":
        _deny(ctx, "security.windows", "the pod runs on Windows", "run it on Linux", ("spec", "os"))
    for key in ("hostNetwork", "hostPID", "hostIPC"):
        if spec.get(key) is True:
            subject = f"the pod sets {key}: true"
            _deny(ctx, "security.host-namespaces", subject, "remove it", ("spec", key))
    _volumes(ctx, seq(spec, "volumes", where), restricted)
    _pod_context(ctx, obj(spec, "securityContext", where), restricted)
    if ctx.annotations:
        _apparmor_annotations(ctx)
    unmask_ok = spec.get("hostUsers") is False
    for c in ctx.containers(ephemeral=True):
        _container(ctx, c, restricted, unmask_ok)
    if ctx.tier.security == "strict":
        _strict_pod(ctx, spec)


def _volumes(ctx: Ctx, volumes: list[Any], restricted: bool) -> None:
    for i, v in enumerate(volumes):
        if not isinstance(v, dict):
            continue  # the API server rejects it; nothing here to weaken
        kinds = sorted(str(k) for k, x in v.items() if k != "name" and x is not None)
        path = ("spec", "volumes", i)
        if "hostPath" in kinds:
            what = f"volume {q(v.get('name'))} is a hostPath volume"
            _deny(ctx, "security.host-path", what, "use an emptyDir, a PVC or a CSI volume", path)
        elif restricted and any(not _in(k, pss.RESTRICTED_VOLUMES) for k in kinds):
            bad = ", ".join(k for k in kinds if not _in(k, pss.RESTRICTED_VOLUMES))
            allowed = ", ".join(sorted(pss.RESTRICTED_VOLUMES))
            what = f"volume {q(v.get('name'))} has type {bad}"
            _deny(ctx, "security.volume-types", what, f"use one of {allowed}", path)


def _pod_context(ctx: Ctx, sc: dict[str, Any], restricted: bool) -> None:
    if sc:
        full = (*ctx.spec_path, "securityContext")
        _common(ctx, sc, POD_SC, full, "the pod")
        _sysctls(ctx, seq(sc, "sysctls", full))
        if restricted:
            _non_root(ctx, sc, POD_SC, "the pod")
    if not restricted:
        return
    fills: Fills = {}
    if sc.get("runAsNonRoot") is None:
        fills["runAsNonRoot"] = (True, "security.run-as-non-root", "the pod may run as root")
    if sc.get("seccompProfile") is None:
        what = "the pod sets no seccomp profile"
        fills["seccompProfile"] = ({"type": "RuntimeDefault"}, "security.seccomp", what)
    ctx.merge(ctx.spec, "securityContext", fills)


def _sysctls(ctx: Ctx, sysctls: list[Any]) -> None:
    names = [s.get("name") for s in sysctls if isinstance(s, dict)]
    unsafe = [n for n in names if not _in(n, pss.SAFE_SYSCTLS)]
    if unsafe:
        subject = f"the pod sets sysctls {', '.join(q(n) for n in unsafe)}"
        _deny(ctx, "security.sysctls", subject, "remove them", (*POD_SC, "sysctls"))


def _non_root(ctx: Ctx, sc: dict[str, Any], path: Path, who: str) -> None:
    if sc.get("runAsNonRoot") is False:
        what = f"{who} sets runAsNonRoot: false"
        _deny(ctx, "security.run-as-non-root", what, "remove it", (*path, "runAsNonRoot"))
    if _zero(sc.get("runAsUser")):
        what = f"{who} sets runAsUser: 0"
        _deny(ctx, "security.run-as-root", what, "use a non-zero user id", (*path, "runAsUser"))


def _common(ctx: Ctx, sc: dict[str, Any], path: Path, full: Path, who: str) -> None:
    """Checks shared by the pod's and each container's (non-empty) securityContext."""
    seccomp = obj(sc, "seccompProfile", full)
    if seccomp.get("type") == "Unconfined" or (seccomp and "type" not in seccomp):
        what = f"{who} sets seccompProfile {q(seccomp)}"
        fix = "use type RuntimeDefault or Localhost"
        _deny(ctx, "security.seccomp", what, fix, (*path, "seccompProfile"))
    selinux = obj(sc, "seLinuxOptions", full)
    if selinux and (
        not _in(selinux.get("type") or "", pss.SELINUX_TYPES)
        or selinux.get("user")
        or selinux.get("role")
    ):
        what = f"{who} sets seLinuxOptions {q(selinux)}"
        fix = "remove user and role; use a container_* type"
        _deny(ctx, "security.selinux", what, fix, (*path, "seLinuxOptions"))
    if obj(sc, "appArmorProfile", full).get("type") == "Unconfined":
        what = f"{who} sets appArmorProfile Unconfined"
        fix = "use RuntimeDefault or Localhost"
        _deny(ctx, "security.apparmor", what, fix, (*path, "appArmorProfile"))
    if obj(sc, "windowsOptions", full).get("hostProcess") is True:
        what = f"{who} sets windowsOptions.hostProcess: true"
        _deny(ctx, "security.host-process", what, "remove it", (*path, "windowsOptions"))


def _apparmor_annotations(ctx: Ctx) -> None:
    for key, value in ctx.annotations.items():
        if not isinstance(key, str) or not key.startswith(pss.APPARMOR_ANNOTATION):
            continue
        if value != "runtime/default" and not (
            isinstance(value, str) and value.startswith("localhost/")
        ):
            what = f"annotation {key} is {q(value)}"
            fix = "use runtime/default or localhost/<profile>"
            _deny(ctx, "security.apparmor", what, fix, ("metadata", "annotations", key))


def _container(ctx: Ctx, c: Container, restricted: bool, unmask_ok: bool) -> None:
    sc = obj(c.body, "securityContext", c.full)
    if not sc:  # nothing to check; restricted levels fill it
        _ports_and_probes(ctx, c)
        if restricted:
            _restricted(ctx, c, sc, [])
        return
    path, full = (*c.path, "securityContext"), (*c.full, "securityContext")
    caps = obj(sc, "capabilities", full)
    if sc.get("privileged") is True:
        subject = f"{c.label} sets privileged: true"
        _deny(ctx, "security.privileged", subject, "remove it", (*path, "privileged"))
    _capabilities(ctx, c, seq(caps, "add", (*full, "capabilities")), restricted)
    proc = sc.get("procMount")
    if proc not in (None, "Default") and (restricted or not unmask_ok):
        what = f"{c.label} sets procMount {q(proc)}"
        _deny(ctx, "security.proc-mount", what, "remove it", (*path, "procMount"))
    _common(ctx, sc, path, full, c.label)
    _ports_and_probes(ctx, c)
    if restricted:
        _restricted(ctx, c, sc, seq(caps, "drop", (*full, "capabilities")))


def _restricted(ctx: Ctx, c: Container, sc: dict[str, Any], drop: list[Any]) -> None:
    path = (*c.path, "securityContext")
    if sc:
        _non_root(ctx, sc, path, c.label)
    fills: Fills = {}
    ape = sc.get("allowPrivilegeEscalation")
    if ape is True:
        what = f"{c.label} sets allowPrivilegeEscalation: true"
        fix = "remove it"
        _deny(ctx, "security.privilege-escalation", what, fix, (*path, "allowPrivilegeEscalation"))
    elif ape is None:
        what = f"{c.label} does not forbid privilege escalation"
        fills["allowPrivilegeEscalation"] = (False, "security.privilege-escalation", what)
    if ctx.tier.security == "strict":
        _read_only(ctx, c, sc, fills)
    if "ALL" not in drop:
        what = f"{c.label} does not drop ALL capabilities"
        if drop:
            ctx.append((*path, "capabilities", "drop"), "ALL", "security.capabilities.drop", what)
        else:
            fills["capabilities"] = {"drop": (["ALL"], "security.capabilities.drop", what)}
    ctx.merge(c.body, "securityContext", fills)


def _read_only(ctx: Ctx, c: Container, sc: dict[str, Any], fills: Fills) -> None:
    ro = sc.get("readOnlyRootFilesystem")
    if ro is False:
        what = f"{c.label} sets readOnlyRootFilesystem: false"
        fix = "remove it; write to the tier's scratch directories instead"
        path = (*c.path, "securityContext", "readOnlyRootFilesystem")
        _deny(ctx, "security.read-only-root", what, fix, path)
    elif ro is None:
        what = f"{c.label} has a writable root filesystem"
        fills["readOnlyRootFilesystem"] = (True, "security.read-only-root", what)


def _capabilities(ctx: Ctx, c: Container, added: list[Any], restricted: bool) -> None:
    allowed = pss.RESTRICTED_CAPABILITIES if restricted else pss.BASELINE_CAPABILITIES
    extra = [x for x in added if not _in(x, allowed)]
    if extra:
        what = f"{c.label} adds capabilities {', '.join(q(x) for x in extra)}"
        fix = "remove them" + (" (only NET_BIND_SERVICE may be added)" if restricted else "")
        path = (*c.path, "securityContext", "capabilities", "add")
        _deny(ctx, "security.capabilities", what, fix, path)


def _ports_and_probes(ctx: Ctx, c: Container) -> None:
    body = c.body
    for i, port in enumerate(seq(body, "ports", c.full)):
        if isinstance(port, dict) and port.get("hostPort") not in (None, 0):
            what = f"{c.label} sets hostPort {q(port.get('hostPort'))}"
            fix = "remove it; use a Service"
            _deny(ctx, "security.host-port", what, fix, (*c.path, "ports", i, "hostPort"))
    if pss.HANDLER_KEYS.isdisjoint(body):
        return
    handlers: list[tuple[str, Path, Any]] = [(p, (*c.path, p), body.get(p)) for p in pss.PROBES]
    hooks = body.get("lifecycle")
    if isinstance(hooks, dict):
        handlers += [(f"lifecycle.{h}", (*c.path, "lifecycle", h), hooks.get(h)) for h in pss.HOOKS]
    for name, path, handler in handlers:
        if not isinstance(handler, dict):
            continue
        for action in ("httpGet", "tcpSocket"):
            target = handler.get(action)
            if isinstance(target, dict) and target.get("host"):
                what = f"{c.label} {name} targets host {q(target['host'])}"
                fix = "remove the host"
                _deny(ctx, "security.host-probes", what, fix, (*path, action, "host"))


def _strict_pod(ctx: Ctx, spec: dict[str, Any]) -> None:
    if spec.get("hostUsers") is True:
        what = "the pod sets hostUsers: true"
        _deny(ctx, "security.host-users", what, "remove it", ("spec", "hostUsers"))
    elif spec.get("hostUsers") is None:
        what = "the pod shares the host's user ids"
        ctx.put(spec, "hostUsers", False, "security.host-users", what)
    token = spec.get("automountServiceAccountToken")
    if token is True:
        what = "the pod sets automountServiceAccountToken: true"
        fix = "remove it; backtests do not call the Kubernetes API"
        path = ("spec", "automountServiceAccountToken")
        _deny(ctx, "security.automount-token", what, fix, path)
    elif token is None:
        what = "the pod mounts a service-account token"
        ctx.put(spec, "automountServiceAccountToken", False, "security.automount-token", what)
    if token is not True:
        _unmount_token(ctx)


TOKEN_VOLUME_PREFIX: Final = "kube-api-access-"
TOKEN_MOUNT_PATH: Final = "/var/run/secrets/kubernetes.io/serviceaccount"
_TOKEN_CA: Final = {"name": "kube-root-ca.crt", "items": [{"key": "ca.crt", "path": "ca.crt"}]}
_TOKEN_FIELD: Final = "metadata.namespace"


def plugin_token_volume(v: Any) -> bool:
    """The volume the ServiceAccount admission plugin adds (TokenVolumeSource): its name
    prefix and its exact projected shape, with the API server's defaults written or not."""
    if not isinstance(v, dict):
        return False
    name = v.get("name")
    if not isinstance(name, str) or not name.startswith(TOKEN_VOLUME_PREFIX):
        return False
    if {k for k, x in v.items() if x is not None} != {"name", "projected"}:
        return False
    projected = v["projected"]
    if not isinstance(projected, dict) or not set(projected) <= {"sources", "defaultMode"}:
        return False
    if projected.get("defaultMode", 0o644) != 0o644:
        return False
    sources = projected.get("sources")
    if not isinstance(sources, list) or len(sources) != 3:
        return False
    token, ca, downward = sources
    return (
        isinstance(token, dict)
        and set(token) == {"serviceAccountToken"}
        and _plugin_token(token["serviceAccountToken"])
        and ca == {"configMap": _TOKEN_CA}
        and isinstance(downward, dict)
        and set(downward) == {"downwardAPI"}
        and _plugin_namespace(downward["downwardAPI"])
    )


def _plugin_token(t: Any) -> bool:
    if not isinstance(t, dict) or t.get("path") != "token":
        return False
    seconds = t.get("expirationSeconds")
    return set(t) <= {"path", "expirationSeconds"} and (
        seconds is None or (isinstance(seconds, int) and not isinstance(seconds, bool))
    )


def _plugin_namespace(d: Any) -> bool:
    items = d.get("items") if isinstance(d, dict) and set(d) == {"items"} else None
    if not isinstance(items, list) or len(items) != 1 or not isinstance(items[0], dict):
        return False
    item = items[0]
    ref = item.get("fieldRef")
    return (
        set(item) == {"path", "fieldRef"}
        and item["path"] == "namespace"
        and isinstance(ref, dict)
        and ref.get("fieldPath") == _TOKEN_FIELD
        and ref.get("apiVersion", "v1") == "v1"
        and set(ref) <= {"fieldPath", "apiVersion"}
    )


def _unmount_token(ctx: Ctx) -> None:
    """Remove the ServiceAccount plugin's token volume and its mounts (see the docstring)."""
    volumes = seq(ctx.spec, "volumes", ctx.spec_path)
    if not volumes:
        return
    tokens = {v["name"] for v in volumes if plugin_token_volume(v)}
    if not tokens:
        return
    rule = "security.automount-token"
    for c in ctx.containers(ephemeral=True):
        mounts = seq(c.body, "volumeMounts", c.full)
        drop = []
        for i, m in enumerate(mounts):
            if not isinstance(m, dict) or m.get("name") not in tokens:
                continue
            if m.get("mountPath") == TOKEN_MOUNT_PATH:
                drop.append(i)
                continue
            what = f"{c.label} mounts the service-account token at {q(m.get('mountPath'))}"
            fix = "remove the mount: backtests do not call the Kubernetes API"
            _deny(ctx, rule, what, fix, (*c.path, "volumeMounts", i))
        what = f"{c.label} mounts the service-account token"
        _remove_items(ctx, (*c.path, "volumeMounts"), drop, len(mounts), rule, what)
    drop = [i for i, v in enumerate(volumes) if plugin_token_volume(v)]
    what = "the pod has the service-account token volume"
    _remove_items(ctx, ("spec", "volumes"), drop, len(volumes), rule, what)


def _remove_items(ctx: Ctx, path: Path, drop: list[int], length: int, rule: str, what: str) -> None:
    if not drop:
        return
    if len(drop) == length:
        ctx.remove(path, rule, what)  # no empty list left behind
        return
    for i in reversed(drop):  # from the end: each index stays valid
        ctx.remove((*path, i), rule, what)
