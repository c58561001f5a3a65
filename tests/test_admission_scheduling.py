"""Priority, runtime class, node affinity, tolerations, spreading, block I/O."""

from __future__ import annotations

from typing import Any

import pytest

from tests.test_admission_support import admitted, apply, bundled, check, denied, pod

TERM = [
    {"key": "node.hermetic.io/pool", "operator": "In", "values": ["dedicated"]},
    {
        "key": "node.kubernetes.io/instance-type",
        "operator": "In",
        "values": ["c7i.4xlarge", "c7i.8xlarge"],
    },
]


def test_priority_class_value_and_preemption() -> None:
    spec = admitted(pod("tier0"))["spec"]
    assert spec["priorityClassName"] == "hermetic-tier0"
    assert spec["priority"] == 100000 and spec["preemptionPolicy"] == "PreemptLowerPriority"
    spec = admitted(pod("tier2"))["spec"]
    assert (spec["priority"], spec["preemptionPolicy"]) == (-10, "Never")


def test_another_priority_class_is_denied() -> None:
    d = denied(pod("tier1", priorityClassName="system-node-critical"))
    assert d.rules == ("scheduling.priority-class",)
    assert "hermetic-tier1" in d.message


def test_a_plugin_filled_priority_is_made_consistent_without_a_warning() -> None:
    """The Priority plugin gives a pod without a class priority 0, PreemptLowerPriority
    before webhooks run: replacing them is routine, not worth a warning."""
    filled = pod("tier1", priority=0, preemptionPolicy="PreemptLowerPriority")
    d = check(filled, bundled())
    assert d.allowed and d.warnings == ()
    spec = apply(filled, d)["spec"]
    assert (spec["priority"], spec["preemptionPolicy"]) == (10000, "Never")
    assert "scheduling.priority" in d.rules
    for tier in ("tier0", "tier2"):
        d = check(pod(tier, priority=0, preemptionPolicy="PreemptLowerPriority"), bundled())
        assert d.allowed and not any("set to" in w for w in d.warnings), d.warnings


@pytest.mark.parametrize(
    ("spec", "warning"),
    [
        # a value the plugin never fills for a pod without a class: the user wrote it
        ({"priority": 5}, 'priority set to 10000 to match hermetic-tier1 (was "5")'),
        ({"priority": -3}, 'priority set to 10000 to match hermetic-tier1 (was "-3")'),
        # the user named the tier's class but wrote another value
        (
            {"priorityClassName": "hermetic-tier1", "priority": 0},
            'priority set to 10000 to match hermetic-tier1 (was "0")',
        ),
        (
            {"priorityClassName": "hermetic-tier1", "preemptionPolicy": "PreemptLowerPriority"},
            'preemptionPolicy set to Never to match hermetic-tier1 (was "PreemptLowerPriority")',
        ),
    ],
)
def test_a_priority_the_user_set_is_replaced_with_a_warning(
    spec: dict[str, Any], warning: str
) -> None:
    d = check(pod("tier1", **spec), bundled())
    assert d.allowed and d.warnings == (f"hermetic: {warning}",), d.warnings


def test_runtime_class() -> None:
    assert admitted(pod("tier0"))["spec"]["runtimeClassName"] == "runc-pinned"
    assert denied(pod("tier0", runtimeClassName="gvisor")).rules == ("scheduling.runtime-class",)


def test_required_node_labels_go_into_every_term() -> None:
    terms = [
        {"matchExpressions": [{"key": "zone", "operator": "In", "values": ["a"]}]},
        {"matchFields": [{"key": "metadata.name", "operator": "In", "values": ["n1"]}]},
    ]
    aff = {
        "nodeAffinity": {
            "requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": terms}
        }
    }
    out = admitted(pod("tier0", affinity=aff))
    got = out["spec"]["affinity"]["nodeAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"]
    assert got["nodeSelectorTerms"][0]["matchExpressions"] == [
        terms[0]["matchExpressions"][0],
        *TERM,
    ]
    assert got["nodeSelectorTerms"][1]["matchExpressions"] == TERM
    assert got["nodeSelectorTerms"][1]["matchFields"] == terms[1]["matchFields"]


def test_no_term_creates_one() -> None:
    out = admitted(pod("tier0"))
    got = out["spec"]["affinity"]["nodeAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"]
    assert got == {"nodeSelectorTerms": [{"matchExpressions": TERM}]}


def test_tolerations_and_preferences_merge_without_duplicates() -> None:
    tol = [{"key": "node.hermetic.io/spot", "operator": "Exists", "effect": "NoSchedule"}]
    out = admitted(pod("tier2", tolerations=tol))
    assert out["spec"]["tolerations"] == [
        *tol,
        {
            "key": "cloud.example.com/preemptible",
            "operator": "Equal",
            "value": "true",
            "effect": "NoExecute",
        },
    ]
    pref = [
        {
            "weight": 5,
            "preference": {
                "matchExpressions": [
                    {"key": "node.hermetic.io/pool", "operator": "In", "values": ["research"]}
                ]
            },
        }
    ]
    out = admitted(
        pod(
            "tier1",
            affinity={"nodeAffinity": {"preferredDuringSchedulingIgnoredDuringExecution": pref}},
        )
    )
    assert (
        out["spec"]["affinity"]["nodeAffinity"]["preferredDuringSchedulingIgnoredDuringExecution"]
        == pref
    )


def test_anti_affinity_selects_the_pods_own_family() -> None:
    anti = admitted(pod("tier0"))["spec"]["affinity"]["podAntiAffinity"]
    assert anti["requiredDuringSchedulingIgnoredDuringExecution"] == [
        {
            "labelSelector": {"matchLabels": {"strategy.hermetic.io/family": "momentum"}},
            "topologyKey": "kubernetes.io/hostname",
        }
    ]


def test_no_family_label_no_term() -> None:
    obj = pod("tier0")
    del obj["metadata"]["labels"]["strategy.hermetic.io/family"]
    assert "podAntiAffinity" not in admitted(obj)["spec"]["affinity"]


def test_soft_spread_and_its_clash() -> None:
    spread = admitted(pod("tier1"))["spec"]["topologySpreadConstraints"]
    assert spread == [
        {
            "maxSkew": 2,
            "topologyKey": "topology.kubernetes.io/zone",
            "whenUnsatisfiable": "ScheduleAnyway",
            "labelSelector": {"matchLabels": {"strategy.hermetic.io/family": "momentum"}},
        }
    ]
    own = [
        {
            "maxSkew": 1,
            "topologyKey": "topology.kubernetes.io/zone",
            "whenUnsatisfiable": "ScheduleAnyway",
            "labelSelector": {"matchLabels": {"app": "x"}},
        }
    ]
    d = check(pod("tier1", topologySpreadConstraints=own), bundled())
    assert d.allowed and any("kept instead" in w for w in d.warnings)


def test_block_io_class() -> None:
    ann = admitted(pod("tier0"))["metadata"]["annotations"]
    assert ann["blockio.resources.beta.kubernetes.io/pod"] == "dedicated-nvme"
