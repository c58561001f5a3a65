"""The hermetic compiler: a checked policy, and every Kubernetes object it implies.

load(paths) -> Loaded(policy | None, diagnostics, sources)
check(modules) -> (CompiledPolicy | None, diagnostics)
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from compiler import native
from compiler.check import check
from compiler.model import CompiledPolicy
from dsl import Diagnostic, Source, parse_sources, read_sources
from dsl.diagnostics import sort_diagnostics
from dsl.gc import paused_gc

# Diagnostics that a file missing from the policy (unreadable, or with a syntax error) can
# cause in the other files: unknown or missing names, unused definitions.
CAUSED_BY_A_MISSING_FILE = frozenset(
    {"E012", "E013", "E014", "E015", "E019", "E024", "E034", "E045", "E051", "W025", "W060", "W061"}
)

# Before anything imports compiler.admission (nothing above does): its source or its build.
native.honour_environment()

__all__ = ["CompiledPolicy", "Loaded", "check", "load", "load_sources"]


@dataclass(frozen=True, slots=True)
class Loaded:
    policy: CompiledPolicy | None
    diagnostics: list[Diagnostic]
    sources: list[Source]

    @property
    def lines(self) -> dict[str, list[str]]:
        return {s.path: s.lines for s in self.sources}


def load_sources(sources: Sequence[Source], extra: Sequence[Diagnostic] = ()) -> Loaded:
    with paused_gc():
        modules, diagnostics = parse_sources(sources)
        policy, checked = check(modules) if sources else (None, [])
    if extra or len(modules) < len(sources):
        # A file that could not be read or parsed is missing from `modules`: what it
        # declares would be reported unknown or missing everywhere. Keep every other
        # problem, so that one run still reports all that can be known.
        checked = [d for d in checked if d.code not in CAUSED_BY_A_MISSING_FILE]
    all_diags = sort_diagnostics([*extra, *diagnostics, *checked])
    if any(d.is_error for d in all_diags):
        policy = None
    return Loaded(policy=policy, diagnostics=all_diags, sources=list(sources))


def load(paths: Sequence[str]) -> Loaded:
    """Read, parse and check the policy in these files and directories.

    Raises dsl.UsageError for a path that does not exist or cannot be read."""
    sources, diagnostics = read_sources(paths)
    return load_sources(sources, diagnostics)
