"""The webhook's HTTP app: two raw admission routes and three plain FastAPI ones.

    POST /mutate     AdmissionReview v1 -> compiler.admission.mutate   (webhook.handler)
    POST /validate   AdmissionReview v1 -> compiler.admission.validate (the backstop)
    GET  /healthz    the process is serving
    GET  /readyz     200 once a valid policy is loaded, else 503
    GET  /metrics    Prometheus text (webhook.metrics)

The admission routes are raw ASGI apps: no pydantic model, no dependency injection, the
body read once and the pod kept as the API server's dict. The decision functions are
injectable (`deciders`) so the HTTP layer can be tested on its own.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.responses import JSONResponse, Response
from starlette.routing import Route

from webhook.asgi import MAX_BODY_BYTES, Receive, Scope, Send
from webhook.deciders import Deciders, admission_deciders
from webhook.handler import AdmissionEndpoint, Endpoint
from webhook.metrics import CONTENT_TYPE, Metrics
from webhook.state import WebhookState


class WebhookApp(FastAPI):
    """FastAPI, with the admission routes dispatched ahead of the middleware stack.

    The routes are registered with the router too (so GET /mutate is a 405 as before); the
    shortcut only skips the exception and telemetry middleware for the hot path, whose
    handler answers every failure itself (webhook.handler).
    """

    def __init__(self, admission: dict[str, AdmissionEndpoint], **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.admission = admission
        for path, handler in admission.items():
            self.router.routes.append(Route(path, handler, methods=["POST"]))

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] == "POST":
            handler = self.admission.get(scope["path"])
            if handler is not None:
                await handler(scope, receive, send)
                return
        await super().__call__(scope, receive, send)


def create_app(
    state: WebhookState,
    *,
    deciders: Deciders | None = None,
    max_body: int = MAX_BODY_BYTES,
) -> FastAPI:
    """The webhook app over `state`; `deciders` defaults to `compiler.admission`'s."""
    chosen = deciders if deciders is not None else admission_deciders()
    metrics = Metrics(state)
    endpoints: tuple[Endpoint, ...] = ("mutate", "validate")
    app = WebhookApp(
        {f"/{e}": AdmissionEndpoint(e, state, chosen, metrics, max_body) for e in endpoints},
        title="hermetic webhook",
        docs_url=None,
        redoc_url=None,
        openapi_url=None,
        # webhook.metrics and webhook.logs cover it; FastAPI's native OpenTelemetry would
        # otherwise look up three global providers on every request.
        telemetry={"tracing": False, "metrics": False, "logs": False},
    )
    app.state.webhook = state
    app.state.metrics = metrics
    _add_probes(app, state, metrics)
    return app


def _add_probes(app: FastAPI, state: WebhookState, metrics: Metrics) -> None:
    @app.get("/healthz")
    async def healthz() -> JSONResponse:
        return JSONResponse({"status": "ok"})

    @app.get("/readyz")
    async def readyz() -> JSONResponse:
        snapshot = state.snapshot
        if snapshot is None:
            return JSONResponse({"status": "not ready", "reason": "no policy loaded"}, 503)
        return JSONResponse({"status": "ready", "policy": snapshot.name, "digest": snapshot.digest})

    @app.get("/metrics")
    async def prometheus() -> Response:
        return Response(metrics.render(), media_type=CONTENT_TYPE)
