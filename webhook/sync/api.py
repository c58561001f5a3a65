"""The few Kubernetes API calls `hermetic sync` makes, over a small `Transport`.

`Api` speaks paths and JSON; a `Transport` sends one request. `KubeTransport` is the real
one (the official client's `ApiClient`: kubeconfig or in-cluster credentials, TLS, token
refresh); tests use an in-memory API server. Objects are plain dicts end to end.

Writes: objects and namespace metadata by server-side apply (`PATCH`,
`application/apply-patch+yaml`, `fieldManager=hermetic`, `force=true`: hermetic owns what it
declares and takes a field over from another manager, e.g. a hand edit); webhook
`caBundle`s by strategic-merge patch keyed by webhook name; deletes by name. A namespace is
never created by an apply: the ClusterRole grants `patch`, not `create`, on namespaces.
"""

from __future__ import annotations

import http.client
import json
from collections.abc import Iterator, Sequence
from typing import Any, Final, Protocol

import urllib3
from kubernetes.client.exceptions import ApiException as KubeApiException

from webhook.sync.kinds import NAMESPACES, WEBHOOK_CONFIGURATIONS, Key, Kind, Obj

APPLY: Final = "application/apply-patch+yaml"
STRATEGIC: Final = "application/strategic-merge-patch+json"
TRANSIENT_STATUS: Final = frozenset({0, 409, 429, 500, 502, 503, 504})
Query = Sequence[tuple[str, str]]


class ApiError(Exception):
    """A response with an error status (`status` 0: no response at all)."""

    def __init__(self, status: int, reason: str, message: str = "") -> None:
        super().__init__(f"{status} {reason}: {message}" if message else f"{status} {reason}")
        self.status = status
        self.reason = reason
        self.message = message


def is_transient(exc: BaseException) -> bool:
    """Errors worth retrying: conflicts, throttling, server errors, broken connections."""
    if isinstance(exc, ApiError):
        return exc.status in TRANSIENT_STATUS
    return isinstance(
        exc, OSError | urllib3.exceptions.HTTPError | http.client.HTTPException | TimeoutError
    )


class Transport(Protocol):
    """Sends one request; returns the decoded JSON body or raises ApiError."""

    def request(
        self,
        method: str,
        path: str,
        *,
        query: Query = (),
        body: Any = None,
        content_type: str = "application/json",
    ) -> Obj: ...

    def stream(self, path: str, *, query: Query = ()) -> Iterator[Obj]:
        """A watch: one decoded event per line until the server ends it."""
        ...


class Api:
    """The calls the controller makes, as methods on dicts."""

    def __init__(self, transport: Transport, field_manager: str = "hermetic") -> None:
        self.transport = transport
        self.field_manager = field_manager

    def list_namespaces(self) -> list[Obj]:
        """Every Namespace."""
        return _items(self.transport.request("GET", NAMESPACES))

    def list_objects(self, kind: Kind, label_selector: str) -> list[Obj]:
        """Objects of a kind in every namespace; ApiError 404 when the kind is not served."""
        query = [("labelSelector", label_selector)]
        data = self.transport.request("GET", kind.collection(), query=query)
        for item in _items(data):  # list items carry no apiVersion/kind
            item.setdefault("apiVersion", kind.api_version)
            item.setdefault("kind", kind.kind)
        return _items(data)

    def apply(self, key: Key, body: Obj) -> Obj:
        """Server-side apply of one object."""
        path = key.kind.item(key.namespace, key.name)
        return self.transport.request(
            "PATCH", path, query=self._apply_query(), body=body, content_type=APPLY
        )

    def apply_namespace(
        self, name: str, labels: dict[str, str], annotations: dict[str, str]
    ) -> Obj:
        """Server-side apply of a namespace's labels and annotations (hermetic's, in full)."""
        body = {
            "apiVersion": "v1",
            "kind": "Namespace",
            "metadata": {"name": name, "labels": labels, "annotations": annotations},
        }
        path = f"{NAMESPACES}/{name}"
        return self.transport.request(
            "PATCH", path, query=self._apply_query(), body=body, content_type=APPLY
        )

    def delete(self, key: Key) -> None:
        """Delete one object; one that is already gone is fine."""
        try:
            self.transport.request("DELETE", key.kind.item(key.namespace, key.name))
        except ApiError as exc:
            if exc.status != 404:
                raise

    def get_webhook_configuration(self, kind: str, name: str) -> Obj:
        """A Mutating- or ValidatingWebhookConfiguration."""
        return self.transport.request("GET", f"{WEBHOOK_CONFIGURATIONS[kind]}/{name}")

    def patch_webhook_configuration(self, kind: str, name: str, patch: Obj) -> Obj:
        """A strategic-merge patch (webhooks are merged by `name`)."""
        path = f"{WEBHOOK_CONFIGURATIONS[kind]}/{name}"
        return self.transport.request("PATCH", path, body=patch, content_type=STRATEGIC)

    def watch(
        self, path: str, label_selector: str | None, resource_version: str | None, timeout: int
    ) -> Iterator[Obj]:
        """Watch events of a collection (`{"type", "object"}`), for at most `timeout` s."""
        query = [
            ("watch", "true"),
            ("timeoutSeconds", str(timeout)),
            ("allowWatchBookmarks", "true"),
        ]
        if label_selector:
            query.append(("labelSelector", label_selector))
        if resource_version:
            query.append(("resourceVersion", resource_version))
        return self.transport.stream(path, query=query)

    def _apply_query(self) -> list[tuple[str, str]]:
        return [("fieldManager", self.field_manager), ("force", "true")]


def _items(data: Obj) -> list[Obj]:
    items = data.get("items") or []
    return [i for i in items if isinstance(i, dict)]


class KubeTransport:
    """A Transport over the official client's ApiClient (kubeconfig or in-cluster)."""

    def __init__(
        self, api_client: Any, timeout: float = 30.0, watch_timeout: float = 330.0
    ) -> None:
        self.client = api_client
        self.timeout = timeout
        self.watch_timeout = watch_timeout

    def _send(
        self, method: str, path: str, query: Query, body: Any, content_type: str, timeout: float
    ) -> Any:
        headers = {"Accept": "application/json", "Content-Type": content_type}
        request = self.client.param_serialize(
            method,
            path,
            query_params=list(query),
            header_params=headers,
            body=body,
            auth_settings=["BearerToken"],
        )
        try:
            return self.client.call_api(*request, _request_timeout=(10.0, timeout))
        except KubeApiException as exc:  # e.g. a TLS error, reported with status 0
            raise ApiError(int(exc.status or 0), str(exc.reason), _message(exc.body)) from exc

    def request(
        self,
        method: str,
        path: str,
        *,
        query: Query = (),
        body: Any = None,
        content_type: str = "application/json",
    ) -> Obj:
        response = self._send(method, path, query, body, content_type, self.timeout)
        data = response.read() or b"{}"
        if not 200 <= response.status <= 299:
            raise ApiError(response.status, str(response.reason), _message(data))
        decoded = json.loads(data)
        return decoded if isinstance(decoded, dict) else {}

    def stream(self, path: str, *, query: Query = ()) -> Iterator[Obj]:
        response = self._send("GET", path, query, None, "application/json", self.watch_timeout)
        raw = response.response
        try:
            if not 200 <= response.status <= 299:
                raise ApiError(response.status, str(response.reason), _message(raw.data))
            for line in raw:  # urllib3 buffers chunks and yields whole lines
                yield from _lines(line)
        finally:
            raw.release_conn()


def _lines(chunk: bytes) -> Iterator[Obj]:
    for line in chunk.splitlines():
        if line.strip():
            event = json.loads(line)
            if isinstance(event, dict):
                yield event


def _message(data: bytes | str | None) -> str:
    text = data.decode("utf-8", "replace") if isinstance(data, bytes) else data or ""
    try:
        return str(json.loads(text or "{}").get("message", ""))
    except (ValueError, AttributeError):
        return text[:200]
