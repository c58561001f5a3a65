"""The controller's loop: a pass every `resync_seconds`, and one soon after a change.

Between passes the loop ticks (`tick_seconds`) and runs a pass early when a watch woke it
(`webhook.sync.watch`), the policy provider returns a different policy (a hot reload), or
the CA bundle file changed (after `hermetic certs rotate`; a ConfigMap or Secret volume
update swaps the file). It waits `debounce_seconds` first, so a burst of events makes one
pass. A pass that fails is retried with capped backoff; an unexpected exception is logged
and treated the same: the loop only ends when `stop` is set.
"""

from __future__ import annotations

import threading
from collections.abc import Hashable
from pathlib import Path
from typing import TYPE_CHECKING

import certs
from webhook.reload import fingerprint
from webhook.sync.log import event
from webhook.sync.retry import Backoff, GaveUp
from webhook.sync.watch import Watchers

if TYPE_CHECKING:
    from webhook.sync.controller import Controller


def run_loop(controller: Controller, stop: threading.Event) -> None:
    """Pass after pass until `stop` is set; never raises."""
    options = controller.options
    if options.watch:
        Watchers(controller.api, controller, stop).start()
    triggers = Triggers(controller)
    backoff = Backoff(initial=1.0, cap=max(1.0, min(60.0, options.resync_seconds)))
    due = controller.clock()
    while not stop.is_set():
        if controller.clock() >= due or triggers.fired():
            stop.wait(options.debounce_seconds)
            controller.wake.clear()
            due = controller.clock() + _pass(controller, stop, backoff)
        stop.wait(options.tick_seconds)
    event("info", "stopped", detail="the controller loop ended")


def _pass(controller: Controller, stop: threading.Event, backoff: Backoff) -> float:
    """Run one pass; return the delay until the next one."""
    try:
        controller.sync_once(stop)
    except GaveUp as exc:
        delay = backoff.next()
        event("error", "pass_failed", error=str(exc), retry_in_s=round(delay, 3))
        return delay
    except Exception as exc:  # a bug must not stop the controller: log it, try again later
        delay = backoff.next()
        error = f"{type(exc).__name__}: {exc}"
        event("error", "pass_crashed", error=error, retry_in_s=round(delay, 3))
        return delay
    backoff.reset()
    return controller.options.resync_seconds


def bundle_file(certs_dir: Path | None) -> Path | None:
    """The file the CA bundle is read from: `ca-bundle.crt`, else `ca.crt` (as certs does)."""
    if certs_dir is None:
        return None
    bundle = certs_dir / certs.CA_BUNDLE
    return bundle if bundle.exists() else certs_dir / certs.CA_CERT


class Triggers:
    """Cheap checks between passes: a watch event, a new policy, a changed CA bundle file."""

    def __init__(self, controller: Controller) -> None:
        self.controller = controller
        self.policy = controller.policy()
        self.bundle = self._bundle_mark()

    def _bundle_mark(self) -> Hashable:
        path = bundle_file(self.controller.options.certs_dir)
        return fingerprint([path]) if path is not None else None

    def fired(self) -> bool:
        """Whether anything changed since the last call."""
        policy, bundle = self.controller.policy(), self._bundle_mark()
        changed = policy is not self.policy or bundle != self.bundle
        self.policy, self.bundle = policy, bundle
        return changed or self.controller.wake.is_set()
