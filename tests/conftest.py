"""Shared fixtures: the bundled policy, the shared corpus, and paths."""

from __future__ import annotations

from pathlib import Path

import pytest

import compiler
from compiler.model import CompiledPolicy

ROOT = Path(__file__).resolve().parent.parent
POLICIES = ROOT / "policies"
SHARED = ROOT.parent / "shared"


@pytest.fixture(scope="session")
def bundled_policy() -> CompiledPolicy:
    loaded = compiler.load([str(POLICIES)])
    assert loaded.policy is not None, loaded.diagnostics
    return loaded.policy
