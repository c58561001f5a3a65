"""TLS material for the hermetic webhook: a small CA, rotation without downtime, checks.

Independent of the rest of hermetic (an import-linter contract keeps it so). The layers:

- `certs.authority`: keys, the CA and leaf certificates, in memory (production defaults);
- `certs.store`: the file names of a certificate directory, PEM I/O, atomic writes;
- `certs.issue`, `certs.rotation`: a directory's lifecycle (issue, rotate, finish);
- `certs.check`: expiry, chain and key checks; `certs.inject`: `caBundle` into manifests;
- `certs.tls`: what the webhook server loads.
"""

from certs.authority import (
    CA_DAYS,
    CLOCK_SKEW,
    KEY_TYPES,
    LEAF_DAYS,
    IPAddress,
    KeyType,
    generate_key,
    issue_client_cert,
    issue_server_cert,
    issued_by,
    new_ca,
    server_names,
    service_dns_names,
)
from certs.check import (
    DEFAULT_THRESHOLD_DAYS,
    CertificateStatus,
    CheckReport,
    check_dir,
    check_file,
    seconds_until_expiry,
)
from certs.inject import ca_bundle_value, inject_files, inject_text
from certs.issue import Issued, issue, issue_client, load_ca, read_bundle, service_identity
from certs.rotation import Rotation, finish_rotation, rotate, rotation_in_progress
from certs.store import (
    CA_BUNDLE,
    CA_CERT,
    CA_KEY,
    CA_OLD_CERT,
    CLIENT_CERT,
    CLIENT_KEY,
    TLS_CERT,
    TLS_KEY,
    CertsError,
    KeyMismatchError,
    KeyPair,
    PrivateKey,
    keys_match,
    load_certs,
)
from certs.tls import load_server_pair, server_ssl_context

__all__ = [
    "CA_BUNDLE",
    "CA_CERT",
    "CA_DAYS",
    "CA_KEY",
    "CA_OLD_CERT",
    "CLIENT_CERT",
    "CLIENT_KEY",
    "CLOCK_SKEW",
    "DEFAULT_THRESHOLD_DAYS",
    "KEY_TYPES",
    "LEAF_DAYS",
    "TLS_CERT",
    "TLS_KEY",
    "CertificateStatus",
    "CertsError",
    "CheckReport",
    "IPAddress",
    "Issued",
    "KeyMismatchError",
    "KeyPair",
    "KeyType",
    "PrivateKey",
    "Rotation",
    "ca_bundle_value",
    "check_dir",
    "check_file",
    "finish_rotation",
    "generate_key",
    "inject_files",
    "inject_text",
    "issue",
    "issue_client",
    "issue_client_cert",
    "issue_server_cert",
    "issued_by",
    "keys_match",
    "load_ca",
    "load_certs",
    "load_server_pair",
    "new_ca",
    "read_bundle",
    "rotate",
    "rotation_in_progress",
    "seconds_until_expiry",
    "server_names",
    "server_ssl_context",
    "service_dns_names",
    "service_identity",
]
