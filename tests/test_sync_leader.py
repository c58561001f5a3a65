"""Leader election: one leader among replicas, hand-over on stop, survival of API errors;
and the watches' filters and restart logic."""

from __future__ import annotations

import copy
import json
import threading
import time
from collections.abc import Callable, Iterator
from types import SimpleNamespace
from typing import Any

import pytest

from tests.test_sync_controller import controller
from tests.test_sync_fakeapi import FakeApiServer
from tests.test_sync_reconcile import load_policy
from webhook.sync.api import Api, ApiError
from webhook.sync.kinds import NETWORK_POLICY, Key
from webhook.sync.leader import LeaderElector
from webhook.sync.runner import start
from webhook.sync.watch import NamespaceFilter, ObjectFilter, Watchers


class Store:
    """One Lease, shared by the replicas' locks."""

    def __init__(self) -> None:
        self.record: Any = None
        self.lock = threading.Lock()
        self.down = False


class FakeLock:
    """The LeaseLock interface (get/create/update) over a Store, plus `api_instance` for
    the hand-back on stop."""

    name, namespace = "hermetic-sync", "hermetic-system"

    def __init__(self, store: Store, identity: str) -> None:
        self.store, self.identity = store, identity
        self.api_instance = self

    def get(self, name: str, namespace: str) -> tuple[bool, Any]:
        if self.store.down:
            raise ConnectionRefusedError("the API server is down")
        with self.store.lock:
            if self.store.record is None:
                return False, SimpleNamespace(body=json.dumps({"code": 404}), reason="NotFound")
            return True, copy.copy(self.store.record)

    def create(self, name: str, namespace: str, election_record: Any) -> bool:
        with self.store.lock:
            if self.store.record is not None:
                return False
            self.store.record = copy.copy(election_record)
            return True

    def update(self, name: str, namespace: str, updated_record: Any) -> bool:
        with self.store.lock:
            self.store.record = copy.copy(updated_record)
            return True

    def read_namespaced_lease(self, name: str, namespace: str) -> Any:
        record = self.store.record
        return SimpleNamespace(spec=SimpleNamespace(holder_identity=record.holder_identity))

    def replace_namespaced_lease(self, name: str, namespace: str, lease: Any) -> None:
        with self.store.lock:
            self.store.record.holder_identity = lease.spec.holder_identity


def elector(store: Store, identity: str, work: Callable[[threading.Event], None]) -> LeaderElector:
    return LeaderElector(
        FakeLock(store, identity), work, lease_duration=4, renew_deadline=3, retry_period=1
    )


def idle(term: threading.Event) -> None:
    term.wait()


def wait_for(condition: Callable[[], bool], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline
        time.sleep(0.02)


def test_one_leader_and_a_hand_over_on_stop() -> None:
    store = Store()
    a = start(elector(store, "a", idle))
    wait_for(lambda: a.leading)
    b = start(elector(store, "b", idle))
    time.sleep(1.5)  # b tries at least once and finds the Lease held
    assert a.leading and not b.leading
    t0 = time.monotonic()
    assert a.stop(timeout=5)
    wait_for(lambda: b.leading, timeout=5)
    assert time.monotonic() - t0 < 4  # handed over, not waited out (lease_duration 4 s)
    assert store.record.holder_identity == "b"
    assert b.stop(timeout=5)
    assert not store.record.holder_identity


def test_the_election_survives_an_unreachable_api_server() -> None:
    store = Store()
    store.down = True
    handle = start(elector(store, "a", idle))
    time.sleep(1.5)
    assert handle.thread.is_alive() and not handle.leading
    store.down = False
    wait_for(lambda: handle.leading, timeout=5)
    assert handle.stop(timeout=5)


def test_the_controller_runs_only_while_leading() -> None:
    server = FakeApiServer()
    server.add_namespace("alpha-x")
    c = controller(server, load_policy(), tick_seconds=0.02, debounce_seconds=0.0)
    store = Store()
    handle = start(elector(store, "a", c.run))
    try:
        wait_for(lambda: "hermetic-default-deny" in server.namespaced("networkpolicies", "alpha-x"))
    finally:
        assert handle.stop(timeout=5)
    server.calls.clear()
    time.sleep(0.2)
    assert server.calls == []  # stopped: nothing more is written or even read


def test_bad_timings_are_refused() -> None:
    with pytest.raises(ValueError):
        LeaderElector(FakeLock(Store(), "a"), idle, lease_duration=10, renew_deadline=10)


# --- watches ------------------------------------------------------------------------------------


def test_namespace_filter_fires_on_relevant_changes_only() -> None:
    f = NamespaceFilter()
    ns = {"metadata": {"name": "a", "labels": {"x": "1"}, "resourceVersion": "1"}}
    assert f("ADDED", ns)
    assert not f("MODIFIED", {"metadata": {**ns["metadata"], "resourceVersion": "2"}})
    assert f("MODIFIED", {"metadata": {"name": "a", "labels": {"x": "2"}}})
    assert not f("DELETED", ns)


def test_object_filter_ignores_our_own_writes() -> None:
    key = Key(NETWORK_POLICY, "a", "p")
    remembered = {key: "7"}
    f = ObjectFilter(NETWORK_POLICY, remembered.get)
    obj = {"metadata": {"namespace": "a", "name": "p", "resourceVersion": "7"}}
    assert not f("ADDED", obj)
    assert not f("MODIFIED", obj)
    assert f("MODIFIED", {"metadata": {**obj["metadata"], "resourceVersion": "8"}})
    assert f("DELETED", obj)


class ScriptedTransport(FakeApiServer):
    """Watch streams from a script: lists of events, or errors to raise."""

    def __init__(self, script: list[Any]) -> None:
        super().__init__()
        self.script = script
        self.queries: list[dict[str, str]] = []

    def stream(self, path: str, *, query: Any = ()) -> Iterator[dict[str, Any]]:
        self.queries.append(dict(query))
        step = self.script.pop(0) if self.script else []
        if isinstance(step, BaseException):
            raise step
        yield from step
        time.sleep(0.01)


def test_a_watch_resumes_restarts_after_gone_and_wakes_the_controller() -> None:
    gone = {"type": "ERROR", "object": {"code": 410, "reason": "Gone", "message": "too old"}}
    deleted = {
        "type": "DELETED",
        "object": {"metadata": {"namespace": "a", "name": "p", "resourceVersion": "9"}},
    }
    script = [
        [{"type": "BOOKMARK", "object": {"metadata": {"resourceVersion": "5"}}}],
        ConnectionResetError("reset"),
        [gone],
        [deleted],
    ]
    transport = ScriptedTransport(script)
    c = controller(transport, load_policy())
    stop = threading.Event()
    w = Watchers(Api(transport), c, stop)
    thread = threading.Thread(
        target=w.loop, args=("/x", "l=v", ObjectFilter(NETWORK_POLICY, lambda k: None))
    )
    thread.start()
    try:
        wait_for(c.wake.is_set, timeout=10)
    finally:
        stop.set()
        thread.join(5)
    versions = [q.get("resourceVersion") for q in transport.queries[:4]]
    assert versions == [None, "5", "5", None]  # resumed after a bookmark and a reset, not after 410
    assert all(q["labelSelector"] == "l=v" for q in transport.queries)


def test_a_missing_kind_is_watched_again_later() -> None:
    transport = ScriptedTransport([ApiError(404, "NotFound")])
    c = controller(transport, load_policy(), resync_seconds=0.05)
    stop = threading.Event()
    w = Watchers(Api(transport), c, stop)
    thread = threading.Thread(target=w.loop, args=("/x", None, NamespaceFilter()))
    thread.start()
    wait_for(lambda: len(transport.queries) >= 2, timeout=5)
    stop.set()
    thread.join(5)
    assert not thread.is_alive()
