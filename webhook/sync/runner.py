"""Starting the controller: a client from kubeconfig or the pod's service account, then
leader election in a background thread (`start_in_background`) or one pass (`run_once`).

`hermetic sync` runs `start_in_background(...).wait()`; `hermetic serve --sync` runs
`start_in_background` beside the webhook with a provider returning the webhook's current
policy, so a hot-reloaded policy is what the controller applies.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Any

from kubernetes import client
from kubernetes import config as _config

from webhook.sync.api import Api, KubeTransport
from webhook.sync.controller import Controller, Outcome, PolicyProvider, SyncOptions
from webhook.sync.leader import LeaderElector
from webhook.sync.log import event

config: Any = _config  # the client's config loaders are untyped


class SyncConfigError(Exception):
    """No usable cluster credentials (a bad kubeconfig, not in a pod)."""


def load_client(kubeconfig: str | None = None) -> Any:
    """An ApiClient: from `kubeconfig`, else the pod's service account, else ~/.kube/config."""
    try:
        if kubeconfig is not None:
            return config.new_client_from_config(config_file=kubeconfig)
        try:
            configuration = client.Configuration()
            config.load_incluster_config(client_configuration=configuration)
            return client.ApiClient(configuration)
        except config.ConfigException:
            return config.new_client_from_config()
    except (config.ConfigException, OSError, ValueError, TypeError) as exc:
        raise SyncConfigError(f"no usable cluster credentials: {exc}") from exc


def controller_for(api_client: Any, policy: PolicyProvider, options: SyncOptions) -> Controller:
    """A controller talking to the cluster through `api_client`."""
    return Controller(Api(KubeTransport(api_client)), policy, options)


@dataclass(slots=True)
class SyncHandle:
    """A controller running in the background; `stop()` ends it."""

    elector: LeaderElector
    thread: threading.Thread
    stopping: threading.Event

    @property
    def leading(self) -> bool:
        """Whether this replica holds the Lease and reconciles."""
        return self.elector.leading.is_set()

    def stop(self, timeout: float = 15.0) -> bool:
        """Stop reconciling, give the Lease back; True when everything ended in `timeout`."""
        self.stopping.set()
        self.thread.join(timeout)
        return not self.thread.is_alive() and self.elector.wait_idle(0.1)

    def wait(self) -> None:
        """Block until stopped (by `stop()` from another thread, or Ctrl-C)."""
        while self.thread.is_alive():
            self.thread.join(1.0)


def start_in_background(
    policy_provider: PolicyProvider,
    options: SyncOptions | None = None,
    *,
    kubeconfig: str | None = None,
    api_client: Any = None,
    identity: str | None = None,
) -> SyncHandle:
    """Run for the Lease and, while leading, reconcile — in a daemon thread.

    `policy_provider()` returns the policy in force (None: not loaded yet; nothing is done).
    Raises SyncConfigError when there are no credentials; never afterwards.
    """
    opts = options or SyncOptions()
    api = api_client if api_client is not None else load_client(kubeconfig)
    controller = controller_for(api, policy_provider, opts)
    lease = (opts.namespace, opts.lease_name)
    return start(LeaderElector.for_lease(api, *lease, controller.run, identity))


def start(elector: LeaderElector) -> SyncHandle:
    """Run `elector` (and so its controller, while leading) in a daemon thread."""
    stopping = threading.Event()
    thread = threading.Thread(
        target=elector.run, args=(stopping,), name="hermetic-sync", daemon=True
    )
    thread.start()
    lock = elector.lock
    event("info", "started", lease=f"{lock.namespace}/{lock.name}", identity=lock.identity)
    return SyncHandle(elector=elector, thread=thread, stopping=stopping)


def run_once(
    policy_provider: PolicyProvider,
    options: SyncOptions | None = None,
    *,
    kubeconfig: str | None = None,
    api_client: Any = None,
) -> Outcome:
    """One pass without leader election (`hermetic sync --once`). Raises GaveUp when the
    cluster cannot be reached after retries."""
    api = api_client if api_client is not None else load_client(kubeconfig)
    controller = controller_for(api, policy_provider, options or SyncOptions())
    return controller.sync_once(threading.Event())
