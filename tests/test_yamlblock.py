"""The manifest YAML writer: PyYAML reads back exactly what was written."""

from __future__ import annotations

from typing import Any

import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from cli.yamlblock import Stencil, dump_all

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


# --- Stencil: rendered once, filled many times --------------------------------------------

P = "{{ns}}"
with_placeholder = st.one_of(
    data,
    st.builds(lambda a, b: f"{a}{P}{b}", st.text(max_size=4), st.text(max_size=4)),
    st.just(P),
)
stencil_docs = st.recursive(
    with_placeholder,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4),
        st.dictionaries(st.one_of(keys, st.just(f"k{P}")), inner, max_size=4),
    ),
    max_leaves=25,
)
fills = st.one_of(
    st.text(max_size=8),
    st.sampled_from(["team-a", "123", "yes", "null", "1e3", "a: b", "", "é", "\u0007", "-"]),
)


def _replace(value: Any, new: str) -> Any:
    if isinstance(value, str):
        return value.replace(P, new)
    if isinstance(value, dict):
        return {_replace(k, new): _replace(v, new) for k, v in value.items()}
    if isinstance(value, list):
        return [_replace(v, new) for v in value]
    return value


@settings(max_examples=1000, derandomize=True, deadline=None)
@given(st.lists(stencil_docs, min_size=1, max_size=3), st.lists(fills, min_size=1, max_size=3))
def test_a_filled_stencil_is_the_dump_of_the_filled_documents(
    docs: list[Any], values: list[str]
) -> None:
    stencil = Stencil(docs, P)
    for value in values:
        assert stencil.fill(value) == dump_all([_replace(d, value) for d in docs])


def test_a_stencil_renders_once_and_fills_only_the_open_strings() -> None:
    doc = {"metadata": {"namespace": P, "name": "x"}, "spec": {"principals": [f"ns/{P}/sa/a"]}}
    stencil = Stencil([doc], P)
    assert stencil.fill("2024") == dump_all([_replace(doc, "2024")])
    assert 'namespace: "2024"' in stencil.fill("2024")  # quoted: it would read as a number
    assert "namespace: team-a\n" in stencil.fill("team-a")
    assert "- ns/team-a/sa/a\n" in stencil.fill("team-a")
