"""Rotate the webhook's CA and serving certificate without dropping a request.

The API server verifies the webhook's serving certificate against the `caBundle` of each
webhook configuration. Replacing CA and certificate at once would fail every request made
between the two updates, whichever comes first. So a rotation has two phases, run apart:

Phase 1 — `rotate(directory)`, `hermetic certs rotate --dir DIR`:

1. Create a new CA. Keep the old CA certificate as `ca.old.crt`; write `ca-bundle.crt`
   = old CA + new CA (PEM concatenation); replace `ca.crt`/`ca.key` by the new CA. These
   four files are all staged as temporary files before the first rename. The bundle is what
   goes into every webhook configuration's `caBundle` (`hermetic certs inject`,
   `hermetic sync`): a client trusting it accepts the old and the new serving certificate.
2. Issue a new serving certificate from the new CA (same names and key type as before unless
   told otherwise) and swap `tls.key`/`tls.crt`: both are written to temporary files, then
   renamed, key first. A reader can catch the new key with the old certificate between
   the two renames; `certs.load_server_pair` notices the mismatch and reads once more.

   Deploy in that order too: the bundle must reach every `caBundle` before a webhook replica
   serves the new pair, so push `ca-bundle.crt` first and the TLS Secret second.

Phase 2 — `finish_rotation(directory)`, `hermetic certs rotate --finish --dir DIR`, once
every `caBundle` carries the two-CA bundle and every replica serves the new certificate:
`ca-bundle.crt` = new CA only; push it again. It refuses while `tls.crt` is not issued by
the new CA, because the bundle would then no longer trust the certificate being served.

`ca.old.crt` stays after the rotation for the record. The old CA's private key is dropped
in phase 1: nothing may be signed by the old CA any more. A webhook that checks client
certificates should take `ca-bundle.crt` as its client CA, so that certificates of either
CA are accepted meanwhile; re-issue them (`hermetic certs client`) before phase 2.

A second `rotate` before `--finish` is refused (the bundle would have to trust three CAs,
or drop one still in use), except to redo step 2 after a crash between steps 1 and 2.
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
    issue_server_cert,
    issued_by,
    key_type_of,
    new_ca,
    server_names,
)
from certs.issue import load_ca, read_bundle, service_identity
from certs.store import (
    CA_BUNDLE,
    CA_CERT,
    CA_KEY,
    CA_OLD_CERT,
    CERT_MODE,
    KEY_MODE,
    TLS_CERT,
    TLS_KEY,
    CertsError,
    KeyPair,
    cert_pem,
    key_pem,
    load_cert,
    load_key,
    write_certs,
    write_files,
    write_pair,
)


@dataclass(frozen=True, slots=True, kw_only=True)
class Rotation:
    """The outcome of phase 1: the CA being retired, the new CA and serving pair, the bundle."""

    directory: Path
    old_ca: x509.Certificate
    ca: KeyPair
    server: KeyPair
    bundle: tuple[x509.Certificate, ...]


def rotation_in_progress(directory: Path) -> bool:
    """Whether `ca-bundle.crt` trusts a CA other than `ca.crt` (phase 1 done, not finished)."""
    current = load_cert(directory / CA_CERT)
    return any(c != current for c in read_bundle(directory))


@dataclass(frozen=True, slots=True)
class _Serving:
    """What the new serving certificate will be: names, validity, key type."""

    common_name: str | None
    dns_names: tuple[str, ...]
    ip_addresses: tuple[IPAddress, ...]
    days: int
    key_type: KeyType

    def issue(self, ca: KeyPair) -> KeyPair:
        return issue_server_cert(
            ca,
            dns_names=self.dns_names,
            ip_addresses=self.ip_addresses,
            common_name=self.common_name,
            days=self.days,
            key_type=self.key_type,
        )


def _names(
    directory: Path, service: str | None, namespace: str | None, dns: Sequence[str]
) -> tuple[str | None, tuple[str, ...], tuple[IPAddress, ...]]:
    if service is not None and namespace is not None:
        return (*service_identity(service, namespace, dns), ())
    if service is not None or namespace is not None:
        raise CertsError("--service and --namespace go together")
    if not (directory / TLS_CERT).exists():
        raise CertsError(
            f"{directory} has no {TLS_CERT} to take names from; give --service/--namespace"
        )
    common_name, old_dns, old_ips = server_names(load_cert(directory / TLS_CERT))
    return common_name, tuple(dict.fromkeys((*old_dns, *dns))), old_ips


def _key_type(directory: Path, key_type: KeyType | None) -> KeyType:
    if key_type is not None:
        return key_type
    key = directory / TLS_KEY
    return key_type_of(load_key(key)) if key.exists() else "ecdsa"


def rotate(
    directory: Path,
    *,
    service: str | None = None,
    namespace: str | None = None,
    dns: Sequence[str] = (),
    ips: Sequence[IPAddress] = (),
    days: int = LEAF_DAYS,
    ca_days: int = CA_DAYS,
    key_type: KeyType | None = None,
) -> Rotation:
    """Phase 1 of a rotation: a new CA, a two-CA `ca-bundle.crt`, a new serving pair.

    Without `service`/`namespace` the new serving certificate keeps the CN and SANs of the
    current `tls.crt` (plus `dns`); `ips` are added either way. `key_type` defaults to the
    current key's. See the module docstring for the sequence and the deploy order.
    """
    common_name, dns_names, old_ips = _names(directory, service, namespace, dns)
    ip_addresses = tuple(dict.fromkeys((*old_ips, *ips)))
    kind = _key_type(directory, key_type)
    serving = _Serving(common_name, dns_names, ip_addresses, days, kind)
    if rotation_in_progress(directory):
        return _resume(directory, serving)
    old_ca = load_cert(directory / CA_CERT)
    ca = new_ca(days=ca_days, key_type=kind)
    server = serving.issue(ca)  # before any write: phase 1 then takes only a few renames
    bundle = (old_ca, ca.cert)
    write_files(
        [
            (directory / CA_OLD_CERT, cert_pem(old_ca), CERT_MODE),
            (directory / CA_BUNDLE, b"".join(cert_pem(c) for c in bundle), CERT_MODE),
            (directory / CA_KEY, key_pem(ca.key), KEY_MODE),
            (directory / CA_CERT, cert_pem(ca.cert), CERT_MODE),
        ]
    )
    write_pair(directory, TLS_CERT, TLS_KEY, server)
    return Rotation(directory=directory, old_ca=old_ca, ca=ca, server=server, bundle=bundle)


def _resume(directory: Path, serving: _Serving) -> Rotation:
    ca = load_ca(directory)
    if issued_by(load_cert(directory / TLS_CERT), ca.cert):
        raise CertsError(
            f"a rotation is in progress in {directory} ({CA_BUNDLE} trusts the old and the new"
            f" CA); once every caBundle has the bundle, run `hermetic certs rotate --finish"
            f" --dir {directory}` before rotating again"
        )
    # Phase 1 stopped between steps 1 and 2: redo step 2 only.
    server = serving.issue(ca)
    write_pair(directory, TLS_CERT, TLS_KEY, server)
    old_ca = load_cert(directory / CA_OLD_CERT)
    bundle = read_bundle(directory)
    return Rotation(directory=directory, old_ca=old_ca, ca=ca, server=server, bundle=bundle)


def finish_rotation(directory: Path) -> tuple[x509.Certificate, ...]:
    """Phase 2 of a rotation: `ca-bundle.crt` = `ca.crt` alone. Returns the new bundle.

    Refuses while `tls.crt` is not issued by `ca.crt`. Running it twice is harmless.
    """
    ca = load_cert(directory / CA_CERT)
    if not issued_by(load_cert(directory / TLS_CERT), ca):
        raise CertsError(
            f"{directory / TLS_CERT} is not issued by {directory / CA_CERT}; dropping the old"
            " CA now would break the webhook — run `hermetic certs rotate` first"
        )
    write_certs(directory / CA_BUNDLE, (ca,))
    return (ca,)
