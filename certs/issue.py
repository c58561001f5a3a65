"""Issue a webhook's TLS material into a directory: a CA plus a serving or client pair.

`issue` writes `ca.crt`, `ca.key`, `tls.crt`, `tls.key` (a Kubernetes TLS Secret's key
names, plus the CA) and `ca-bundle.crt`, the PEM bundle that belongs in the webhook
configurations' `caBundle` — a copy of `ca.crt` until a rotation adds a second CA.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509

from certs.authority import (
    CA_DAYS,
    LEAF_DAYS,
    IPAddress,
    KeyType,
    is_ca,
    issue_client_cert,
    issue_server_cert,
    new_ca,
    service_dns_names,
)
from certs.store import (
    CA_BUNDLE,
    CA_CERT,
    CA_KEY,
    CLIENT_CERT,
    CLIENT_KEY,
    TLS_CERT,
    TLS_KEY,
    CertsError,
    KeyPair,
    ensure_dir,
    load_certs,
    load_pair,
    write_certs,
    write_pair,
)


@dataclass(frozen=True, slots=True, kw_only=True)
class Issued:
    """What `issue` wrote: the directory, the CA and the serving pair."""

    directory: Path
    ca: KeyPair
    server: KeyPair
    new_ca: bool


def load_ca(ca_dir: Path) -> KeyPair:
    """The CA in `ca_dir` (`ca.crt` + `ca.key`), checked to be a CA and to match its key."""
    if not ca_dir.is_dir():
        raise CertsError(f"{ca_dir}: no such CA directory")
    ca = load_pair(ca_dir / CA_CERT, ca_dir / CA_KEY)
    if not is_ca(ca.cert):
        raise CertsError(f"{ca_dir / CA_CERT} is not a CA certificate (BasicConstraints ca=False)")
    return ca


def read_bundle(directory: Path) -> tuple[x509.Certificate, ...]:
    """The trust bundle of `directory`: `ca-bundle.crt`, or `ca.crt` where there is none."""
    bundle = directory / CA_BUNDLE
    return load_certs(bundle if bundle.exists() else directory / CA_CERT)


def service_identity(
    service: str, namespace: str, dns: Sequence[str] = ()
) -> tuple[str, tuple[str, ...]]:
    """The subject CN (`NAME.NS.svc`) and the DNS SANs (the Service's names, then `dns`)."""
    names = service_dns_names(service, namespace)
    return f"{service}.{namespace}.svc", tuple(dict.fromkeys((*names, *dns)))


def issue(
    out: Path,
    service: str,
    namespace: str,
    *,
    dns: Sequence[str] = (),
    ips: Sequence[IPAddress] = (),
    days: int = LEAF_DAYS,
    ca_days: int = CA_DAYS,
    ca_dir: Path | None = None,
    key_type: KeyType = "ecdsa",
    force: bool = False,
) -> Issued:
    """Write a CA and a serving certificate for Service `service` in `namespace` to `out`.

    With `ca_dir`, the CA there signs the certificate and is copied into `out` (with its
    bundle, if it has one); otherwise a new CA is created. A new CA would silently break
    every `caBundle` that trusts the CA already in `out`, so that needs `force=True`
    (`certs.rotate` replaces a CA without an outage).
    """
    if ca_dir is not None:
        ca, created = load_ca(ca_dir), False
    elif (out / CA_KEY).exists() and not force:
        raise CertsError(
            f"{out / CA_KEY} exists; reuse it with --ca-dir {out}, replace it without an outage"
            " with `hermetic certs rotate`, or overwrite it with --force"
        )
    else:
        ca, created = new_ca(days=ca_days, key_type=key_type), True
    cn, names = service_identity(service, namespace, dns)
    server = issue_server_cert(
        ca, dns_names=names, ip_addresses=ips, common_name=cn, days=days, key_type=key_type
    )
    ensure_dir(out)
    in_place = ca_dir is not None and ca_dir.resolve() == out.resolve()
    if not in_place:
        write_pair(out, CA_CERT, CA_KEY, ca)
    if not in_place or not (out / CA_BUNDLE).exists():
        write_certs(out / CA_BUNDLE, read_bundle(ca_dir) if ca_dir is not None else (ca.cert,))
    write_pair(out, TLS_CERT, TLS_KEY, server)
    return Issued(directory=out, ca=ca, server=server, new_ca=created)


def issue_client(
    ca_dir: Path,
    out: Path,
    common_name: str,
    *,
    days: int = LEAF_DAYS,
    key_type: KeyType = "ecdsa",
) -> KeyPair:
    """Write a client certificate (clientAuth) for `common_name` signed by the CA in `ca_dir`.

    The pair lands in `out` as `client.crt` and `client.key`.
    """
    ca = load_ca(ca_dir)
    client = issue_client_cert(ca, common_name=common_name, days=days, key_type=key_type)
    ensure_dir(out)
    write_pair(out, CLIENT_CERT, CLIENT_KEY, client)
    return client
