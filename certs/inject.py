"""Write a CA bundle into the `caBundle` of webhook configurations in YAML manifests.

Every `webhooks[].clientConfig.caBundle` of every `MutatingWebhookConfiguration` and
`ValidatingWebhookConfiguration` (also inside a `kind: List`) gets the base64 of the PEM
bundle. Other documents pass through unchanged and in order. A file that holds no webhook
configuration is not rewritten at all; one that does is re-serialized by PyYAML
(`safe_dump_all`, keys in their original order, every document opened by `---`), which
drops comments and empty documents — keep hand-written comments elsewhere.
"""

from __future__ import annotations

import base64
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any, Final

import yaml
from cryptography import x509

from certs.store import CertsError, cert_pem, read_bytes, write_files

WEBHOOK_KINDS: Final = frozenset({"MutatingWebhookConfiguration", "ValidatingWebhookConfiguration"})


def ca_bundle_value(bundle: Sequence[x509.Certificate]) -> str:
    """The `caBundle` field for `bundle`: base64 of the concatenated PEM certificates."""
    return base64.b64encode(b"".join(cert_pem(c) for c in bundle)).decode("ascii")


def _inject_object(obj: Any, value: str) -> int:
    if not isinstance(obj, dict):
        return 0
    if obj.get("kind") == "List" and isinstance(obj.get("items"), list):
        return sum(_inject_object(item, value) for item in obj["items"])
    if obj.get("kind") not in WEBHOOK_KINDS or not isinstance(obj.get("webhooks"), list):
        return 0
    count = 0
    for webhook in obj["webhooks"]:
        if isinstance(webhook, dict):
            client_config = webhook.setdefault("clientConfig", {})
            if isinstance(client_config, dict):
                client_config["caBundle"] = value
                count += 1
    return count


def inject_text(
    text: str, bundle: Sequence[x509.Certificate], *, source: str = "<string>"
) -> tuple[str, int]:
    """Set the `caBundle` of every webhook in the multi-document YAML `text`.

    Returns the new text and the number of webhooks updated; with none, `text` unchanged.
    """
    try:
        documents = [d for d in yaml.safe_load_all(text) if d is not None]
    except yaml.YAMLError as exc:
        raise CertsError(f"{source}: not valid YAML: {exc}".replace("\n", " ")) from None
    value = ca_bundle_value(bundle)
    count = sum(_inject_object(d, value) for d in documents)
    if not count:
        return text, 0
    dumped = yaml.safe_dump_all(
        documents,
        sort_keys=False,
        default_flow_style=False,
        explicit_start=True,
        allow_unicode=True,
    )
    return dumped, count


def inject_files(paths: Iterable[Path], bundle: Sequence[x509.Certificate]) -> dict[Path, int]:
    """Inject `bundle` into the manifests at `paths` in place (atomically, keeping the mode).

    Returns the number of webhooks updated per file; files with none are left untouched.
    """
    counts: dict[Path, int] = {}
    for path in paths:
        try:
            text = read_bytes(path).decode("utf-8")
        except UnicodeDecodeError:
            raise CertsError(f"{path}: not UTF-8 text") from None
        new_text, counts[path] = inject_text(text, bundle, source=str(path))
        if counts[path] and new_text != text:
            write_files([(path, new_text.encode("utf-8"), path.stat().st_mode & 0o777)])
    return counts
