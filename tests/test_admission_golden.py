"""Golden admission cases: tests/golden/admission/NAME.yaml -> NAME.out.yaml, and every
example in examples/ -> tests/golden/admission/examples/NAME.out.yaml.

The expected file holds the decision as a reviewer reads it: allowed, tenant, tier, rules,
warnings, and the admitted object (the input with the patch applied) or the denial
message. The object's own namespace is the request's; the request uid is fixed; the
bundle digest is written `sha256:<bundle-digest>`.
Regenerate with HERMETIC_UPDATE_GOLDENS=1 and review the diff.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest
import yaml

from compiler.bundle import digest_for
from tests.k8s_schemas import validate_object
from tests.test_admission_support import ROOT, apply, bundled, check, schema_errors

GOLDEN = ROOT / "tests" / "golden" / "admission"
CASES = sorted(p for p in GOLDEN.glob("*.yaml") if not p.name.endswith(".out.yaml"))
EXAMPLES = sorted((ROOT / "examples").glob("*.yaml"))
UID = "golden-uid"


def _expected(path: Path) -> Path:
    if path.parent == GOLDEN:
        return path.with_name(path.name.removesuffix(".yaml") + ".out.yaml")
    return GOLDEN / "examples" / (path.name.removesuffix(".yaml") + ".out.yaml")


def render(obj: dict[str, Any]) -> tuple[str, dict[str, Any] | None]:
    ns = obj["metadata"]["namespace"]
    d = check(obj, bundled(), ns, uid=UID)
    out: dict[str, Any] = {"allowed": d.allowed, "tenant": d.tenant, "tier": d.tier}
    out["rules"] = list(d.rules)
    if d.warnings:
        out["warnings"] = list(d.warnings)
    admitted = apply(obj, d) if d.allowed else None
    if d.allowed:
        out["object"] = admitted
    else:
        out["message"] = d.message
    text = yaml.safe_dump(out, sort_keys=False, width=100, allow_unicode=True)
    # The digest changes with every change of the bundle format; test_admission_stamps
    # checks it. Here it would only churn the golden files.
    return text.replace(digest_for(bundled()), "sha256:<bundle-digest>"), admitted


@pytest.mark.parametrize("path", CASES + EXAMPLES, ids=lambda p: p.name)
def test_golden(path: Path) -> None:
    obj = yaml.safe_load(path.read_text())
    text, admitted = render(obj)
    expected = _expected(path)
    if os.environ.get("HERMETIC_UPDATE_GOLDENS"):
        expected.parent.mkdir(parents=True, exist_ok=True)
        expected.write_text(text)
    assert expected.exists(), f"no golden file; run with HERMETIC_UPDATE_GOLDENS=1 ({expected})"
    assert text == expected.read_text()
    if admitted is not None:
        assert schema_errors(admitted) == set()
        if path in EXAMPLES:  # the full check (1.34 and 1.37, metadata): ~0.2 s an object
            validate_object(admitted)


def test_every_case_has_a_golden_file_and_no_orphans() -> None:
    outs = {p for p in GOLDEN.rglob("*.out.yaml")}
    assert outs == {_expected(p) for p in CASES + EXAMPLES}
