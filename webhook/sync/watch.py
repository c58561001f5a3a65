"""Watches that wake the controller early: Namespaces, and hermetic's objects of each kind.

A watch only decides *when* the next pass runs; the pass itself lists everything again, so
a missed or duplicated event costs at most one resync period, never correctness.

- Namespaces: an added namespace, or a change of labels, annotations or deletion state.
- Managed objects (`app.kubernetes.io/managed-by=hermetic`): a deletion, or an edit that
  is not hermetic's own apply (its resourceVersion is not the one the controller saw).

Each watch runs in a daemon thread, restarts after the server ends it, resumes from the last
resourceVersion (from the beginning after 410 Gone), backs off on errors, waits a resync
period when the kind is not served (CRD not installed), and ends when `stop` is set.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Final

from webhook.sync.api import Api, ApiError
from webhook.sync.kinds import MANAGED_KINDS, NAMESPACES, SELECTOR, Key, Kind, Obj
from webhook.sync.log import event
from webhook.sync.retry import Backoff

if TYPE_CHECKING:
    from webhook.sync.controller import Controller

WATCH_SECONDS: Final = 290  # the server ends each watch; it is then resumed
Relevant = Callable[[str, Obj], bool]


def _meta(obj: Obj) -> dict[str, Any]:
    meta = obj.get("metadata")
    return meta if isinstance(meta, dict) else {}


class NamespaceFilter:
    """Whether a Namespace event changes anything the controller looks at."""

    def __init__(self) -> None:
        self.seen: dict[str, tuple[Any, ...]] = {}

    def __call__(self, kind: str, obj: Obj) -> bool:
        meta = _meta(obj)
        name = str(meta.get("name", ""))
        if kind == "DELETED":
            self.seen.pop(name, None)
            return False
        mark = (meta.get("labels"), meta.get("annotations"), bool(meta.get("deletionTimestamp")))
        changed = self.seen.get(name) != mark
        self.seen[name] = mark
        return changed


class ObjectFilter:
    """Whether an event on a managed object is someone else's deletion or edit."""

    def __init__(self, kind: Kind, remembered: Callable[[Key], str | None]) -> None:
        self.kind = kind
        self.remembered = remembered

    def __call__(self, kind: str, obj: Obj) -> bool:
        if kind == "DELETED":
            return True
        if kind != "MODIFIED":
            return False
        meta = _meta(obj)
        key = Key(self.kind, str(meta.get("namespace", "")), str(meta.get("name", "")))
        return self.remembered(key) != str(meta.get("resourceVersion", ""))


class Watchers:
    """The controller's watch threads."""

    def __init__(self, api: Api, controller: Controller, stop: threading.Event) -> None:
        self.api = api
        self.controller = controller
        self.stop = stop
        self.threads: list[threading.Thread] = []

    def start(self) -> None:
        """Start one thread per watch."""
        self._spawn("namespaces", NAMESPACES, None, NamespaceFilter())
        for kind in MANAGED_KINDS:
            filter_ = ObjectFilter(kind, self._remembered)
            self._spawn(str(kind), kind.collection(), SELECTOR, filter_)

    def _remembered(self, key: Key) -> str | None:
        return self.controller.remembered.get(key)  # the dict is replaced after each pass

    def _spawn(self, name: str, path: str, selector: str | None, relevant: Relevant) -> None:
        thread = threading.Thread(
            target=self.loop,
            args=(path, selector, relevant),
            name=f"hermetic-watch-{name}",
            daemon=True,
        )
        thread.start()
        self.threads.append(thread)

    def loop(self, path: str, selector: str | None, relevant: Relevant) -> None:
        """Watch `path` until stopped, setting the controller's `wake` on relevant events."""
        version: str | None = None
        backoff = Backoff(initial=1.0, cap=30.0)
        while not self.stop.is_set():
            try:
                version = self._once(path, selector, version, relevant)
                backoff.reset()
            except ApiError as exc:
                version = None
                if exc.status == 410:
                    continue
                delay = (
                    self.controller.options.resync_seconds if exc.status == 404 else backoff.next()
                )
                event(
                    "debug" if exc.status == 404 else "warning",
                    "watch_error",
                    path=path,
                    error=str(exc),
                )
                self.stop.wait(delay)
            except Exception as exc:
                event("warning", "watch_error", path=path, error=f"{type(exc).__name__}: {exc}")
                self.stop.wait(backoff.next())

    def _once(
        self, path: str, selector: str | None, version: str | None, relevant: Relevant
    ) -> str | None:
        for item in self.api.watch(path, selector, version, WATCH_SECONDS):
            if self.stop.is_set():
                break
            kind, obj = str(item.get("type", "")), item.get("object") or {}
            if kind == "ERROR":
                raise ApiError(
                    int(obj.get("code", 0)), str(obj.get("reason", "")), str(obj.get("message", ""))
                )
            version = str(_meta(obj).get("resourceVersion") or version or "") or None
            if kind != "BOOKMARK" and relevant(kind, obj):
                self.controller.wake.set()
        return version
