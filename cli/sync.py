"""`hermetic sync`: keep tenant namespaces' labels and objects as the policy says.

    hermetic sync (--policy PATH... | --bundle FILE) [--kubeconfig FILE]
                  [--namespace hermetic-system] [--lease-name hermetic-sync]
                  [--resync-seconds 60] [--certs-dir DIR] [--webhook-config-name NAME]...
                  [--once]

Runs for a Lease in `--namespace` and, while it holds it, applies each tenant namespace's
labels and objects (server-side apply, field manager `hermetic`), deletes hermetic's objects
the policy no longer declares, and with `--certs-dir` keeps the webhook configurations'
`caBundle` equal to `DIR/ca-bundle.crt`. Policy files are reloaded when they change. Logs
are JSON lines on stderr. `--once`: one pass without leader election, then exit.
`--certs-dir` defaults to $HERMETIC_SYNC_CERTS_DIR.

Exit codes: 0 stopped cleanly, or `--once` did everything; 1 the policy has errors, or
`--once` left actions undone; 2 usage errors, no usable credentials, or `--once` could not
reach the cluster.

`hermetic serve --sync` runs the same controller beside the webhook: `add_serve_arguments`
adds `--sync` and the `--sync-*` flags, `start_for_serve` starts it.
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from cli.main import EXIT_OK, EXIT_PROBLEMS, EXIT_USAGE
from compiler.model import CompiledPolicy
from webhook import logs
from webhook.policy import PolicyLoadError, PolicySource
from webhook.sync import SyncConfigError, SyncHandle, SyncOptions, run_once, start_in_background
from webhook.sync.retry import GaveUp
from webhook.sync.source import FilePolicy

DEFAULTS = SyncOptions()
CERTS_DIR_ENV = "HERMETIC_SYNC_CERTS_DIR"  # set by deploy/overlays/hermetic-certs


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add `hermetic sync` to the `hermetic` parser."""
    p = sub.add_parser("sync", help="keep tenant namespaces' labels and objects as the policy says")
    source = p.add_mutually_exclusive_group(required=True)
    source.add_argument("--policy", nargs="+", metavar="PATH", help="policy files or directories")
    source.add_argument("--bundle", metavar="FILE", help="a bundle written by `hermetic compile`")
    p.add_argument(
        "--kubeconfig", help="kubeconfig file (default: in-cluster, then ~/.kube/config)"
    )
    _add_options(p, prefix="")
    p.add_argument(
        "--once", action="store_true", help="one pass without leader election, then exit"
    )
    p.set_defaults(func=run)


def _add_options(p: argparse.ArgumentParser, prefix: str) -> None:
    p.add_argument(f"--{prefix}namespace", default=DEFAULTS.namespace, help="the Lease's namespace")
    p.add_argument(f"--{prefix}lease-name", default=DEFAULTS.lease_name, help="the Lease's name")
    p.add_argument(
        f"--{prefix}resync-seconds",
        type=_seconds,
        default=DEFAULTS.resync_seconds,
        metavar="SECONDS",
        help=f"full pass at least this often (default {DEFAULTS.resync_seconds:g})",
    )
    env_dir = os.environ.get(CERTS_DIR_ENV) or None
    p.add_argument(
        f"--{prefix}certs-dir",
        type=Path,
        default=Path(env_dir) if env_dir else None,
        metavar="DIR",
        help="keep the webhooks' caBundle equal to DIR/ca-bundle.crt (not with cert-manager;"
        f" default ${CERTS_DIR_ENV})",
    )
    p.add_argument(
        f"--{prefix}webhook-config-name",
        action="append",
        metavar="NAME",
        help=f"webhook configurations to patch (default {', '.join(DEFAULTS.webhook_config_names)})",
    )


def _seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = 0.0
    if not value >= 1:
        raise argparse.ArgumentTypeError(f"want a number of seconds >= 1, got {text!r}")
    return value


def options_from(args: argparse.Namespace, prefix: str = "") -> SyncOptions:
    """The SyncOptions of parsed flags (`prefix` "sync_" for `hermetic serve`)."""

    def get(name: str) -> Any:
        return getattr(args, prefix + name)

    names = get("webhook_config_name")
    return SyncOptions(
        namespace=get("namespace"),
        lease_name=get("lease_name"),
        resync_seconds=get("resync_seconds"),
        certs_dir=get("certs_dir"),
        webhook_config_names=tuple(names) if names else DEFAULTS.webhook_config_names,
    )


def run(args: argparse.Namespace) -> int:
    """Load the policy, then reconcile until interrupted (or once); return the exit code."""
    try:
        provider = FilePolicy(PolicySource(tuple(args.policy or ()), args.bundle))
    except PolicyLoadError as exc:
        print(f"{exc}\nhermetic sync: the policy has errors; not syncing", file=sys.stderr)
        return EXIT_PROBLEMS
    logs.configure()
    logging.getLogger("leaderelection").setLevel(logging.WARNING)
    options = options_from(args)
    try:
        if args.once:
            return _once(provider, options, args.kubeconfig)
        handle = start_in_background(provider, options, kubeconfig=args.kubeconfig)
    except SyncConfigError as exc:
        print(f"hermetic sync: {exc}", file=sys.stderr)
        return EXIT_USAGE
    _stop_on_sigterm(handle)
    try:
        handle.wait()
    finally:
        handle.stop()
    return EXIT_OK


def _once(
    provider: Callable[[], CompiledPolicy], options: SyncOptions, kubeconfig: str | None
) -> int:
    try:
        outcome = run_once(provider, options, kubeconfig=kubeconfig)
    except GaveUp as exc:
        print(f"hermetic sync: cannot reach the cluster: {exc}", file=sys.stderr)
        return EXIT_USAGE
    return EXIT_PROBLEMS if outcome.failed else EXIT_OK


def _stop_on_sigterm(handle: SyncHandle) -> None:
    """SIGTERM (a pod being stopped) ends the controller like Ctrl-C: the Lease is released."""
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, lambda signum, frame: handle.stopping.set())


# --- `hermetic serve --sync` ---------------------------------------------------------------


def add_serve_arguments(p: argparse.ArgumentParser) -> None:
    """Add `--sync` and its `--sync-*` options to `hermetic serve`'s parser."""
    p.add_argument(
        "--sync", action="store_true", help="also run the sync controller (leader-elected)"
    )
    _add_options(p, prefix="sync-")


def start_for_serve(
    args: argparse.Namespace, policy: Callable[[], CompiledPolicy | None]
) -> SyncHandle | None:
    """Start the controller beside the webhook when `--sync` was given (None otherwise).
    `policy` returns the webhook's current policy. Raises SyncConfigError without credentials."""
    if not args.sync:
        return None
    return start_in_background(policy, options_from(args, prefix="sync_"))
