"""`hermetic compile`: files written, determinism, diagnostics and exit codes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from cli.compile import parse_namespaces
from cli.main import main
from compiler import bundle
from dsl import UsageError

from .conftest import POLICIES
from .k8s_schemas import validate_objects

BROKEN = 'policy p version "1"\ntier t {\n  cpu 1\n}\n'


def _tree(root: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()
    }


@pytest.fixture
def ns_file(tmp_path: Path) -> Path:
    path = tmp_path / "ns.txt"
    path.write_text(
        "# kubectl get ns -o name\nnamespace/alpha-backfill\n\nnamespace/replay-7\nmarket-data\n"
    )
    return path


def test_writes_bundle_and_manifests(
    tmp_path: Path, ns_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "out"
    assert main(["compile", str(POLICIES), "--out", str(out), "--namespaces", str(ns_file)]) == 0
    files = set(_tree(out))
    assert {
        "bundle.json",
        "manifests/namespaces.yaml",
        "manifests/priorityclasses.yaml",
        "manifests/webhooks.yaml",
        "manifests/tenants/alpha-research.yaml",
        "manifests/tenants/replay.yaml",
    } <= files
    doc = bundle.load(out / "bundle.json")
    assert set(doc.templates) == {"alpha-research", "beta-quant", "replay", "risk-models"}
    objects = [
        o
        for f in files
        if f.startswith("manifests/")
        for o in yaml.safe_load_all((out / f).read_text())
    ]
    validate_objects(objects, versions=("1.34.0",))
    namespaces = {o["metadata"]["name"] for o in objects if o["kind"] == "Namespace"}
    assert {"alpha-backfill", "replay-7"} <= namespaces
    replay = list(yaml.safe_load_all((out / "manifests/tenants/replay.yaml").read_text()))
    assert {o["metadata"]["namespace"] for o in replay} == {"replay-7"}
    captured = capsys.readouterr()
    assert "W073" in captured.err and "objects in" in captured.out


def test_compiling_twice_is_byte_identical(tmp_path: Path, ns_file: Path) -> None:
    a, b = tmp_path / "a", tmp_path / "b"
    for out in (a, b, a):  # the second write to `a` replaces it
        assert (
            main(["compile", str(POLICIES), "--out", str(out), "--namespaces", str(ns_file)]) == 0
        )
    assert _tree(a) == _tree(b)
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []  # no leftovers


def test_json_format_and_webhook_url(tmp_path: Path) -> None:
    out = tmp_path / "out"
    args = ["compile", str(POLICIES), "--out", str(out), "--format", "json"]
    assert main([*args, "--webhook-url", "https://127.0.0.1:8443"]) == 0
    hooks = json.loads((out / "manifests/webhooks.json").read_text())
    assert hooks["kind"] == "List"
    urls = {h["clientConfig"]["url"] for o in hooks["items"] for h in o["webhooks"]}
    assert urls == {"https://127.0.0.1:8443/mutate", "https://127.0.0.1:8443/validate"}
    assert not list(out.rglob("*.yaml"))


def test_policy_errors_exit_1_and_write_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    src = tmp_path / "broken.hermetic"
    src.write_text(BROKEN)
    out = tmp_path / "out"
    assert main(["compile", str(src), "--out", str(out)]) == 1
    assert not out.exists()
    err = capsys.readouterr().err
    assert "error[E019]" in err and f"{src}:" in err


def test_errors_keep_the_previous_output(tmp_path: Path) -> None:
    out = tmp_path / "out"
    assert main(["compile", str(POLICIES), "--out", str(out)]) == 0
    before = _tree(out)
    src = tmp_path / "broken.hermetic"
    src.write_text(BROKEN)
    assert main(["compile", str(src), "--out", str(out)]) == 1
    assert _tree(out) == before


@pytest.mark.parametrize(
    "extra",
    [
        ["--webhook-url", "http://127.0.0.1:8443"],
        ["--webhook-url", "https://127.0.0.1:8443/?x=1"],
        ["--namespaces", "/nonexistent/ns.txt"],
    ],
)
def test_usage_errors_exit_2(
    tmp_path: Path, extra: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "out"
    assert main(["compile", str(POLICIES), "--out", str(out), *extra]) == 2
    assert not out.exists()
    assert capsys.readouterr().err.startswith("hermetic compile: ")


def test_missing_path_and_foreign_directory_exit_2(tmp_path: Path) -> None:
    assert main(["compile", str(tmp_path / "nope"), "--out", str(tmp_path / "o")]) == 2
    foreign = tmp_path / "home"
    foreign.mkdir()
    (foreign / "notes.txt").write_text("mine")
    assert main(["compile", str(POLICIES), "--out", str(foreign)]) == 2
    assert (foreign / "notes.txt").read_text() == "mine"
    with pytest.raises(SystemExit) as exc:
        main(["compile", str(POLICIES)])  # --out is required
    assert exc.value.code == 2


def test_namespace_list_formats() -> None:
    text = "namespace/a\n  b  \n# comment\n\nnamespace/a\nc # trailing\n"
    assert parse_namespaces(text) == ["a", "b", "c"]
    with pytest.raises(UsageError, match=r"ns\.txt:2"):
        parse_namespaces("ok\nNot_Valid\n", "ns.txt")
