"""Printing diagnostics the same way for every command: text, json, github, sarif."""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping, Sequence
from typing import TextIO

from dsl.codes import titles
from dsl.diagnostics import (
    Diagnostic,
    render_github,
    render_json,
    render_sarif,
    render_text,
)

FORMATS = ("text", "json", "github", "sarif")


def use_color(stream: TextIO) -> bool:
    """Color only on a terminal, and never when NO_COLOR is set (no-color.org)."""
    return stream.isatty() and "NO_COLOR" not in os.environ and os.environ.get("TERM") != "dumb"


def summary(diagnostics: Sequence[Diagnostic], files: int) -> str:
    errors = sum(d.is_error for d in diagnostics)
    warnings = len(diagnostics) - errors

    def plural(n: int, word: str) -> str:
        return f"{n} {word}{'' if n == 1 else 's'}"

    return f"{plural(errors, 'error')}, {plural(warnings, 'warning')} in {plural(files, 'file')}"


def emit(
    diagnostics: Sequence[Diagnostic],
    lines_of: Mapping[str, Sequence[str]],
    fmt: str,
    files: int,
    stream: TextIO | None = None,
) -> None:
    out = stream or sys.stdout
    if fmt == "json":
        print(render_json(diagnostics), file=out)
    elif fmt == "sarif":
        print(render_sarif(diagnostics, titles()), file=out)
    elif fmt == "github":
        for d in diagnostics:
            print(render_github(d), file=out)
    else:
        color = use_color(out)
        for d in diagnostics:
            print(render_text(d, lines_of, color=color), file=out)
        if diagnostics or files:
            print(summary(diagnostics, files), file=out)
