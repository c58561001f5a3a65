"""Prometheus metrics, in a registry of the app's own (two apps in one process never clash).

Request-path metrics are updated as requests finish; the policy and certificate gauges are
read from `WebhookState` when `/metrics` is scraped, so reloads need not know about metrics.

    hermetic_admissions_total{endpoint,decision,tenant,tier}    decision: allowed|patched|denied|error
    hermetic_admission_duration_seconds{endpoint}               histogram, 100 µs .. 10 s
    hermetic_bad_requests_total{endpoint,reason}                HTTP 400s (malformed reviews)
    hermetic_build_info{admission}                              1; admission: mypyc|python, the build deciding
    hermetic_policy_info{name,version,digest}                   1 for the policy in force
    hermetic_policy_reload_ok                                   0 while the last reload failed
    hermetic_policy_reload_failures_total / _reloads_total
    hermetic_certificate_expiry_seconds                         until the served certificate expires
    hermetic_certificate_reload_failures_total / _reloads_total
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any, Final

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector

from compiler import native
from webhook.state import WebhookState

CONTENT_TYPE: Final = "text/plain; version=0.0.4; charset=utf-8"

# Decisions take tens of microseconds; the API server gives up after timeoutSeconds (1-30 s).
LATENCY_BUCKETS: Final = (
    0.0001,
    0.00025,
    0.0005,
    0.001,
    0.0025,
    0.005,
    0.01,
    0.025,
    0.05,
    0.1,
    0.25,
    0.5,
    1.0,
    2.5,
    5.0,
    10.0,
)


class Metrics:
    """The webhook's metrics for one app; `render()` is the `/metrics` body."""

    def __init__(self, state: WebhookState) -> None:
        self.registry = CollectorRegistry(auto_describe=False)
        self._admissions = Counter(
            "hermetic_admissions",
            "Admission reviews answered, by endpoint, decision, tenant and tier.",
            ("endpoint", "decision", "tenant", "tier"),
            registry=self.registry,
        )
        self._latency = Histogram(
            "hermetic_admission_duration_seconds",
            "Time from the request body being read to the response being built.",
            ("endpoint",),
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self._bad = Counter(
            "hermetic_bad_requests",
            "Requests refused with HTTP 400 because they are not a usable AdmissionReview.",
            ("endpoint", "reason"),
            registry=self.registry,
        )
        self.registry.register(_StateCollector(state))
        # labels() costs a lock and a dict lookup per call; the children are few, keep them.
        self._children: dict[tuple[str, ...], Any] = {}

    def admission(
        self, endpoint: str, decision: str, tenant: str, tier: str, seconds: float
    ) -> None:
        """Count one answered review and observe its duration."""
        key = (endpoint, decision, tenant, tier)
        counter = self._children.get(key)
        if counter is None:
            counter = self._children[key] = self._admissions.labels(*key)
        counter.inc()
        histogram = self._children.get((endpoint,))
        if histogram is None:
            histogram = self._children[(endpoint,)] = self._latency.labels(endpoint)
        histogram.observe(seconds)

    def bad_request(self, endpoint: str, reason: str) -> None:
        """Count one review refused with a 400."""
        self._bad.labels(endpoint, reason).inc()

    def render(self) -> bytes:
        """The text exposition of every metric."""
        return bytes(generate_latest(self.registry))


class _StateCollector(Collector):
    """Policy and certificate gauges, read from the state at scrape time."""

    def __init__(self, state: WebhookState) -> None:
        self._state = state

    def collect(self) -> Iterator[Any]:
        build = GaugeMetricFamily(
            "hermetic_build_info",
            "The build of the admission path deciding: compiled with mypyc, or Python (value 1).",
            labels=("admission",),
        )
        build.add_metric(("mypyc" if native.compiled() else "python",), 1.0)
        yield build
        yield from self._policy()
        yield from self._certificate()

    def _policy(self) -> Iterator[Any]:
        state = self._state
        info = GaugeMetricFamily(
            "hermetic_policy_info",
            "The policy in force: its name, version and bundle digest (value 1).",
            labels=("name", "version", "digest"),
        )
        if state.snapshot is not None:
            snap = state.snapshot
            info.add_metric((snap.name, snap.version, snap.digest), 1.0)
        yield info
        yield GaugeMetricFamily(
            "hermetic_policy_reload_ok",
            "1 if the last policy reload succeeded (or none was needed), 0 if it failed.",
            value=1.0 if state.policy_reload.ok else 0.0,
        )
        yield from _reload_counters(
            "policy", state.policy_reload.successes, state.policy_reload.failures
        )

    def _certificate(self) -> Iterator[Any]:
        state = self._state
        if state.cert_not_after is not None:
            yield GaugeMetricFamily(
                "hermetic_certificate_expiry_seconds",
                "Seconds until the serving certificate expires (negative once expired).",
                value=state.cert_not_after - time.time(),
            )
        yield from _reload_counters(
            "certificate", state.cert_reload.successes, state.cert_reload.failures
        )


def _reload_counters(what: str, successes: int, failures: int) -> Iterator[Any]:
    yield CounterMetricFamily(
        f"hermetic_{what}_reloads", f"Successful {what} reloads.", value=successes
    )
    yield CounterMetricFamily(
        f"hermetic_{what}_reload_failures",
        f"{what.capitalize()} reloads that failed; the previous {what} stayed in force.",
        value=failures,
    )
