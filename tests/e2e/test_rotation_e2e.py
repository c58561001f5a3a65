"""Rotating the webhook's CA and serving certificate while pods are being created.

A thread creates a backtest pod every 100 ms (python client, tenant namespace
alpha-rotation) while the test runs the two-phase rotation the way certs/rotation.py says
to deploy it:

1. `hermetic certs rotate --dir CERTS`: new CA, bundle = old + new CA, new serving pair;
2. push the bundle into every webhook's caBundle (kubectl patch);
3. publish the new pair to the directory `hermetic serve` reads (an atomic `..data` swap,
   as the kubelet updates a Secret volume); the running server hot-reloads it;
4. `hermetic certs rotate --finish --dir CERTS`: bundle = new CA only; push it again.

No creation may fail, and every pod must have gone through the webhook. A control at the
end shows the API server really verifies the webhook against caBundle (a bundle with a CA
that signed nothing makes admission fail), so "no failure" is not vacuous.
"""

from __future__ import annotations

import datetime
import ipaddress
import json
import socket
import ssl
import threading
import time
from dataclasses import dataclass, field

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import Encoding
from cryptography.x509.oid import NameOID
from kubernetes import client

from .cluster import Cluster
from .fixtures_hermetic import (
    BACKTEST,
    Hermetic,
    ca_bundle_of,
    hermetic_cli,
    hermetic_fixture,  # noqa: F401 - fixture `hermetic`
    hermetic_log_plugin_fixture,  # noqa: F401 - fixture
    hermetic_logs_on_failure,  # noqa: F401 - autouse fixture
    manifest,
    pem_certs,
    poll,
)

pytestmark = pytest.mark.e2e

NAMESPACE = "alpha-rotation"
DIGEST = "hermetic.io/bundle-digest"
INTERVAL = 0.1  # one pod every 100 ms
PER_PHASE = 10  # pods admitted in each phase, at least


@dataclass
class Creator:
    """Creates pods on a schedule until stopped; records every outcome."""

    cluster: Cluster
    stop: threading.Event = field(default_factory=threading.Event)
    created: list[tuple[float, str]] = field(default_factory=list)  # (time, name)
    failed: list[tuple[float, str, str]] = field(default_factory=list)  # (time, name, error)

    def run(self) -> None:
        core = client.CoreV1Api(self.cluster.api_client())
        start, i = time.monotonic(), 0
        while not self.stop.is_set():
            pod = manifest("pod-tier1.yaml", rename=f"rot-{i:04d}", namespace=NAMESPACE)
            try:
                core.create_namespaced_pod(NAMESPACE, pod, _request_timeout=15)
                self.created.append((time.monotonic(), pod["metadata"]["name"]))
            except Exception as exc:  # every failure is the test's business
                reason = getattr(exc, "body", None) or repr(exc)
                self.failed.append((time.monotonic(), pod["metadata"]["name"], str(reason)[:500]))
            i += 1
            self.stop.wait(max(0.0, start + i * INTERVAL - time.monotonic()))

    def since(self, t: float) -> int:
        return sum(1 for when, _ in list(self.created) if when >= t)


def _wait_admitted(creator: Creator, since: float, what: str) -> None:
    poll(
        f"{PER_PHASE} pods admitted {what}",
        lambda: creator.since(since) >= PER_PHASE or creator.failed,
        timeout=15,
        interval=0.05,
    )
    assert not creator.failed, f"creations failed {what}: {creator.failed[:3]}"


def _cert(pem: bytes) -> x509.Certificate:
    return x509.load_pem_x509_certificate(pem)


def _reloads(h: Hermetic) -> float:
    for line in h.webhook.metrics().splitlines():
        if line.startswith("hermetic_certificate_reloads_total "):
            return float(line.split()[1])
    raise AssertionError("no hermetic_certificate_reloads_total in /metrics")


KINDS = ("mutatingwebhookconfiguration", "validatingwebhookconfiguration")


def _fresh_handshake_trusted(h: Hermetic, when: str) -> None:
    """A new TLS connection to the webhook verifies against every caBundle the API server
    holds now. Needed beside "no creation failed": the API server keeps its connections
    alive (hermetic serve: 120 s) and connections keep the certificate they started with,
    so a pair deployed before its CA reached caBundle would fail only new handshakes."""
    bundles = {b for kind in KINDS for b in ca_bundle_of(h.webhook_config(kind))}
    for bundle in bundles:
        ctx = ssl.create_default_context(cadata=bundle.decode())
        try:
            with (
                socket.create_connection(("127.0.0.1", h.webhook.port), timeout=5) as sock,
                ctx.wrap_socket(sock, server_hostname="127.0.0.1"),
            ):
                pass
        except ssl.SSLError as exc:
            raise AssertionError(f"{when}: the served certificate fails caBundle: {exc}") from exc


def test_rotation_under_load_fails_no_creation(hermetic: Hermetic) -> None:
    h = hermetic
    certs = h.certs_dir
    old_ca = (certs / "ca.crt").read_bytes()
    old_served = h.webhook.served_certificate()
    assert old_served == _cert((certs / "tls.crt").read_bytes()).public_bytes(Encoding.DER)
    for kind in KINDS:
        assert set(ca_bundle_of(h.webhook_config(kind))) == {(certs / "ca-bundle.crt").read_bytes()}
    reloads_before = _reloads(h)

    creator = Creator(h.cluster)
    thread = threading.Thread(target=creator.run, name="pod-creator", daemon=True)
    t0 = time.monotonic()
    thread.start()
    marks: dict[str, float] = {}
    try:
        _wait_admitted(creator, t0, "before the rotation")

        # Phase 1: new CA and pair on disk; the server keeps serving the old pair.
        hermetic_cli("certs", "rotate", "--dir", certs)
        bundle = (certs / "ca-bundle.crt").read_bytes()
        new_ca = (certs / "ca.crt").read_bytes()
        assert pem_certs(bundle) == [*pem_certs(old_ca), *pem_certs(new_ca)], "bundle != old + new"
        new_cert = _cert((certs / "tls.crt").read_bytes())
        assert new_cert.issuer == _cert(new_ca).subject != _cert(old_ca).subject
        sans = new_cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        assert ipaddress.ip_address("127.0.0.1") in sans.get_values_for_type(x509.IPAddress)
        assert "localhost" in sans.get_values_for_type(x509.DNSName)
        marks["rotated"] = time.monotonic()
        _fresh_handshake_trusted(h, "after certs rotate")
        _wait_admitted(creator, marks["rotated"], "after `certs rotate`")

        # The two-CA bundle to the API server first ...
        h.set_ca_bundle(bundle)
        for kind in KINDS:
            assert set(ca_bundle_of(h.webhook_config(kind))) == {bundle}, kind
        marks["bundle"] = time.monotonic()
        _fresh_handshake_trusted(h, "with the two-CA bundle")
        _wait_admitted(creator, marks["bundle"], "with the two-CA bundle")
        assert h.webhook.served_certificate() == old_served, "the server switched too early"

        # ... then the new pair to the server, which reloads it.
        der = new_cert.public_bytes(Encoding.DER)
        h.deploy_serving_pair()
        poll(
            "hermetic serve presents the new certificate",
            lambda: h.webhook.served_certificate() == der,
            10,
        )
        marks["served"] = time.monotonic()
        _fresh_handshake_trusted(h, "with the new pair served")
        _wait_admitted(creator, marks["served"], "with the new certificate served")

        # Phase 2: drop the old CA from the bundle, everywhere.
        hermetic_cli("certs", "rotate", "--finish", "--dir", certs)
        final = (certs / "ca-bundle.crt").read_bytes()
        assert pem_certs(final) == pem_certs(new_ca)
        h.set_ca_bundle(final)
        marks["finished"] = time.monotonic()
        _fresh_handshake_trusted(h, "after certs rotate --finish")
        _wait_admitted(creator, marks["finished"], "after `certs rotate --finish`")
        # Keep going to ~15 s in all.
        creator.stop.wait(max(0.0, t0 + 15 - time.monotonic()))
    finally:
        creator.stop.set()
        thread.join(timeout=30)
    elapsed = time.monotonic() - t0

    assert creator.failed == [], f"{len(creator.failed)} creations failed: {creator.failed[:5]}"
    assert len(creator.created) >= 5 * PER_PHASE, (len(creator.created), elapsed)
    assert _reloads(h) >= reloads_before + 1
    print(
        f"\n[e2e] rotation: {len(creator.created)} pods in {elapsed:.1f}s, 0 failed; phases at "
        + ", ".join(f"{k} +{v - t0:.1f}s" for k, v in marks.items())
    )

    # Every pod was admitted by the webhook (stamped), none slipped past it.
    out = h.kubectl(
        "get", "pods", "-n", NAMESPACE, "-l", "app.kubernetes.io/component=backtest", "-o", "json"
    )
    pods = {p["metadata"]["name"]: p for p in json.loads(out.stdout)["items"]}
    names = [name for _, name in creator.created]
    assert set(names) <= set(pods)
    unstamped = [
        n for n in names if (pods[n]["metadata"].get("annotations") or {}).get(DIGEST) != h.digest
    ]
    assert unstamped == []
    assert all(pods[n]["metadata"]["labels"].items() >= BACKTEST.items() for n in names)


def _throwaway_ca() -> bytes:
    """A self-signed CA certificate nothing was ever signed with (PEM)."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, f"throwaway-{time.time_ns()}")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    return cert.public_bytes(Encoding.PEM)


def test_api_server_verifies_the_ca_bundle(hermetic: Hermetic) -> None:
    """The control: with a caBundle that does not trust the served certificate, the API
    server refuses to talk to the webhook (Fail: the pod is refused); restoring the bundle
    restores admission. A CA never used before: the API server caches one client per
    caBundle and keeps its connections alive, so going back to a bundle it used before
    (e.g. the retired CA after a rotation) reuses connections verified back then and does
    not fail at once."""
    h = hermetic
    wrong = _throwaway_ca()
    h.set_ca_bundle(wrong)
    try:

        def refused() -> str:
            r = h.dry_run_pod()
            return r.stderr if r.returncode != 0 else ""

        err = poll("admission fails with a caBundle that does not trust the webhook", refused, 10)
        assert 'failed calling webhook "mutate.pods.hermetic.io"' in err, err
        assert "x509: certificate signed by unknown authority" in err, err
    finally:
        h.set_ca_bundle((h.certs_dir / "ca-bundle.crt").read_bytes())
    h.wait_webhook_called()
