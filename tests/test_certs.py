"""certs: the certificates' contents, the files on disk, rotation, checks, inject, real TLS."""

from __future__ import annotations

import base64
import datetime as dt
import ipaddress
import shutil
import socket
import ssl
import stat
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TypeVar

import pytest
import trustme
import yaml
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from hypothesis import given, settings
from hypothesis import strategies as st

import certs
from certs.store import cert_pem, key_pem, load_key, write_certs, write_pair

SERVICE, NAMESPACE = "hermetic", "hermetic-system"
HOST = f"{SERVICE}.{NAMESPACE}.svc"
E = TypeVar("E", bound=x509.ExtensionType)


def _ext(cert: x509.Certificate, kind: type[E]) -> x509.Extension[E]:
    return cert.extensions.get_extension_for_class(kind)


def _cert(path: Path) -> x509.Certificate:
    return x509.load_pem_x509_certificate(path.read_bytes())


@pytest.fixture
def issued(tmp_path: Path) -> Path:
    out = tmp_path / "tls"
    certs.issue(
        out, SERVICE, NAMESPACE, dns=("localhost",), ips=(ipaddress.ip_address("127.0.0.1"),)
    )
    return out


@pytest.fixture(scope="module")
def ca() -> certs.KeyPair:
    return certs.new_ca()


# the certificates


def test_serving_certificate_names_usage_and_links(issued: Path) -> None:
    leaf, ca_cert = _cert(issued / "tls.crt"), _cert(issued / "ca.crt")
    san = _ext(leaf, x509.SubjectAlternativeName).value
    assert isinstance(san, x509.SubjectAlternativeName)
    assert san.get_values_for_type(x509.DNSName) == [
        "hermetic",
        "hermetic.hermetic-system",
        "hermetic.hermetic-system.svc",
        "hermetic.hermetic-system.svc.cluster.local",
        "localhost",
    ]
    assert san.get_values_for_type(x509.IPAddress) == [ipaddress.ip_address("127.0.0.1")]
    assert leaf.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == HOST
    assert list(_ext(leaf, x509.ExtendedKeyUsage).value) == [ExtendedKeyUsageOID.SERVER_AUTH]
    basic = _ext(leaf, x509.BasicConstraints)
    assert basic.critical and basic.value == x509.BasicConstraints(ca=False, path_length=None)
    usage = _ext(leaf, x509.KeyUsage)
    assert usage.critical and usage.value.digital_signature and not usage.value.key_encipherment
    aki = _ext(leaf, x509.AuthorityKeyIdentifier).value
    ca_ski = _ext(ca_cert, x509.SubjectKeyIdentifier).value
    assert isinstance(aki, x509.AuthorityKeyIdentifier)
    assert isinstance(ca_ski, x509.SubjectKeyIdentifier)
    assert aki.key_identifier == ca_ski.digest
    assert _ext(leaf, x509.SubjectKeyIdentifier).value == x509.SubjectKeyIdentifier.from_public_key(
        leaf.public_key()
    )
    leaf.verify_directly_issued_by(ca_cert)


def test_ca_may_sign_leaves_only(issued: Path) -> None:
    ca_cert = _cert(issued / "ca.crt")
    basic = _ext(ca_cert, x509.BasicConstraints)
    assert basic.critical and basic.value == x509.BasicConstraints(ca=True, path_length=0)
    usage = _ext(ca_cert, x509.KeyUsage)
    assert usage.critical
    assert usage.value.key_cert_sign and usage.value.crl_sign and not usage.value.digital_signature
    ca_cert.verify_directly_issued_by(ca_cert)  # self-signed


def test_validity_is_explicit_backdated_and_capped_by_the_ca(tmp_path: Path) -> None:
    before = dt.datetime.now(dt.UTC).replace(microsecond=0)
    done = certs.issue(tmp_path, SERVICE, NAMESPACE, days=90)
    leaf, ca_cert = done.server.cert, done.ca.cert
    assert leaf.not_valid_after_utc - leaf.not_valid_before_utc == dt.timedelta(days=90, minutes=5)
    assert ca_cert.not_valid_after_utc - ca_cert.not_valid_before_utc == dt.timedelta(
        days=3650, minutes=5
    )
    assert before - dt.timedelta(minutes=5, seconds=2) <= leaf.not_valid_before_utc
    assert leaf.not_valid_before_utc <= before - dt.timedelta(minutes=4)
    short_ca = certs.new_ca(days=10)
    capped = certs.issue_server_cert(short_ca, dns_names=[HOST], days=365)
    assert capped.cert.not_valid_after_utc == short_ca.cert.not_valid_after_utc


def test_serials_are_random_and_distinct(ca: certs.KeyPair) -> None:
    serials = {certs.issue_server_cert(ca, dns_names=[HOST]).cert.serial_number for _ in range(5)}
    assert len(serials) == 5 and all(s > 2**64 for s in serials)


def test_ecdsa_p256_by_default(issued: Path) -> None:
    key = load_key(issued / "tls.key")
    assert isinstance(key, ec.EllipticCurvePrivateKey) and key.curve.name == "secp256r1"


def test_rsa_3072_on_request_adds_key_encipherment(tmp_path: Path) -> None:
    done = certs.issue(tmp_path, SERVICE, NAMESPACE, key_type="rsa")
    for pair in (done.ca, done.server):
        assert isinstance(pair.key, rsa.RSAPrivateKey) and pair.key.key_size == 3072
    assert _ext(done.server.cert, x509.KeyUsage).value.key_encipherment
    key = load_key(tmp_path / "tls.key")
    assert isinstance(key, rsa.RSAPrivateKey) and key.key_size == 3072


def test_client_certificate_is_client_auth_only(tmp_path: Path, issued: Path) -> None:
    pair = certs.issue_client(issued, tmp_path / "client", "kube-apiserver")
    cert = _cert(tmp_path / "client" / "client.crt")
    assert cert == pair.cert
    assert list(_ext(cert, x509.ExtendedKeyUsage).value) == [ExtendedKeyUsageOID.CLIENT_AUTH]
    assert cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == "kube-apiserver"
    cert.verify_directly_issued_by(_cert(issued / "ca.crt"))
    assert stat.S_IMODE((tmp_path / "client" / "client.key").stat().st_mode) == 0o600


LABEL = st.from_regex(r"[a-z]([a-z0-9-]{0,61}[a-z0-9])?", fullmatch=True)  # RFC 1123 labels


@settings(max_examples=30, deadline=None)
@given(service=LABEL, namespace=LABEL)
def test_service_names_and_the_64_character_cn_limit(
    ca: certs.KeyPair, service: str, namespace: str
) -> None:
    cn, names = certs.service_identity(service, namespace)
    leaf = certs.issue_server_cert(ca, dns_names=names, common_name=cn).cert
    san = _ext(leaf, x509.SubjectAlternativeName)
    assert san.value.get_values_for_type(x509.DNSName) == list(
        certs.service_dns_names(service, namespace)
    )
    cns = [a.value for a in leaf.subject.get_attributes_for_oid(NameOID.COMMON_NAME)]
    assert cns == ([cn] if len(cn) <= 64 else [])
    assert san.critical == (not cns)  # RFC 5280: critical SANs when the subject has no name


# files on disk


def test_issue_writes_a_tls_secret_with_private_keys_0600(issued: Path) -> None:
    names = {p.name for p in issued.iterdir()}
    assert names == {"ca.crt", "ca.key", "ca-bundle.crt", "tls.crt", "tls.key"}
    for key in ("ca.key", "tls.key"):
        assert stat.S_IMODE((issued / key).stat().st_mode) == 0o600
    assert stat.S_IMODE(issued.stat().st_mode) == 0o700
    assert (issued / "ca-bundle.crt").read_bytes() == (issued / "ca.crt").read_bytes()


def test_issue_will_not_replace_a_ca_silently(issued: Path) -> None:
    ca_before = (issued / "ca.crt").read_bytes()
    with pytest.raises(certs.CertsError, match="--ca-dir"):
        certs.issue(issued, SERVICE, NAMESPACE)
    done = certs.issue(issued, "other", NAMESPACE, ca_dir=issued)
    assert (issued / "ca.crt").read_bytes() == ca_before and not done.new_ca
    assert certs.issued_by(_cert(issued / "tls.crt"), _cert(issued / "ca.crt"))
    certs.issue(issued, SERVICE, NAMESPACE, force=True)
    assert (issued / "ca.crt").read_bytes() != ca_before


def test_issue_with_a_ca_dir_copies_the_ca(tmp_path: Path, issued: Path) -> None:
    done = certs.issue(tmp_path / "b", "b", NAMESPACE, ca_dir=issued)
    for name in ("ca.crt", "ca.key", "ca-bundle.crt"):
        assert (tmp_path / "b" / name).read_bytes() == (issued / name).read_bytes()
    assert stat.S_IMODE((tmp_path / "b" / "ca.key").stat().st_mode) == 0o600
    assert certs.issued_by(done.server.cert, _cert(issued / "ca.crt"))


def test_writes_leave_no_temporary_files(issued: Path) -> None:
    certs.rotate(issued)
    assert not [p.name for p in issued.iterdir() if p.name.startswith(".")]


def test_missing_ca_dir_is_a_certs_error(tmp_path: Path) -> None:
    with pytest.raises(certs.CertsError, match="no such CA directory"):
        certs.issue(tmp_path / "out", SERVICE, NAMESPACE, ca_dir=tmp_path / "nope")


# key match and the server pair


def test_key_match_detection(issued: Path, tmp_path: Path) -> None:
    certs.issue_client(issued, issued, "someone")
    tls_cert = _cert(issued / "tls.crt")
    assert certs.keys_match(tls_cert, load_key(issued / "tls.key"))
    assert not certs.keys_match(tls_cert, load_key(issued / "client.key"))
    pair = certs.load_server_pair(issued / "tls.crt", issued / "tls.key")
    assert pair.cert == tls_cert
    with pytest.raises(certs.KeyMismatchError, match="does not match"):
        certs.load_server_pair(issued / "tls.crt", issued / "client.key")


def test_load_server_pair_reads_again_after_a_half_done_swap(
    issued: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The state between the two renames of a rotation: new key, old certificate.
    new = certs.issue_server_cert(certs.load_ca(issued), dns_names=[HOST])
    (issued / "tls.key").write_bytes(key_pem(new.key))

    def finish_swap(_: float) -> None:
        (issued / "tls.crt").write_bytes(cert_pem(new.cert))

    monkeypatch.setattr("certs.tls.time.sleep", finish_swap)
    assert certs.load_server_pair(issued / "tls.crt", issued / "tls.key").cert == new.cert


def test_server_context_defaults(issued: Path) -> None:
    plain = certs.server_ssl_context(issued / "tls.crt", issued / "tls.key")
    assert plain.minimum_version == ssl.TLSVersion.TLSv1_2
    assert plain.verify_mode == ssl.CERT_NONE
    mtls = certs.server_ssl_context(
        issued / "tls.crt", issued / "tls.key", client_ca=issued / "ca.crt"
    )
    assert mtls.verify_mode == ssl.CERT_REQUIRED
    with pytest.raises(certs.CertsError, match="cannot load"):
        certs.server_ssl_context(issued / "tls.crt", issued / "ca.key")


# rotation


def test_rotate_bundles_old_and_new_ca_and_keeps_the_names(issued: Path) -> None:
    old_ca, old_leaf = _cert(issued / "ca.crt"), _cert(issued / "tls.crt")
    done = certs.rotate(issued)
    new_ca, new_leaf = _cert(issued / "ca.crt"), _cert(issued / "tls.crt")
    assert new_ca != old_ca and new_ca == done.ca.cert and new_leaf == done.server.cert
    assert certs.load_certs(issued / "ca-bundle.crt") == (old_ca, new_ca)
    assert _cert(issued / "ca.old.crt") == old_ca
    assert certs.issued_by(new_leaf, new_ca) and not certs.issued_by(new_leaf, old_ca)
    assert certs.keys_match(new_ca, load_key(issued / "ca.key"))
    assert certs.server_names(new_leaf) == certs.server_names(old_leaf)
    assert stat.S_IMODE((issued / "ca.key").stat().st_mode) == 0o600
    assert certs.rotation_in_progress(issued)


def test_rotate_with_new_names(issued: Path) -> None:
    done = certs.rotate(issued, service="hook", namespace="ns", dns=("extra.example",))
    cn, dns_names, ips = certs.server_names(done.server.cert)
    assert cn == "hook.ns.svc" and dns_names[-1] == "extra.example" and ips == ()
    with pytest.raises(certs.CertsError, match="go together"):
        certs.rotate(issued, service="hook")


def test_second_rotate_is_refused_until_finish(issued: Path) -> None:
    certs.rotate(issued)
    with pytest.raises(certs.CertsError, match="--finish"):
        certs.rotate(issued)
    assert certs.finish_rotation(issued) == (_cert(issued / "ca.crt"),)
    assert certs.load_certs(issued / "ca-bundle.crt") == (_cert(issued / "ca.crt"),)
    assert not certs.rotation_in_progress(issued)
    certs.finish_rotation(issued)  # twice is harmless
    certs.rotate(issued)
    assert len(certs.load_certs(issued / "ca-bundle.crt")) == 2


def test_finish_refuses_while_the_old_ca_signs_the_served_certificate(
    issued: Path, tmp_path: Path
) -> None:
    old = tmp_path / "old"
    old.mkdir()
    for name in ("tls.crt", "tls.key"):
        shutil.copy2(issued / name, old / name)
    certs.rotate(issued)
    for name in ("tls.crt", "tls.key"):  # as if phase 1 stopped before step 2
        shutil.copy2(old / name, issued / name)
    with pytest.raises(certs.CertsError, match="not issued by"):
        certs.finish_rotation(issued)
    ca_before = (issued / "ca.crt").read_bytes()
    resumed = certs.rotate(issued)  # redoes step 2 only
    assert (issued / "ca.crt").read_bytes() == ca_before
    assert certs.issued_by(resumed.server.cert, _cert(issued / "ca.crt"))
    certs.finish_rotation(issued)


# check


def test_check_passes_a_fresh_directory(issued: Path) -> None:
    report = certs.check_dir(issued)
    assert report.ok, report.problems
    assert [c.label for c in report.certificates] == ["tls.crt", "ca.crt", "ca-bundle.crt"]
    assert report.certificates[0].days_left == 364 and report.certificates[1].days_left == 3649


def test_check_flags_short_lived_and_expired_certificates(tmp_path: Path) -> None:
    certs.issue(tmp_path, SERVICE, NAMESPACE, days=1)
    report = certs.check_dir(tmp_path, threshold_days=30)
    assert not report.ok and report.certificates[0].status == "expiring"
    assert "tls.crt: expires in 0 days" in report.problems[0]
    assert certs.check_dir(tmp_path, threshold_days=0).ok
    later = dt.datetime.now(dt.UTC) + dt.timedelta(days=2)
    expired = certs.check_dir(tmp_path, threshold_days=0, now=later)
    assert expired.certificates[0].status == "expired" and "expired on" in expired.problems[0]
    assert 0 < certs.seconds_until_expiry(tmp_path / "tls.crt") <= 86400


def test_check_reports_each_ca_of_the_bundle(issued: Path) -> None:
    certs.rotate(issued)
    labels = [c.label for c in certs.check_dir(issued).certificates]
    assert labels == ["tls.crt", "ca.crt", "ca-bundle.crt[0]", "ca-bundle.crt[1]"]


def test_check_flags_a_mismatched_key_and_a_broken_chain(issued: Path, tmp_path: Path) -> None:
    other = certs.issue(tmp_path / "other", SERVICE, NAMESPACE)
    shutil.copy2(tmp_path / "other" / "tls.key", issued / "tls.key")
    assert certs.check_dir(issued).problems == ("tls.key does not match tls.crt",)
    write_pair(issued, "tls.crt", "tls.key", other.server)
    assert certs.check_dir(issued).problems == (
        "tls.crt is not issued by any CA in the bundle: clients will reject it",
    )


def test_check_flags_a_ca_missing_from_the_bundle(issued: Path) -> None:
    write_certs(issued / "ca-bundle.crt", (certs.new_ca().cert,))
    problems = certs.check_dir(issued).problems
    assert "ca.crt is not in ca-bundle.crt: certificates it issues will be rejected" in problems


# inject

MANIFESTS = """\
apiVersion: admissionregistration.k8s.io/v1
kind: MutatingWebhookConfiguration
metadata: {name: hermetic}
webhooks:
- name: pods.hermetic.dev
  clientConfig:
    service: {name: hermetic, namespace: hermetic-system, path: /mutate}
  admissionReviewVersions: [v1]
  sideEffects: None
- name: jobs.hermetic.dev
  clientConfig:
    service: {name: hermetic, namespace: hermetic-system, path: /mutate}
    caBundle: b2xk
---
apiVersion: v1
kind: Service
metadata: {name: hermetic, namespace: hermetic-system}
spec:
  ports: [{port: 443, targetPort: 8443}]
  selector: {app: hermetic}
---
apiVersion: admissionregistration.k8s.io/v1
kind: ValidatingWebhookConfiguration
metadata: {name: hermetic}
webhooks:
- name: validate.hermetic.dev
  clientConfig: {url: "https://hermetic.example:8443/validate"}
"""


def test_inject_round_trip(issued: Path, tmp_path: Path) -> None:
    manifest = tmp_path / "webhooks.yaml"
    manifest.write_text(MANIFESTS)
    bundle = certs.load_certs(issued / "ca-bundle.crt")
    assert certs.inject_files([manifest], bundle) == {manifest: 3}
    before, after = (
        list(yaml.safe_load_all(MANIFESTS)),
        list(yaml.safe_load_all(manifest.read_text())),
    )
    assert [d["kind"] for d in after] == [d["kind"] for d in before]
    assert after[1] == before[1]  # the Service passes through
    pem = (issued / "ca-bundle.crt").read_bytes()
    for doc in (after[0], after[2]):
        for webhook in doc["webhooks"]:
            assert base64.b64decode(webhook["clientConfig"].pop("caBundle")) == pem
    for doc in (before[0], before[2]):
        for webhook in doc["webhooks"]:
            webhook["clientConfig"].pop("caBundle", None)
    assert after == before  # nothing else changed
    text = manifest.read_text()
    assert certs.inject_text(text, bundle) == (text, 3)  # idempotent


def test_inject_leaves_files_without_webhooks_byte_for_byte(issued: Path, tmp_path: Path) -> None:
    manifest = tmp_path / "service.yaml"
    manifest.write_text("# a comment\n" + MANIFESTS.split("---\n")[1])
    before = manifest.read_bytes()
    assert certs.inject_files([manifest], certs.load_certs(issued / "ca.crt")) == {manifest: 0}
    assert manifest.read_bytes() == before


def test_inject_into_a_list_and_reject_bad_yaml(issued: Path) -> None:
    bundle = certs.load_certs(issued / "ca.crt")
    listed = yaml.safe_dump({"kind": "List", "items": list(yaml.safe_load_all(MANIFESTS))})
    text, count = certs.inject_text(listed, bundle)
    assert count == 3 and certs.ca_bundle_value(bundle) in text
    with pytest.raises(certs.CertsError, match="not valid YAML"):
        certs.inject_text("kind: [unclosed", bundle, source="bad.yaml")


# real TLS handshakes


@contextmanager
def tls_server(context: ssl.SSLContext) -> Iterator[tuple[int, list[Exception]]]:
    """Serve `context` on 127.0.0.1 in a thread; each connection gets b"ok" after the handshake."""
    listener = socket.create_server(("127.0.0.1", 0))
    listener.settimeout(0.05)
    errors: list[Exception] = []
    stop = threading.Event()

    def serve() -> None:
        while not stop.is_set():
            try:
                conn, _ = listener.accept()
            except TimeoutError:
                continue
            conn.settimeout(5)
            try:
                with context.wrap_socket(conn, server_side=True) as tls:
                    tls.sendall(b"ok")
            except (ssl.SSLError, OSError) as exc:
                errors.append(exc)

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield listener.getsockname()[1], errors
    finally:
        stop.set()
        thread.join(5)
        listener.close()


def fetch(port: int, cafile: Path, client: tuple[Path, Path] | None = None) -> bytes:
    """Connect as `HOST`, trusting `cafile` only, with strict X.509 checks; read the greeting."""
    ctx = ssl.create_default_context(cafile=str(cafile))
    ctx.verify_flags |= ssl.VERIFY_X509_STRICT
    if client is not None:
        ctx.load_cert_chain(*client)
    with (
        socket.create_connection(("127.0.0.1", port), timeout=5) as raw,
        ctx.wrap_socket(raw, server_hostname=HOST) as tls,
    ):
        return tls.recv(2)


def test_handshake_trusting_our_ca(issued: Path, tmp_path: Path) -> None:
    stranger = tmp_path / "stranger.pem"
    trustme.CA().cert_pem.write_to_path(str(stranger))
    with tls_server(certs.server_ssl_context(issued / "tls.crt", issued / "tls.key")) as (port, _):
        assert fetch(port, issued / "ca.crt") == b"ok"
        with pytest.raises(ssl.SSLCertVerificationError):
            fetch(port, stranger)


def test_mutual_tls_needs_a_client_certificate_from_our_ca(issued: Path, tmp_path: Path) -> None:
    certs.issue_client(issued, tmp_path / "client", "kube-apiserver")
    client = (tmp_path / "client" / "client.crt", tmp_path / "client" / "client.key")
    serving = (issued / "tls.crt", issued / "tls.key")  # serverAuth only: not a client cert
    ctx = certs.server_ssl_context(*serving, client_ca=issued / "ca.crt")
    with tls_server(ctx) as (port, errors):
        assert fetch(port, issued / "ca.crt", client) == b"ok"
        assert errors == []
        for bad in (None, serving):
            with pytest.raises((ssl.SSLError, ConnectionError)):
                fetch(port, issued / "ca.crt", bad)
    assert len(errors) == 2


def test_rotation_drops_no_request(issued: Path, tmp_path: Path) -> None:
    old = tmp_path / "old"
    old.mkdir()
    for name in ("tls.crt", "tls.key", "ca.crt"):
        shutil.copy2(issued / name, old / name)
    certs.rotate(issued)
    bundle = issued / "ca-bundle.crt"
    for pair_dir in (old, issued):  # replicas not yet reloaded, and reloaded ones
        ctx = certs.server_ssl_context(pair_dir / "tls.crt", pair_dir / "tls.key")
        with tls_server(ctx) as (port, _):
            assert fetch(port, bundle) == b"ok"
    # Why the bundle must be deployed first: the old caBundle rejects the new certificate.
    ctx = certs.server_ssl_context(issued / "tls.crt", issued / "tls.key")
    with tls_server(ctx) as (port, _), pytest.raises(ssl.SSLCertVerificationError):
        fetch(port, old / "ca.crt")
