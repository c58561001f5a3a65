"""The hermetic policy language: `*.hermetic` files -> a typed syntax tree with spans.

Public entry points: `read_sources` (files -> text), `parse_sources` (text -> modules),
`dsl.fmt.format_source` (canonical text); diagnostics in `dsl.diagnostics`.
Nothing outside `dsl.parser` imports lark.
"""

from dsl.diagnostics import Diagnostic, Severity, Span
from dsl.loader import Source, UsageError, read_sources
from dsl.syntax import parse_sources

__all__ = [
    "Diagnostic",
    "Severity",
    "Source",
    "Span",
    "UsageError",
    "parse_sources",
    "read_sources",
]
