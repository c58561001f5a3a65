"""Reading policy files: which files, which bytes, which text."""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from dsl.diagnostics import Diagnostic, Span, error

SUFFIX = ".hermetic"
MAX_BYTES = 8 * 1024 * 1024
_CONTROL = re.compile("[\x00-\x08\x0b\x0e-\x1f\x7f]")


@dataclass(frozen=True, slots=True, kw_only=True)
class Source:
    path: str
    text: str

    @property
    def lines(self) -> list[str]:
        """Lines as the parser counts them: split at '\n' only."""
        return [line.removesuffix("\r") for line in self.text.split("\n")]


class UsageError(Exception):
    """A path that does not exist or cannot be read: exit code 2, not a policy error."""


def discover(paths: Iterable[str]) -> list[str]:
    """Every `*.hermetic` file named or found below the given paths, sorted, once each."""
    found: dict[str, None] = {}
    for p in paths:
        if os.path.isdir(p):
            for root, dirs, files in os.walk(p):
                dirs[:] = sorted(d for d in dirs if not d.startswith("."))
                for f in sorted(files):
                    if f.endswith(SUFFIX):
                        found[os.path.normpath(os.path.join(root, f))] = None
        elif os.path.exists(p) or os.path.islink(p):
            found[os.path.normpath(p)] = None
        else:
            raise UsageError(f"{p}: no such file or directory")
    return sorted(found)


def decode(path: str, data: bytes) -> tuple[Source | None, list[Diagnostic]]:
    """Text from bytes, or a positioned diagnostic saying why the bytes are not policy text."""
    if len(data) > MAX_BYTES:
        span = Span.point(path, 1, 1)
        msg = f"file is {len(data)} bytes; policy files are at most {MAX_BYTES} bytes"
        return None, [error("E008", msg, span, "split the policy into several files")]
    if data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        col = exc.start - (data.rfind(b"\n", 0, exc.start) + 1) + 1
        span = Span.point(path, line, col)
        return None, [error("E001", "file is not UTF-8 text", span, "policy files are UTF-8 text")]
    bad = _CONTROL.search(text)
    if bad is not None:
        line = text.count("\n", 0, bad.start()) + 1
        col = bad.start() - (text.rfind("\n", 0, bad.start()) + 1) + 1
        span = Span.point(path, line, col)
        msg = f"control character U+{ord(bad.group()):04X} in policy text"
        return None, [error("E001", msg, span, "policy files are plain text; remove it")]
    return Source(path=path, text=text), []


def read_sources(paths: Sequence[str]) -> tuple[list[Source], list[Diagnostic]]:
    sources: list[Source] = []
    diagnostics: list[Diagnostic] = []
    for path in discover(paths):
        try:
            with open(path, "rb") as fh:
                data = fh.read(MAX_BYTES + 1)
        except OSError as exc:
            raise UsageError(f"{path}: {exc.strerror or exc}") from exc
        source, diags = decode(path, data)
        diagnostics.extend(diags)
        if source is not None:
            sources.append(source)
    return sources, diagnostics
