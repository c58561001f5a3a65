"""The manifest YAML writer: PyYAML reads back exactly what was written."""

from __future__ import annotations

from typing import Any

import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from cli.yamlblock import dump_all

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**63), max_value=2**63),
    st.text(max_size=12),
    st.sampled_from(
        ["yes", "No", "ON", "null", "~", "1e3", "0x1F", "0o17", "1_000", ".inf", "-", "- a",
         "a: b", "a #b", "<<", "=", "2026-11-24", "12:30:00", "1.5", "+1", "@x", "`x", "'q'",
         '"q"', "tab\there", "line\nbreak", "é", "\u2028", " lead", "trail ", "*a", "&a",
         "!tag", "%x", "?x", "|", ">", "[x]", "{x}", ",", "/tmp", "a/b.c-d_e", "2Gi", "500m", "16", "1.5e3", "0755", "1_0", "2026-11-24",
         "12:30", "1/2", "0x"]
    ),
)  # fmt: skip
keys = st.one_of(st.text(max_size=10), st.sampled_from(["on", "y", "1", "true", "a.b/c"]))
data = st.recursive(
    scalars,
    lambda inner: st.one_of(st.lists(inner, max_size=4), st.dictionaries(keys, inner, max_size=4)),
    max_leaves=25,
)


@settings(max_examples=3000, derandomize=True, deadline=None)
@given(st.lists(data, min_size=1, max_size=3))
def test_pyyaml_reads_back_what_was_written(docs: list[Any]) -> None:
    assert list(yaml.safe_load_all(dump_all(docs))) == docs


def test_kubernetes_shape() -> None:
    doc = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "p", "labels": {"hermetic.io/tier": "tier0"}, "annotations": {}},
        "spec": {
            "containers": [{"name": "c", "ports": [{"containerPort": 80}], "args": ["--x=1"]}],
            "nodeSelector": {"on": "yes"},
        },
    }
    assert dump_all([doc]) == (
        "---\n"
        "apiVersion: v1\n"
        "kind: Pod\n"
        "metadata:\n"
        "  annotations: {}\n"
        "  labels:\n"
        "    hermetic.io/tier: tier0\n"
        "  name: p\n"
        "spec:\n"
        "  containers:\n"
        '  - args:\n    - "--x=1"\n'
        "    name: c\n"
        "    ports:\n"
        "    - containerPort: 80\n"
        "  nodeSelector:\n"
        '    "on": "yes"\n'
    )
    assert dump_all([{"cpu": "500m", "memory": "16Gi", "n": "4", "v": 4}]) == (
        '---\ncpu: 500m\nmemory: 16Gi\n"n": "4"\nv: 4\n'
    )
