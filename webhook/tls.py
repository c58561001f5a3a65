"""The serving TLS context, and swapping a new certificate into it without a restart.

uvicorn hands one `ssl.SSLContext` to asyncio and never reloads it, so a new certificate
is loaded into that same object: `SSLContext.load_cert_chain()` on the live context. Each
new connection's SSL object copies the context's certificate when it is created, so
connections already open keep the old certificate and every new handshake gets the new one.

The swap must not leave the context half-loaded: OpenSSL sets the certificate before it
checks the key, and a mismatched pair (a rotation renames `tls.key` before `tls.crt`)
could leave the context serving a certificate without its key. So the bytes are read once,
the pair is checked in memory, loaded into a scratch context first, and only then into the
live one - from a private temporary file holding exactly the bytes that were checked.
"""

from __future__ import annotations

import os
import ssl
import tempfile
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import serialization

import certs


@dataclass(frozen=True, slots=True)
class Material:
    """A certificate chain and its key, as bytes that were checked to belong together."""

    chain: bytes
    key: bytes
    not_after: float  # Unix time when the leaf expires


def read_material(cert_path: Path, key_path: Path) -> Material:
    """Read and check a serving pair; `certs.CertsError` when it is unusable."""
    try:
        chain, key = cert_path.read_bytes(), key_path.read_bytes()
    except OSError as exc:
        raise certs.CertsError(f"{exc.filename}: cannot read: {exc.strerror}") from None
    try:
        leaf = x509.load_pem_x509_certificates(chain)[0]
        private = serialization.load_pem_private_key(key, password=None)
    except (ValueError, TypeError) as exc:
        raise certs.CertsError(f"{cert_path}, {key_path}: not a PEM pair: {exc}") from None
    if not isinstance(private, certs.PrivateKey) or not certs.keys_match(leaf, private):
        raise certs.KeyMismatchError(f"{key_path} does not match {cert_path}")
    return Material(chain=chain, key=key, not_after=leaf.not_valid_after_utc.timestamp())


def load_into(context: ssl.SSLContext, material: Material) -> None:
    """`context.load_cert_chain` from bytes (it only reads files: a private temporary one)."""
    with tempfile.TemporaryDirectory(prefix="hermetic-tls-") as tmp:  # mode 0700
        path = os.path.join(tmp, "pair.pem")
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as f:
            f.write(material.chain + b"\n" + material.key)
        context.load_cert_chain(path)


class ServingTLS:
    """The live server context for `cert`/`key` (and `client_ca`: mutual TLS)."""

    def __init__(self, cert: Path, key: Path, client_ca: Path | None = None) -> None:
        self.cert, self.key, self.client_ca = cert, key, client_ca
        material = read_material(cert, key)
        self.context = certs.server_ssl_context(cert, key, client_ca)
        self.context.set_alpn_protocols(["http/1.1"])
        load_into(self.context, material)  # exactly the checked bytes, whatever the files now
        self.not_after = material.not_after

    def files(self) -> list[Path]:
        """The files whose change means a reload."""
        return [p for p in (self.cert, self.key, self.client_ca) if p is not None]

    def reload(self) -> None:
        """Serve the pair now on disk to every new handshake; CertsError leaves the old one."""
        material = read_material(self.cert, self.key)
        scratch = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        try:
            load_into(scratch, material)
        except (OSError, ssl.SSLError) as exc:
            raise certs.CertsError(f"{self.cert}: cannot load: {exc}") from None
        load_into(self.context, material)
        if self.client_ca is not None:
            self._add_client_cas(self.client_ca)
        self.not_after = material.not_after

    def _add_client_cas(self, path: Path) -> None:
        # OpenSSL can only add trust anchors to a live context, never drop one: a new client
        # CA is trusted at once, a removed one only after a restart.
        try:
            self.context.load_verify_locations(cafile=path)
        except (OSError, ssl.SSLError) as exc:
            raise certs.CertsError(f"{path}: cannot load client CA: {exc}") from None
