"""Hot reload by polling: policy files (or the bundle) and the serving certificate.

Every `interval` seconds each watched set of files is fingerprinted with `stat` (device,
inode, size, mtime and ctime of the file each path resolves to, plus the resolved path).
That catches in-place edits, atomic renames, and ConfigMap/Secret volume updates, where
`tenants.hermetic -> ..data/tenants.hermetic` and the kubelet swaps the `..data ->
..2026_11_24_...` symlink: the resolved path changes although no watched name did. Polling
needs no dependency and no inotify, and works on every volume type.

On a change the new content is loaded completely and checked before it replaces the old
(see `WebhookState.install`, `ServingTLS.reload`); until then, and if it fails, the previous
policy or certificate stays in force, so no request ever fails because of a reload.

A failed load is retried once at the next poll before it counts: a rotation renames the key
before the certificate, an editor may write a file in two steps. A second failure of the
same content is logged (policy diagnostics rendered in full), counted in `/metrics` and not
retried until the files change again.
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Callable, Hashable, Sequence
from pathlib import Path

import certs
from webhook import logs
from webhook.policy import PolicyLoadError, PolicySource
from webhook.state import ReloadRecord, WebhookState
from webhook.tls import ServingTLS

DEFAULT_INTERVAL = 1.0  # seconds between polls


Marks = tuple[Hashable, ...]


def fingerprint(paths: Sequence[str | os.PathLike[str]]) -> Marks:
    """What changes when any of `paths` (or what a symlink among them points to) changes."""
    marks: list[Hashable] = []
    for path in paths:
        try:
            st = os.stat(path)
        except OSError as exc:
            marks.append((os.fspath(path), "missing", exc.errno))
            continue
        real = os.path.realpath(path)
        marks.append((real, st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns))
    return tuple(marks)


class Reloader:
    """Polls one set of files and reloads when it changes; never raises out of `poll`."""

    def __init__(
        self,
        what: str,
        files: Callable[[], Sequence[str | os.PathLike[str]]],
        load: Callable[[], str | None],
        record: ReloadRecord,
        *,
        in_thread: bool = False,
        since: Marks | None = None,
    ) -> None:
        self.what = what
        self._files = files
        self._load = load  # returns a message to log on success, None when nothing changed
        self._record = record
        self._in_thread = in_thread
        # `since`: the files as they were just before the content in force was read, so a
        # change that lands during that first load is still seen.
        self._current = since if since is not None else fingerprint(files())
        self._retry: Marks | None = None

    async def poll(self) -> None:
        """Reload if the files changed since the last load (or the last counted failure)."""
        mark = fingerprint(self._files())
        if mark == self._current:
            return
        try:
            message = await asyncio.to_thread(self._load) if self._in_thread else self._load()
        except Exception as exc:
            self._failed(mark, exc)
            return
        self._current, self._retry = mark, None
        if message is not None:
            self._record.succeeded()
            logs.event(logging.INFO, f"{self.what}_reloaded", detail=message)

    def _failed(self, mark: Marks, exc: Exception) -> None:
        if self._retry != mark:
            self._retry = mark  # the first failure of this content: once more next poll
            return
        self._current, self._retry = mark, None
        self._record.failed(str(exc))
        known = isinstance(exc, PolicyLoadError | certs.CertsError)
        logs.event(
            logging.ERROR,
            f"{self.what}_reload_failed",
            exc_info=not known,
            error=str(exc) if known else f"{type(exc).__name__}: {exc}",
            kept="the previous one stays in force",
        )


def policy_reloader(
    source: PolicySource, state: WebhookState, since: Marks | None = None
) -> Reloader:
    """Reloads `source` into `state` (compiling in a worker thread, installing atomically)."""

    def load() -> str | None:
        snapshot = source.load()
        current = state.snapshot
        if current is not None and current.fingerprint == snapshot.fingerprint:
            return None  # touched, not changed
        state.install(snapshot)
        return f"{snapshot.origin}: {snapshot.name} {snapshot.version} {snapshot.digest}"

    record = state.policy_reload
    return Reloader("policy", source.files, load, record, in_thread=True, since=since)


def certificate_reloader(
    tls: ServingTLS, state: WebhookState, since: Marks | None = None
) -> Reloader:
    """Reloads the serving pair into the live SSL context, in the event loop's thread
    (the thread that makes handshakes with that context)."""

    def load() -> str | None:
        tls.reload()
        state.cert_not_after = tls.not_after
        return f"{tls.cert}: serving a new certificate"

    def files() -> list[Path]:
        return tls.files()

    return Reloader("certificate", files, load, state.cert_reload, since=since)


async def watch(reloaders: Sequence[Reloader], interval: float = DEFAULT_INTERVAL) -> None:
    """Poll every reloader every `interval` seconds, until cancelled."""
    while True:
        await asyncio.sleep(interval)
        for reloader in reloaders:
            try:
                await reloader.poll()
            except Exception:  # a watcher that dies would silently stop all reloads
                logs.event(logging.ERROR, "watch_failed", exc_info=True, what=reloader.what)
