"""Shared fixtures: the bundled policy, the shared corpus, and paths."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

import compiler
from compiler import native
from compiler.model import CompiledPolicy

ROOT = Path(__file__).resolve().parent.parent
POLICIES = ROOT / "policies"
SHARED = ROOT.parent / "shared"


def pytest_configure(config: pytest.Config) -> None:
    # Compiled admission modules shadow their sources: tests of an old build prove nothing.
    stale = native.stale()
    if stale and os.environ.get(native.SOURCE_ENV) != "1":
        pytest.exit(
            f"compiler/admission: the compiled build is stale ({', '.join(stale)}): "
            f"`make test` rebuilds it (or set {native.SOURCE_ENV}=1 to run the sources)",
            returncode=2,
        )


@pytest.fixture(scope="session")
def bundled_policy() -> CompiledPolicy:
    loaded = compiler.load([str(POLICIES)])
    assert loaded.policy is not None, loaded.diagnostics
    return loaded.policy
