"""The bundle: published schema in sync, round trip, digest, and refusal of bad bundles."""

from __future__ import annotations

import json
from typing import Any

import jsonschema
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from compiler import bundle
from compiler.model import CompiledPolicy


def test_published_schema_matches_the_model() -> None:
    on_disk = json.loads(bundle.SCHEMA_PATH.read_text())
    assert on_disk == bundle.build_schema(), "regenerate compiler/schema/bundle.v1.json"


def test_round_trip_and_digest(bundled_policy: CompiledPolicy) -> None:
    doc = bundle.build(bundled_policy)
    text = bundle.dumps(doc)
    loaded = bundle.loads(text)
    assert loaded.policy == bundled_policy
    assert loaded.digest == doc["metadata"]["digest"]
    assert bundle.dumps(bundle.build(loaded.policy)) == text  # byte-identical


def test_digest_names_the_policy_whatever_the_templates(bundled_policy: CompiledPolicy) -> None:
    plain = bundle.build(bundled_policy)
    with_templates = bundle.build(bundled_policy, templates={"x": [{"kind": "ConfigMap"}]})
    assert plain["metadata"]["digest"] == with_templates["metadata"]["digest"]
    assert plain["metadata"]["digest"] == bundle.digest_for(bundled_policy)
    assert plain["metadata"]["templatesDigest"] != with_templates["metadata"]["templatesDigest"]
    tampered = json.loads(bundle.dumps(with_templates))
    tampered["templates"]["x"][0]["kind"] = "Secret"
    with pytest.raises(bundle.BundleError, match="templatesDigest"):
        bundle.loads(json.dumps(tampered))


def test_tampered_bundle_is_refused(bundled_policy: CompiledPolicy) -> None:
    doc = bundle.build(bundled_policy)
    doc["policy"]["tiers"][0]["priority"]["value"] = 1
    with pytest.raises(bundle.BundleError, match="does not match its content"):
        bundle.loads(json.dumps(doc))


def test_schema_violation_names_the_place(bundled_policy: CompiledPolicy) -> None:
    doc = bundle.build(bundled_policy)
    doc["policy"]["tiers"][0]["security"] = "lax"
    with pytest.raises(bundle.BundleError, match="policy/tiers/0/security"):
        bundle.loads(json.dumps(doc))
    with pytest.raises(bundle.BundleError, match="not JSON"):
        bundle.loads(b"\xff{")
    with pytest.raises(bundle.BundleError, match="schema"):
        bundle.loads("[]")


# --- the validator's quick acceptance of leaves, and orjson's text -------------------------

json_values = st.recursive(
    st.one_of(
        st.none(),
        st.booleans(),
        st.integers(min_value=-(2**70), max_value=2**70),
        st.text(max_size=8),
        st.sampled_from(['\u0000\u001f\u007f\u2028"\\\n\t\b\f\r é 😀', "\ud800"]),
    ),
    lambda inner: st.one_of(
        st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=6), inner, max_size=4)
    ),
    max_leaves=20,
)


@settings(max_examples=1000, derandomize=True, deadline=None)
@given(json_values)
def test_canonical_and_pretty_text_are_what_json_writes(value: object) -> None:
    compact = json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    assert bundle.canonical(value) == compact.encode("utf-8", "surrogatepass")
    assert (
        bundle.pretty(value)
        == json.dumps(value, sort_keys=True, indent=2, ensure_ascii=False) + "\n"
    )


def _paths(node: Any, here: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    out = [here]
    if isinstance(node, dict):
        for k, v in node.items():
            out += _paths(v, (*here, k))
    elif isinstance(node, list):
        for i, v in enumerate(node):
            out += _paths(v, (*here, i))
    return out


def _errors(validator: Any, doc: Any) -> list[tuple[str, str]]:
    return sorted(
        ("/".join(map(str, e.absolute_path)), e.message) for e in validator.iter_errors(doc)
    )


@settings(
    max_examples=500,
    derandomize=True,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(st.data())
def test_quick_acceptance_reports_what_plain_jsonschema_reports(
    bundled_policy: CompiledPolicy, data: st.DataObject
) -> None:
    """Break a valid bundle at random places with random values: the extended validator
    finds exactly the errors (places and messages) plain jsonschema finds."""
    doc = bundle.build(bundled_policy, templates={"t": [{"kind": "ConfigMap"}]})
    plain = jsonschema.Draft202012Validator(bundle._validator().schema)
    for _ in range(data.draw(st.integers(1, 3))):
        *parents, last = data.draw(st.sampled_from(_paths(doc)[1:]))
        parent = doc
        for step in parents:
            parent = parent[step]
        parent[last] = data.draw(json_values)
    assert _errors(bundle._validator(), doc) == _errors(plain, doc)
    try:
        bundle.validate(doc)
    except bundle.BundleError:
        assert _errors(plain, doc)
    else:
        assert not _errors(plain, doc)


def test_equal_invalid_values_are_each_reported(bundled_policy: CompiledPolicy) -> None:
    """Only valid results are remembered: the same bad value twice is two errors."""
    doc = bundle.build(bundled_policy)
    tenants = doc["policy"]["tenants"]
    for t in tenants[:2]:
        t["quotas"].append({**t["quotas"][0], "cpu": "lots"})
    errors = _errors(bundle._validator(), doc)
    assert errors == [
        (
            f"policy/tenants/{i}/quotas/{len(tenants[i]['quotas']) - 1}/cpu",
            "'lots' is not of type 'integer', 'null'",
        )
        for i in (0, 1)
    ]
    assert errors == _errors(jsonschema.Draft202012Validator(bundle._validator().schema), doc)
