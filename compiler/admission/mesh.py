"""Mesh injection per the tier's mTLS, and sidecar proxy resources that keep the QoS class.

An injected proxy with unequal requests and limits would make an exclusive-core pod
Burstable (and a swap-off pod swappable), so the tier's `proxy` resources go into the
mesh's own annotations with request == limit. The injection label or annotation is
hermetic's to write; a pod opting out is denied under strict mTLS, and kept (with a
warning) under permissive mTLS, which accepts plaintext by definition.
"""

from __future__ import annotations

from typing import Final

from compiler.admission.context import Ctx, q
from compiler.quantity import format_bytes, format_cpu

ISTIO_INJECT: Final = "sidecar.istio.io/inject"  # label (preferred) and deprecated annotation
DATAPLANE: Final = "istio.io/dataplane-mode"  # label: ambient | none
LINKERD_INJECT: Final = "linkerd.io/inject"  # annotation: enabled | disabled | ingress
_FALSE: Final = frozenset({"false", "f", "0", "no", "n"})
ISTIO_PROXY: Final = (
    ("sidecar.istio.io/proxyCPU", "cpu"),
    ("sidecar.istio.io/proxyCPULimit", "cpu"),
    ("sidecar.istio.io/proxyMemory", "memory"),
    ("sidecar.istio.io/proxyMemoryLimit", "memory"),
)
LINKERD_PROXY: Final = (
    ("config.linkerd.io/proxy-cpu-request", "cpu"),
    ("config.linkerd.io/proxy-cpu-limit", "cpu"),
    ("config.linkerd.io/proxy-memory-request", "memory"),
    ("config.linkerd.io/proxy-memory-limit", "memory"),
)
LABELS, ANNOTATIONS = ("metadata", "labels"), ("metadata", "annotations")


def apply(ctx: Ctx) -> None:
    mesh = ctx.tier.mtls.mesh
    if mesh == "istio-sidecar":
        _istio_sidecar(ctx)
    elif mesh == "istio-ambient":
        _ambient(ctx)
    elif mesh == "linkerd":
        _linkerd(ctx)


def _false(value: object) -> bool:
    return isinstance(value, str) and value.lower() in _FALSE


def _opt_out(ctx: Ctx, subject: str, path: tuple[str, ...]) -> None:
    mesh = ctx.tier.mtls.mesh
    if ctx.tier.mtls.mode == "strict":
        fix = f"remove it: tier {ctx.tier.name} requires strict mTLS through {mesh}"
        ctx.deny("mesh.opt-out", subject, fix, path)
    else:
        ctx.warn(f"hermetic: {subject}; kept, as tier {ctx.tier.name} allows plaintext")


def _istio_sidecar(ctx: Ctx) -> None:
    labels, ann = ctx.labels, ctx.annotations
    for where, values in ((LABELS, labels), (ANNOTATIONS, ann)):
        if _false(values.get(ISTIO_INJECT)):
            kind = "label" if where == LABELS else "annotation"
            subject = f"the pod opts out of the sidecar ({kind} {ISTIO_INJECT}: {q(values[ISTIO_INJECT])})"
            _opt_out(ctx, subject, (*where, ISTIO_INJECT))
            return
    what = f"the pod has no {ISTIO_INJECT} label"
    _label(ctx, ISTIO_INJECT, "true", what)
    _proxy(ctx, ISTIO_PROXY)


def _ambient(ctx: Ctx) -> None:
    labels, ann = ctx.labels, ctx.annotations
    for where, values in ((LABELS, labels), (ANNOTATIONS, ann)):
        value = values.get(ISTIO_INJECT)
        if isinstance(value, str) and not _false(value):
            subject = f"the pod asks for an Istio sidecar ({ISTIO_INJECT}: {q(value)})"
            fix = f"remove it: tier {ctx.tier.name} uses ambient mode, without a sidecar"
            ctx.deny("mesh.mode", subject, fix, (*where, ISTIO_INJECT))
    if labels.get(DATAPLANE) == "none":
        _opt_out(ctx, f"the pod opts out of ambient mode ({DATAPLANE}: none)", (*LABELS, DATAPLANE))
        return
    _label(ctx, DATAPLANE, "ambient", f"the pod has no {DATAPLANE} label")


def _linkerd(ctx: Ctx) -> None:
    value = ctx.annotations.get(LINKERD_INJECT)
    if value == "disabled":
        subject = f"the pod opts out of the Linkerd proxy ({LINKERD_INJECT}: disabled)"
        _opt_out(ctx, subject, (*ANNOTATIONS, LINKERD_INJECT))
        return
    what = f"the pod has no {LINKERD_INJECT} annotation"
    if (
        ctx.set((*ANNOTATIONS, LINKERD_INJECT), "enabled", "mesh.inject", what)
        and value is not None
    ):
        ctx.warn(f"hermetic: {LINKERD_INJECT} set to enabled (was {q(value)})")
    _proxy(ctx, LINKERD_PROXY)


def _label(ctx: Ctx, key: str, value: str, what: str) -> None:
    old = ctx.labels.get(key)
    if ctx.put_meta("labels", key, value, "mesh.inject", what) and old is not None:
        ctx.warn(f"hermetic: label {key} set to {value} (was {q(old)})")


def _proxy(ctx: Ctx, keys: tuple[tuple[str, str], ...]) -> None:
    proxy = ctx.tier.proxy
    if proxy is None:
        return
    ann = ctx.annotations
    values = {"cpu": format_cpu(proxy.cpu), "memory": format_bytes(proxy.memory)}
    for key, resource in keys:
        old = ann.get(key)
        what = f"the pod has no {key} annotation"
        if ctx.put_meta("annotations", key, values[resource], "mesh.proxy-resources", what) and old:
            ctx.warn(f"hermetic: {key} set to {values[resource]} (was {q(old)})")
