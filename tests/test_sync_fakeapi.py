"""A small in-memory Kubernetes API for the controller's tests, and tests of the fake itself.

It serves the paths `webhook.sync.api.Api` uses, as a `Transport`: lists with an equality
label selector, GET, DELETE, server-side apply (objects replaced as declared; Namespaces
merge labels/annotations, drop the ones hermetic owned and no longer declares, record
managedFields, and are never created — hermetic's ClusterRole has no `create` on
namespaces), strategic-merge patches of webhook configurations (merged by webhook name),
and watches from a list of canned events. A resourceVersion counter moves on every real
change only. `fail(...)` queues errors for matching requests.
"""

from __future__ import annotations

import copy
import json
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import pytest

from webhook.sync.api import APPLY, STRATEGIC, ApiError
from webhook.sync.kinds import MANAGED_KINDS

Obj = dict[str, Any]
CORE = "/api/v1"


@dataclass
class Fault:
    method: str
    contains: str
    times: int
    error: BaseException


@dataclass
class FakeApiServer:
    """Objects by (base, plural, namespace, name); namespaces by name."""

    served: set[tuple[str, str]] = field(default_factory=set)
    objects: dict[tuple[str, str, str, str], Obj] = field(default_factory=dict)
    faults: list[Fault] = field(default_factory=list)
    calls: list[tuple[str, str]] = field(default_factory=list)
    watch_events: dict[str, list[Obj]] = field(default_factory=dict)
    version: int = 1
    lock: threading.Lock = field(default_factory=threading.Lock)

    def __post_init__(self) -> None:
        if not self.served:
            self.served = {(k.base(), k.plural) for k in MANAGED_KINDS}
        self.served |= {
            ("/apis/admissionregistration.k8s.io/v1", "mutatingwebhookconfigurations"),
            ("/apis/admissionregistration.k8s.io/v1", "validatingwebhookconfigurations"),
        }

    # --- set-up helpers ----------------------------------------------------------------

    def add_namespace(self, name: str, labels: dict[str, str] | None = None, **meta: Any) -> None:
        obj = {
            "apiVersion": "v1",
            "kind": "Namespace",
            "metadata": {"name": name, "labels": labels or {}, **meta},
        }
        self._store((CORE, "namespaces", "", name), obj)

    def add(self, base: str, plural: str, obj: Obj) -> None:
        meta = obj["metadata"]
        self._store((base, plural, meta.get("namespace", ""), meta["name"]), copy.deepcopy(obj))

    def edit(self, key: tuple[str, str, str, str], change: Any) -> None:
        """Change a stored object as a person would (a new resourceVersion)."""
        obj = copy.deepcopy(self.objects[key])
        change(obj)
        self._store(key, obj)

    def uninstall(self, group_prefix: str) -> None:
        """Stop serving every kind under `/apis/<group_prefix>` (a CRD not installed)."""
        self.served = {s for s in self.served if not s[0].startswith(f"/apis/{group_prefix}")}

    def fail(self, method: str, contains: str, times: int, error: BaseException) -> None:
        self.faults.append(Fault(method, contains, times, error))

    def namespaced(self, plural: str, namespace: str) -> dict[str, Obj]:
        return {k[3]: v for k, v in self.objects.items() if k[1] == plural and k[2] == namespace}

    def namespace(self, name: str) -> Obj:
        return self.objects[(CORE, "namespaces", "", name)]

    def writes(self) -> list[tuple[str, str]]:
        return [c for c in self.calls if c[0] != "GET"]

    # --- the Transport ------------------------------------------------------------------

    def request(
        self,
        method: str,
        path: str,
        *,
        query: Sequence[tuple[str, str]] = (),
        body: Any = None,
        content_type: str = "application/json",
    ) -> Obj:
        with self.lock:
            self.calls.append((method, path))
            self._maybe_fail(method, path)
            base, plural, namespace, name = self._parse(path)
            params = dict(query)
            if method == "GET" and name is None:
                return self._list(base, plural, namespace, params.get("labelSelector"))
            assert name is not None, path
            key = (base, plural, namespace or "", name)
            if method == "GET":
                return copy.deepcopy(self._get(key))
            if method == "DELETE":
                self._get(key)
                del self.objects[key]
                return {"kind": "Status", "status": "Success"}
            if method == "PATCH" and content_type == APPLY:
                assert params == {"fieldManager": "hermetic", "force": "true"}, params
                return copy.deepcopy(self._apply(key, json.loads(json.dumps(body))))
            if method == "PATCH" and content_type == STRATEGIC:
                return copy.deepcopy(self._merge_webhooks(key, body))
            raise ApiError(405, "MethodNotAllowed", f"{method} {path} {content_type}")

    def stream(self, path: str, *, query: Sequence[tuple[str, str]] = ()) -> Iterator[Obj]:
        with self.lock:
            self.calls.append(("WATCH", path))
            self._maybe_fail("WATCH", path)
            events = self.watch_events.pop(path, [])
        yield from events
        time.sleep(0.05)  # a real server holds the watch open

    # --- internals ----------------------------------------------------------------------

    def _maybe_fail(self, method: str, path: str) -> None:
        for f in self.faults:
            if f.times > 0 and f.method == method and f.contains in path:
                f.times -= 1
                raise f.error

    def _parse(self, path: str) -> tuple[str, str, str | None, str | None]:
        parts = path.strip("/").split("/")
        n = 2 if parts[0] == "api" else 3
        base, rest = "/" + "/".join(parts[:n]), parts[n:]
        if base == CORE and rest[0] == "namespaces" and len(rest) <= 2:
            return base, "namespaces", None, rest[1] if len(rest) == 2 else None
        namespace = None
        if rest[0] == "namespaces":
            namespace, rest = rest[1], rest[2:]
        if (base, rest[0]) not in self.served:
            raise ApiError(
                404, "NotFound", f"the server could not find the requested resource ({path})"
            )
        return base, rest[0], namespace, rest[1] if len(rest) > 1 else None

    def _list(self, base: str, plural: str, namespace: str | None, selector: str | None) -> Obj:
        wanted = dict(s.split("=", 1) for s in selector.split(",")) if selector else {}
        items = [
            copy.deepcopy(o)
            for (b, p, ns, _), o in sorted(self.objects.items())
            if b == base
            and p == plural
            and (namespace is None or ns == namespace)
            and all((o["metadata"].get("labels") or {}).get(k) == v for k, v in wanted.items())
        ]
        for item in items:  # list items come without apiVersion/kind
            item.pop("apiVersion", None)
            item.pop("kind", None)
        return {"kind": "List", "metadata": {"resourceVersion": str(self.version)}, "items": items}

    def _get(self, key: tuple[str, str, str, str]) -> Obj:
        if key not in self.objects:
            raise ApiError(404, "NotFound", f'{key[1]} "{key[3]}" not found')
        return self.objects[key]

    def _store(self, key: tuple[str, str, str, str], obj: Obj) -> Obj:
        old = self.objects.get(key)
        if old is not None and _strip(old) == _strip(obj):
            return old  # no change, no new resourceVersion
        self.version += 1
        obj["metadata"]["resourceVersion"] = str(self.version)
        self.objects[key] = obj
        return obj

    def _apply(self, key: tuple[str, str, str, str], body: Obj) -> Obj:
        if key[1] != "namespaces":
            if key[2] and (CORE, "namespaces", "", key[2]) not in self.objects:
                raise ApiError(404, "NotFound", f'namespaces "{key[2]}" not found')
            return self._store(key, body)
        if key not in self.objects:
            raise ApiError(403, "Forbidden", 'cannot create resource "namespaces"')
        current = copy.deepcopy(self.objects[key])
        meta, declared = current["metadata"], body["metadata"]
        owned = _owned(meta)
        for field_ in ("labels", "annotations"):
            values = {k: v for k, v in (meta.get(field_) or {}).items() if k not in owned[field_]}
            values.update(declared.get(field_) or {})
            meta[field_] = values
        meta["managedFields"] = [
            {
                "manager": "hermetic",
                "operation": "Apply",
                "fieldsV1": {
                    "f:metadata": {
                        f"f:{f}": {f"f:{k}": {} for k in declared.get(f) or {}}
                        for f in ("labels", "annotations")
                    }
                },
            }
        ]
        return self._store(key, current)

    def _merge_webhooks(self, key: tuple[str, str, str, str], patch: Obj) -> Obj:
        current = copy.deepcopy(self._get(key))
        by_name = {w["name"]: w for w in current.get("webhooks", [])}
        for change in patch["webhooks"]:
            target = by_name[change["name"]]
            target.setdefault("clientConfig", {}).update(change["clientConfig"])
        return self._store(key, current)


def _owned(meta: Obj) -> dict[str, set[str]]:
    out: dict[str, set[str]] = {"labels": set(), "annotations": set()}
    for entry in meta.get("managedFields") or []:
        if entry.get("manager") == "hermetic":
            for f in out:
                out[f] |= {k[2:] for k in entry["fieldsV1"]["f:metadata"].get(f"f:{f}", {})}
    return out


def _strip(obj: Obj) -> Obj:
    out = copy.deepcopy(obj)
    out["metadata"].pop("resourceVersion", None)
    return out


# --- the fake's own behaviour, so that the controller's tests stand on it -----------------------


def test_apply_creates_then_does_not_bump_the_version_when_nothing_changes() -> None:
    api = FakeApiServer()
    api.add_namespace("a")
    body = {
        "apiVersion": "v1",
        "kind": "LimitRange",
        "metadata": {"name": "x", "namespace": "a"},
        "spec": {},
    }
    path = "/api/v1/namespaces/a/limitranges/x"
    query = [("fieldManager", "hermetic"), ("force", "true")]
    first = api.request("PATCH", path, query=query, body=body, content_type=APPLY)
    again = api.request("PATCH", path, query=query, body=body, content_type=APPLY)
    assert first["metadata"]["resourceVersion"] == again["metadata"]["resourceVersion"]


def test_namespaces_are_never_created_by_apply() -> None:
    api = FakeApiServer()
    body = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "x"}}
    with pytest.raises(ApiError) as err:
        api.request(
            "PATCH",
            "/api/v1/namespaces/x",
            query=[("fieldManager", "hermetic"), ("force", "true")],
            body=body,
            content_type=APPLY,
        )
    assert err.value.status == 403


def test_uninstalled_kinds_are_404() -> None:
    api = FakeApiServer()
    api.uninstall("security.istio.io")
    with pytest.raises(ApiError) as err:
        api.request("GET", "/apis/security.istio.io/v1/peerauthentications")
    assert err.value.status == 404
