"""`hermetic certs` through `cli.main.main`: files written, output and exit codes."""

from __future__ import annotations

import base64
import json
import shutil
import stat
from pathlib import Path

import pytest
import yaml
from cryptography import x509
from cryptography.x509.oid import ExtendedKeyUsageOID

from cli.main import EXIT_OK, EXIT_PROBLEMS, EXIT_USAGE, main

ISSUE = ["certs", "issue", "--service", "hermetic", "--namespace", "hermetic-system"]


def _cert(path: Path) -> x509.Certificate:
    return x509.load_pem_x509_certificate(path.read_bytes())


@pytest.fixture
def out(tmp_path: Path) -> Path:
    directory = tmp_path / "tls"
    assert main([*ISSUE, "--out", str(directory), "--dns", "localhost", "--ip", "127.0.0.1"]) == 0
    return directory


def test_issue(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "tls"
    assert main([*ISSUE, "--out", str(out), "--dns", "localhost", "--ip", "127.0.0.1"]) == 0
    assert sorted(p.name for p in out.iterdir()) == [
        "ca-bundle.crt",
        "ca.crt",
        "ca.key",
        "tls.crt",
        "tls.key",
    ]
    assert stat.S_IMODE((out / "tls.key").stat().st_mode) == 0o600
    san = _cert(out / "tls.crt").extensions.get_extension_for_class(x509.SubjectAlternativeName)
    assert "hermetic.hermetic-system.svc.cluster.local" in san.value.get_values_for_type(
        x509.DNSName
    )
    assert "SANs: hermetic, " in capsys.readouterr().out


def test_issue_refuses_to_replace_a_ca(out: Path, capsys: pytest.CaptureFixture[str]) -> None:
    ca = (out / "ca.crt").read_bytes()
    capsys.readouterr()
    assert main([*ISSUE, "--out", str(out)]) == EXIT_USAGE
    assert "--ca-dir" in capsys.readouterr().err and (out / "ca.crt").read_bytes() == ca
    assert main([*ISSUE, "--out", str(out), "--force"]) == EXIT_OK
    assert (out / "ca.crt").read_bytes() != ca


def test_missing_ca_dir_is_a_usage_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    missing = tmp_path / "nope"
    code = main([*ISSUE, "--out", str(tmp_path / "o"), "--ca-dir", str(missing)])
    err = capsys.readouterr().err
    assert code == EXIT_USAGE
    assert err == f"hermetic certs: {missing}: no such CA directory\n"
    code = main(["certs", "client", "--cn", "x", "--ca-dir", str(missing), "--out", str(tmp_path)])
    assert code == EXIT_USAGE and "Traceback" not in capsys.readouterr().err


def test_client(out: Path, tmp_path: Path) -> None:
    client = tmp_path / "client"
    args = ["certs", "client", "--cn", "kube-apiserver", "--ca-dir", str(out), "--out", str(client)]
    assert main(args) == EXIT_OK
    cert = _cert(client / "client.crt")
    eku = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert list(eku) == [ExtendedKeyUsageOID.CLIENT_AUTH]
    cert.verify_directly_issued_by(_cert(out / "ca.crt"))
    assert stat.S_IMODE((client / "client.key").stat().st_mode) == 0o600


def test_rotate_then_finish(out: Path, capsys: pytest.CaptureFixture[str]) -> None:
    old_ca = (out / "ca.crt").read_bytes()
    assert main(["certs", "rotate", "--dir", str(out)]) == EXIT_OK
    assert (out / "ca.old.crt").read_bytes() == old_ca
    assert (out / "ca-bundle.crt").read_bytes() == old_ca + (out / "ca.crt").read_bytes()
    assert "--finish" in capsys.readouterr().out
    assert main(["certs", "rotate", "--dir", str(out)]) == EXIT_USAGE
    assert "rotation is in progress" in capsys.readouterr().err
    assert main(["certs", "rotate", "--dir", str(out), "--finish", "--service", "x"]) == 2
    assert main(["certs", "rotate", "--dir", str(out), "--finish"]) == EXIT_OK
    assert (out / "ca-bundle.crt").read_bytes() == (out / "ca.crt").read_bytes()
    assert main(["certs", "check", "--dir", str(out)]) == EXIT_OK


def test_check_short_lived_certificate(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main([*ISSUE, "--out", str(tmp_path), "--days", "1"]) == EXIT_OK
    capsys.readouterr()
    assert main(["certs", "check", "--dir", str(tmp_path), "--days-threshold", "30"]) == 1
    assert "problem: tls.crt: expires in 0 days" in capsys.readouterr().out
    assert main(["certs", "check", "--dir", str(tmp_path), "--days-threshold", "0"]) == EXIT_OK
    capsys.readouterr()
    args = ["certs", "check", "--cert", str(tmp_path / "tls.crt"), "--format", "json"]
    assert main(args) == EXIT_PROBLEMS
    report = json.loads(capsys.readouterr().out)
    assert report["ok"] is False and report["threshold_days"] == 30
    assert [(c["status"], c["days_left"]) for c in report["certificates"]] == [("expiring", 0)]


def test_check_json_for_a_healthy_directory(out: Path, capsys: pytest.CaptureFixture[str]) -> None:
    capsys.readouterr()
    assert main(["certs", "check", "--dir", str(out), "--format", "json"]) == EXIT_OK
    report = json.loads(capsys.readouterr().out)
    assert report["ok"] is True and report["problems"] == []
    assert [c["file"] for c in report["certificates"]] == ["tls.crt", "ca.crt", "ca-bundle.crt"]


def test_check_mismatched_key(
    out: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main([*ISSUE, "--out", str(tmp_path / "other")]) == EXIT_OK
    shutil.copy2(tmp_path / "other" / "tls.key", out / "tls.key")
    capsys.readouterr()
    assert main(["certs", "check", "--dir", str(out)]) == EXIT_PROBLEMS
    assert "problem: tls.key does not match tls.crt" in capsys.readouterr().out


def test_check_missing_input(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["certs", "check", "--cert", str(tmp_path / "none.crt")]) == EXIT_USAGE
    assert capsys.readouterr().err == f"hermetic certs: {tmp_path / 'none.crt'}: no such file\n"
    assert main(["certs", "check", "--dir", str(tmp_path / "nodir")]) == EXIT_USAGE


WEBHOOKS = """\
apiVersion: admissionregistration.k8s.io/v1
kind: MutatingWebhookConfiguration
metadata: {name: hermetic}
webhooks:
- name: pods.hermetic.dev
  clientConfig: {service: {name: hermetic, namespace: hermetic-system}}
---
apiVersion: v1
kind: Service
metadata: {name: hermetic}
---
apiVersion: admissionregistration.k8s.io/v1
kind: ValidatingWebhookConfiguration
metadata: {name: hermetic}
webhooks:
- name: validate.hermetic.dev
  clientConfig: {service: {name: hermetic, namespace: hermetic-system}}
"""


def test_inject(out: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    manifest, service = tmp_path / "webhooks.yaml", tmp_path / "service.yaml"
    manifest.write_text(WEBHOOKS)
    service.write_text("kind: Service  # untouched\n")
    assert main(["certs", "inject", "--dir", str(out), str(manifest), str(service)]) == EXIT_OK
    docs = list(yaml.safe_load_all(manifest.read_text()))
    assert [d["kind"] for d in docs] == [
        "MutatingWebhookConfiguration",
        "Service",
        "ValidatingWebhookConfiguration",
    ]
    for doc in (docs[0], docs[2]):
        ca_bundle = doc["webhooks"][0]["clientConfig"]["caBundle"]
        assert base64.b64decode(ca_bundle) == (out / "ca-bundle.crt").read_bytes()
    assert service.read_text() == "kind: Service  # untouched\n"
    assert f"{manifest}: 2 webhook(s) updated" in capsys.readouterr().out


def test_inject_errors(out: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    service = tmp_path / "service.yaml"
    service.write_text("kind: Service\n")
    bundle = str(out / "ca-bundle.crt")
    assert main(["certs", "inject", "--ca-bundle", bundle, str(service)]) == EXIT_PROBLEMS
    assert "no webhook configuration" in capsys.readouterr().err
    missing = str(tmp_path / "missing.yaml")
    assert main(["certs", "inject", "--ca-bundle", bundle, missing]) == EXIT_USAGE
    not_pem = str(service)
    assert main(["certs", "inject", "--ca-bundle", not_pem, str(service)]) == EXIT_USAGE
    assert "not a PEM certificate file" in capsys.readouterr().err


@pytest.mark.parametrize(
    "argv",
    [
        [*ISSUE, "--out", "x", "--ip", "not-an-ip"],
        [*ISSUE, "--out", "x", "--days", "0"],
        [*ISSUE, "--out", "x", "--key-type", "dsa"],
        ["certs"],
        ["certs", "check"],
        ["certs", "inject", "--dir", "x"],
    ],
)
def test_usage_errors(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        main(argv)
    assert exc.value.code == EXIT_USAGE
    assert "error:" in capsys.readouterr().err
