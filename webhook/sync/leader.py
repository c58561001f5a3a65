"""Leader election through a `coordination.k8s.io` Lease, so that one replica writes.

Built on the official client's `leaderelection.LeaderElection` and `LeaseLock`, which run
blocking loops and have no way to stop. `LeaderElector.run(stop)` adds that:

- every acquire/renew attempt first checks `stop` (so stopping takes at most one
  `retry_period`), and a connection error in an attempt counts as a failed attempt
  instead of ending the election;
- when leadership is lost (renewal failed for `renew_deadline`) the term's event is set,
  the controller's loop ends, and the replica runs for the Lease again as a follower;
- on stop, a leader hands the Lease back (holder cleared), so another replica takes over
  at its next attempt instead of after `lease_duration`.

The work (`lead(term)`) runs in the library's thread and must return soon after `term` is
set. Timings are client-go's defaults: 15 s lease, 10 s renew deadline, 2 s retry.
"""

from __future__ import annotations

import os
import threading
import uuid
from collections.abc import Callable
from typing import Any

from kubernetes import client
from kubernetes.leaderelection import electionconfig, leaderelection
from kubernetes.leaderelection.resourcelock.leaselock import LeaseLock

from webhook.sync.log import event

Lead = Callable[[threading.Event], None]


class _Stopping(Exception):
    """Raised inside the library's loops to end them."""


class _Election(leaderelection.LeaderElection):
    def __init__(self, config: Any, stop: threading.Event) -> None:
        super().__init__(config)  # type: ignore[no-untyped-call]
        self._stop = stop

    def try_acquire_or_renew(self) -> bool:
        if self._stop.is_set():
            raise _Stopping
        try:
            return bool(super().try_acquire_or_renew())  # type: ignore[no-untyped-call]
        except Exception as exc:  # e.g. the API server unreachable: just a failed attempt
            event("warning", "lease_error", error=f"{type(exc).__name__}: {exc}")
            return False


def default_identity() -> str:
    """The pod name (HOSTNAME) plus a random suffix: unique even across restarts."""
    return f"{os.environ.get('HOSTNAME', 'hermetic')}-{uuid.uuid4().hex[:8]}"


class LeaderElector:
    """Runs for the Lease `namespace/name` and calls `lead(term)` while leading."""

    def __init__(
        self,
        lock: Any,
        lead: Lead,
        *,
        lease_duration: int = 15,
        renew_deadline: int = 10,
        retry_period: int = 2,
    ) -> None:
        if not lease_duration > renew_deadline > 1.2 * retry_period >= 1.2:
            raise ValueError("want lease_duration > renew_deadline > 1.2 * retry_period >= 1.2")
        self.lock = lock
        self.lead = lead
        self.timings = (lease_duration, renew_deadline, retry_period)
        self.leading = threading.Event()
        self._busy = threading.Lock()  # one term's work at a time, even after a quick re-election

    @classmethod
    def for_lease(
        cls, api_client: Any, namespace: str, name: str, lead: Lead, identity: str | None = None
    ) -> LeaderElector:
        """An elector over a real Lease, through `api_client`."""
        lock = LeaseLock(name, namespace, identity or default_identity())  # type: ignore[no-untyped-call]
        lock.api_instance = client.CoordinationV1Api(api_client)
        return cls(lock, lead)

    def run(self, stop: threading.Event) -> None:
        """Elect, lead, lose, elect again ... until `stop`; then hand the Lease back."""
        while not stop.is_set():
            term = threading.Event()
            config = electionconfig.Config(  # type: ignore[no-untyped-call]
                self.lock,
                *self.timings,
                onstarted_leading=lambda t=term: self._work(t),
                onstopped_leading=term.set,
            )
            try:
                _Election(config, stop).run()  # type: ignore[no-untyped-call]
            except _Stopping:
                pass
            except Exception as exc:
                event("error", "election_crashed", error=f"{type(exc).__name__}: {exc}")
            finally:
                term.set()
            if not stop.is_set():
                stop.wait(self.timings[2])
        self.wait_idle(timeout=30)
        self.release()

    def _work(self, term: threading.Event) -> None:
        with self._busy:
            if term.is_set():
                return
            self.leading.set()
            event("info", "leading", identity=self.lock.identity)
            try:
                self.lead(term)
            finally:
                self.leading.clear()
                event("info", "not_leading", identity=self.lock.identity)

    def wait_idle(self, timeout: float) -> bool:
        """Wait until no term's work is running."""
        if not self._busy.acquire(timeout=timeout):
            return False
        self._busy.release()
        return True

    def release(self) -> None:
        """Clear the Lease's holder if it is this replica (best effort)."""
        api = getattr(self.lock, "api_instance", None)
        if api is None:
            return
        try:
            lease = api.read_namespaced_lease(self.lock.name, self.lock.namespace)
            if lease.spec is None or lease.spec.holder_identity != self.lock.identity:
                return
            lease.spec.holder_identity = None
            lease.spec.lease_duration_seconds = 1
            api.replace_namespaced_lease(self.lock.name, self.lock.namespace, lease)
            event("info", "lease_released", identity=self.lock.identity)
        except Exception as exc:
            event("warning", "lease_not_released", error=f"{type(exc).__name__}: {exc}")
