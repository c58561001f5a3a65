"""Where the webhook's policy comes from: policy files (`--policy`) or a bundle (`--bundle`).

Both load into a `PolicySnapshot` or raise `PolicyLoadError` with text a person can act on
(the rendered diagnostics, or the bundle's error). The digest stamped on pods is the digest
of the bundle `hermetic compile` writes for the same policy, so a pod's stamp can be matched
to a compiled bundle whichever way the webhook was started.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import compiler
from compiler import bundle as bundles
from compiler.bundle import digest_for
from compiler.model import CompiledPolicy
from dsl import UsageError
from dsl.diagnostics import render_text
from dsl.loader import discover
from webhook.state import PolicySnapshot


class PolicyLoadError(Exception):
    """The policy cannot be put in force; the message is the full, rendered explanation."""


def policy_digest(policy: CompiledPolicy) -> str:
    """The digest of the bundle `hermetic compile` writes for `policy`."""
    return digest_for(policy)


@dataclass(frozen=True, slots=True)
class PolicySource:
    """Policy files and directories (`bundle` None), or one bundle file (`paths` empty)."""

    paths: tuple[str, ...] = ()
    bundle: str | None = None

    def describe(self) -> str:
        """The source as a person names it, e.g. `policies/` or `bundle.json`."""
        return self.bundle if self.bundle is not None else " ".join(self.paths)

    def files(self) -> list[str]:
        """The files whose change means a reload (the same set `compiler.load` reads)."""
        if self.bundle is not None:
            return [self.bundle]
        try:
            return discover(self.paths)
        except UsageError:
            return []

    def load(self) -> PolicySnapshot:
        """Read, check and digest the policy; PolicyLoadError when it cannot be used."""
        if self.bundle is not None:
            return _load_bundle(self.bundle)
        return _load_paths(self.paths)


def _load_paths(paths: Sequence[str]) -> PolicySnapshot:
    try:
        loaded = compiler.load(paths)
    except UsageError as exc:
        raise PolicyLoadError(str(exc)) from None
    errors = [d for d in loaded.diagnostics if d.is_error]
    if loaded.policy is None or errors:
        rendered = "\n".join(render_text(d, loaded.lines) for d in errors)
        raise PolicyLoadError(rendered or "the policy has errors")
    content = hashlib.sha256()
    for source in loaded.sources:
        content.update(f"{source.path}\0{source.text}\0".encode())
    return PolicySnapshot(
        policy=loaded.policy,
        digest=policy_digest(loaded.policy),
        origin=" ".join(paths),
        fingerprint=content.hexdigest(),
    )


def _load_bundle(path: str) -> PolicySnapshot:
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        raise PolicyLoadError(f"{path}: {exc.strerror or exc}") from None
    try:
        loaded = bundles.loads(data)
    except bundles.BundleError as exc:
        raise PolicyLoadError(f"{path}: {exc}") from None
    return PolicySnapshot(
        policy=loaded.policy,
        digest=loaded.digest,
        origin=os.fspath(path),
        fingerprint=hashlib.sha256(data).hexdigest(),
    )
