"""A small CA over `cryptography`: keys, the CA certificate, serving and client certificates.

Production defaults rather than a testing CA's (trustme is the model for the shape):

- keys: ECDSA P-256 by default, RSA 3072 on request; signatures use SHA-256;
- validity: a CA lives `CA_DAYS` (10 years), a leaf `LEAF_DAYS` (1 year), never past its
  CA; `notBefore` is backdated by `CLOCK_SKEW` so a node whose clock runs a little behind
  still accepts a certificate issued a moment ago;
- serial numbers: `x509.random_serial_number()` (159 random bits);
- every extension is written out below with the reason it is there.

The functions here are pure (no I/O); `certs.issue` and `certs.rotate` put their results
on disk.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import secrets
from collections.abc import Sequence
from typing import Final, Literal

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from certs.store import CertsError, KeyPair, PrivateKey

KeyType = Literal["ecdsa", "rsa"]
KEY_TYPES: Final[tuple[KeyType, ...]] = ("ecdsa", "rsa")
RSA_BITS: Final = 3072
CA_DAYS: Final = 3650
LEAF_DAYS: Final = 365
CLOCK_SKEW: Final = dt.timedelta(minutes=5)
IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
_MAX_CN: Final = 64  # RFC 5280 ub-common-name


def generate_key(key_type: KeyType = "ecdsa") -> PrivateKey:
    """A fresh private key: ECDSA on P-256, or RSA with `RSA_BITS` bits."""
    if key_type == "rsa":
        return rsa.generate_private_key(public_exponent=65537, key_size=RSA_BITS)
    return ec.generate_private_key(ec.SECP256R1())


def key_type_of(key: PrivateKey) -> KeyType:
    """The `KeyType` of an existing key."""
    return "rsa" if isinstance(key, rsa.RSAPrivateKey) else "ecdsa"


def service_dns_names(service: str, namespace: str) -> tuple[str, ...]:
    """The names under which the API server may reach Service `service` in `namespace`."""
    return (
        service,
        f"{service}.{namespace}",
        f"{service}.{namespace}.svc",
        f"{service}.{namespace}.svc.cluster.local",
    )


def _validity(
    builder: x509.CertificateBuilder, days: int, until: dt.datetime | None
) -> x509.CertificateBuilder:
    if days < 1:
        raise CertsError(f"validity must be at least 1 day, got {days}")
    now = dt.datetime.now(dt.UTC)
    not_after = now + dt.timedelta(days=days)
    if until is not None:
        not_after = min(not_after, until)  # a leaf outliving its CA would only mislead
    return builder.not_valid_before(now - CLOCK_SKEW).not_valid_after(not_after)


def _subject(common_name: str) -> x509.Name:
    attrs = [x509.NameAttribute(NameOID.ORGANIZATION_NAME, "hermetic")]
    if len(common_name) <= _MAX_CN:
        attrs.append(x509.NameAttribute(NameOID.COMMON_NAME, common_name))
    return x509.Name(attrs)


def new_ca(*, days: int = CA_DAYS, key_type: KeyType = "ecdsa") -> KeyPair:
    """A self-signed CA that may sign leaf certificates only.

    The subject carries the issue date and a random tag so that the old and the new CA of a
    rotation are told apart by name as well as by key identifier.
    """
    key = generate_key(key_type)
    now = dt.datetime.now(dt.UTC)
    name = _subject(f"hermetic CA {now:%Y-%m-%d} {secrets.token_hex(4)}")
    builder = _validity(x509.CertificateBuilder(), days, None)
    builder = (
        builder.subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        # A CA, and path_length=0: it signs leaves, never another CA.
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        # Signing certificates (and CRLs, should we ever publish one) is all it does.
        .add_extension(_key_usage(cert_sign=True), critical=True)
        # Lets verifiers pick this CA by key when old and new CA sit in one bundle.
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
    )
    return KeyPair(cert=builder.sign(key, hashes.SHA256()), key=key)


def _key_usage(*, cert_sign: bool = False, key_encipherment: bool = False) -> x509.KeyUsage:
    return x509.KeyUsage(
        digital_signature=not cert_sign,
        content_commitment=False,
        key_encipherment=key_encipherment,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=cert_sign,
        crl_sign=cert_sign,
        encipher_only=False,
        decipher_only=False,
    )


def _leaf(
    ca: KeyPair, common_name: str, usage: x509.ObjectIdentifier, days: int, key_type: KeyType
) -> tuple[x509.CertificateBuilder, PrivateKey]:
    key = generate_key(key_type)
    ca_ski = ca.cert.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
    builder = _validity(x509.CertificateBuilder(), days, ca.cert.not_valid_after_utc)
    builder = (
        builder.subject_name(_subject(common_name))
        .issuer_name(ca.cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        # An end-entity certificate: it can never act as a CA.
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        # TLS signs the handshake (ECDHE); RSA key exchange also needs keyEncipherment.
        .add_extension(_key_usage(key_encipherment=key_type == "rsa"), critical=True)
        # Restricts the key to one side of TLS: serverAuth or clientAuth.
        .add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
        # Links to the issuing CA's key, so the right CA is found during a rotation.
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ca_ski), critical=False
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
    )
    return builder, key


def issue_server_cert(
    ca: KeyPair,
    *,
    dns_names: Sequence[str],
    ip_addresses: Sequence[IPAddress] = (),
    common_name: str | None = None,
    days: int = LEAF_DAYS,
    key_type: KeyType = "ecdsa",
) -> KeyPair:
    """A serving certificate for `dns_names` and `ip_addresses`, signed by `ca`.

    The subject CN is `common_name` (by convention `NAME.NS.svc`), by default the first
    name; clients match the SANs only. A CN longer than 64 characters is left out, and the
    SAN extension is then critical, as RFC 5280 requires for an empty subject name.
    """
    if not dns_names and not ip_addresses:
        raise CertsError("a serving certificate needs at least one DNS name or IP address")
    if common_name is None:
        common_name = dns_names[0] if dns_names else str(ip_addresses[0])
    builder, key = _leaf(ca, common_name, ExtendedKeyUsageOID.SERVER_AUTH, days, key_type)
    sans: list[x509.GeneralName] = [x509.DNSName(n) for n in dict.fromkeys(dns_names)]
    sans += [x509.IPAddress(ip) for ip in dict.fromkeys(ip_addresses)]
    # The names clients verify: the Service's DNS names plus any extras.
    builder = builder.add_extension(
        x509.SubjectAlternativeName(sans), critical=len(common_name) > _MAX_CN
    )
    return KeyPair(cert=builder.sign(ca.key, hashes.SHA256()), key=key)


def issue_client_cert(
    ca: KeyPair, *, common_name: str, days: int = LEAF_DAYS, key_type: KeyType = "ecdsa"
) -> KeyPair:
    """A client certificate (clientAuth) for `common_name`, signed by `ca`.

    Used by the API server to authenticate to the webhook when it runs with `--client-ca`.
    """
    if not 1 <= len(common_name) <= _MAX_CN:
        raise CertsError(f"client common name must be 1-{_MAX_CN} characters: {common_name!r}")
    builder, key = _leaf(ca, common_name, ExtendedKeyUsageOID.CLIENT_AUTH, days, key_type)
    return KeyPair(cert=builder.sign(ca.key, hashes.SHA256()), key=key)


def server_names(
    cert: x509.Certificate,
) -> tuple[str | None, tuple[str, ...], tuple[IPAddress, ...]]:
    """The subject CN, DNS SANs and IP SANs of an existing serving certificate."""
    cns = cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    common_name = str(cns[0].value) if cns else None
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return common_name, (), ()
    values = san.get_values_for_type(x509.IPAddress)
    ips = tuple(
        ip for ip in values if isinstance(ip, ipaddress.IPv4Address | ipaddress.IPv6Address)
    )
    return common_name, tuple(san.get_values_for_type(x509.DNSName)), ips


def is_ca(cert: x509.Certificate) -> bool:
    """Whether `cert` has BasicConstraints with ca=True."""
    try:
        return cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    except x509.ExtensionNotFound:
        return False


def issued_by(cert: x509.Certificate, ca: x509.Certificate) -> bool:
    """Whether `ca` signed `cert` (issuer name and signature; validity is not checked)."""
    try:
        cert.verify_directly_issued_by(ca)
    except (ValueError, TypeError, InvalidSignature):
        return False
    return True
