"""The hermetic compiler: a checked policy, and every Kubernetes object it implies.

load(paths) -> Loaded(policy | None, diagnostics, sources)
check(modules) -> (CompiledPolicy | None, diagnostics)
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from compiler.check import check
from compiler.model import CompiledPolicy
from dsl import Diagnostic, Source, parse_sources, read_sources
from dsl.diagnostics import sort_diagnostics

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
    modules, diagnostics = parse_sources(sources)
    # A file that does not parse is missing from `modules`: checking the rest would report
    # its tiers and tenants as unknown everywhere, so the checks wait for the syntax fix.
    unreadable = bool(extra) or len(modules) < len(sources)
    policy, checked = (None, []) if unreadable or not sources else check(modules)
    all_diags = sort_diagnostics([*extra, *diagnostics, *checked])
    if any(d.is_error for d in all_diags):
        policy = None
    return Loaded(policy=policy, diagnostics=all_diags, sources=list(sources))


def load(paths: Sequence[str]) -> Loaded:
    """Read, parse and check the policy in these files and directories.

    Raises dsl.UsageError for a path that does not exist or cannot be read."""
    sources, diagnostics = read_sources(paths)
    return load_sources(sources, diagnostics)
