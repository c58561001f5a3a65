"""The controller's apply/delete layer against an in-memory API: convergence, drift repair,
retries with backoff, and no exit on transient errors."""

from __future__ import annotations

import json
import logging
import threading
import time
from pathlib import Path
from typing import Any

import pytest

import certs
from compiler.labels import MANAGED_BY, TENANT
from compiler.model import CompiledPolicy
from compiler.targets.webhooks import NAME as WEBHOOK_NAME
from compiler.targets.webhooks import configurations
from tests.test_sync_fakeapi import FakeApiServer
from tests.test_sync_reconcile import load_policy
from webhook.sync import Controller, SyncOptions
from webhook.sync.api import Api, ApiError
from webhook.sync.retry import Backoff, GaveUp, retry

FAST = SyncOptions(backoff_initial=0.001, backoff_cap=0.004, attempts=4, watch=False)
NETPOL = "/apis/networking.k8s.io/v1"


@pytest.fixture(scope="module")
def policy() -> CompiledPolicy:
    return load_policy()


@pytest.fixture
def server() -> FakeApiServer:
    api = FakeApiServer()
    for name in ("alpha-x", "replay-1", "gamma", "kube-system", "hermetic-system"):
        api.add_namespace(name)
    return api


def controller(server: FakeApiServer, policy: CompiledPolicy | Any, **options: Any) -> Controller:
    opts = SyncOptions(**{**_fields(FAST), **options})
    provider = policy if callable(policy) else (lambda: policy)
    return Controller(Api(server), provider, opts)


def _fields(o: SyncOptions) -> dict[str, Any]:
    return {f: getattr(o, f) for f in o.__dataclass_fields__}


def events(caplog: pytest.LogCaptureFixture, name: str | None = None) -> list[dict[str, Any]]:
    out = [json.loads(r.getMessage()) for r in caplog.records if r.name == "hermetic.sync"]
    return [e for e in out if name is None or e["event"] == name]


# --- convergence --------------------------------------------------------------------------------


def test_first_pass_converges_and_the_second_writes_nothing(
    server: FakeApiServer, policy: CompiledPolicy
) -> None:
    c = controller(server, policy)
    first = c.sync_once(threading.Event())
    assert first.failed == 0 and first.applied > 0 and first.labelled == 2
    assert server.namespace("alpha-x")["metadata"]["labels"][TENANT] == "alpha-research"
    assert server.namespace("replay-1")["metadata"]["labels"][TENANT] == "replay"
    assert "hermetic-default-deny" in server.namespaced("networkpolicies", "alpha-x")
    for untouched in ("gamma", "kube-system", "hermetic-system"):
        assert server.namespace(untouched)["metadata"]["labels"] == {}
        assert server.namespaced("networkpolicies", untouched) == {}
    server.calls.clear()
    second = c.sync_once(threading.Event())
    assert server.writes() == []
    assert second.unchanged == first.applied
    # a fresh controller (another replica took over) does not rewrite either
    server.calls.clear()
    controller(server, policy).sync_once(threading.Event())
    assert server.writes() == []


def test_a_deleted_or_edited_object_comes_back(
    server: FakeApiServer, policy: CompiledPolicy
) -> None:
    c = controller(server, policy)
    c.sync_once(threading.Event())
    key = (NETPOL, "networkpolicies", "alpha-x", "hermetic-default-deny")
    original = json.loads(json.dumps(server.objects[key]))
    del server.objects[key]
    edited = (NETPOL, "networkpolicies", "alpha-x", "hermetic-allow")
    server.edit(edited, lambda o: o["spec"].update(egress=[]))
    outcome = c.sync_once(threading.Event())
    assert outcome.applied == 2
    assert server.objects[key]["spec"] == original["spec"]
    assert server.objects[edited]["spec"]["egress"] != []


def test_a_policy_change_reapplies_and_prunes(
    server: FakeApiServer, policy: CompiledPolicy
) -> None:
    current = {"policy": policy}
    c = controller(server, lambda: current["policy"])
    c.sync_once(threading.Event())
    assert server.namespaced("resourcequotas", "replay-1")
    server.add(NETPOL, "networkpolicies", _netpol("gamma", "left-over", managed=True))
    server.add(NETPOL, "networkpolicies", _netpol("gamma", "theirs", managed=False))
    current["policy"] = load_policy(drop_tenant="replay")
    outcome = c.sync_once(threading.Event())
    assert outcome.failed == 0
    assert server.namespaced("resourcequotas", "replay-1") == {}
    assert server.namespaced("networkpolicies", "replay-1") == {}
    assert TENANT not in server.namespace("replay-1")["metadata"]["labels"]
    assert set(server.namespaced("networkpolicies", "gamma")) == {"theirs"}
    assert server.namespace("alpha-x")["metadata"]["labels"][TENANT] == "alpha-research"


def test_labels_set_by_others_survive_unlabelling(
    server: FakeApiServer, policy: CompiledPolicy
) -> None:
    server.add_namespace("replay-2", {"team": "ops"})
    current = {"policy": policy}
    c = controller(server, lambda: current["policy"])
    c.sync_once(threading.Event())
    current["policy"] = load_policy(drop_tenant="replay")
    c.sync_once(threading.Event())
    assert server.namespace("replay-2")["metadata"]["labels"] == {"team": "ops"}


# --- errors ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "error",
    [
        ApiError(503, "ServiceUnavailable"),
        ApiError(500, "InternalError"),
        ApiError(429, "TooManyRequests"),
        ApiError(409, "Conflict"),
        ConnectionResetError("connection reset by peer"),
        TimeoutError("timed out"),
    ],
    ids=["503", "500", "429", "409", "reset", "timeout"],
)
def test_transient_errors_are_retried(
    server: FakeApiServer, policy: CompiledPolicy, error: BaseException
) -> None:
    server.fail("PATCH", "/networkpolicies/hermetic-default-deny", 2, error)
    server.fail("GET", "/api/v1/namespaces", 2, error)
    outcome = controller(server, policy).sync_once(threading.Event())
    assert outcome.failed == 0
    assert "hermetic-default-deny" in server.namespaced("networkpolicies", "alpha-x")
    patches = [c for c in server.calls if c[1].endswith("/networkpolicies/hermetic-default-deny")]
    assert len(patches) == 2 + 1 + 1  # two failures and a success in alpha-x; one in replay-1


def test_an_action_that_keeps_failing_waits_for_the_next_pass(
    server: FakeApiServer, policy: CompiledPolicy, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, "hermetic.sync")
    path = "/namespaces/alpha-x/networkpolicies/hermetic-default-deny"
    server.fail("PATCH", path, 100, ApiError(503, "ServiceUnavailable"))
    c = controller(server, policy)
    outcome = c.sync_once(threading.Event())
    assert outcome.failed == 1
    assert len([x for x in server.calls if x[1].endswith(path)]) == FAST.attempts
    assert "hermetic-allow" in server.namespaced("networkpolicies", "alpha-x")  # the rest went on
    (failed,) = events(caplog, "action_failed")
    assert failed["level"] == "error" and "hermetic-default-deny" in failed["action"]
    assert len(events(caplog, "retry")) == FAST.attempts
    server.faults.clear()
    assert c.sync_once(threading.Event()).failed == 0
    assert "hermetic-default-deny" in server.namespaced("networkpolicies", "alpha-x")


def test_a_refused_action_is_not_retried(server: FakeApiServer, policy: CompiledPolicy) -> None:
    path = "/namespaces/alpha-x/networkpolicies/hermetic-allow"
    server.fail("PATCH", path, 100, ApiError(422, "Invalid", "spec.egress: invalid"))
    outcome = controller(server, policy).sync_once(threading.Event())
    assert outcome.failed == 1
    assert len([x for x in server.calls if x[1].endswith(path)]) == 1


def test_a_namespace_deleted_meanwhile_is_not_an_error(
    server: FakeApiServer, policy: CompiledPolicy
) -> None:
    path = "/namespaces/alpha-x/"
    server.fail("PATCH", path, 100, ApiError(404, "NotFound", 'namespaces "alpha-x" not found'))
    assert controller(server, policy).sync_once(threading.Event()).failed == 0


def test_unreachable_api_gives_up_the_pass_not_the_process(
    server: FakeApiServer, policy: CompiledPolicy
) -> None:
    server.fail("GET", "/api/v1/namespaces", 100, ConnectionRefusedError("connection refused"))
    with pytest.raises(GaveUp):
        controller(server, policy).sync_once(threading.Event())


def test_missing_crds_are_skipped_and_logged_once_per_pass(
    server: FakeApiServer, policy: CompiledPolicy, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, "hermetic.sync")
    server.uninstall("security.istio.io")
    c = controller(server, policy)
    outcome = c.sync_once(threading.Event())
    assert outcome.failed == 0
    assert sorted(outcome.unavailable) == [
        "AuthorizationPolicy.security.istio.io/v1",
        "PeerAuthentication.security.istio.io/v1",
    ]
    assert "hermetic-default-deny" in server.namespaced("networkpolicies", "alpha-x")
    warned = events(caplog, "kind_unavailable")
    assert len(warned) == 2 and {w["level"] for w in warned} == {"warning"}
    # linkerd's kinds are missing nowhere here; a policy without linkerd would not warn
    caplog.clear()
    c.sync_once(threading.Event())
    assert len(events(caplog, "kind_unavailable")) == 2


def test_every_action_is_one_json_line(
    server: FakeApiServer, policy: CompiledPolicy, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, "hermetic.sync")
    outcome = controller(server, policy).sync_once(threading.Event())
    lines = events(caplog)
    assert len(events(caplog, "applied")) == outcome.applied
    assert len(events(caplog, "labelled")) == outcome.labelled
    assert all({"ts", "level", "event"} <= set(e) for e in lines)
    (summary,) = events(caplog, "pass")
    assert summary["applied"] == outcome.applied and summary["failed"] == 0


# --- backoff --------------------------------------------------------------------------------------


def test_backoff_doubles_and_is_capped() -> None:
    b = Backoff(initial=0.5, factor=2, cap=4, jitter=lambda: 1.0)
    assert [b.next() for _ in range(6)] == [0.5, 1, 2, 4, 4, 4]
    b.reset()
    assert b.next() == 0.5


def test_retry_waits_between_attempts_and_stops_when_told() -> None:
    waits: list[float] = []
    failures = iter([ApiError(503, "x"), ApiError(429, "y")])

    def fn() -> str:
        for failure in failures:
            raise failure
        return "ok"

    def wait(delay: float) -> bool:
        waits.append(delay)
        return False

    backoff = Backoff(initial=1, cap=8, jitter=lambda: 1.0)
    stop = threading.Event()
    assert retry(fn, what="x", stop=stop, backoff=backoff, wait=wait) == "ok"
    assert waits == [1, 2]
    stop.set()
    with pytest.raises(GaveUp):
        retry(lambda: "never", what="x", stop=stop)


# --- caBundle -------------------------------------------------------------------------------------


def _webhook_configurations(server: FakeApiServer, policy: CompiledPolicy) -> None:
    base = "/apis/admissionregistration.k8s.io/v1"
    mutating, validating = configurations(policy)
    server.add(base, "mutatingwebhookconfigurations", mutating)
    server.add(base, "validatingwebhookconfigurations", validating)


def _bundles(server: FakeApiServer) -> set[str]:
    return {
        w["clientConfig"]["caBundle"]
        for (b, p, _, n), o in server.objects.items()
        if p.endswith("webhookconfigurations") and n == WEBHOOK_NAME
        for w in o["webhooks"]
    }


def test_ca_bundle_follows_a_rotation(
    server: FakeApiServer, policy: CompiledPolicy, tmp_path: Path
) -> None:
    _webhook_configurations(server, policy)
    certs.issue(tmp_path, "hermetic", "hermetic-system")
    c = controller(server, policy, certs_dir=tmp_path)
    c.sync_once(threading.Event())
    assert _bundles(server) == {certs.ca_bundle_value(certs.read_bundle(tmp_path))}
    server.calls.clear()
    c.sync_once(threading.Event())
    assert not [w for w in server.writes() if "webhookconfigurations" in w[1]]
    rotation = certs.rotate(tmp_path)
    c.sync_once(threading.Event())
    assert _bundles(server) == {certs.ca_bundle_value(rotation.bundle)}
    certs.finish_rotation(tmp_path)
    c.sync_once(threading.Event())
    assert _bundles(server) == {certs.ca_bundle_value((rotation.ca.cert,))}


def test_without_certs_dir_ca_bundles_are_left_alone(
    server: FakeApiServer, policy: CompiledPolicy
) -> None:
    _webhook_configurations(server, policy)
    controller(server, policy).sync_once(threading.Event())
    assert _bundles(server) == {""}


def test_a_missing_webhook_configuration_is_a_warning(
    server: FakeApiServer, policy: CompiledPolicy, tmp_path: Path
) -> None:
    certs.issue(tmp_path, "hermetic", "hermetic-system")
    outcome = controller(server, policy, certs_dir=tmp_path).sync_once(threading.Event())
    assert outcome.failed == 0


# --- the loop -------------------------------------------------------------------------------------


def test_the_loop_survives_an_outage_and_stops_promptly(
    server: FakeApiServer, policy: CompiledPolicy
) -> None:
    server.fail("GET", "/api/v1/namespaces", 6, ConnectionRefusedError("refused"))
    c = controller(server, policy, tick_seconds=0.01, debounce_seconds=0.0, resync_seconds=1)
    stop = threading.Event()
    thread = threading.Thread(target=c.run, args=(stop,), daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while "hermetic-default-deny" not in server.namespaced("networkpolicies", "alpha-x"):
        assert time.monotonic() < deadline, "the controller never recovered"
        time.sleep(0.02)
    stop.set()
    thread.join(2)
    assert not thread.is_alive()


def test_the_loop_reacts_to_a_wake_before_the_resync(
    server: FakeApiServer, policy: CompiledPolicy
) -> None:
    c = controller(server, policy, tick_seconds=0.01, debounce_seconds=0.0, resync_seconds=3600)
    stop = threading.Event()
    thread = threading.Thread(target=c.run, args=(stop,), daemon=True)
    thread.start()
    try:
        _wait_for(
            lambda: "hermetic-default-deny" in server.namespaced("networkpolicies", "alpha-x")
        )
        del server.objects[(NETPOL, "networkpolicies", "alpha-x", "hermetic-default-deny")]
        c.wake.set()  # what the watch does on a DELETED event
        _wait_for(
            lambda: "hermetic-default-deny" in server.namespaced("networkpolicies", "alpha-x")
        )
    finally:
        stop.set()
        thread.join(2)


def _wait_for(condition: Any, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline
        time.sleep(0.01)


def _netpol(namespace: str, name: str, *, managed: bool) -> dict[str, Any]:
    labels = {MANAGED_BY: "hermetic"} if managed else {}
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": {"name": name, "namespace": namespace, "labels": labels},
        "spec": {"podSelector": {}},
    }
