"""`hermetic serve`: the admission webhook over HTTPS.

    hermetic serve (--policy PATH... | --bundle FILE) --cert FILE --key FILE
                   [--client-ca FILE] [--host H] [--port 8443] [--reload-interval 1.0]

Serves POST /mutate and /validate (AdmissionReview v1), GET /healthz, /readyz and /metrics,
with TLS 1.2 or newer; with `--client-ca`, clients must present a certificate it signed.
Policy files and certificate files are watched and swapped in without a restart; a broken
new policy keeps the last good one in force. Logs are JSON lines on stderr.

Exit codes: 0 after a clean shutdown (SIGTERM); 130 on SIGINT; 1 the policy has errors (printed as diagnostics);
2 usage or I/O errors (a missing or mismatched certificate, a port in use).
"""

from __future__ import annotations

import argparse
import signal
import sys
from pathlib import Path
from types import FrameType

import certs
from cli.main import EXIT_OK, EXIT_PROBLEMS, EXIT_USAGE
from cli.sync import add_serve_arguments, start_for_serve
from webhook import logs
from webhook.policy import PolicyLoadError, PolicySource
from webhook.reload import DEFAULT_INTERVAL
from webhook.server import ServeOptions, prepare
from webhook.server import run as run_server
from webhook.sync import SyncConfigError


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add `hermetic serve` to the `hermetic` parser."""
    p = sub.add_parser("serve", help="serve the admission webhook over HTTPS")
    source = p.add_mutually_exclusive_group(required=True)
    source.add_argument("--policy", nargs="+", metavar="PATH", help="policy files or directories")
    source.add_argument("--bundle", metavar="FILE", help="a bundle written by `hermetic compile`")
    p.add_argument("--cert", required=True, type=Path, help="serving certificate (PEM chain)")
    p.add_argument("--key", required=True, type=Path, help="its private key (PEM)")
    p.add_argument(
        "--client-ca", type=Path, help="require client certificates signed by this CA bundle"
    )
    p.add_argument("--host", default="0.0.0.0", help="address to listen on (default 0.0.0.0)")
    p.add_argument("--port", type=int, default=8443, help="port to listen on (default 8443)")
    p.add_argument(
        "--reload-interval",
        type=float,
        default=DEFAULT_INTERVAL,
        metavar="SECONDS",
        help=f"how often to check policy and certificate files (default {DEFAULT_INTERVAL})",
    )
    add_serve_arguments(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Load, then serve until interrupted; return the exit code."""
    options = ServeOptions(
        source=PolicySource(tuple(args.policy or ()), args.bundle),
        cert=args.cert,
        key=args.key,
        client_ca=args.client_ca,
        host=args.host,
        port=args.port,
        reload_interval=args.reload_interval,
    )
    try:
        webhook = prepare(options)
    except PolicyLoadError as exc:
        print(f"{exc}\nhermetic serve: the policy has errors; not serving", file=sys.stderr)
        return EXIT_PROBLEMS
    except certs.CertsError as exc:
        print(f"hermetic serve: {exc}", file=sys.stderr)
        return EXIT_USAGE
    logs.configure()
    state = webhook.state
    try:
        # the controller follows the webhook's policy: a hot reload reaches both
        controller = start_for_serve(
            args, lambda: state.snapshot.policy if state.snapshot else None
        )
    except SyncConfigError as exc:
        print(f"hermetic serve: --sync: {exc}", file=sys.stderr)
        return EXIT_USAGE
    # uvicorn shuts down gracefully on SIGTERM, then re-raises the signal it caught; with
    # this handler the process then exits 0 instead of dying by the signal (and a SIGTERM
    # that arrives before uvicorn listens ends it at once, with 0 too).
    previous = signal.signal(signal.SIGTERM, _terminated)
    try:
        run_server(webhook)
    except OSError as exc:
        print(f"hermetic serve: cannot listen on {args.host}:{args.port}: {exc}", file=sys.stderr)
        return EXIT_USAGE
    finally:
        signal.signal(signal.SIGTERM, previous)
        if controller is not None:
            controller.stop()
    return EXIT_OK


def _terminated(signum: int, frame: FrameType | None) -> None:
    """SIGTERM outside uvicorn's own handling: a clean exit."""
    raise SystemExit(EXIT_OK)
