"""Serving the webhook: uvicorn over TLS 1.2+, with the policy and certificate watchers.

`prepare` loads everything that can fail (the policy, the certificate) before a socket is
opened; `serve` runs uvicorn and the reload watcher in one event loop, so certificate
swaps happen in the thread that makes the handshakes. `run` is `hermetic serve`;
`BackgroundServer` runs the same thing in a thread, for tests and the benchmark.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import importlib.util
import logging
import socket
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

import uvicorn
from fastapi import FastAPI

from compiler import native
from webhook import logs
from webhook.app import create_app
from webhook.deciders import Deciders
from webhook.policy import PolicySource
from webhook.reload import (
    DEFAULT_INTERVAL,
    Reloader,
    certificate_reloader,
    fingerprint,
    policy_reloader,
    watch,
)
from webhook.state import WebhookState
from webhook.tls import ServingTLS

# The API server's HTTP client keeps idle connections for 90 s (Go's IdleConnTimeout). A
# server that closes them sooner races the client reusing them, and a POST that meets a
# closed connection is not retried: it fails the call (failurePolicy). So outwait it.
KEEP_ALIVE_SECONDS: Final = 120
# On shutdown, uvicorn waits for every connection to close, and closing a TLS connection
# waits for the peer's close_notify (asyncio: up to 30 s). Requests take microseconds, so
# a peer still holding an idle connection after this long is not waited for.
GRACEFUL_SHUTDOWN_SECONDS: Final = 3
BACKLOG: Final = 2048
HTTP_PROTOCOL: Final = "httptools" if importlib.util.find_spec("httptools") else "h11"


@dataclass(frozen=True, slots=True, kw_only=True)
class ServeOptions:
    """What `hermetic serve` was asked for."""

    source: PolicySource
    cert: Path
    key: Path
    client_ca: Path | None = None
    host: str = "0.0.0.0"
    port: int = 8443
    reload_interval: float = DEFAULT_INTERVAL


@dataclass(slots=True, kw_only=True)
class Webhook:
    """A loaded webhook, ready to serve: its state, app, TLS context and watchers."""

    options: ServeOptions
    state: WebhookState
    app: FastAPI
    tls: ServingTLS
    reloaders: list[Reloader] = field(default_factory=list)

    def uvicorn_config(self) -> uvicorn.Config:
        """uvicorn's settings: our SSL context, our logs, nothing else in the way."""
        context = self.tls.context
        return uvicorn.Config(
            self.app,
            host=self.options.host,
            port=self.options.port,
            http=HTTP_PROTOCOL,
            loop="asyncio",
            ws="none",
            lifespan="off",
            access_log=False,  # webhook.logs writes one line per admission
            log_config=None,
            server_header=False,
            proxy_headers=False,
            timeout_keep_alive=KEEP_ALIVE_SECONDS,
            timeout_graceful_shutdown=GRACEFUL_SHUTDOWN_SECONDS,
            ssl_context_factory=lambda config, default: context,
        )


def prepare(options: ServeOptions, deciders: Deciders | None = None) -> Webhook:
    """Load the policy and the certificate; PolicyLoadError or CertsError if either fails."""
    state = WebhookState()
    policy_marks = fingerprint(options.source.files())
    state.install(options.source.load())
    cert_marks = fingerprint([p for p in (options.cert, options.key, options.client_ca) if p])
    tls = ServingTLS(options.cert, options.key, options.client_ca)
    state.cert_not_after = tls.not_after
    app = create_app(state, deciders=deciders)
    reloaders = [
        policy_reloader(options.source, state, policy_marks),
        certificate_reloader(tls, state, cert_marks),
    ]
    return Webhook(options=options, state=state, app=app, tls=tls, reloaders=reloaders)


def bind(host: str, port: int) -> socket.socket:
    """A listening TCP socket for `host:port` (OSError if taken); uvicorn serves on it."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    # IPPROTO_TCP, not 0: asyncio sets TCP_NODELAY only on sockets that say they are TCP,
    # and without it every response waits for the peer's delayed ACK (~40 ms).
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
        sock.listen(BACKLOG)  # now: a client that comes before uvicorn is up waits, not fails
    except OSError:
        sock.close()
        raise
    return sock


async def serve(webhook: Webhook, server: uvicorn.Server, sock: socket.socket) -> None:
    """Run `server` on `sock` with the reload watcher beside it until the server exits."""
    watcher = asyncio.create_task(watch(webhook.reloaders, webhook.options.reload_interval))
    try:
        await server.serve(sockets=[sock])
    finally:
        watcher.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await watcher


def settle_heap() -> None:
    """Move everything loaded so far out of the garbage collector's sight.

    The modules, the app and the compiled policy are some 80,000 objects that live as long
    as the process; a full collection walks all of them and stalls every request in flight
    for 70-120 ms on the development machine. Frozen, a full collection only walks what
    requests and reloads allocate.
    """
    gc.collect()
    gc.freeze()


def run(webhook: Webhook) -> None:
    """Serve until SIGINT/SIGTERM (uvicorn's signal handling)."""
    settle_heap()
    sock = bind(webhook.options.host, webhook.options.port)
    with sock:
        host, port = sock.getsockname()[:2]
        snapshot = webhook.state.snapshot
        logs.event(
            logging.INFO,
            "listening",
            url=f"https://{host}:{port}",
            port=port,
            digest=snapshot.digest if snapshot is not None else None,
            http=HTTP_PROTOCOL,
            admission=native.describe(),
        )
        server = uvicorn.Server(webhook.uvicorn_config())
        asyncio.run(serve(webhook, server, sock))


class BackgroundServer:
    """`with BackgroundServer(webhook) as srv:` serves on 127.0.0.1:<ephemeral> in a thread.

    `srv.url` is the base URL; leaving the block stops uvicorn and joins the thread.
    """

    def __init__(self, webhook: Webhook, host: str = "127.0.0.1") -> None:
        self.webhook = webhook
        self.sock = bind(host, 0)
        self.port: int = self.sock.getsockname()[1]
        self.url = f"https://{host}:{self.port}"
        self.server = uvicorn.Server(webhook.uvicorn_config())
        self._thread = threading.Thread(target=self._main, name="hermetic-webhook", daemon=True)
        self._error: BaseException | None = None

    def _main(self) -> None:
        try:
            asyncio.run(serve(self.webhook, self.server, self.sock))
        except BaseException as exc:  # reported by __enter__/__exit__
            self._error = exc

    def __enter__(self) -> BackgroundServer:
        self._thread.start()
        deadline = time.monotonic() + 10
        while not self.server.started:
            if self._error is not None or not self._thread.is_alive():
                raise RuntimeError(f"webhook server did not start: {self._error!r}")
            if time.monotonic() > deadline:
                raise TimeoutError("webhook server did not start within 10 s")
            time.sleep(0.01)
        return self

    def __exit__(self, *exc: Any) -> None:
        self.stop()

    def stop(self) -> None:
        """Stop serving and wait for the thread (and its event loop) to finish."""
        self.server.should_exit = True
        self._thread.join(timeout=15)
        self.sock.close()
        if self._thread.is_alive():
            raise RuntimeError("webhook server thread did not stop")
