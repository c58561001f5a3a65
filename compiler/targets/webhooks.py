"""MutatingWebhookConfiguration and ValidatingWebhookConfiguration (admissionregistration.k8s.io/v1).

Both are named `zz-hermetic`: mutating configurations run in name order, so hermetic sees
the containers that mesh injectors (`istio-sidecar-injector`, `linkerd-proxy-injector`)
add, and `reinvocationPolicy: IfNeeded` covers any that sort later.
- mutate.pods.hermetic.io: pods CREATE -> /mutate. Mutation is for pods only.
- validate.pods.hermetic.io: pods CREATE -> /validate, the final state after every mutation.
- validate.workloads.hermetic.io / validate.cronjobs.hermetic.io: Deployments, ReplicaSets,
  StatefulSets, DaemonSets and Jobs (template at `spec.template`), CronJobs (at
  `spec.jobTemplate.spec.template`), CREATE and UPDATE -> /validate, so that a workload whose
  pods would be denied is refused at `kubectl apply`. Updates that leave the template alone
  and objects being deleted are skipped: a finalizer must always be removable.

Namespaces: never the system ones, the webhook's own or `exclude`d ones
(`kubernetes.io/metadata.name NotIn`), and none labelled `hermetic.io/exempt` (the emergency
escape). When the policy `governs` pods by label, the matchConditions already narrow the
webhook to backtest pods, and the namespace need not carry `hermetic.io/tenant`: a tenant
namespace created a moment ago is protected before `hermetic sync` labels it (the admission
function passes governed pods of other namespaces untouched). Without `governs`, every pod
of a tenant namespace is governed, and only labelled tenant namespaces are sent, so that a
fail-closed webhook never stands between the cluster and its ordinary pods. matchConditions (CEL) keep governed objects
only and skip mirror pods; every label access is guarded with `has()` and `in`, because an
expression error would fail the request under `failurePolicy: Fail`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field

from compiler.labels import EXEMPT, NS_NAME, SYSTEM_NAMESPACES, TENANT
from compiler.model import CompiledPolicy, Requirement
from compiler.targets.base import Generated, Obj, Options, meta

NAME = "zz-hermetic"
MIRROR = "kubernetes.io/config.mirror"
POD_ROOT = "object.metadata"
_WORKLOADS: tuple[tuple[str, str, tuple[str, ...], str, str], ...] = (
    (
        "validate.workloads.hermetic.io",
        "apps",
        ("daemonsets", "deployments", "replicasets", "statefulsets"),
        "v1",
        "spec.template",
    ),
    ("validate.workloads.hermetic.io", "batch", ("jobs",), "v1", "spec.template"),
    ("validate.cronjobs.hermetic.io", "batch", ("cronjobs",), "v1", "spec.jobTemplate"),
)


def configurations(policy: CompiledPolicy, url: str | None = None) -> tuple[Obj, Obj]:
    """The mutating and the validating configuration; `url` (a base such as
    `https://127.0.0.1:8443`) registers the webhook by URL instead of by Service."""
    mutating = _webhook(
        policy, url, "mutate.pods.hermetic.io", "/mutate", [_pod_rule()], _pod_conditions(policy)
    )
    mutating["reinvocationPolicy"] = "IfNeeded"
    validating = [
        _webhook(
            policy,
            url,
            "validate.pods.hermetic.io",
            "/validate",
            [_pod_rule()],
            _pod_conditions(policy),
        ),
        _webhook(
            policy,
            url,
            "validate.workloads.hermetic.io",
            "/validate",
            _workload_rules("validate.workloads.hermetic.io"),
            _template_conditions(policy, "spec.template"),
        ),
        _webhook(
            policy,
            url,
            "validate.cronjobs.hermetic.io",
            "/validate",
            _workload_rules("validate.cronjobs.hermetic.io"),
            _template_conditions(policy, "spec.jobTemplate", "spec.template"),
        ),
    ]
    return (
        {
            "apiVersion": "admissionregistration.k8s.io/v1",
            "kind": "MutatingWebhookConfiguration",
            "metadata": meta(policy, NAME),
            "webhooks": [mutating],
        },
        {
            "apiVersion": "admissionregistration.k8s.io/v1",
            "kind": "ValidatingWebhookConfiguration",
            "metadata": meta(policy, NAME),
            "webhooks": validating,
        },
    )


def _webhook(
    policy: CompiledPolicy,
    url: str | None,
    name: str,
    path: str,
    rules: list[Obj],
    conditions: list[Obj],
) -> Obj:
    c = policy.cluster
    return {
        "name": name,
        "admissionReviewVersions": ["v1"],
        "sideEffects": "None",
        "timeoutSeconds": c.timeout_seconds,
        "failurePolicy": c.failure_policy,
        "matchPolicy": "Equivalent",
        "clientConfig": _client(policy, url, path),
        "rules": rules,
        "namespaceSelector": namespace_selector(policy),
        "matchConditions": conditions,
    }


def _client(policy: CompiledPolicy, url: str | None, path: str) -> Obj:
    c = policy.cluster
    if url is not None:
        return {"url": url.rstrip("/") + path, "caBundle": ""}
    service = {
        "namespace": c.webhook_namespace,
        "name": c.webhook_service,
        "path": path,
        "port": c.webhook_port,
    }
    return {"service": service, "caBundle": ""}


def namespace_selector(policy: CompiledPolicy) -> Obj:
    """Never a system, the webhook's, an excluded or an exempt namespace; only labelled
    tenant namespaces when the policy does not select governed pods by label."""
    c = policy.cluster
    never = sorted({*SYSTEM_NAMESPACES, c.webhook_namespace, *c.excluded_namespaces})
    tenants_only = [] if c.governs else [{"key": TENANT, "operator": "Exists"}]
    return {
        "matchExpressions": [
            {"key": NS_NAME, "operator": "NotIn", "values": never},
            *tenants_only,
            {"key": EXEMPT, "operator": "DoesNotExist"},
        ]
    }


def _pod_rule() -> Obj:
    return {
        "apiGroups": [""],
        "apiVersions": ["v1"],
        "resources": ["pods"],
        "operations": ["CREATE"],
        "scope": "Namespaced",
    }


def _workload_rules(webhook: str) -> list[Obj]:
    return [
        {
            "apiGroups": [group],
            "apiVersions": [version],
            "resources": list(resources),
            "operations": ["CREATE", "UPDATE"],
            "scope": "Namespaced",
        }
        for name, group, resources, version, _ in _WORKLOADS
        if name == webhook
    ]


def _pod_conditions(policy: CompiledPolicy) -> list[Obj]:
    annotations = f"{POD_ROOT}.annotations"
    not_mirror = f"!({_present(annotations)} && {_str(MIRROR)} in {annotations})"
    return [{"name": "not-mirror-pod", "expression": not_mirror}, *_governed(policy, POD_ROOT)]


def _template_conditions(policy: CompiledPolicy, template: str, inner: str = "") -> list[Obj]:
    """Skip objects being deleted and updates that leave the pod template unchanged."""
    root = f"object.{template}" + (f".{inner}" if inner else "") + ".metadata"
    changed = f"request.operation != 'UPDATE' || object.{template} != oldObject.{template}"
    return [
        {"name": "not-deleting", "expression": "!has(object.metadata.deletionTimestamp)"},
        {"name": "template-changed", "expression": changed},
        *_governed(policy, root),
    ]


def _governed(policy: CompiledPolicy, root: str) -> list[Obj]:
    if not policy.cluster.governs:
        return []
    labels = f"{root}.labels"
    terms = [_requirement(r, labels) for r in policy.cluster.governs]
    return [{"name": "governed", "expression": " && ".join(terms)}]


def _requirement(r: Requirement, labels: str) -> str:
    key = _str(r.key)
    has = f"({_present(labels)} && {key} in {labels})"
    if r.operator == "Exists":
        return has
    if r.operator == "DoesNotExist":
        return f"!{has}"
    values = "[" + ", ".join(_str(v) for v in sorted(r.values)) + "]"
    is_in = f"({_present(labels)} && {key} in {labels} && {labels}[{key}] in {values})"
    return is_in if r.operator == "In" else f"!{is_in}"


def _present(path: str) -> str:
    """`has()` on every step below `object`: an absent map is not an error."""
    parts = path.split(".")
    return "(" + " && ".join(f"has({'.'.join(parts[:i])})" for i in range(2, len(parts) + 1)) + ")"


def _str(s: str) -> str:
    return json.dumps(s)  # a CEL double-quoted string literal (label keys and values are ASCII)


@dataclass(frozen=True, slots=True)
class Webhooks:
    """The target: both configurations, by Service or by `options.webhook_url`."""

    options: Options = field(default_factory=Options)

    def generate(self, policy: CompiledPolicy) -> Generated:
        return Generated(configurations(policy, self.options.webhook_url))
