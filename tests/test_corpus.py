"""Every object of the shared corpus through `mutate`, with every invariant (see
test_admission_support.check): pods and pod controllers from /work/shared/corpus/pods,
AdmissionReviews and bare AdmissionRequests from corpus/admission (their own operation),
NetworkPolicies from corpus/networkpolicies (never touched).

Every object is decided as if in namespace alpha-research, under variants of the bundled
policy that govern every pod, once per default tier (tier0 also with unpinned images and
injected seeds, so that the strict level's admissions are exercised, not only its
denials), and under one that governs nothing (everything passes untouched).
"""

from __future__ import annotations

import functools
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from compiler.admission import mutate
from compiler.model import CompiledPolicy, Requirement
from tests.test_admission_support import NS, bundled, check, variant

CORPUS = Path("/work/shared/corpus")
FILES = sorted(
    p
    for folder in ("pods", "admission", "networkpolicies")
    for p in (CORPUS / folder).rglob("*")
    if p.suffix in (".yaml", ".yml", ".json")
)
NEVER = (Requirement(key="hermetic.test/never", operator="Exists"),)


@functools.cache
def policies() -> dict[str, CompiledPolicy]:
    p = bundled()
    return {
        "tier0": variant(p, default_tier="tier0", governs=()),
        "tier0-lenient": variant(
            variant(p, default_tier="tier0", governs=()), pin_images=False, seed="inject"
        ),
        "tier1": variant(p, default_tier="tier1", governs=()),
        "tier2": variant(p, default_tier="tier2", governs=()),
    }


@functools.cache
def quiet() -> CompiledPolicy:
    return variant(bundled(), governs=NEVER)


@functools.cache
def _documents(path: Path) -> tuple[Any, ...]:
    text = path.read_text(encoding="utf-8")
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    try:
        return tuple(d for d in yaml.load_all(text, Loader=loader) if d is not None)
    except yaml.YAMLError:
        return ()  # one file is kept as published, broken; the CLI tests cover broken YAML


def requests(path: Path) -> Iterator[tuple[Any, str, str]]:
    """(object, operation, uid) of every document: objects, reviews, bare requests."""
    for doc in _documents(path):
        if not isinstance(doc, dict):
            continue  # a bare JSON Patch (a mutating webhook's output)
        request = doc.get("request") if doc.get("kind") == "AdmissionReview" else None
        if request is None and "object" in doc and "operation" in doc:
            request = doc
        if isinstance(request, dict):
            op = str(request.get("operation") or "CREATE")
            yield request.get("object"), op, str(request.get("uid") or "")
        else:
            yield doc, "CREATE", ""


def test_the_corpus_is_there() -> None:
    objects = [r for f in FILES for r in requests(f)]
    assert len(FILES) > 300 and len(objects) > 500


@pytest.mark.parametrize("path", FILES, ids=lambda p: str(p.relative_to(CORPUS)))
def test_corpus_object(path: Path) -> None:
    for obj, operation, uid in requests(path):
        for policy in policies().values():
            check(obj, policy, NS, operation=operation, uid=uid)
        d = mutate(obj, quiet(), namespace=NS, operation=operation, request_uid=uid)
        assert d.allowed and d.patch == [] and not d.governed


def test_corpus_outcomes_are_varied() -> None:
    """The corpus exercises admissions and denials at every level, not one of them."""
    seen: dict[str, set[bool]] = {}
    for path in FILES:
        for obj, operation, uid in requests(path):
            for name, policy in policies().items():
                d = mutate(obj, policy, namespace=NS, operation=operation, request_uid=uid)
                if d.governed:
                    seen.setdefault(name, set()).add(d.allowed)
    # tier0 itself requires pinned images and seeds, which no published manifest carries.
    assert seen.pop("tier0") == {False}
    assert all(v == {True, False} for v in seen.values()), seen
    assert set(seen) == set(policies()) - {"tier0"}


def test_corpus_admission_patches_are_json() -> None:
    """Patches serialise as the webhook sends them (JSON, then base64)."""
    policy = policies()["tier2"]
    for path in FILES[:60]:
        for obj, operation, uid in requests(path):
            d = mutate(obj, policy, namespace=NS, operation=operation, request_uid=uid)
            json.dumps(d.patch)
