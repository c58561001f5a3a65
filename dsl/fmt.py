"""The canonical text of a policy file: `hermetic fmt`.

One statement a line, two-space indentation, `a, b` lists, `key = value`, one blank line
between top-level items, at most one blank line kept inside a block where the author had
one, comments kept where they were (before an item, or at the end of its line).
Formatting is idempotent: formatting the output again gives the same text.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from dsl.diagnostics import Diagnostic
from dsl.parser import Comment, RawArg, RawBlock, RawFile, RawStatement, parse_text

INDENT = "  "


def quote(text: str) -> str:
    body = text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n").replace("\t", "\\t")
    return f'"{body}"'


def render_args(args: tuple[RawArg, ...]) -> str:
    out = ""
    for a in args:
        if a.kind == "comma":
            out += ","
        elif a.kind == "eq":
            out += " ="
        else:
            out += " " + (quote(a.text) if a.kind == "string" else a.text)
    return out


def render_statement(s: RawStatement) -> str:
    return s.keyword + render_args(s.args)


@dataclass
class _Writer:
    comments: list[Comment]
    lines: list[str] = field(default_factory=list)
    i: int = 0
    last: int = 0  # the last source line written

    def emit(self, src_line: int, text: str) -> None:
        """Write a line, keeping one blank line where the source had a gap."""
        prev = self.lines[-1] if self.lines else None
        if prev is not None and prev != "" and not prev.endswith("{") and src_line - self.last > 1:
            self.lines.append("")
        self.lines.append(text)
        self.last = max(self.last, src_line)

    def blank(self) -> None:
        if self.lines and self.lines[-1] != "":
            self.lines.append("")

    def leading(self, before_line: int, indent: str) -> None:
        while self.i < len(self.comments) and self.comments[self.i].line < before_line:
            c = self.comments[self.i]
            self.emit(c.line, indent + c.text.rstrip())
            self.i += 1

    def trailing(self, line: int) -> str:
        if self.i < len(self.comments) and self.comments[self.i].line == line:
            text = self.comments[self.i].text.rstrip()
            self.i += 1
            return "  " + text
        return ""


def _statement(w: _Writer, s: RawStatement, indent: str, next_line: int = 0) -> None:
    w.leading(s.span.line, indent)
    inner: list[Comment] = []
    while w.i < len(w.comments) and w.comments[w.i].line < s.span.end_line:
        inner.append(w.comments[w.i])
        w.i += 1
    for c in inner:  # comments inside a multi-line list go above the joined line
        w.emit(c.line if not w.lines else s.span.line, indent + c.text.rstrip())
    # a comment at the end of a line belongs to the last statement on that line
    trail = w.trailing(s.span.end_line) if next_line != s.span.end_line else ""
    w.emit(s.span.line, indent + render_statement(s) + trail)
    w.last = s.span.end_line


def _block(w: _Writer, b: RawBlock) -> None:
    w.leading(b.kind_span.line, "")
    shared = bool(b.statements) and b.statements[0].span.line == b.kind_span.line
    trail = "" if shared else w.trailing(b.kind_span.line)
    w.emit(b.kind_span.line, b.kind + render_args(b.args) + " {" + trail)
    lines = [s.span.line for s in b.statements[1:]] + [b.close_line]
    for s, next_line in zip(b.statements, lines[: len(b.statements)], strict=True):
        _statement(w, s, INDENT, next_line)
    w.leading(b.close_line, INDENT)
    w.lines.append("}" + w.trailing(b.close_line))
    w.last = b.close_line


def format_file(raw: RawFile) -> str:
    """The canonical text of a parsed file."""
    w = _Writer(comments=sorted(raw.comments, key=lambda c: (c.line, c.column)))
    prev: RawBlock | RawStatement | None = None
    for item in raw.items:
        if isinstance(item, RawBlock) or isinstance(prev, RawBlock):
            w.blank()
        if isinstance(item, RawBlock):
            _block(w, item)
        else:
            _statement(w, item, "")
        prev = item
    w.leading(10**12, "")
    while w.lines and w.lines[-1] == "":
        w.lines.pop()
    return "\n".join(w.lines) + "\n" if w.lines else ""


def format_source(text: str, path: str) -> tuple[str | None, list[Diagnostic]]:
    """The canonical text, or None and the syntax diagnostics when the text does not parse."""
    raw, diagnostics = parse_text(text, path)
    if raw is None:
        return None, diagnostics
    return format_file(raw), diagnostics
