"""Golden cases of the targets: one small policy per case, and the bundled policies/.

Each case directory under tests/golden/targets/cases holds `policy.hermetic`, optionally
`namespaces.txt` (the namespaces that exist) and `webhook-url.txt`, and the expected output:
`expected.yaml` (every object of `generate_all`, in order) and `diagnostics.txt` (rendered as
`hermetic compile` prints them). Regenerate with HERMETIC_UPDATE_GOLDENS=1.
Every object of every case also passes the schema checks (tests/k8s_schemas.py).
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import yaml

import compiler
from cli.compile import dump, parse_namespaces
from compiler import Loaded
from compiler.build import generate_all
from compiler.model import CompiledPolicy
from compiler.targets import Generated
from dsl import Source, read_sources
from dsl.diagnostics import render_text

from .conftest import POLICIES, ROOT
from .k8s_schemas import validate_objects

CASES = ROOT / "tests" / "golden" / "targets" / "cases"
UPDATE = os.environ.get("HERMETIC_UPDATE_GOLDENS") == "1"
NAMES = sorted(p.name for p in CASES.iterdir() if p.is_dir())


def _sources(case: str) -> list[Source]:
    if case == "policies":
        found, _ = read_sources([str(POLICIES)])
        return [Source(path=os.path.relpath(s.path, ROOT), text=s.text) for s in found]
    return [Source(path="policy.hermetic", text=(CASES / case / "policy.hermetic").read_text())]


def _load(case: str) -> tuple[Loaded, list[str], str | None]:
    """The case's loaded policy, its known namespaces and its webhook URL."""
    loaded = compiler.load_sources(_sources(case))
    assert loaded.policy is not None, [d.message for d in loaded.diagnostics]
    folder = CASES / case
    names_file, url_file = folder / "namespaces.txt", folder / "webhook-url.txt"
    names = parse_namespaces(names_file.read_text()) if names_file.exists() else []
    url = url_file.read_text().strip() if url_file.exists() else None
    return loaded, names, url


def case_inputs(case: str) -> tuple[CompiledPolicy, list[str], str | None]:
    loaded, names, url = _load(case)
    assert loaded.policy is not None
    return loaded.policy, names, url


def _compile(case: str) -> tuple[Generated, str]:
    loaded, names, url = _load(case)
    assert loaded.policy is not None
    generated = generate_all(loaded.policy, names, webhook_url=url)
    diagnostics = [*loaded.diagnostics, *generated.diagnostics]
    rendered = "".join(render_text(d, loaded.lines) + "\n" for d in diagnostics)
    return generated, rendered


def _check(path: Path, actual: str) -> None:
    if UPDATE:
        path.write_text(actual)
        return
    assert path.exists(), f"{path} is missing: run with HERMETIC_UPDATE_GOLDENS=1"
    assert actual == path.read_text(), f"{path} differs: run with HERMETIC_UPDATE_GOLDENS=1"


@pytest.mark.parametrize("case", [*NAMES, "policies"])
def test_golden(case: str) -> None:
    generated, diagnostics = _compile(case)
    folder = CASES / case
    folder.mkdir(exist_ok=True)
    _check(folder / "expected.yaml", dump(list(generated.objects), "yaml"))
    _check(folder / "diagnostics.txt", diagnostics)


@pytest.mark.parametrize("case", [*NAMES, "policies"])
def test_golden_objects_validate(case: str) -> None:
    generated, _ = _compile(case)
    validate_objects(generated.objects)


@pytest.mark.parametrize("case", [*NAMES, "policies"])
def test_compiling_twice_is_byte_identical(case: str) -> None:
    first, d1 = _compile(case)
    second, d2 = _compile(case)
    assert dump(list(first.objects), "yaml") == dump(list(second.objects), "yaml")
    assert dump(list(first.objects), "json") == dump(list(second.objects), "json")
    assert d1 == d2


def test_expected_yaml_parses_back_to_the_objects() -> None:
    generated, _ = _compile("networkpolicy")
    text = (CASES / "networkpolicy" / "expected.yaml").read_text()
    assert list(yaml.safe_load_all(text)) == list(generated.objects)


@pytest.mark.parametrize("case", [*NAMES, "policies"])
def test_objects_are_unique(case: str) -> None:
    generated, _ = _compile(case)
    keys = [
        (o["apiVersion"], o["kind"], o["metadata"].get("namespace"), o["metadata"]["name"])
        for o in generated.objects
    ]
    assert len(keys) == len(set(keys))
