"""What the running webhook holds: the policy snapshot in force, and the reload record.

A `PolicySnapshot` is immutable; a reload builds a new one and `WebhookState.install`
replaces the reference in one assignment. A request reads `state.snapshot` once and decides
with that snapshot's policy and digest throughout, so a reload never mixes two policies in
one decision and never makes a request wait.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from compiler.model import CompiledPolicy


@dataclass(frozen=True, slots=True, kw_only=True)
class PolicySnapshot:
    """A checked policy and the digest of the bundle it compiles to."""

    policy: CompiledPolicy
    digest: str
    origin: str  # where it came from, for logs: the paths or the bundle file
    fingerprint: str = ""  # the content hash of its source, to skip no-op reloads
    loaded_at: float = field(default_factory=time.time)

    @property
    def name(self) -> str:
        return self.policy.name

    @property
    def version(self) -> str:
        return self.policy.version


@dataclass(slots=True)
class ReloadRecord:
    """How the last reloads of one kind of file went (read by `/metrics`)."""

    ok: bool = True
    successes: int = 0
    failures: int = 0
    last_error: str = ""

    def succeeded(self) -> None:
        self.ok = True
        self.successes += 1
        self.last_error = ""

    def failed(self, message: str) -> None:
        self.ok = False
        self.failures += 1
        self.last_error = message


@dataclass(slots=True)
class WebhookState:
    """The policy in force (None until one is loaded), and how reloads went.

    `cert_not_after` is the expiry (Unix time) of the certificate being served, set by the
    server when it loads one; None when the app is not serving TLS (e.g. in tests).
    """

    snapshot: PolicySnapshot | None = None
    policy_reload: ReloadRecord = field(default_factory=ReloadRecord)
    cert_reload: ReloadRecord = field(default_factory=ReloadRecord)
    cert_not_after: float | None = None

    @property
    def ready(self) -> bool:
        """Whether a valid policy is loaded (what `/readyz` reports)."""
        return self.snapshot is not None

    def install(self, snapshot: PolicySnapshot) -> None:
        """Put `snapshot` in force: one reference assignment, atomic for every reader."""
        self.snapshot = snapshot
