"""`hermetic sync`: the controller that keeps tenant namespaces as the policy says.

webhook.sync.kinds       the managed kinds, their paths, object keys
webhook.sync.desired     policy + live namespaces -> what each namespace should hold (pure)
webhook.sync.reconcile   desired vs. actual -> actions (pure)
webhook.sync.cabundle    the caBundle patch of a webhook configuration (pure)
webhook.sync.api         the API calls, over a Transport (the official client, or a fake)
webhook.sync.retry       capped exponential backoff; transient errors never escape
webhook.sync.controller  passes: observe, plan, act; the loop with its triggers
webhook.sync.watch       watches that wake the loop early
webhook.sync.leader      Lease leader election that can be stopped
webhook.sync.runner      start_in_background / run_once
webhook.sync.source      a policy provider over files, with hot reload
"""

from webhook.sync.controller import Controller, Outcome, PolicyProvider, SyncOptions
from webhook.sync.runner import (
    SyncConfigError,
    SyncHandle,
    load_client,
    run_once,
    start_in_background,
)

__all__ = [
    "Controller",
    "Outcome",
    "PolicyProvider",
    "SyncConfigError",
    "SyncHandle",
    "SyncOptions",
    "load_client",
    "run_once",
    "start_in_background",
]
