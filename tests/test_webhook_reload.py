"""Hot reload: ConfigMap-style policy swaps, broken policies, bundles, certificate swaps."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import shutil
from pathlib import Path

import pytest

import certs
from compiler import bundle as bundles
from compiler.build import bundle_for
from webhook.metrics import Metrics
from webhook.policy import PolicySource
from webhook.reload import Reloader, certificate_reloader, fingerprint, policy_reloader
from webhook.state import WebhookState
from webhook.tls import ServingTLS

from .test_webhook_support import POLICIES, issue_certs, metric

VERSION = 'version "2026.11.0"'


class ConfigMap:
    """A directory laid out as the kubelet mounts a ConfigMap, swapped the same way."""

    def __init__(self, root: Path, files: dict[str, str]) -> None:
        self.root = root
        root.mkdir()
        self.names = sorted(files)
        self._generation = 0
        self.update(files)
        for name in self.names:
            (root / name).symlink_to(Path("..data") / name)

    def update(self, files: dict[str, str]) -> None:
        """Write a new timestamped directory and flip `..data` to it atomically."""
        self._generation += 1
        target = self.root / f"..2026_11_24_18_00_00.{self._generation:06d}"
        target.mkdir()
        for name, text in files.items():
            (target / name).write_text(text)
        tmp = self.root / "..data_tmp"
        tmp.symlink_to(target.name)
        os.replace(tmp, self.root / "..data")


def policy_files(version: str = "2026.11.0") -> dict[str, str]:
    """The bundled policy's files, with the policy version set to `version`."""
    files = {p.name: p.read_text() for p in sorted(POLICIES.glob("*.hermetic"))}
    return {name: text.replace(VERSION, f'version "{version}"') for name, text in files.items()}


def poll(reloader: Reloader) -> None:
    asyncio.run(reloader.poll())


def test_fingerprint_follows_symlink_swaps(tmp_path: Path) -> None:
    cm = ConfigMap(tmp_path / "cm", {"a.hermetic": "x"})
    before = fingerprint([cm.root / "a.hermetic"])
    cm.update({"a.hermetic": "x"})  # same content, same size: only the target moved
    assert fingerprint([cm.root / "a.hermetic"]) != before


@pytest.fixture
def configmap(tmp_path: Path) -> ConfigMap:
    return ConfigMap(tmp_path / "policy", policy_files())


def loaded(source: PolicySource) -> WebhookState:
    state = WebhookState()
    state.install(source.load())
    return state


def test_a_configmap_swap_installs_the_new_policy(configmap: ConfigMap) -> None:
    source = PolicySource(paths=(str(configmap.root),))
    state = loaded(source)
    first = state.snapshot
    reloader = policy_reloader(source, state)
    poll(reloader)
    assert state.snapshot is first  # nothing changed, nothing reloaded
    configmap.update(policy_files("2026.11.1"))
    poll(reloader)
    assert state.snapshot is not first and state.snapshot is not None
    assert state.snapshot.version == "2026.11.1" and state.snapshot.digest != first.digest  # type: ignore[union-attr]
    assert state.policy_reload.successes == 1 and state.policy_reload.ok


def test_a_touch_without_a_change_does_not_reload(configmap: ConfigMap) -> None:
    source = PolicySource(paths=(str(configmap.root),))
    state = loaded(source)
    first = state.snapshot
    configmap.update(policy_files())
    poll(policy_reloader(source, state))
    assert state.snapshot is first and state.policy_reload.successes == 0


def test_a_broken_policy_keeps_the_last_good_one(
    configmap: ConfigMap, caplog: pytest.LogCaptureFixture
) -> None:
    source = PolicySource(paths=(str(configmap.root),))
    state = loaded(source)
    good = state.snapshot
    metrics = Metrics(state)
    reloader = policy_reloader(source, state)
    broken = policy_files()
    broken["tenants.hermetic"] = broken["tenants.hermetic"].replace("tiers tier0,", "tiers tier9,")
    configmap.update(broken)
    with caplog.at_level(logging.INFO, logger="hermetic.webhook"):
        poll(reloader)  # the first failure is retried once, not yet counted
        assert state.policy_reload.failures == 0
        poll(reloader)
        poll(reloader)  # and not retried again until the files change
    assert state.snapshot is good
    assert state.policy_reload.failures == 1 and not state.policy_reload.ok
    text = metrics.render()
    assert metric(text, "hermetic_policy_reload_ok") == 0.0
    assert metric(text, "hermetic_policy_reload_failures_total") == 1.0
    (failure,) = [json.loads(r.getMessage()) for r in caplog.records if r.levelno >= logging.ERROR]
    assert failure["event"] == "policy_reload_failed"
    assert "tier9" in failure["error"] and "^" in failure["error"]  # rendered with a caret
    configmap.update(policy_files("2026.11.2"))
    poll(reloader)
    assert state.snapshot is not None and state.snapshot.version == "2026.11.2"
    assert metric(metrics.render(), "hermetic_policy_reload_ok") == 1.0


def test_a_bundle_is_watched_too(tmp_path: Path, bundled_policy: object) -> None:
    path = tmp_path / "bundle.json"
    doc = bundles.build(bundled_policy)  # type: ignore[arg-type]
    path.write_text(bundles.dumps(doc))
    source = PolicySource(bundle=str(path))
    state = loaded(source)
    assert state.snapshot is not None and state.snapshot.digest == doc["metadata"]["digest"]
    reloader = policy_reloader(source, state)
    path.write_text("{not json")
    poll(reloader)
    poll(reloader)
    assert state.policy_reload.failures == 1
    assert state.snapshot.digest == doc["metadata"]["digest"]


def test_a_bundle_digest_equals_the_policy_digest(tmp_path: Path) -> None:
    from_files = PolicySource(paths=(str(POLICIES),)).load()
    path = tmp_path / "bundle.json"
    path.write_text(bundles.dumps(bundle_for(from_files.policy)))  # what `hermetic compile` writes
    assert PolicySource(bundle=str(path)).load().digest == from_files.digest


def test_a_rotation_mid_swap_is_retried_not_counted(tmp_path: Path) -> None:
    directory = issue_certs(tmp_path / "tls")
    tls = ServingTLS(directory / "tls.crt", directory / "tls.key")
    state = WebhookState(cert_not_after=tls.not_after)
    reloader = certificate_reloader(tls, state)
    staging = tmp_path / "staging"
    shutil.copytree(directory, staging)
    certs.rotate(staging)
    shutil.copy(staging / "tls.key", directory / "tls.key")  # the key lands first ...
    poll(reloader)
    assert state.cert_reload.failures == 0  # mismatch: retried at the next poll
    shutil.copy(staging / "tls.crt", directory / "tls.crt")  # ... then the certificate
    poll(reloader)
    assert state.cert_reload.failures == 0 and state.cert_reload.successes == 1
