"""Positioned diagnostics and their renderings (text, JSON, GitHub annotations, SARIF)."""

from __future__ import annotations

import difflib
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, NamedTuple


class Severity(StrEnum):
    ERROR = "error"
    WARNING = "warning"


class Span(NamedTuple):
    """A region of one source file; lines and columns are 1-based, `end_column` exclusive.

    A NamedTuple rather than a frozen dataclass: a large policy has tens of thousands (every
    statement has two), and a tuple is several times cheaper to construct.
    """

    path: str
    line: int
    column: int
    end_line: int
    end_column: int

    @classmethod
    def point(cls, path: str, line: int, column: int) -> Span:
        return cls(path, line, column, line, column + 1)

    @staticmethod
    def cover(first: Span, last: Span) -> Span:
        """From the start of `first` to the end of `last`."""
        return Span(first.path, first.line, first.column, last.end_line, last.end_column)

    def sort_key(self) -> tuple[str, int, int]:
        return (self.path, self.line, self.column)


@dataclass(frozen=True, slots=True, kw_only=True)
class Diagnostic:
    code: str
    severity: Severity
    message: str
    span: Span
    hint: str | None = None

    @property
    def is_error(self) -> bool:
        return self.severity is Severity.ERROR


def error(code: str, message: str, span: Span, hint: str | None = None) -> Diagnostic:
    return Diagnostic(code=code, severity=Severity.ERROR, message=message, span=span, hint=hint)


def warning(code: str, message: str, span: Span, hint: str | None = None) -> Diagnostic:
    return Diagnostic(code=code, severity=Severity.WARNING, message=message, span=span, hint=hint)


def did_you_mean(word: str, candidates: Iterable[str]) -> str | None:
    """The closest candidate as a hint, or None when nothing is close enough."""
    pool = sorted(set(candidates))
    close = difflib.get_close_matches(word, pool, n=1, cutoff=0.6)
    return f"did you mean '{close[0]}'?" if close else None


def sort_diagnostics(diagnostics: Iterable[Diagnostic]) -> list[Diagnostic]:
    return sorted(diagnostics, key=lambda d: (*d.span.sort_key(), d.code))


# --- text -------------------------------------------------------------------------------

_RED, _YELLOW, _BLUE, _BOLD, _RESET = "\x1b[31m", "\x1b[33m", "\x1b[34m", "\x1b[1m", "\x1b[0m"


def render_text(d: Diagnostic, lines_of: Mapping[str, Sequence[str]], color: bool = False) -> str:
    """`path:line:col: error[E012]: message`, the source line, a caret under the span, a hint."""

    def paint(text: str, code: str) -> str:
        return f"{code}{text}{_RESET}" if color else text

    s = d.span
    sev = paint(f"{d.severity.value}[{d.code}]", _RED if d.is_error else _YELLOW)
    out = [f"{paint(f'{s.path}:{s.line}:{s.column}:', _BOLD)} {sev}: {d.message}"]
    lines = lines_of.get(s.path, ())
    if 1 <= s.line <= len(lines):
        text = _printable(lines[s.line - 1])
        gutter = str(s.line)
        pad = " " * len(gutter)
        end = s.end_column if s.end_line == s.line else len(text) + 1
        width = max(1, min(end, len(text) + 1) - s.column)
        out.append(f"{paint(f' {gutter} |', _BLUE)} {text}")
        marker = " " * (s.column - 1) + "^" * width
        out.append(f"{paint(f' {pad} |', _BLUE)} {paint(marker, _RED if d.is_error else _YELLOW)}")
    if d.hint:
        out.append(f"{paint('hint', _BOLD)}: {d.hint}")
    return "\n".join(out)


def _printable(line: str) -> str:
    """The line as it can be shown on a terminal: tabs and control characters made visible
    with one character each, so that the caret stays under the right column."""
    return "".join(
        ch if ch.isprintable() or ch == " " else "\N{REPLACEMENT CHARACTER}" for ch in line
    )


# --- machine formats --------------------------------------------------------------------


def to_dict(d: Diagnostic) -> dict[str, Any]:
    s = d.span
    return {
        "file": s.path,
        "line": s.line,
        "column": s.column,
        "end_line": s.end_line,
        "end_column": s.end_column,
        "severity": d.severity.value,
        "code": d.code,
        "message": d.message,
        "hint": d.hint,
    }


def render_json(diagnostics: Sequence[Diagnostic]) -> str:
    return json.dumps([to_dict(d) for d in diagnostics], indent=2, sort_keys=True)


def _gh_escape(text: str, prop: bool = False) -> str:
    text = text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")
    return text.replace(":", "%3A").replace(",", "%2C") if prop else text


def render_github(d: Diagnostic) -> str:
    """A GitHub Actions workflow command, shown as an annotation on the pull request."""
    s = d.span
    kind = "error" if d.is_error else "warning"
    props = (
        f"file={_gh_escape(s.path, True)},line={s.line},col={s.column},"
        f"endLine={s.end_line},endColumn={s.end_column},title={d.code}"
    )
    body = d.message + (f" (hint: {d.hint})" if d.hint else "")
    return f"::{kind} {props}::{_gh_escape(body)}"


def render_sarif(
    diagnostics: Sequence[Diagnostic], rules: Mapping[str, str], tool: str = "hermetic"
) -> str:
    """SARIF 2.1.0, one run; `rules` maps code -> short description."""
    used = sorted({d.code for d in diagnostics})
    results = [
        {
            "ruleId": d.code,
            "level": "error" if d.is_error else "warning",
            "message": {"text": d.message + (f"\nhint: {d.hint}" if d.hint else "")},
            "locations": [
                {
                    "physicalLocation": {
                        "artifactLocation": {"uri": d.span.path},
                        "region": {
                            "startLine": d.span.line,
                            "startColumn": d.span.column,
                            "endLine": d.span.end_line,
                            "endColumn": d.span.end_column,
                        },
                    }
                }
            ],
        }
        for d in diagnostics
    ]
    doc = {
        "$schema": "https://json.schemastore.org/sarif-2.1.0.json",
        "version": "2.1.0",
        "runs": [
            {
                "tool": {
                    "driver": {
                        "name": tool,
                        "rules": [
                            {"id": code, "shortDescription": {"text": rules.get(code, code)}}
                            for code in used
                        ],
                    }
                },
                "results": results,
            }
        ],
    }
    return json.dumps(doc, indent=2, sort_keys=True)
