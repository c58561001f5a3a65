"""Check a certificate directory: days to expiry, the chain to the bundle, key pairs.

Kyverno's webhook CA once expired silently while its leaves were still valid (kyverno#13639);
so every certificate is reported, the CAs in the bundle included, against one threshold.
"""

from __future__ import annotations

import datetime as dt
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Final, Literal, TypedDict

from cryptography import x509

from certs.authority import issued_by
from certs.store import (
    CA_BUNDLE,
    CA_CERT,
    CA_KEY,
    CLIENT_CERT,
    CLIENT_KEY,
    TLS_CERT,
    TLS_KEY,
    CertsError,
    keys_match,
    load_cert,
    load_certs,
    load_key,
)

DEFAULT_THRESHOLD_DAYS: Final = 30
_DAY: Final = 86400.0
Status = Literal["ok", "expiring", "expired", "not-yet-valid"]


class CertificateJSON(TypedDict):
    """One certificate in `hermetic certs check --format json`."""

    file: str
    subject: str
    not_after: str
    days_left: int
    status: Status


class ReportJSON(TypedDict):
    """The output of `hermetic certs check --format json`."""

    ok: bool
    threshold_days: int
    certificates: list[CertificateJSON]
    problems: list[str]


@dataclass(frozen=True, slots=True, kw_only=True)
class CertificateStatus:
    """The validity of one certificate, named by file (and index within a bundle)."""

    label: str
    subject: str
    not_after: dt.datetime
    seconds_left: float
    status: Status

    @property
    def days_left(self) -> int:
        """Whole days until expiry, rounded down; negative once expired."""
        return int(self.seconds_left // _DAY)


@dataclass(frozen=True, slots=True, kw_only=True)
class CheckReport:
    """Every certificate checked and every problem found; `ok` when there is none."""

    threshold_days: int
    certificates: tuple[CertificateStatus, ...]
    problems: tuple[str, ...]

    @property
    def ok(self) -> bool:
        """Whether no problem was found."""
        return not self.problems

    def to_json(self) -> ReportJSON:
        """The report as a JSON-ready dict."""
        certificates: list[CertificateJSON] = [
            {
                "file": c.label,
                "subject": c.subject,
                "not_after": c.not_after.isoformat(),
                "days_left": c.days_left,
                "status": c.status,
            }
            for c in self.certificates
        ]
        return {
            "ok": self.ok,
            "threshold_days": self.threshold_days,
            "certificates": certificates,
            "problems": list(self.problems),
        }


def seconds_until_expiry(cert_path: str | os.PathLike[str]) -> float:
    """Seconds until the (first) certificate in `cert_path` expires; negative once expired."""
    cert = load_cert(Path(cert_path))
    return (cert.not_valid_after_utc - dt.datetime.now(dt.UTC)).total_seconds()


def _status(
    label: str, cert: x509.Certificate, threshold: int, now: dt.datetime
) -> CertificateStatus:
    left = (cert.not_valid_after_utc - now).total_seconds()
    status: Status = "ok"
    if cert.not_valid_before_utc > now:
        status = "not-yet-valid"
    elif left <= 0:
        status = "expired"
    elif left < threshold * _DAY:
        status = "expiring"
    subject = cert.subject.rfc4514_string()
    return CertificateStatus(
        label=label,
        subject=subject,
        not_after=cert.not_valid_after_utc,
        seconds_left=left,
        status=status,
    )


def _problem(c: CertificateStatus, threshold: int) -> str | None:
    when = f"{c.not_after:%Y-%m-%d %H:%M} UTC"
    if c.status == "expired":
        return f"{c.label}: expired on {when}"
    if c.status == "expiring":
        days = f"{c.days_left} days ({when})"
        return f"{c.label}: expires in {days}, under the {threshold}-day threshold"
    if c.status == "not-yet-valid":
        return f"{c.label}: not valid yet (clock skew?)"
    return None


def _labelled(
    label: str, certs: tuple[x509.Certificate, ...]
) -> list[tuple[str, x509.Certificate]]:
    if len(certs) == 1:
        return [(label, certs[0])]
    return [(f"{label}[{i}]", c) for i, c in enumerate(certs)]


def _report(
    found: list[tuple[str, x509.Certificate]],
    problems: list[str],
    threshold: int,
    now: dt.datetime | None,
) -> CheckReport:
    moment = now or dt.datetime.now(dt.UTC)
    statuses = tuple(_status(label, cert, threshold, moment) for label, cert in found)
    expiry = [p for p in (_problem(s, threshold) for s in statuses) if p]
    return CheckReport(
        threshold_days=threshold, certificates=statuses, problems=(*expiry, *problems)
    )


def check_file(
    path: Path, *, threshold_days: int = DEFAULT_THRESHOLD_DAYS, now: dt.datetime | None = None
) -> CheckReport:
    """Check the expiry of every certificate in the PEM file `path`."""
    return _report(_labelled(str(path), load_certs(path)), [], threshold_days, now)


def check_dir(
    directory: Path, *, threshold_days: int = DEFAULT_THRESHOLD_DAYS, now: dt.datetime | None = None
) -> CheckReport:
    """Check a certificate directory as written by `certs.issue` and `certs.rotate`.

    Reports the expiry of `tls.crt`, `ca.crt`, each CA in `ca-bundle.crt` and `client.crt`
    (those present), and as problems: `tls.crt` not issued by a CA of the bundle, `ca.crt`
    missing from the bundle, and a key (`tls.key`, `ca.key`, `client.key`) that does not
    match its certificate.
    """
    if not directory.is_dir():
        raise CertsError(f"{directory}: no such directory")
    names = (TLS_CERT, CA_CERT, CA_BUNDLE, CLIENT_CERT)
    files = {n: load_certs(directory / n) for n in names if (directory / n).exists()}
    if not files:
        raise CertsError(f"{directory}: no certificates ({', '.join(names)})")
    found = [pair for name, certs in files.items() for pair in _labelled(name, certs)]
    problems = [*_chain_problems(files), *_key_problems(directory, files)]
    return _report(found, problems, threshold_days, now)


Files = dict[str, tuple[x509.Certificate, ...]]


def _chain_problems(files: Files) -> list[str]:
    bundle = files.get(CA_BUNDLE) or files.get(CA_CERT)
    if TLS_CERT in files and bundle is None:
        return [f"no {CA_CERT} or {CA_BUNDLE} to verify {TLS_CERT} against"]
    problems = []
    if TLS_CERT in files and not any(issued_by(files[TLS_CERT][0], ca) for ca in bundle or ()):
        problems.append(f"{TLS_CERT} is not issued by any CA in the bundle: clients will reject it")
    if CA_CERT in files and CA_BUNDLE in files and files[CA_CERT][0] not in files[CA_BUNDLE]:
        problems.append(f"{CA_CERT} is not in {CA_BUNDLE}: certificates it issues will be rejected")
    return problems


def _key_problems(directory: Path, files: Files) -> list[str]:
    problems = []
    for cert_name, key_name in ((TLS_CERT, TLS_KEY), (CA_CERT, CA_KEY), (CLIENT_CERT, CLIENT_KEY)):
        if cert_name not in files:
            continue
        if not (directory / key_name).exists():
            if cert_name == TLS_CERT:  # a TLS Secret has both; a CA key may live elsewhere
                problems.append(f"{TLS_CERT} has no {TLS_KEY} beside it")
        elif not keys_match(files[cert_name][0], load_key(directory / key_name)):
            problems.append(f"{key_name} does not match {cert_name}")
    return problems
