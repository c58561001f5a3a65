"""Rotation under continuous load: a new CA and certificate, a policy swap, a broken policy.

Two client threads send reviews over TLS the whole time (one opens a new connection per
request, one keeps a connection alive) while the test rotates the serving certificate and
its CA in the documented order and swaps the policy ConfigMap twice. Not one request may fail.
"""

from __future__ import annotations

import http.client
import os
import shutil
import ssl
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import certs
from webhook.policy import PolicySource
from webhook.server import BackgroundServer, ServeOptions, prepare

from .test_webhook_reload import ConfigMap, policy_files
from .test_webhook_support import (
    admission,
    client_context,
    get,
    issue_certs,
    metric,
    pod,
    post,
    review,
)


class Load:
    """Client threads hammering /mutate; every failure is kept, with what it was."""

    def __init__(self, srv: BackgroundServer, trust: ssl.SSLContext) -> None:
        self.srv = srv
        self.trust = trust  # replaced by the test as the CA bundle is pushed
        self.stop = threading.Event()
        self.ok = 0
        self.failures: list[str] = []
        self._lock = threading.Lock()
        self._threads = [
            threading.Thread(target=self._fresh, name="fresh"),
            threading.Thread(target=self._kept, name="keep-alive"),
        ]

    def __enter__(self) -> Load:
        for t in self._threads:
            t.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.stop.set()
        for t in self._threads:
            t.join(timeout=20)

    def _one(self, n: int, conn: http.client.HTTPSConnection | None) -> None:
        uid = f"{threading.current_thread().name}-{n}"
        status, doc = post(self.srv.url, self.trust, "/mutate", review(pod(), uid=uid), conn)
        response = doc["response"]
        code = response.get("status", {}).get("code", 200)
        if status != 200 or response["uid"] != uid or code >= 500:
            raise AssertionError(f"{uid}: HTTP {status}, {response}")

    def _record(self, n: int, conn: http.client.HTTPSConnection | None) -> bool:
        try:
            self._one(n, conn)
        except Exception as exc:
            with self._lock:
                self.failures.append(f"{threading.current_thread().name}: {exc!r}")
            return False
        with self._lock:
            self.ok += 1
        return True

    def _fresh(self) -> None:
        n = 0
        while not self.stop.is_set():
            n += 1
            self._record(n, None)

    def _kept(self) -> None:
        n, conn = 0, None
        while not self.stop.is_set():
            n += 1
            if conn is None:
                conn = http.client.HTTPSConnection(
                    "127.0.0.1", self.srv.port, context=self.trust, timeout=10
                )
            if not self._record(n, conn):
                conn.close()
                conn = None
        if conn is not None:
            conn.close()


def wait_for(condition: Callable[[], bool], what: str, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.02)


def push_pair(staging: Path, live: Path) -> None:
    """Deploy the new TLS Secret as files: key first, then certificate, each renamed in."""
    for name in ("tls.key", "tls.crt"):
        shutil.copy(staging / name, live / f".{name}.tmp")
        os.replace(live / f".{name}.tmp", live / name)


def test_rotation_and_policy_swaps_under_load_fail_no_request(tmp_path: Path) -> None:
    live = issue_certs(tmp_path / "tls")
    configmap = ConfigMap(tmp_path / "policy", policy_files())
    options = ServeOptions(
        source=PolicySource(paths=(str(configmap.root),)),
        cert=live / "tls.crt",
        key=live / "tls.key",
        reload_interval=0.05,
    )
    with BackgroundServer(prepare(options, admission())) as srv:
        state = srv.webhook.state
        first_digest = state.snapshot.digest if state.snapshot else ""
        with Load(srv, client_context(live / "ca-bundle.crt")) as load:
            time.sleep(0.5)
            # 1. a new CA and serving pair, staged; the two-CA bundle reaches clients first
            staging = tmp_path / "staging"
            shutil.copytree(live, staging)
            certs.rotate(staging)
            load.trust = client_context(staging / "ca-bundle.crt")
            time.sleep(0.3)
            # 2. then the serving pair, while requests keep coming
            push_pair(staging, live)
            wait_for(lambda: state.cert_reload.successes == 1, "the certificate reload")
            time.sleep(0.3)
            # 3. a new policy through the ConfigMap's ..data swap
            configmap.update(policy_files("2026.11.5"))
            wait_for(
                lambda: state.snapshot is not None and state.snapshot.version == "2026.11.5",
                "the policy reload",
            )
            time.sleep(0.3)
            # 4. a broken policy: counted, and the last good one keeps serving
            broken = policy_files()
            broken["tiers.hermetic"] = broken["tiers.hermetic"] + "\ntier {\n"
            configmap.update(broken)
            wait_for(lambda: state.policy_reload.failures == 1, "the failed reload")
            time.sleep(0.3)
            # 5. finish the rotation: clients trust the new CA only, and still get through
            load.trust = client_context(staging / "ca.crt")
            time.sleep(0.5)
            served = load.ok
        print(f"rotation under load: {served} requests, {len(load.failures)} failed")
        assert load.failures == [], load.failures[:5]
        assert served > 50, served  # a few hundred on a quiet machine
        assert state.cert_reload.failures == 0
        assert state.snapshot is not None and state.snapshot.version == "2026.11.5"
        assert state.snapshot.digest != first_digest
        status, text = get(srv.url, client_context(staging / "ca.crt"), "/metrics")
        assert status == 200 and state.snapshot.digest.encode() in text
        assert metric(text, "hermetic_policy_reload_ok") == 0.0
        assert metric(text, "hermetic_policy_reload_failures_total") == 1.0
        assert metric(text, "hermetic_certificate_reloads_total") == 1.0
        assert (metric(text, "hermetic_certificate_expiry_seconds") or 0) > 86400
