"""The bundle: published schema in sync, round trip, digest, and refusal of bad bundles."""

from __future__ import annotations

import json

import pytest

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
