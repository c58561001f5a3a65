"""Stamps, tenants, tiers, pass-through, scratch directories and the editor's patches."""

from __future__ import annotations

import copy

import jsonpatch
import pytest

from compiler import bundle
from compiler.admission import cache, mutate
from compiler.admission.patch import Editor, Malformed, pointer
from tests.test_admission_support import NS, admitted, bundled, check, container, denied, pod


def test_stamps_labels_annotations_and_audit() -> None:
    obj = pod("tier1")
    d = check(obj, bundled())
    out = jsonpatch.apply_patch(obj, d.patch)
    labels, ann = out["metadata"]["labels"], out["metadata"]["annotations"]
    assert labels["hermetic.io/tenant"] == "alpha-research"
    assert labels["hermetic.io/tier"] == "tier1" and labels["hermetic.io/cost-center"] == "CC-1042"
    assert ann["hermetic.io/bundle-digest"] == bundle.digest_for(bundled())
    assert ann["hermetic.io/rules"] == ",".join(d.rules) and list(d.rules) == sorted(d.rules)
    assert d.audit_annotations == {
        "tenant": "alpha-research",
        "tier": "tier1",
        "bundle-digest": ann["hermetic.io/bundle-digest"],
        "rules": ann["hermetic.io/rules"],
    }


def test_default_tier_is_stamped() -> None:
    out = admitted(pod(None))
    assert out["metadata"]["labels"]["hermetic.io/tier"] == "tier1"


def test_another_tenants_label_is_overwritten_with_a_warning() -> None:
    d = check(pod("tier1", labels={"hermetic.io/tenant": "risk-models"}), bundled())
    assert d.allowed and any("hermetic.io/tenant set to alpha-research" in w for w in d.warnings)


def test_tier_not_allowed_lists_the_allowed_ones() -> None:
    d = denied(pod("tier0"), ns="beta-quant")
    assert d.rules == ("tier.allowed",)
    assert "use one of tier1, tier2" in d.message and "default tier2" in d.message
    assert denied(pod("tier9")).tier == "tier9"


def test_exact_namespace_wins_and_globs_match() -> None:
    assert check(pod("tier2"), bundled(), "alpha-backtests").tenant == "alpha-research"
    assert check(pod("tier2"), bundled(), "replay-2024").tenant == "replay"


@pytest.mark.parametrize("ns", ["default", "kube-system", "hermetic-system", "monitoring"])
def test_namespaces_of_no_tenant_pass(ns: str) -> None:
    d = mutate(pod("tier0"), bundled(), namespace=ns)
    assert d.allowed and d.patch == [] and not d.governed


def test_ungoverned_and_mirror_pods_pass() -> None:
    obj = pod("tier0")
    del obj["metadata"]["labels"]["app.kubernetes.io/component"]
    assert mutate(obj, bundled(), namespace=NS) == mutate({}, bundled(), namespace=NS)
    mirror = pod("tier0", annotations={"kubernetes.io/config.mirror": "x"})
    d = mutate(mirror, bundled(), namespace=NS)
    assert d.allowed and not d.governed


def test_namespace_argument_wins_over_the_objects() -> None:
    obj = pod("tier2")
    obj["metadata"]["namespace"] = "kube-system"
    assert mutate(obj, bundled(), namespace=NS).governed
    assert not mutate(obj, bundled(), namespace="").governed


def test_an_admitted_pod_restamped_under_a_new_bundle() -> None:
    out = admitted(pod("tier1"))
    out["metadata"]["annotations"]["hermetic.io/bundle-digest"] = "sha256:" + "0" * 64
    d = check(out, bundled())
    # stamp.digest is already among the recorded rules: only the digest changes
    assert [op["path"] for op in d.patch] == ["/metadata/annotations/hermetic.io~1bundle-digest"]


def test_digest_is_computed_once_per_policy() -> None:
    c = cache.for_policy(bundled())
    assert c.digest() is c.digest() and cache.for_policy(bundled()) is c
    d = mutate(pod("tier1"), bundled(), namespace=NS, digest="sha256:" + "1" * 64)
    assert d.audit_annotations["bundle-digest"] == "sha256:" + "1" * 64


def test_scratch_is_mounted_where_the_root_is_read_only() -> None:
    out = admitted(pod("tier0", initContainers=[container("fetch")]))
    vols = {v["name"]: v["emptyDir"] for v in out["spec"]["volumes"]}
    assert vols == {
        "scratch-scratch": {"sizeLimit": "16Gi"},
        "scratch-tmp": {"sizeLimit": "1Gi", "medium": "Memory"},
    }
    for c in (out["spec"]["containers"][0], out["spec"]["initContainers"][0]):
        assert {m["mountPath"] for m in c["volumeMounts"]} == {"/tmp", "/scratch"}


def test_a_users_mount_at_a_scratch_path_is_kept() -> None:
    c = container(
        env=[{"name": "BACKTEST_SEED", "value": "1"}],
        volumeMounts=[{"name": "mine", "mountPath": "/tmp/"}],
    )
    obj = pod("tier0", containers=[c], volumes=[{"name": "mine", "emptyDir": {}}])
    d = check(obj, bundled())
    out = jsonpatch.apply_patch(obj, d.patch)
    mounts = out["spec"]["containers"][0]["volumeMounts"]
    assert mounts == [
        {"name": "mine", "mountPath": "/tmp/"},
        {"name": "scratch-scratch", "mountPath": "/scratch"},
    ]
    assert [v["name"] for v in out["spec"]["volumes"]] == ["mine", "scratch-scratch"]
    assert any("mounts its own volume at /tmp" in w for w in d.warnings)


def test_a_user_volume_with_a_scratch_name_is_denied() -> None:
    obj = pod("tier0", volumes=[{"name": "scratch-tmp", "emptyDir": {"sizeLimit": "8Gi"}}])
    assert denied(obj).rules == ("scratch.clash",)


def test_editor_never_changes_its_input_and_writes_applicable_ops() -> None:
    doc = {"a": {"b": [1, {"c": 2}]}, "k/x": {}}
    before = copy.deepcopy(doc)
    ed = Editor(doc)
    assert ed.set(("a", "b", 1, "c"), 3) and not ed.set(("a", "b", 1, "c"), 3)
    ed.set(("new", "deep", "x~y"), True)
    ed.append(("a", "b"), 4)
    ed.append(("k/x", "list"), "v")
    assert doc == before
    assert jsonpatch.apply_patch(doc, ed.ops) == ed.root
    assert ed.root == {
        "a": {"b": [1, {"c": 3}, 4]},
        "k/x": {"list": ["v"]},
        "new": {"deep": {"x~y": True}},
    }
    assert pointer(("k/x", "x~y", 0)) == "/k~1x/x~0y/0"


def test_editor_extend_and_remove_write_one_applicable_op_each() -> None:
    doc = {"a": {"b": [1, 2, 3]}, "m": {"x": 1, "y": 2}}
    before = copy.deepcopy(doc)
    ed = Editor(doc)
    ed.extend(("a", "b"), [4, 5])
    ed.extend(("a", "new"), ("p", "q"))  # an absent list: created by the first
    ed.remove(("a", "b", 0))
    ed.remove(("m", "x"))
    assert doc == before
    assert [op["op"] for op in ed.ops] == ["add", "add", "add", "add", "remove", "remove"]
    assert jsonpatch.apply_patch(doc, ed.ops) == ed.root
    assert ed.root == {"a": {"b": [2, 3, 4, 5], "new": ["p", "q"]}, "m": {"y": 2}}
    with pytest.raises(Malformed):
        ed.remove(("m", "absent"))
    with pytest.raises(Malformed):
        ed.remove(("nothing", "here"))


def test_editor_reports_type_clashes_with_their_path() -> None:
    ed = Editor({"spec": {"containers": "x"}})
    with pytest.raises(Malformed) as e:
        ed.get(("spec", "containers", 0, "name"))
    assert e.value.path == ("spec", "containers")
    with pytest.raises(Malformed):
        ed.set(("spec", "containers", "y"), 1)


def test_editor_nodes_stay_current_and_operations_keep_their_values() -> None:
    doc = {"spec": {"containers": [{"name": "a", "env": [{"name": "X", "value": "1"}]}]}}
    before = copy.deepcopy(doc)
    ed = Editor(doc)
    spec = ed.own(("spec",))
    container = ed.child(ed.child(spec, "containers"), 0)
    steps = [
        lambda: ed.put(container, "securityContext", {"runAsNonRoot": True}),
        lambda: ed.add(container, "volumeMounts", ["m1", "m2"]),  # created, then appended
        lambda: ed.add(container, "env", [{"name": "Y", "value": "2"}]),
        lambda: ed.put(ed.child(container, "securityContext"), "privileged", False),
        lambda: ed.set(("spec", "affinity", "nodeAffinity", "required"), [1]),
        lambda: ed.extend(("spec", "affinity", "nodeAffinity", "preferred"), [2]),
        lambda: ed.update(spec, "nodeSelector", {"a/b": "c"}),
    ]
    snapshots = []
    for step in steps:
        step()
        snapshots.append(copy.deepcopy(ed.ops))
    assert all(ed.ops[: len(s)] == s for s in snapshots)  # no later write changes an op
    assert not ed.put(spec, "nodeSelector", {"a/b": "c"})  # already so: no operation
    assert doc == before
    assert jsonpatch.apply_patch(doc, ed.ops) == ed.root
    assert container is ed.root["spec"]["containers"][0]  # current through every write
    assert container["volumeMounts"] == ["m1", "m2"]
    assert container["securityContext"] == {"runAsNonRoot": True, "privileged": False}
    assert ed.path_of(container) == ("spec", "containers", 0)
