"""Over real TLS: a uvicorn server in a background thread on 127.0.0.1:<ephemeral>."""

from __future__ import annotations

import hashlib
import http.client
import json
import shutil
import ssl
from collections.abc import Iterator
from pathlib import Path

import pytest
import trustme

import certs
from webhook.policy import PolicySource
from webhook.server import BackgroundServer, ServeOptions, prepare

from .test_webhook_support import (
    LOCALHOST,
    POLICIES,
    admission,
    client_context,
    get,
    issue_certs,
    pod,
    post,
    review,
)


def options(directory: Path, client_ca: Path | None = None) -> ServeOptions:
    return ServeOptions(
        source=PolicySource(paths=(str(POLICIES),)),
        cert=directory / "tls.crt",
        key=directory / "tls.key",
        client_ca=client_ca,
        reload_interval=0.05,
    )


@pytest.fixture
def tls_dir(tmp_path: Path) -> Path:
    return issue_certs(tmp_path / "tls")


@pytest.fixture
def server(tls_dir: Path) -> Iterator[BackgroundServer]:
    with BackgroundServer(prepare(options(tls_dir), admission())) as srv:
        yield srv


def served_cert(srv: BackgroundServer, context: ssl.SSLContext) -> str:
    """The sha256 of the certificate a new handshake gets."""
    conn = http.client.HTTPSConnection("127.0.0.1", srv.port, context=context, timeout=10)
    try:
        conn.connect()
        assert conn.sock is not None
        der = conn.sock.getpeercert(binary_form=True)
        assert der is not None
        return hashlib.sha256(der).hexdigest()
    finally:
        conn.close()


def test_a_client_trusting_our_ca_gets_decisions(server: BackgroundServer, tls_dir: Path) -> None:
    context = client_context(tls_dir / "ca-bundle.crt")
    assert get(server.url, context, "/healthz")[0] == 200
    assert get(server.url, context, "/readyz")[0] == 200
    status, doc = post(server.url, context, "/mutate", review(pod(), uid="over-tls"))
    assert status == 200 and doc["response"]["uid"] == "over-tls"
    assert isinstance(doc["response"]["allowed"], bool)


def test_a_client_trusting_another_ca_fails(server: BackgroundServer) -> None:
    other = trustme.CA()
    context = ssl.create_default_context()
    context.load_verify_locations(cadata=other.cert_pem.bytes().decode())
    with pytest.raises(ssl.SSLCertVerificationError):
        get(server.url, context, "/healthz")


def test_a_client_with_the_system_trust_store_fails(server: BackgroundServer) -> None:
    with pytest.raises(ssl.SSLCertVerificationError):
        get(server.url, ssl.create_default_context(), "/healthz")


@pytest.mark.filterwarnings("ignore:ssl.TLSVersion.TLSv1_1 is deprecated:DeprecationWarning")
def test_tls_1_2_is_the_minimum(server: BackgroundServer, tls_dir: Path) -> None:
    assert server.webhook.tls.context.minimum_version == ssl.TLSVersion.TLSv1_2
    old = client_context(tls_dir / "ca.crt")
    old.minimum_version = ssl.TLSVersion.MINIMUM_SUPPORTED
    old.maximum_version = ssl.TLSVersion.TLSv1_1
    old.set_ciphers("ALL:@SECLEVEL=0")
    with pytest.raises(ssl.SSLError):
        get(server.url, old, "/healthz")
    tls12 = client_context(tls_dir / "ca.crt")
    tls12.maximum_version = ssl.TLSVersion.TLSv1_2
    assert get(server.url, tls12, "/healthz")[0] == 200


class TestClientCertificates:
    @pytest.fixture
    def mtls(self, tls_dir: Path) -> Iterator[BackgroundServer]:
        certs.issue_client(tls_dir, tls_dir / "client", "kube-apiserver", days=30)
        with BackgroundServer(
            prepare(options(tls_dir, client_ca=tls_dir / "ca.crt"), admission())
        ) as srv:
            yield srv

    def test_a_client_without_a_certificate_is_refused(
        self, mtls: BackgroundServer, tls_dir: Path
    ) -> None:
        with pytest.raises(OSError):  # an SSLError, or a reset once TLS 1.3 has "finished"
            post(mtls.url, client_context(tls_dir / "ca.crt"), "/mutate", review(pod()))

    def test_a_certificate_from_another_ca_is_refused(
        self, mtls: BackgroundServer, tls_dir: Path, tmp_path: Path
    ) -> None:
        stranger = trustme.CA().issue_cert("kube-apiserver")
        stranger.private_key_and_cert_chain_pem.write_to_path(str(tmp_path / "stranger.pem"))
        context = client_context(tls_dir / "ca.crt", tmp_path / "stranger.pem")
        with pytest.raises(OSError):
            post(mtls.url, context, "/mutate", review(pod()))

    def test_a_client_certificate_signed_by_the_client_ca_is_accepted(
        self, mtls: BackgroundServer, tls_dir: Path
    ) -> None:
        context = client_context(
            tls_dir / "ca.crt", tls_dir / "client" / "client.crt", tls_dir / "client" / "client.key"
        )
        status, doc = post(mtls.url, context, "/mutate", review(pod(), uid="mtls"))
        assert status == 200 and doc["response"]["uid"] == "mtls"


def test_a_client_ca_added_to_the_bundle_is_trusted_after_a_reload(
    tls_dir: Path, tmp_path: Path
) -> None:
    bundle = tmp_path / "client-ca.pem"
    shutil.copy(tls_dir / "ca.crt", bundle)
    other = issue_certs(tmp_path / "other")  # a second CA, with a client certificate
    certs.issue_client(other, other / "client", "kube-apiserver-2", days=30)
    context = client_context(
        tls_dir / "ca.crt", other / "client" / "client.crt", other / "client" / "client.key"
    )
    with BackgroundServer(prepare(options(tls_dir, client_ca=bundle), admission())) as srv:
        with pytest.raises(OSError):
            post(srv.url, context, "/mutate", review(pod()))
        bundle.write_bytes(bundle.read_bytes() + (other / "ca.crt").read_bytes())
        srv.webhook.tls.reload()
        assert post(srv.url, context, "/mutate", review(pod()))[0] == 200


def test_a_new_certificate_is_loaded_into_the_same_context(
    server: BackgroundServer, tls_dir: Path
) -> None:
    context = client_context(tls_dir / "ca.crt")
    live = server.webhook.tls.context
    before = served_cert(server, context)
    kept = http.client.HTTPSConnection("127.0.0.1", server.port, context=context, timeout=10)
    assert post(server.url, context, "/mutate", review(pod()), conn=kept)[0] == 200

    certs.issue(tls_dir, "hermetic", "hermetic-system", ips=[LOCALHOST], ca_dir=tls_dir)
    server.webhook.tls.reload()
    assert server.webhook.tls.context is live  # uvicorn's context object, reloaded in place
    after = served_cert(server, context)  # a new handshake: the new certificate
    assert after != before and after == _sha256_of(tls_dir / "tls.crt")
    # the connection opened before the swap keeps working
    assert post(server.url, context, "/mutate", review(pod()), conn=kept)[0] == 200
    kept.close()


def _sha256_of(pem: Path) -> str:
    der = ssl.PEM_cert_to_DER_cert(pem.read_text())
    return hashlib.sha256(der).hexdigest()


def test_a_mismatched_pair_is_refused_and_the_old_one_kept(
    server: BackgroundServer, tls_dir: Path
) -> None:
    context = client_context(tls_dir / "ca.crt")
    before = served_cert(server, context)
    stranger = trustme.CA().issue_cert("localhost")
    stranger.private_key_pem.write_to_path(str(tls_dir / "tls.key"))
    with pytest.raises(certs.CertsError):
        server.webhook.tls.reload()
    assert served_cert(server, context) == before


def test_body_limits_hold_over_the_wire(server: BackgroundServer, tls_dir: Path) -> None:
    context = client_context(tls_dir / "ca.crt")

    def chunks(mib: int) -> Iterator[bytes]:
        yield from (b" " * (1024 * 1024) for _ in range(mib))
        yield json.dumps(review(pod())).encode()

    for mib, expected in ((1, 200), (9, 400)):  # chunked: no Content-Length to go by
        conn = http.client.HTTPSConnection("127.0.0.1", server.port, context=context, timeout=10)
        conn.request("POST", "/mutate", chunks(mib), encode_chunked=True)
        assert conn.getresponse().status == expected
        conn.close()
    conn = http.client.HTTPSConnection("127.0.0.1", server.port, context=context, timeout=10)
    conn.putrequest("POST", "/mutate")
    conn.putheader("Content-Length", str(20 * 1024 * 1024))
    conn.endheaders()  # and not one byte of the body: refused on the header alone
    response = conn.getresponse()
    assert response.status == 400 and b"larger than" in response.read()
    conn.close()
