"""`hermetic serve` (a real subprocess) and `hermetic review` (in process) end to end."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from cli.main import main
from compiler import bundle as bundles
from compiler import native
from compiler.build import bundle_for
from webhook.policy import PolicySource
from webhook.server import BackgroundServer, ServeOptions, prepare

from .test_webhook_support import POLICIES, ROOT, admission, issue_certs, pod

POD = pod()
PRIVILEGED = pod(containers=[{"name": "m", "image": "x", "securityContext": {"privileged": True}}])


@pytest.fixture(scope="module")
def tls_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return issue_certs(tmp_path_factory.mktemp("tls"))


@pytest.fixture(scope="module")
def server(tls_dir: Path) -> Iterator[BackgroundServer]:
    options = ServeOptions(
        source=PolicySource(paths=(str(POLICIES),)),
        cert=tls_dir / "tls.crt",
        key=tls_dir / "tls.key",
    )
    with BackgroundServer(prepare(options, admission())) as srv:
        yield srv


def write(tmp_path: Path, obj: object, name: str = "pod.yaml") -> str:
    path = tmp_path / name
    path.write_text(yaml.safe_dump(obj))
    return str(path)


def review(srv: BackgroundServer, tls_dir: Path, *args: str) -> list[str]:
    return ["review", "--server", srv.url, "--ca", str(tls_dir / "ca.crt"), *args]


def test_review_prints_an_allowed_decision_and_its_patch(
    server: BackgroundServer, tls_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(review(server, tls_dir, "--namespace", "alpha-research", write(tmp_path, POD)))
    out = capsys.readouterr().out
    assert code == 0, out
    assert out.startswith("allowed\n")
    patch = json.loads(out[out.index("patch:\n") + len("patch:\n") :])
    assert any(op["path"].startswith("/metadata/labels") for op in patch)


def test_review_exits_1_on_a_denial(
    server: BackgroundServer, tls_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    args = review(server, tls_dir, "--namespace", "alpha-research", write(tmp_path, PRIVILEGED))
    assert main(args) == 1
    out = capsys.readouterr().out
    assert out.startswith("denied (403)") and "privileged" in out


def test_review_validate_endpoint(
    server: BackgroundServer, tls_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write(tmp_path, POD)
    args = review(server, tls_dir, "--namespace", "alpha-research", "--endpoint", "validate", path)
    assert main(args) == 1  # never went through mutate: no stamps
    assert "stamp" in capsys.readouterr().out


@pytest.mark.parametrize(
    "problem",
    ["missing-file", "not-yaml", "two-docs", "cert-without-key", "wrong-ca", "no-server"],
)
def test_review_exits_2_on_usage_and_io_errors(
    server: BackgroundServer,
    tls_dir: Path,
    tmp_path: Path,
    problem: str,
    capsys: pytest.CaptureFixture[str],
) -> None:
    obj = write(tmp_path, POD)
    args = {
        "missing-file": review(server, tls_dir, str(tmp_path / "nope.yaml")),
        "not-yaml": review(
            server, tls_dir, write(tmp_path, "", "x.yaml").replace("x.yaml", "x.yaml")
        ),
        "two-docs": review(server, tls_dir, _two_docs(tmp_path)),
        "cert-without-key": review(server, tls_dir, "--cert", str(tls_dir / "tls.crt"), obj),
        "wrong-ca": ["review", "--server", server.url, "--ca", str(tls_dir / "tls.key"), obj],
        "no-server": [
            "review",
            "--server",
            "https://127.0.0.1:9",
            "--ca",
            str(tls_dir / "ca.crt"),
            obj,
        ],
    }[problem]
    if problem == "not-yaml":
        (tmp_path / "x.yaml").write_text("a: [unclosed")
    assert main(args) == 2
    assert capsys.readouterr().err.startswith("hermetic review: ")


def _two_docs(tmp_path: Path) -> str:
    path = tmp_path / "two.yaml"
    path.write_text(yaml.safe_dump(POD) + "---\n" + yaml.safe_dump(POD))
    return str(path)


# --- `hermetic serve` as a process ---------------------------------------------------------


def serve(tls_dir: Path, *extra: str) -> subprocess.Popen[str]:
    args = ["--cert", str(tls_dir / "tls.crt"), "--key", str(tls_dir / "tls.key")]
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "cli.main",
            "serve",
            *args,
            "--host",
            "127.0.0.1",
            "--port",
            "0",
            *extra,
        ],
        cwd=ROOT,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )


def listening_port(proc: subprocess.Popen[str]) -> int:
    assert proc.stderr is not None
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        line = proc.stderr.readline()
        if not line:
            break
        doc = json.loads(line)
        if doc.get("event") == "listening":
            return int(doc["port"])
    raise AssertionError(f"no 'listening' line; exit code {proc.poll()}")


def test_serve_then_review_then_sigterm(
    tls_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    proc = serve(tls_dir, "--policy", str(POLICIES))
    try:
        port = listening_port(proc)
        url = f"https://127.0.0.1:{port}"
        args = ["review", "--server", url, "--ca", str(tls_dir / "ca-bundle.crt")]
        assert main([*args, "--namespace", "alpha-research", write(tmp_path, POD)]) == 0
        assert capsys.readouterr().out.startswith("allowed")
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=20) == 0
        assert proc.stderr is not None
        lines = [json.loads(line) for line in proc.stderr.read().splitlines()]
        assert any(line["event"] == "admission" and line["decision"] == "patched" for line in lines)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_serve_refuses_a_broken_policy_with_diagnostics(tls_dir: Path, tmp_path: Path) -> None:
    broken = tmp_path / "broken.hermetic"
    broken.write_text("tier {\n")
    proc = serve(tls_dir, "--policy", str(broken))
    _, err = proc.communicate(timeout=30)
    assert proc.returncode == 1
    assert "broken.hermetic:" in err and "not serving" in err


def test_serve_refuses_a_missing_certificate(tmp_path: Path) -> None:
    proc = serve(tmp_path, "--policy", str(POLICIES))
    _, err = proc.communicate(timeout=30)
    assert proc.returncode == 2 and "tls.crt" in err


def test_serve_a_bundle(tls_dir: Path, tmp_path: Path) -> None:
    loaded = PolicySource(paths=(str(POLICIES),)).load()
    bundle = tmp_path / "bundle.json"
    bundle.write_text(bundles.dumps(bundle_for(loaded.policy)))  # as `hermetic compile` writes
    proc = serve(tls_dir, "--bundle", str(bundle))
    try:
        assert proc.stderr is not None
        line = json.loads(proc.stderr.readline())
        assert line["event"] == "listening" and line["digest"] == loaded.digest
        assert line["admission"] == native.describe()  # which build decides, in the log
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=20) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
