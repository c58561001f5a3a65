"""What the webhook server needs: a checked certificate/key pair and an `ssl.SSLContext`.

`certs.rotate` replaces `tls.key` and then `tls.crt`; a reader that lands between the two
renames sees a new key with the old certificate. Both loaders here notice the mismatch and
read once more after a short pause instead of failing or, worse, serving a broken pair.
"""

from __future__ import annotations

import os
import ssl
import time
from pathlib import Path
from typing import Final

from certs.store import CertsError, KeyMismatchError, KeyPair, load_pair

RETRY_DELAY: Final = 0.1  # seconds; two renames take microseconds


def load_server_pair(
    cert_path: str | os.PathLike[str], key_path: str | os.PathLike[str]
) -> KeyPair:
    """Parse the serving certificate and key, checking that they belong together.

    A mismatch is retried once (a rotation may be swapping the files); a second mismatch,
    or a missing or unparsable file, raises `CertsError`.
    """
    try:
        return load_pair(Path(cert_path), Path(key_path))
    except KeyMismatchError:
        time.sleep(RETRY_DELAY)
        return load_pair(Path(cert_path), Path(key_path))


def server_ssl_context(
    cert: str | os.PathLike[str],
    key: str | os.PathLike[str],
    client_ca: str | os.PathLike[str] | None = None,
    min_version: ssl.TLSVersion = ssl.TLSVersion.TLSv1_2,
) -> ssl.SSLContext:
    """A server-side TLS context serving `cert`/`key`, TLS 1.2 at least.

    With `client_ca` (a PEM bundle), clients must present a certificate issued by one of its
    CAs (`CERT_REQUIRED`): mutual TLS, e.g. for the API server authenticating to the webhook.
    """
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.minimum_version = min_version
    _load_chain(ctx, cert, key)
    if client_ca is not None:
        try:
            ctx.load_verify_locations(cafile=client_ca)
        except (OSError, ssl.SSLError) as exc:
            raise CertsError(f"{os.fspath(client_ca)}: cannot load client CA: {exc}") from None
        ctx.verify_mode = ssl.CERT_REQUIRED
    return ctx


def _load_chain(
    ctx: ssl.SSLContext, cert: str | os.PathLike[str], key: str | os.PathLike[str]
) -> None:
    try:
        ctx.load_cert_chain(certfile=cert, keyfile=key)
    except ssl.SSLError:
        # Most likely the key/certificate swap of a rotation; otherwise the retry fails too.
        time.sleep(RETRY_DELAY)
        try:
            ctx.load_cert_chain(certfile=cert, keyfile=key)
        except (OSError, ssl.SSLError) as exc:
            raise CertsError(f"{os.fspath(cert)}, {os.fspath(key)}: cannot load: {exc}") from None
    except OSError as exc:
        raise CertsError(
            f"{os.fspath(cert)}, {os.fspath(key)}: cannot load: {exc.strerror}"
        ) from None
