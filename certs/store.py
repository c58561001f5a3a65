"""Files on disk: the names in a certificate directory, PEM parsing and atomic writes.

A certificate directory uses the key names of a Kubernetes TLS Secret (`tls.crt`,
`tls.key`) next to the CA (`ca.crt`, `ca.key`) and the trust bundle that goes into the
webhook configurations' `caBundle` (`ca-bundle.crt`).

Every write goes to a temporary file in the same directory followed by `os.replace`, so a
process watching the directory never reads a half-written file. Private keys are created
with mode 0600 from the first byte (`os.open(..., 0o600)`), never chmod-ed afterwards.
"""

from __future__ import annotations

import contextlib
import os
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

CA_CERT: Final = "ca.crt"
CA_KEY: Final = "ca.key"
CA_BUNDLE: Final = "ca-bundle.crt"
CA_OLD_CERT: Final = "ca.old.crt"
TLS_CERT: Final = "tls.crt"
TLS_KEY: Final = "tls.key"
CLIENT_CERT: Final = "client.crt"
CLIENT_KEY: Final = "client.key"

KEY_MODE: Final = 0o600
CERT_MODE: Final = 0o644
DIR_MODE: Final = 0o700

PrivateKey = ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey


class CertsError(Exception):
    """A problem a user can act on: a missing or unreadable file, a key that does not match."""


class KeyMismatchError(CertsError):
    """A private key is not the one of the certificate it is paired with."""


@dataclass(frozen=True, slots=True, kw_only=True)
class KeyPair:
    """A certificate and its private key (a CA, a serving or a client certificate)."""

    cert: x509.Certificate
    key: PrivateKey


def cert_pem(cert: x509.Certificate) -> bytes:
    """The PEM encoding of `cert`."""
    return cert.public_bytes(serialization.Encoding.PEM)


def key_pem(key: PrivateKey) -> bytes:
    """The unencrypted PKCS#8 PEM encoding of `key` (read by Go, OpenSSL and Python)."""
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def read_bytes(path: Path) -> bytes:
    """Read `path`, turning a missing or unreadable file into a `CertsError`."""
    try:
        return path.read_bytes()
    except FileNotFoundError:
        raise CertsError(f"{path}: no such file") from None
    except OSError as exc:
        raise CertsError(f"{path}: cannot read: {exc.strerror}") from None


def load_certs(path: Path) -> tuple[x509.Certificate, ...]:
    """Every certificate in the PEM file `path`, in file order; at least one."""
    try:
        certs = tuple(x509.load_pem_x509_certificates(read_bytes(path)))
    except ValueError as exc:
        raise CertsError(f"{path}: not a PEM certificate file ({exc})") from None
    return certs


def load_cert(path: Path) -> x509.Certificate:
    """The first certificate in the PEM file `path`."""
    return load_certs(path)[0]


def load_key(path: Path) -> PrivateKey:
    """The unencrypted ECDSA or RSA private key in the PEM file `path`."""
    try:
        key = serialization.load_pem_private_key(read_bytes(path), password=None)
    except (ValueError, TypeError) as exc:
        raise CertsError(f"{path}: not an unencrypted PEM private key ({exc})") from None
    if not isinstance(key, ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey):
        raise CertsError(f"{path}: unsupported key type {type(key).__name__} (want ECDSA or RSA)")
    return key


def keys_match(cert: x509.Certificate, key: PrivateKey) -> bool:
    """Whether `key` is the private half of the public key in `cert`."""
    der, spki = serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    return cert.public_key().public_bytes(der, spki) == key.public_key().public_bytes(der, spki)


def load_pair(cert_path: Path, key_path: Path) -> KeyPair:
    """Load a certificate and its key, raising `CertsError` if they do not belong together."""
    pair = KeyPair(cert=load_cert(cert_path), key=load_key(key_path))
    if not keys_match(pair.cert, pair.key):
        raise KeyMismatchError(f"{key_path} does not match {cert_path}")
    return pair


def ensure_dir(directory: Path) -> None:
    """Create `directory` (0700: it holds private keys) unless it exists."""
    try:
        directory.mkdir(mode=DIR_MODE, parents=True, exist_ok=True)
    except OSError as exc:
        raise CertsError(f"{directory}: cannot create directory: {exc.strerror}") from None


def _write_temp(path: Path, data: bytes, mode: int) -> Path:
    """Write `data` to a new temporary file beside `path`, created with `mode`, and fsync it."""
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(6)}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return tmp


def _sync_dir(directory: Path) -> None:
    # Make the renames durable; some filesystems cannot fsync a directory.
    with contextlib.suppress(OSError):
        fd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def write_files(files: list[tuple[Path, bytes, int]]) -> None:
    """Write each `(path, data, mode)` atomically, in list order.

    All temporary files are written first, then renamed over their targets one by one, so
    the window in which some targets are new and others old is a few renames long. Order
    the list so that what a watcher reacts to (a certificate) comes last.
    """
    staged: list[tuple[Path, Path]] = []
    try:
        for path, data, mode in files:
            staged.append((_write_temp(path, data, mode), path))
        for tmp, path in staged:
            os.replace(tmp, path)
    except OSError as exc:
        for tmp, _ in staged:
            tmp.unlink(missing_ok=True)
        raise CertsError(f"{exc.filename or files[0][0]}: cannot write: {exc.strerror}") from None
    _sync_dir(files[0][0].parent)


def write_pair(directory: Path, cert_name: str, key_name: str, pair: KeyPair) -> None:
    """Replace `cert_name`/`key_name` in `directory` with `pair`: the key first, then the cert.

    A reader can still catch the old certificate with the new key between the two renames;
    `certs.load_server_pair` detects that and reads again. The certificate goes last because
    file watchers (and people) key on the certificate.
    """
    write_files(
        [
            (directory / key_name, key_pem(pair.key), KEY_MODE),
            (directory / cert_name, cert_pem(pair.cert), CERT_MODE),
        ]
    )


def write_certs(path: Path, certs: Sequence[x509.Certificate]) -> None:
    """Write `certs` as one PEM file (a bundle when there are several) atomically."""
    write_files([(path, b"".join(cert_pem(c) for c in certs), CERT_MODE)])
