"""The controller: observe the cluster, plan (`reconcile.plan`), act.

`Controller.sync_once` is one full pass: list Namespaces and every managed kind (by the
managed-by label), plan, execute each action with retries, and push the CA bundle into the
webhook configurations (`webhook.sync.cabundle`). `Controller.run` repeats passes until
stopped (`webhook.sync.loop`).

Nothing here exits on an API error: each call is retried with capped backoff on transient
errors (409, 429, 5xx, broken connections), an action that still fails or is refused
(403, 422) is logged and waits for the next pass, and a kind whose CRD is not installed is
skipped (logged once per pass when the policy wants objects of it). Only a pass that cannot
even list the Namespaces ends early (GaveUp); the loop then retries it with backoff.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import TypeVar

from compiler.model import CompiledPolicy
from webhook.sync import cabundle
from webhook.sync.api import Api, ApiError
from webhook.sync.desired import Builder, desired_state, kinds_wanted, namespace_from
from webhook.sync.kinds import MANAGED_KINDS, SELECTOR, Key, Kind, Obj, key_of
from webhook.sync.log import event
from webhook.sync.loop import run_loop
from webhook.sync.reconcile import Action, Apply, Delete, LabelNamespace, Noop, plan
from webhook.sync.retry import Backoff, GaveUp, retry

PolicyProvider = Callable[[], CompiledPolicy | None]
T = TypeVar("T")


@dataclass(frozen=True, slots=True, kw_only=True)
class SyncOptions:
    """How the controller runs (the `hermetic sync` flags, and tuning for tests)."""

    namespace: str = "hermetic-system"  # where the Lease lives
    lease_name: str = "hermetic-sync"
    resync_seconds: float = 60.0
    certs_dir: Path | None = None  # patch caBundles from its ca-bundle.crt; None: leave them
    webhook_config_names: tuple[str, ...] = ("zz-hermetic",)
    attempts: int = 6  # per call, per pass: 0.5 + 1 + 2 + 4 + 8 s of backoff at most
    backoff_initial: float = 0.5
    backoff_cap: float = 30.0
    debounce_seconds: float = 0.5
    tick_seconds: float = 1.0
    watch: bool = True


@dataclass(slots=True)
class Outcome:
    """What one pass did."""

    applied: int = 0
    labelled: int = 0
    deleted: int = 0
    unchanged: int = 0
    failed: int = 0
    unavailable: list[str] = field(default_factory=list)


class Controller:
    """Reconciles tenant namespaces with the policy; see the module docstring."""

    def __init__(
        self,
        api: Api,
        policy: PolicyProvider,
        options: SyncOptions | None = None,
        *,
        builder: Builder | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.api = api
        self.policy = policy
        self.options = options or SyncOptions()
        self.builder = builder
        self.clock = clock
        self.remembered: dict[Key, str] = {}  # resourceVersion after our last apply
        self.wake = threading.Event()  # set by watches: run a pass soon

    def retry(self, fn: Callable[[], T], what: str, stop: threading.Event) -> T:
        """`fn()` with the configured retries (see `webhook.sync.retry.retry`)."""
        o = self.options
        backoff = Backoff(initial=o.backoff_initial, cap=o.backoff_cap)
        return retry(fn, what=what, stop=stop, backoff=backoff, attempts=o.attempts)

    def run(self, stop: threading.Event) -> None:
        """Pass after pass until `stop` is set; never raises (see `webhook.sync.loop`)."""
        run_loop(self, stop)

    def sync_once(self, stop: threading.Event) -> Outcome:
        """One full pass. Raises GaveUp only when the Namespaces cannot be listed."""
        outcome = Outcome()
        policy = self.policy()
        if policy is None:
            event("warning", "no_policy", detail="no valid policy loaded; nothing to do")
            return outcome
        namespaces = [
            namespace_from(o) for o in self.retry(self.api.list_namespaces, "list namespaces", stop)
        ]
        desired, unmanaged = desired_state(policy, namespaces, self.builder)
        for name in sorted(unmanaged):
            event(
                "warning", "kind_not_managed", kind=name, detail="not a kind hermetic sync manages"
            )
        actual, available = self._observe(stop, kinds_wanted(desired), outcome)
        result = plan(namespaces, desired, actual, available, self.remembered)
        for action in result.actions:
            self._execute(action, stop, outcome)
        keep = set(actual) | {a.key for a in result.actions if isinstance(a, Apply)}
        self.remembered = {k: v for k, v in self.remembered.items() if k in keep}
        cabundle.sync(self, stop, outcome)
        event("info", "pass", policy=policy.name, namespaces=len(desired), **_counts(outcome))
        return outcome

    def _observe(
        self, stop: threading.Event, wanted: set[Kind], outcome: Outcome
    ) -> tuple[dict[Key, Obj], set[Kind]]:
        actual: dict[Key, Obj] = {}
        available: set[Kind] = set()
        for kind in MANAGED_KINDS:
            try:
                items = self.retry(
                    partial(self.api.list_objects, kind, SELECTOR), f"list {kind}", stop
                )
            except (ApiError, GaveUp) as exc:
                self._unavailable(kind, kind in wanted, exc, outcome)
                continue
            available.add(kind)
            actual.update((key_of(o, kind), o) for o in items)
        return actual, available

    def _unavailable(self, kind: Kind, wanted: bool, exc: Exception, outcome: Outcome) -> None:
        missing = isinstance(exc, ApiError) and exc.status == 404
        if missing and not wanted:  # e.g. Linkerd's CRDs, with a policy that uses no Linkerd
            event("debug", "kind_unavailable", kind=str(kind), error=str(exc))
            return
        outcome.unavailable.append(str(kind))
        outcome.failed += not missing
        detail = "CRD not installed" if missing else "cannot list it"
        event(
            "warning" if missing else "error",
            "kind_unavailable",
            kind=str(kind),
            detail=f"{detail}: its objects are skipped this pass",
            error=str(exc),
        )

    # --- actions ---------------------------------------------------------------------------

    def _execute(self, action: Action, stop: threading.Event, outcome: Outcome) -> None:
        if isinstance(action, Noop):
            self.remembered[action.key] = action.resource_version
            outcome.unchanged += 1
            return
        what, fn = self._call(action)
        try:
            result = self.retry(fn, what, stop)
        except GaveUp as exc:
            outcome.failed += 1
            event(
                "error",
                "action_failed",
                action=what,
                error=str(exc),
                detail="tried again next pass",
            )
            return
        except ApiError as exc:
            if exc.status == 404:  # the namespace went away meanwhile: nothing to do there
                event("info", "gone", action=what, error=str(exc))
                return
            outcome.failed += 1
            event("error", "action_refused", action=what, status=exc.status, error=str(exc))
            return
        self._done(action, result, outcome)

    def _call(self, action: Action) -> tuple[str, Callable[[], Obj | None]]:
        if isinstance(action, Apply):
            return f"apply {action.key}", partial(self.api.apply, action.key, action.body)
        if isinstance(action, Delete):
            return f"delete {action.key}", partial(self.api.delete, action.key)
        assert isinstance(action, LabelNamespace)
        labels, notes = dict(action.labels), dict(action.annotations)
        call = partial(self.api.apply_namespace, action.name, labels, notes)
        return f"label Namespace/{action.name}", call

    def _done(self, action: Action, result: Obj | None, outcome: Outcome) -> None:
        if isinstance(action, Apply):
            outcome.applied += 1
            version = ((result or {}).get("metadata") or {}).get("resourceVersion")
            if version:
                self.remembered[action.key] = str(version)
            event("info", "applied", object=str(action.key), reason=action.reason)
        elif isinstance(action, Delete):
            outcome.deleted += 1
            self.remembered.pop(action.key, None)
            event("info", "deleted", object=str(action.key), reason=action.reason)
        elif isinstance(action, LabelNamespace):
            outcome.labelled += 1
            labels = dict(action.labels)
            event("info", "labelled", namespace=action.name, reason=action.reason, labels=labels)


def _counts(o: Outcome) -> dict[str, object]:
    return {
        "applied": o.applied,
        "labelled": o.labelled,
        "deleted": o.deleted,
        "unchanged": o.unchanged,
        "failed": o.failed,
        "unavailable": o.unavailable,
    }
