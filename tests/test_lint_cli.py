"""`hermetic lint`: formats, exit codes, and no traceback for any input."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from cli.main import main

from .conftest import POLICIES, ROOT

BAD = 'policy p version "1"\ntier t {\n  cpu 2..1\n  memory 1Gi\n}\ntenant a {\n  namespaces a\n  tiers t, u\n}\n'
WARN = 'policy p version "1"\nprofile unused {\n  cpu 1\n}\ntier t {\n  cpu 1\n  memory 1Gi\n}\ntenant a {\n  namespaces a\n  tiers t\n}\n'


def _write(tmp_path: Path, text: str, name: str = "p.hermetic") -> str:
    f = tmp_path / name
    f.write_text(text)
    return str(f)


def test_bundled_policy_lints_clean_even_strict(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["lint", "--strict", str(POLICIES)]) == 0
    assert "0 errors, 0 warnings in 4 files" in capsys.readouterr().out


def test_errors_exit_1_with_every_problem(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["lint", _write(tmp_path, BAD)]) == 1
    out = capsys.readouterr().out
    assert "error[E021]" in out and "error[E012]" in out
    assert "2 errors, 0 warnings in 1 file" in out


def test_warnings_fail_only_with_strict(tmp_path: Path) -> None:
    path = _write(tmp_path, WARN)
    assert main(["lint", path]) == 0
    assert main(["lint", "--strict", path]) == 1


def test_json_carries_every_field(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    main(["lint", "--format", "json", _write(tmp_path, BAD)])
    items = json.loads(capsys.readouterr().out)
    assert {tuple(sorted(i)) for i in items} == {
        ("code", "column", "end_column", "end_line", "file", "hint", "line", "message", "severity")
    }
    e021 = next(i for i in items if i["code"] == "E021")
    assert (e021["line"], e021["column"], e021["severity"]) == (3, 7, "error")


def test_sarif_is_valid_shape(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    main(["lint", "--format", "sarif", _write(tmp_path, BAD)])
    doc = json.loads(capsys.readouterr().out)
    assert doc["version"] == "2.1.0"
    run = doc["runs"][0]
    assert {r["id"] for r in run["tool"]["driver"]["rules"]} == {"E012", "E021"}
    region = run["results"][0]["locations"][0]["physicalLocation"]["region"]
    assert {"startLine", "startColumn", "endLine", "endColumn"} <= set(region)


def test_github_annotations(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    main(["lint", "--format", "github", _write(tmp_path, BAD)])
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith("::error file=") and ",line=3,col=7," in lines[0]


def test_usage_and_io_errors_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["lint", str(tmp_path / "nope")]) == 2
    assert "no such file" in capsys.readouterr().err
    assert main(["lint", str(tmp_path)]) == 2  # a directory without policy files
    with pytest.raises(SystemExit) as exc:
        main(["lint", "--format", "xml", str(tmp_path)])
    assert exc.value.code == 2


def test_binary_input_is_a_diagnostic_not_a_traceback(tmp_path: Path) -> None:
    f = tmp_path / "bin.hermetic"
    f.write_bytes(bytes(range(256)) * 4)
    proc = subprocess.run(
        [sys.executable, "-m", "cli.main", "lint", str(f)],
        capture_output=True,
        text=True,
        cwd=ROOT,
    )
    assert proc.returncode == 1
    assert "error[E001]" in proc.stdout
    assert "Traceback" not in proc.stdout + proc.stderr


def test_internal_error_has_its_own_exit_code(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import compiler

    def boom(paths: object) -> None:
        raise RuntimeError("kaboom")

    monkeypatch.setattr(compiler, "load", boom)
    monkeypatch.delenv("HERMETIC_DEBUG", raising=False)
    assert main(["lint", str(POLICIES)]) == 3
    err = capsys.readouterr().err
    assert "internal error: RuntimeError: kaboom" in err and "Traceback" not in err
