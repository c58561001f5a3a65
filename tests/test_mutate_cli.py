"""`hermetic mutate` and `hermetic check`: outputs, positions, exit codes."""

from __future__ import annotations

import io
import json
from pathlib import Path

import jsonpatch
import pytest
import yaml

from cli.main import main
from compiler import bundle
from tests.test_admission_support import ROOT, bundled, schema_errors

POLICY = str(ROOT / "policies")
POD = str(ROOT / "examples" / "backtest-pod.yaml")
JOB = str(ROOT / "examples" / "backtest-job.yaml")
BAD = """apiVersion: v1
kind: Pod
metadata:
  name: bad
  labels:
    app.kubernetes.io/component: backtest
    hermetic.io/tier: tier2
spec:
  containers:
    - name: c
      image: busybox
      securityContext:
        privileged: true
"""


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_mutate_prints_the_admitted_object(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, "mutate", "--policy", POLICY, POD)
    assert code == 0 and err == ""
    (obj,) = yaml.safe_load_all(out)
    assert obj["metadata"]["labels"]["hermetic.io/tenant"] == "alpha-research"
    assert obj["spec"]["priorityClassName"] == "hermetic-tier0"
    assert schema_errors(obj) == set()


def test_mutate_patch_output_applies(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "mutate", "--policy", POLICY, "--output", "patch", POD)
    patch = json.loads(out)
    src = yaml.safe_load(Path(POD).read_text())
    assert code == 0 and jsonpatch.apply_patch(src, patch)["spec"]["hostUsers"] is False


def test_mutate_json_output_one_line_per_document(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    f = tmp_path / "two.yaml"
    f.write_text(Path(POD).read_text() + "\n---\n" + BAD)
    code, out, _ = run(
        capsys,
        "mutate",
        "--policy",
        POLICY,
        "--namespace",
        "alpha-research",
        "--output",
        "json",
        str(f),
    )
    lines = [json.loads(x) for x in out.splitlines()]
    assert code == 1 and [x["allowed"] for x in lines] == [True, False]
    assert {"kind", "name", "namespace", "allowed", "message", "patch", "warnings"} <= set(lines[0])
    assert lines[1]["name"] == "bad" and "security.privileged" in lines[1]["message"]


def test_mutate_denial_goes_to_stderr(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    f = tmp_path / "bad.yaml"
    f.write_text(BAD)
    code, out, err = run(capsys, "mutate", "--policy", POLICY, "--namespace", "replay-1", str(f))
    assert code == 1 and out == ""
    assert err.startswith(f"{f}:1: denied: hermetic: tenant replay, tier tier2:")


def test_mutate_reads_stdin_and_admission_reviews(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    review = {
        "apiVersion": "admission.k8s.io/v1",
        "kind": "AdmissionReview",
        "request": {
            "uid": "u",
            "namespace": "replay-9",
            "operation": "CREATE",
            "object": yaml.safe_load(BAD),
        },
    }
    monkeypatch.setattr("sys.stdin", io.StringIO(json.dumps(review)))
    code, out, _ = run(capsys, "mutate", "--policy", POLICY, "--output", "json", "-")
    assert code == 1 and json.loads(out)["namespace"] == "replay-9"


def test_mutate_broken_yaml_is_positioned(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    f = tmp_path / "broken.yaml"
    f.write_text("kind: Pod\nmetadata:\n  name: [x\n")
    code, out, err = run(capsys, "mutate", "--policy", POLICY, str(f))
    assert code == 2 and out == ""
    assert err.startswith(f"{f}:4:1: error: ")


def test_mutate_missing_file_and_not_an_object(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    code, _, err = run(capsys, "mutate", "--policy", POLICY, str(tmp_path / "nope.yaml"))
    assert code == 2 and "No such file" in err
    f = tmp_path / "list.yaml"
    f.write_text("- 1\n- 2\n")
    code, _, err = run(capsys, "mutate", "--policy", POLICY, str(f))
    assert code == 2 and "is not an object" in err


def test_mutate_policy_errors_are_rendered_like_lint(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    p = tmp_path / "bad.hermetic"
    p.write_text("tier t {\n  cpu 1..x\n}\n")
    code, _, err = run(capsys, "mutate", "--policy", str(p), POD)
    assert code == 1 and f"{p}:" in err and "error[" in err


def test_mutate_with_a_bundle_uses_its_digest(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    b = tmp_path / "bundle.json"
    b.write_text(bundle.dumps(bundle.build(bundled())))
    code, out, _ = run(capsys, "mutate", "--bundle", str(b), "--output", "json", POD)
    report = json.loads(out)
    digest = next(op for op in report["patch"] if op["path"] == "/metadata/annotations")["value"]
    assert code == 0 and digest["hermetic.io/bundle-digest"] == bundle.digest_for(bundled())
    b.write_text("{}")
    assert run(capsys, "mutate", "--bundle", str(b), POD)[0] == 2


def test_check_passes_good_manifests(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "check", "--policy", POLICY, POD, JOB)
    assert code == 0 and "2 objects, 0 would be denied" in out


def test_check_text_points_at_the_field(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    f = tmp_path / "m.yaml"
    f.write_text(Path(JOB).read_text() + "---\n" + BAD)
    code, out, _ = run(capsys, "check", "--policy", POLICY, "--namespace", "replay-1", str(f))
    assert code == 1
    # BAD starts at line 29 of the file; privileged: true is its line 13
    start = Path(JOB).read_text().count("\n") + 2
    assert f"{f}:{start + 12}:9: error[security.privileged]: hermetic: tenant replay" in out
    assert "privileged: true" in out and "^^^^^^^^^^" in out
    assert "2 objects, 2 would be denied" in out  # the Job's 2..4 CPUs are beyond tier2 too


@pytest.mark.parametrize("fmt", ["json", "github", "sarif"])
def test_check_machine_formats(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, fmt: str
) -> None:
    f = tmp_path / "bad.yaml"
    f.write_text(BAD)
    code, out, _ = run(
        capsys, "check", "--policy", POLICY, "--namespace", "replay-1", "--format", fmt, str(f)
    )
    assert code == 1
    if fmt == "json":
        (d,) = json.loads(out)
        assert (d["code"], d["line"], d["column"]) == ("security.privileged", 13, 9)
    elif fmt == "github":
        assert (
            out.startswith(f"::error file={f},line=13,col=9,")
            and "title=security.privileged" in out
        )
    else:
        sarif = json.loads(out)
        result = sarif["runs"][0]["results"][0]
        assert result["ruleId"] == "security.privileged"
        assert result["locations"][0]["physicalLocation"]["region"]["startLine"] == 13
        rules = sarif["runs"][0]["tool"]["driver"]["rules"]
        assert rules[0]["shortDescription"]["text"] == "privileged containers are forbidden"


def test_check_a_denied_template_in_a_list(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    job = yaml.safe_load(Path(JOB).read_text())
    job["spec"]["template"]["metadata"]["labels"]["hermetic.io/tier"] = "tier0"
    f = tmp_path / "list.json"
    f.write_text(json.dumps({"apiVersion": "v1", "kind": "List", "items": [job]}, indent=1))
    code, out, _ = run(capsys, "check", "--policy", POLICY, "--format", "json", str(f))
    found = json.loads(out)
    assert code == 1 and {"images.pinned", "seed.required", "resources.cpu.range"} <= {
        d["code"] for d in found
    }
    assert all('Job "carry-sweep" pod template' in d["message"] for d in found)
