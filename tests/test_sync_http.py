"""`hermetic sync` through the official client over real HTTP, against the in-memory API
served on 127.0.0.1: the `KubeTransport`, watches, Lease leader election, `--once`, stop."""

from __future__ import annotations

import copy
import json
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import pytest

import certs
from cli.main import main
from compiler.labels import TENANT
from compiler.targets.webhooks import configurations
from tests.test_sync_controller import FAST, NETPOL, _fields, _netpol
from tests.test_sync_fakeapi import FakeApiServer
from tests.test_sync_reconcile import POLICIES, load_policy
from webhook.sync import SyncOptions, load_client, start_in_background
from webhook.sync.api import Api, ApiError, KubeTransport
from webhook.sync.kinds import MANAGED_KINDS

LEASES = "/apis/coordination.k8s.io/v1/namespaces/hermetic-system/leases"


class Cluster(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), Handler)
        self.fake = FakeApiServer()
        self.leases: dict[str, dict[str, Any]] = {}
        self.lease_lock = threading.Lock()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"

    def handle_error(self, request: Any, client_address: Any) -> None:
        # A client that hangs up on a kept-alive connection (every client, at the end of a
        # test) is not an error of the fake API server; anything else is printed.
        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)


class Handler(BaseHTTPRequestHandler):
    server: Cluster
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_GET(self) -> None:
        self._handle("GET")

    def do_POST(self) -> None:
        self._handle("POST")

    def do_PUT(self) -> None:
        self._handle("PUT")

    def do_PATCH(self) -> None:
        self._handle("PATCH")

    def do_DELETE(self) -> None:
        self._handle("DELETE")

    def _handle(self, method: str) -> None:
        url = urlsplit(self.path)
        query = parse_qsl(url.query)
        length = int(self.headers.get("Content-Length") or 0)
        body = json.loads(self.rfile.read(length)) if length else None
        content_type = self.headers.get("Content-Type", "application/json")
        try:
            if url.path.startswith(LEASES):
                self._send(200 if method != "POST" else 201, self._lease(method, url.path, body))
            elif ("watch", "true") in query:
                self._stream(self.server.fake.stream(url.path, query=query))
            else:
                fake = self.server.fake
                data = fake.request(
                    method, url.path, query=query, body=body, content_type=content_type
                )
                self._send(200, data)
        except ApiError as exc:
            status = {
                "kind": "Status",
                "code": exc.status,
                "reason": exc.reason,
                "message": exc.message,
            }
            self._send(exc.status, status)

    def _lease(self, method: str, path: str, body: Any) -> dict[str, Any]:
        name = path.rsplit("/", 1)[-1]
        with self.server.lease_lock:
            leases = self.server.leases
            if method == "GET":
                if name not in leases:
                    raise ApiError(404, "NotFound", f'leases "{name}" not found')
                return copy.deepcopy(leases[name])
            name = body["metadata"]["name"] if method == "POST" else name
            if method == "POST" and name in leases:
                raise ApiError(409, "AlreadyExists", "exists")
            leases[name] = body
            return copy.deepcopy(body)

    def _send(self, status: int, data: Any) -> None:
        raw = json.dumps(data).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(raw)))
        self.end_headers()
        self.wfile.write(raw)

    def _stream(self, events: Iterator[dict[str, Any]]) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        for e in events:
            line = json.dumps(e).encode() + b"\n"
            for part in (line[:7], line[7:]):  # events split across chunks
                self.wfile.write(f"{len(part):x}\r\n".encode() + part + b"\r\n")
        self.wfile.write(b"0\r\n\r\n")


@pytest.fixture
def cluster() -> Iterator[Cluster]:
    server = Cluster()
    for name in ("alpha-x", "replay-1", "gamma"):
        server.fake.add_namespace(name)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


@pytest.fixture
def kubeconfig(cluster: Cluster, tmp_path: Path) -> str:
    path = tmp_path / "kubeconfig"
    path.write_text(
        json.dumps(
            {
                "apiVersion": "v1",
                "kind": "Config",
                "clusters": [{"name": "fake", "cluster": {"server": cluster.url}}],
                "users": [{"name": "u", "user": {"token": "t"}}],
                "contexts": [{"name": "fake", "context": {"cluster": "fake", "user": "u"}}],
                "current-context": "fake",
            }
        )
    )
    return str(path)


def test_sync_once_over_http(cluster: Cluster, kubeconfig: str, tmp_path: Path) -> None:
    fake = cluster.fake
    fake.add(NETPOL, "networkpolicies", _netpol("gamma", "left-over", managed=True))
    base = "/apis/admissionregistration.k8s.io/v1"
    mutating, validating = configurations(load_policy())
    fake.add(base, "mutatingwebhookconfigurations", mutating)
    fake.add(base, "validatingwebhookconfigurations", validating)
    certs.issue(tmp_path, "hermetic", "hermetic-system")
    args = ["sync", "--once", "--kubeconfig", kubeconfig, "--policy", str(POLICIES)]
    assert main([*args, "--certs-dir", str(tmp_path)]) == 0
    assert fake.namespace("alpha-x")["metadata"]["labels"][TENANT] == "alpha-research"
    assert "hermetic-default-deny" in fake.namespaced("networkpolicies", "alpha-x")
    assert fake.namespaced("networkpolicies", "gamma") == {}  # deleted over HTTP
    value = certs.ca_bundle_value(certs.read_bundle(tmp_path))
    stored = fake.objects[(base, "validatingwebhookconfigurations", "", "zz-hermetic")]
    assert {w["clientConfig"]["caBundle"] for w in stored["webhooks"]} == {value}
    fake.calls.clear()
    assert main([*args, "--certs-dir", str(tmp_path)]) == 0
    assert fake.writes() == []


def test_sync_once_exit_codes(cluster: Cluster, kubeconfig: str, tmp_path: Path) -> None:
    broken = tmp_path / "broken.hermetic"
    broken.write_text("tenant {\n")
    assert main(["sync", "--once", "--kubeconfig", kubeconfig, "--policy", str(broken)]) == 1
    missing = str(tmp_path / "none")
    assert main(["sync", "--once", "--kubeconfig", missing, "--policy", str(POLICIES)]) == 2
    cluster.fake.fail("PATCH", "/networkpolicies/", 1000, ApiError(403, "Forbidden", "no"))
    assert main(["sync", "--once", "--kubeconfig", kubeconfig, "--policy", str(POLICIES)]) == 1


def test_errors_come_back_as_api_errors(cluster: Cluster, kubeconfig: str) -> None:
    api = Api(KubeTransport(load_client(kubeconfig)))
    cluster.fake.uninstall("security.istio.io")
    with pytest.raises(ApiError) as err:
        api.list_objects(next(k for k in MANAGED_KINDS if k.group == "security.istio.io"), "a=b")
    assert err.value.status == 404 and "could not find" in err.value.message


def test_watch_streams_events_split_across_chunks(cluster: Cluster, kubeconfig: str) -> None:
    api = Api(KubeTransport(load_client(kubeconfig)))
    events = [
        {"type": "ADDED", "object": {"metadata": {"name": "a", "resourceVersion": "5"}}},
        {"type": "DELETED", "object": {"metadata": {"name": "b", "resourceVersion": "6"}}},
    ]
    cluster.fake.watch_events["/api/v1/namespaces"] = events
    assert list(api.watch("/api/v1/namespaces", None, None, 5)) == events


def test_leader_elected_controller_reconciles_and_stops(cluster: Cluster, kubeconfig: str) -> None:
    policy = load_policy()
    options = SyncOptions(**{**_fields(FAST), "tick_seconds": 0.05, "watch": True})
    handle = start_in_background(lambda: policy, options, kubeconfig=kubeconfig, identity="me")
    try:
        _wait_for(
            lambda: "hermetic-default-deny" in cluster.fake.namespaced("networkpolicies", "alpha-x")
        )
        assert handle.leading
        assert cluster.leases["hermetic-sync"]["spec"]["holderIdentity"] == "me"
    finally:
        assert handle.stop(timeout=10)
    assert not cluster.leases["hermetic-sync"]["spec"].get("holderIdentity")  # handed back


def _wait_for(condition: Any, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline
        time.sleep(0.02)


def test_hermetic_sync_runs_as_a_process_and_stops_on_sigterm(
    cluster: Cluster, kubeconfig: str
) -> None:
    command = [
        sys.executable,
        "-m",
        "cli.main",
        "sync",
        "--kubeconfig",
        kubeconfig,
        "--policy",
        str(POLICIES),
    ]
    root = Path(__file__).resolve().parent.parent
    proc = subprocess.Popen(command, cwd=root, stderr=subprocess.PIPE, text=True)
    try:
        _wait_for(
            lambda: (
                "hermetic-default-deny" in cluster.fake.namespaced("networkpolicies", "alpha-x")
            ),
            30,
        )
    finally:
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=20)
    assert proc.returncode == 0, err
    lines = [json.loads(line) for line in err.splitlines() if line.startswith("{")]
    assert {"started", "leading", "applied", "pass", "lease_released"} <= {
        e["event"] for e in lines
    }
