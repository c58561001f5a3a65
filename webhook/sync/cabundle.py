"""The webhook configurations' `caBundle`, kept equal to the CA bundle file.

With `--certs-dir`, every pass reads `ca-bundle.crt` (else `ca.crt`) there — the file
`hermetic certs issue/rotate` writes, mounted from a Secret in a pod — and patches each
webhook of each named Mutating- and ValidatingWebhookConfiguration whose `caBundle` differs.
So after `hermetic certs rotate`, the two-CA bundle reaches the API server before a replica
serves the new certificate, and after `rotate --finish` the old CA leaves it.

`patch_for` is pure. The patch is a strategic merge patch: `webhooks` merge by `name`, so
only `clientConfig.caBundle` of the named webhooks changes. Without `--certs-dir` (e.g.
with cert-manager's CA injector) nothing here runs: one writer per field.
"""

from __future__ import annotations

import threading
from functools import partial
from typing import TYPE_CHECKING, Any, Final

import certs
from webhook.sync.api import ApiError
from webhook.sync.log import Level, event
from webhook.sync.retry import GaveUp

if TYPE_CHECKING:
    from webhook.sync.controller import Controller, Outcome

KINDS: Final = ("MutatingWebhookConfiguration", "ValidatingWebhookConfiguration")


def patch_for(configuration: dict[str, Any], value: str) -> dict[str, Any] | None:
    """The patch that sets every webhook's `caBundle` to `value` (base64 PEM), or None."""
    changes = [
        {"name": w["name"], "clientConfig": {"caBundle": value}}
        for w in configuration.get("webhooks") or ()
        if isinstance(w, dict)
        and "name" in w
        and (w.get("clientConfig") or {}).get("caBundle") != value
    ]
    return {"webhooks": changes} if changes else None


def sync(controller: Controller, stop: threading.Event, outcome: Outcome) -> None:
    """Patch every named configuration whose webhooks do not carry the bundle file's CAs."""
    certs_dir = controller.options.certs_dir
    if certs_dir is None:
        return
    try:
        value = certs.ca_bundle_value(certs.read_bundle(certs_dir))
    except (certs.CertsError, OSError) as exc:
        outcome.failed += 1
        event("error", "ca_bundle_unreadable", dir=str(certs_dir), error=str(exc))
        return
    for name in controller.options.webhook_config_names:
        for kind in KINDS:
            _sync_one(controller, kind, name, value, stop, outcome)


def _sync_one(
    controller: Controller,
    kind: str,
    name: str,
    value: str,
    stop: threading.Event,
    outcome: Outcome,
) -> None:
    api, what = controller.api, f"caBundle of {kind}/{name}"
    try:
        current = controller.retry(partial(api.get_webhook_configuration, kind, name), what, stop)
        patch = patch_for(current, value)
        if patch is None:
            return
        controller.retry(partial(api.patch_webhook_configuration, kind, name, patch), what, stop)
    except (ApiError, GaveUp) as exc:
        missing = isinstance(exc, ApiError) and exc.status == 404
        outcome.failed += not missing
        level: Level = "warning" if missing else "error"
        event(level, "ca_bundle_not_patched", configuration=f"{kind}/{name}", error=str(exc))
        return
    event(
        "info", "ca_bundle_patched", configuration=f"{kind}/{name}", webhooks=len(patch["webhooks"])
    )
