"""The controller's pure layer: policy + live namespaces + live objects -> actions."""

from __future__ import annotations

import copy
import re
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import pytest

import compiler
from compiler.labels import EXEMPT, MANAGED_BY, TENANT
from compiler.model import CompiledPolicy
from dsl import Source
from webhook.sync.cabundle import patch_for
from webhook.sync.desired import (
    OBJECT_DIGEST,
    Namespace,
    Want,
    desired_state,
    digest,
    namespace_from,
    owned_keys,
)
from webhook.sync.kinds import MANAGED_KINDS, NETWORK_POLICY, Key, Kind
from webhook.sync.reconcile import (
    Apply,
    Delete,
    LabelNamespace,
    Noop,
    Plan,
    contains,
    namespace_action,
    plan,
)

POLICIES = Path(__file__).resolve().parent.parent / "policies"
ALL = frozenset(MANAGED_KINDS)


def load_policy(drop_tenant: str | None = None) -> CompiledPolicy:
    """The bundled policy, optionally without one tenant."""
    sources = []
    for path in sorted(POLICIES.glob("*.hermetic")):
        text = path.read_text()
        if drop_tenant is not None:
            text = re.sub(rf"tenant {drop_tenant} \{{.*?\n\}}\n", "", text, flags=re.S)
        sources.append(Source(path=str(path), text=text))
    loaded = compiler.load_sources(sources)
    assert loaded.policy is not None, loaded.diagnostics
    return loaded.policy


@pytest.fixture(scope="module")
def policy() -> CompiledPolicy:
    return load_policy()


def ns(name: str, labels: dict[str, str] | None = None, **kw: Any) -> Namespace:
    return Namespace(name=name, labels=labels or {}, **kw)


def converged(want: Want, name: str) -> Namespace:
    """A namespace already labelled by hermetic."""
    return Namespace(
        name=name,
        labels=dict(want.labels),
        annotations=dict(want.annotations),
        owned_labels=frozenset(want.labels),
        owned_annotations=frozenset(want.annotations),
    )


def live(objects: Iterable[tuple[Key, dict[str, Any]]]) -> dict[Key, dict[str, Any]]:
    """Objects as the server returns them: with a resourceVersion and server defaults."""
    out = {}
    for i, (key, body) in enumerate(objects):
        obj = copy.deepcopy(body)
        obj["metadata"]["resourceVersion"] = str(100 + i)
        obj["metadata"]["uid"] = f"uid-{i}"
        out[key] = obj
    return out


def plan_for(
    policy: CompiledPolicy,
    namespaces: list[Namespace],
    actual: dict[Key, dict[str, Any]] | None = None,
    available: Iterable[Kind] = ALL,
    remembered: dict[Key, str] | None = None,
) -> Plan:
    desired, _ = desired_state(policy, namespaces)
    return plan(namespaces, desired, actual or {}, available, remembered)


def kinds_of(actions: Iterable[object], cls: Any) -> list[Any]:
    return [a for a in actions if isinstance(a, cls)]


# --- desired state ---------------------------------------------------------------------------


def test_exact_and_glob_namespaces_get_their_tenant(policy: CompiledPolicy) -> None:
    spaces = [
        ns("alpha-research"),
        ns("alpha-x"),
        ns("beta-quant-7"),
        ns("replay-2026"),
        ns("gamma"),
    ]
    desired, unmanaged = desired_state(policy, spaces)
    assert {n: w.tenant for n, w in desired.items()} == {
        "alpha-research": "alpha-research",
        "alpha-x": "alpha-research",
        "beta-quant-7": "beta-quant",
        "replay-2026": "replay",
    }
    assert unmanaged == set()
    assert desired["alpha-x"].labels[TENANT] == "alpha-research"
    for key, body in desired["alpha-x"].objects.items():
        assert key.namespace == "alpha-x"
        assert body["metadata"]["labels"][MANAGED_BY] == "hermetic"
        assert body["metadata"]["annotations"][OBJECT_DIGEST].startswith("sha256:")


def test_excluded_system_and_frozen_namespaces_are_not_managed(policy: CompiledPolicy) -> None:
    spaces = [
        ns("monitoring"),  # `exclude namespaces monitoring` in the policy
        ns("kube-system"),
        ns("hermetic-system"),
        ns("alpha-frozen", {EXEMPT: "true"}),
        ns("alpha-gone", terminating=True),
    ]
    desired, _ = desired_state(policy, spaces)
    assert desired == {}


def test_digest_ignores_key_order() -> None:
    assert digest({"a": 1, "b": {"c": 2, "d": 3}}) == digest({"b": {"d": 3, "c": 2}, "a": 1})
    assert digest({"a": 1}) != digest({"a": 2})


# --- plans ---------------------------------------------------------------------------------


def test_a_new_tenant_namespace_is_labelled_and_gets_every_object(policy: CompiledPolicy) -> None:
    result = plan_for(policy, [ns("alpha-x")])
    labels = kinds_of(result.actions, LabelNamespace)
    assert [(a.name, a.reason, a.labels[TENANT]) for a in labels] == [
        ("alpha-x", "label", "alpha-research")
    ]
    applies = kinds_of(result.actions, Apply)
    desired, _ = desired_state(policy, [ns("alpha-x")])
    assert {a.key for a in applies} == set(desired["alpha-x"].objects)
    assert {a.reason for a in applies} == {"create"}
    assert not kinds_of(result.actions, Delete)


def test_a_converged_cluster_needs_nothing(policy: CompiledPolicy) -> None:
    spaces = [ns("alpha-x"), ns("replay-1")]
    desired, _ = desired_state(policy, spaces)
    spaces = [converged(desired[n.name], n.name) for n in spaces]
    actual = live((k, b) for w in desired.values() for k, b in w.objects.items())
    result = plan(spaces, desired, actual, ALL)
    assert result.changes() == ()
    assert len(kinds_of(result.actions, Noop)) == len(actual)
    # and once more with what the controller remembered: still nothing
    seen = {a.key: a.resource_version for a in kinds_of(result.actions, Noop)}
    assert plan(spaces, desired, actual, ALL, seen).changes() == ()


def test_a_changed_policy_updates_by_digest(policy: CompiledPolicy) -> None:
    spaces = [ns("alpha-x")]
    desired, _ = desired_state(policy, spaces)
    actual = live(desired["alpha-x"].objects.items())
    key = next(iter(actual))
    actual[key]["metadata"]["annotations"][OBJECT_DIGEST] = "sha256:old"
    result = plan([converged(desired["alpha-x"], "alpha-x")], desired, actual, ALL)
    assert [(a.key, a.reason) for a in kinds_of(result.changes(), Apply)] == [(key, "update")]


def test_drift_is_repaired_unless_it_is_our_own_normalised_apply(policy: CompiledPolicy) -> None:
    spaces = [ns("alpha-x")]
    desired, _ = desired_state(policy, spaces)
    actual = live(desired["alpha-x"].objects.items())
    key = next(k for k in actual if k.kind == NETWORK_POLICY)
    actual[key]["spec"]["policyTypes"] = ["Ingress"]  # edited by hand
    namespaces = [converged(desired["alpha-x"], "alpha-x")]
    result = plan(namespaces, desired, actual, ALL)
    assert [(a.key, a.reason) for a in kinds_of(result.changes(), Apply)] == [(key, "drift")]
    assert len(result.changes()) == 1
    # the same resourceVersion the controller saw after its own apply: the server's form
    remembered = {key: actual[key]["metadata"]["resourceVersion"]}
    assert plan(namespaces, desired, actual, ALL, remembered).changes() == ()


def test_server_defaults_are_not_drift(policy: CompiledPolicy) -> None:
    desired, _ = desired_state(policy, [ns("alpha-x")])
    actual = live(desired["alpha-x"].objects.items())
    for obj in actual.values():
        obj["metadata"]["generation"] = 1
        obj["metadata"]["managedFields"] = [{"manager": "hermetic"}]
        obj["status"] = {"anything": True}
    result = plan([converged(desired["alpha-x"], "alpha-x")], desired, actual, ALL)
    assert result.changes() == ()


def test_undeclared_managed_objects_are_deleted_and_others_are_not(policy: CompiledPolicy) -> None:
    desired, _ = desired_state(policy, [ns("alpha-x")])
    actual = live(desired["alpha-x"].objects.items())
    stale = Key(NETWORK_POLICY, "alpha-x", "hermetic-old")
    foreign = Key(NETWORK_POLICY, "alpha-x", "team-own")
    actual[stale] = _netpol("alpha-x", "hermetic-old", managed=True)
    actual[foreign] = _netpol("alpha-x", "team-own", managed=False)
    result = plan([converged(desired["alpha-x"], "alpha-x")], desired, actual, ALL)
    assert result.changes() == (Delete(key=stale),)


def test_a_tenant_removed_from_the_policy_loses_objects_and_labels(policy: CompiledPolicy) -> None:
    before, _ = desired_state(policy, [ns("replay-1"), ns("alpha-x")])
    actual = live((k, b) for w in before.values() for k, b in w.objects.items())
    spaces = [converged(before[n], n) for n in before]
    after = load_policy(drop_tenant="replay")
    desired, _ = desired_state(after, spaces)
    result = plan(spaces, desired, actual, ALL)
    deletes = {a.key for a in kinds_of(result.actions, Delete)}
    assert deletes == {k for k in actual if k.namespace == "replay-1"}
    (unlabel,) = kinds_of(result.actions, LabelNamespace)
    assert (unlabel.name, unlabel.reason, dict(unlabel.labels)) == ("replay-1", "unlabel", {})


def test_exempt_and_terminating_namespaces_are_left_alone(policy: CompiledPolicy) -> None:
    before, _ = desired_state(policy, [ns("alpha-x"), ns("alpha-y")])
    actual = live((k, b) for w in before.values() for k, b in w.objects.items())
    stale = Key(NETWORK_POLICY, "alpha-x", "hermetic-old")
    actual[stale] = _netpol("alpha-x", "hermetic-old", managed=True)
    for key in [k for k in actual if k.kind == NETWORK_POLICY and k.namespace == "alpha-y"]:
        del actual[key]  # missing objects: would be created if the namespace were managed
    spaces = [
        ns("alpha-x", {EXEMPT: "true", TENANT: "stale"}, owned_labels=frozenset({TENANT})),
        ns("alpha-y", terminating=True),
        ns("alpha-z", {EXEMPT: ""}),
    ]
    desired, _ = desired_state(policy, spaces)
    assert plan(spaces, desired, actual, ALL).actions == ()


def test_unavailable_kinds_are_skipped_not_deleted(policy: CompiledPolicy) -> None:
    desired, _ = desired_state(policy, [ns("alpha-x")])
    istio = {k for k in MANAGED_KINDS if k.group == "security.istio.io"}
    actual = live((k, b) for k, b in desired["alpha-x"].objects.items() if k.kind in istio)
    result = plan([ns("alpha-x")], desired, actual, ALL - istio)
    assert result.skipped == istio
    assert all(a.key.kind not in istio for a in kinds_of(result.actions, Apply | Delete | Noop))


def test_objects_in_unknown_namespaces_are_not_deleted(policy: CompiledPolicy) -> None:
    actual = {Key(NETWORK_POLICY, "vanished", "x"): _netpol("vanished", "x", managed=True)}
    assert plan([], {}, actual, ALL).actions == ()


def test_objects_in_a_namespace_that_left_every_tenant_are_deleted(policy: CompiledPolicy) -> None:
    actual = {Key(NETWORK_POLICY, "gamma", "x"): _netpol("gamma", "x", managed=True)}
    result = plan_for(policy, [ns("gamma")], actual)
    assert result.actions == (Delete(key=Key(NETWORK_POLICY, "gamma", "x")),)


def test_plans_are_ordered_labels_applies_deletes(policy: CompiledPolicy) -> None:
    actual = {Key(NETWORK_POLICY, "gamma", "x"): _netpol("gamma", "x", managed=True)}
    result = plan_for(policy, [ns("gamma"), ns("alpha-x")], actual)
    order = [type(a).__name__ for a in result.actions]
    assert order == sorted(order, key=["LabelNamespace", "Apply", "Delete", "Noop"].index)


# --- namespace labels ------------------------------------------------------------------------


def test_namespace_labels_keep_foreign_labels_and_drop_our_stale_ones() -> None:
    want = Want(tenant="t", labels={TENANT: "t"}, annotations={}, objects={})
    current = ns(
        "a", {TENANT: "t", "team": "x", "old": "1"}, owned_labels=frozenset({TENANT, "old"})
    )
    action = namespace_action(current, want)
    assert action is not None and dict(action.labels) == {TENANT: "t"}
    fine = ns("a", {TENANT: "t", "team": "x"}, owned_labels=frozenset({TENANT}))
    assert namespace_action(fine, want) is None
    # a label someone else set to our value is fine too; one set to another value is fixed
    assert namespace_action(ns("a", {TENANT: "t"}), want) is None
    assert namespace_action(ns("a", {TENANT: "u"}), want) is not None


def test_managed_fields_tell_which_labels_are_ours() -> None:
    obj = {
        "metadata": {
            "name": "alpha-x",
            "labels": {TENANT: "alpha-research", "team": "x"},
            "managedFields": [
                {
                    "manager": "hermetic",
                    "operation": "Apply",
                    "fieldsV1": {"f:metadata": {"f:labels": {f"f:{TENANT}": {}, ".": {}}}},
                },
                {
                    "manager": "kubectl",
                    "operation": "Update",
                    "fieldsV1": {"f:metadata": {"f:labels": {"f:team": {}}}},
                },
            ],
        },
        "status": {"phase": "Active"},
    }
    parsed = namespace_from(obj)
    assert parsed.owned_labels == {TENANT}
    assert parsed.owned_annotations == frozenset()
    assert not parsed.frozen
    assert owned_keys({}, "labels") == frozenset()
    assert namespace_from({"metadata": {"name": "x"}, "status": {"phase": "Terminating"}}).frozen


# --- helpers ---------------------------------------------------------------------------------


def test_contains_compares_declared_fields_only() -> None:
    assert contains({"a": 1, "b": 2}, {"a": 1})
    assert not contains({"a": 1}, {"a": 1, "b": 2})
    assert contains({"l": [{"x": 1, "d": 0}]}, {"l": [{"x": 1}]})
    assert not contains({"l": [{"x": 1}, {"x": 2}]}, {"l": [{"x": 1}]})  # an extra rule is drift
    assert not contains({"a": "1"}, {"a": 1})


def test_ca_bundle_patch_only_where_needed() -> None:
    config = {
        "webhooks": [
            {"name": "a", "clientConfig": {"caBundle": "OLD"}},
            {"name": "b", "clientConfig": {"caBundle": "NEW"}},
            {"name": "c"},
        ]
    }
    assert patch_for(config, "NEW") == {
        "webhooks": [
            {"name": "a", "clientConfig": {"caBundle": "NEW"}},
            {"name": "c", "clientConfig": {"caBundle": "NEW"}},
        ]
    }
    assert (
        patch_for({"webhooks": [{"name": "b", "clientConfig": {"caBundle": "NEW"}}]}, "NEW") is None
    )


def _netpol(namespace: str, name: str, *, managed: bool) -> dict[str, Any]:
    labels = {MANAGED_BY: "hermetic"} if managed else {}
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": {
            "name": name,
            "namespace": namespace,
            "labels": labels,
            "resourceVersion": "1",
        },
        "spec": {"podSelector": {}},
    }
