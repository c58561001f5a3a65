"""The hermetic admission webhook: a thin HTTP shell around `compiler.admission`.

webhook.review    AdmissionReview v1 wire format (TypedDicts), parsing and responses
webhook.handler   POST /mutate and /validate as raw ASGI apps; the two error channels
webhook.app       create_app(state) -> FastAPI: admission routes, probes, /metrics
webhook.state     the policy snapshot in force, swapped atomically; readiness
webhook.policy    loading policy files or a bundle into a snapshot, with its digest
webhook.reload    polling watchers for the policy and the certificate
webhook.tls       the live SSL context and reloading a certificate into it
webhook.server    uvicorn over TLS, `hermetic serve`, a background server for tests
webhook.metrics   Prometheus metrics; webhook.logs: one JSON line per admission
webhook.client    sending an object as an AdmissionReview (`hermetic review`)
"""

from webhook.app import create_app
from webhook.deciders import Deciders
from webhook.state import PolicySnapshot, WebhookState

__all__ = ["Deciders", "PolicySnapshot", "WebhookState", "create_app"]
