"""A policy provider over files, for `hermetic sync` on its own: the policy files (or the
bundle) are checked for changes at most once a second, and a new version replaces the old
only when it loads without errors — a broken edit keeps the last good policy in force.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Hashable

from compiler.model import CompiledPolicy
from webhook.policy import PolicyLoadError, PolicySource
from webhook.reload import fingerprint
from webhook.state import PolicySnapshot
from webhook.sync.log import event


class FilePolicy:
    """Callable provider: the current policy of `source`. The first load may raise
    PolicyLoadError (the caller reports it); later failures are logged and survived."""

    def __init__(
        self,
        source: PolicySource,
        interval: float = 1.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.source = source
        self.interval = interval
        self.clock = clock
        self._lock = threading.Lock()
        self._mark: Hashable = fingerprint(source.files())
        self.snapshot: PolicySnapshot = source.load()
        self._checked = clock()
        self._failed: Hashable = None

    def __call__(self) -> CompiledPolicy:
        with self._lock:
            if self.clock() - self._checked >= self.interval:
                self._checked = self.clock()
                self._maybe_reload()
            return self.snapshot.policy

    def _maybe_reload(self) -> None:
        mark = fingerprint(self.source.files())
        if mark in (self._mark, self._failed):
            return
        try:
            snapshot = self.source.load()
        except PolicyLoadError as exc:
            self._failed = mark
            event(
                "error",
                "policy_reload_failed",
                source=self.source.describe(),
                error=str(exc),
                detail="the previous policy stays in force",
            )
            return
        self._mark, self._failed = mark, None
        if snapshot.digest != self.snapshot.digest:
            event("info", "policy_reloaded", source=self.source.describe(), digest=snapshot.digest)
            self.snapshot = snapshot
