"""The concrete syntax: blocks of statements, each a keyword followed by arguments.

    tier tier0 {                      # a block: kind, optional name, statements
      cpu exclusive 4                 # a statement: keyword, arguments
      tolerate pool = dedicated effect NoSchedule
    }

The grammar only knows this shape; what each statement means is in `dsl.syntax`. That keeps
the grammar small and LALR(1), and lets every argument error name the statement it is in.
This is the only module that imports lark: its errors become `Diagnostic`s here.
"""

from __future__ import annotations

import re
import threading
import unicodedata
from dataclasses import dataclass
from typing import Literal

from lark import Lark, Token, Transformer
from lark.exceptions import UnexpectedCharacters, UnexpectedEOF, UnexpectedInput, UnexpectedToken

from dsl.diagnostics import Diagnostic, Span, error

GRAMMAR = r"""
start: _sep* (_item _sep+)* _item?

_item: block | statement

block: WORD ARGS? _LBRACE _sep* (statement _sep+)* statement? RBRACE
statement: WORD ARGS?

_sep: _NL | _SEMI

WORD: /[^\s"#{};,=]+/
// A statement's arguments are one token: words, strings, ',' and '=' with the spaces
// between them, and a list may go on to the next line after a ','. `dsl.parser._split`
// cuts it into arguments with their positions; one token a statement keeps parsing
// linear and fast (lark's LALR loop costs the same for every token).
ARGS: /(?:,[ \t\f]*(?:#[^\n]*)?(?:\r?\n[ \t\f]*)+|"(?:[^"\\\r\n]|\\[^\r\n])*"|[^\s"#{};]|[ \t\f]+(?=[^\s#{};]))+/
_LBRACE: "{"
RBRACE: "}"
_SEMI: ";"
_NL: /(?:\r?\n)+/

COMMENT: /#[^\n]*/
%ignore /[ \t\f]+/
%ignore COMMENT
"""

ArgKind = Literal["word", "string", "comma", "eq"]


@dataclass(frozen=True, slots=True, kw_only=True)
class RawArg:
    kind: ArgKind
    text: str  # for strings: the value with escapes resolved
    span: Span


@dataclass(frozen=True, slots=True, kw_only=True)
class RawStatement:
    keyword: str
    keyword_span: Span
    args: tuple[RawArg, ...]
    span: Span


@dataclass(frozen=True, slots=True, kw_only=True)
class RawBlock:
    kind: str
    kind_span: Span
    args: tuple[RawArg, ...]
    statements: tuple[RawStatement, ...]
    span: Span
    close_line: int  # the line of the closing '}'


@dataclass(frozen=True, slots=True, kw_only=True)
class Comment:
    line: int
    column: int
    text: str


@dataclass(frozen=True, slots=True, kw_only=True)
class RawFile:
    path: str
    items: tuple[RawBlock | RawStatement, ...]
    comments: tuple[Comment, ...]


_PIECE = re.compile(
    r'(?P<string>"(?:[^"\\\r\n]|\\[^\r\n])*")|(?P<comma>,)|(?P<eq>=)'
    r'|(?P<word>[^\s"#{};,=]+)|(?P<ws>[ \t\f\r]+)|(?P<nl>\n)|(?P<comment>#[^\n]*)'
)

_ESCAPES = {"n": "\n", "t": "\t", '"': '"', "\\": "\\"}


def _unescape(body: str) -> str | None:
    out: list[str] = []
    it = iter(body)
    for ch in it:
        if ch != "\\":
            out.append(ch)
            continue
        nxt = next(it, "")
        if nxt not in _ESCAPES:
            return None
        out.append(_ESCAPES[nxt])
    return "".join(out)


class _State(threading.local):
    """What one parse in this thread is building: lark calls `_Build` during parsing."""

    path: str = ""
    comments: list[Comment] | None = None
    diagnostics: list[Diagnostic] | None = None


_STATE = _State()


class _Build(Transformer[Token, object]):
    """Builds the raw tree while LALR parses (lark's inline transformer: no parse tree).

    WORD and STRING tokens never span lines, so a token's end is its start plus its length.
    """

    @staticmethod
    def _span(tok: Token) -> Span:
        line, col = tok.line or 1, tok.column or 1
        return Span(
            path=_STATE.path, line=line, column=col, end_line=line, end_column=col + len(tok)
        )

    def _split(self, tok: Token | None) -> tuple[RawArg, ...]:
        """Cut an ARGS token into arguments, each with its exact span."""
        if tok is None:
            return ()
        path, line, base = _STATE.path, tok.line or 1, (tok.column or 1)
        out: list[RawArg] = []
        line_start = -base + 1  # offset in the token of column 1 of the current line
        for m in _PIECE.finditer(tok):
            kind, text, at = m.lastgroup, m.group(), m.start()
            col = at - line_start + 1
            if kind == "nl":
                line += 1
                line_start = m.end()
            elif kind == "comment":
                if _STATE.comments is not None:
                    _STATE.comments.append(Comment(line=line, column=col, text=text))
            elif kind == "string":
                span = Span(
                    path=path, line=line, column=col, end_line=line, end_column=col + len(text)
                )
                out.append(self._string(text, span))
            elif kind != "ws":
                span = Span(
                    path=path, line=line, column=col, end_line=line, end_column=col + len(text)
                )
                out.append(RawArg(kind=kind, text=text, span=span))  # type: ignore[arg-type]
        return tuple(out)

    @staticmethod
    def _string(tok: str, span: Span) -> RawArg:
        value = _unescape(tok[1:-1])
        if value is None:
            if _STATE.diagnostics is not None:
                hint = 'escapes are \\" \\\\ \\n \\t'
                _STATE.diagnostics.append(error("E003", "unknown escape in string", span, hint))
            value = tok[1:-1]
        return RawArg(kind="string", text=value, span=span)

    def statement(self, children: list[Token]) -> RawStatement:
        kw, *args = children
        kspan = self._span(kw)
        rargs = self._split(args[0] if args else None)
        last = rargs[-1].span if rargs else kspan
        return RawStatement(
            keyword=str(kw), keyword_span=kspan, args=rargs, span=Span.cover(kspan, last)
        )

    def block(self, children: list[Token | RawStatement]) -> RawBlock:
        kw, *rest = children
        assert isinstance(kw, Token)
        close = rest.pop()
        assert isinstance(close, Token)
        kspan = self._span(kw)
        args = self._split(next((a for a in rest if isinstance(a, Token)), None))
        stmts = tuple(s for s in rest if isinstance(s, RawStatement))
        last = stmts[-1].span if stmts else (args[-1].span if args else kspan)
        return RawBlock(
            kind=str(kw),
            kind_span=kspan,
            args=args,
            statements=stmts,
            span=Span.cover(kspan, last),
            close_line=close.line or kspan.line,
        )

    def start(self, children: list[RawBlock | RawStatement]) -> tuple[RawBlock | RawStatement, ...]:
        return tuple(children)


_PARSER: Lark | None = None


def _parser() -> Lark:
    global _PARSER
    if _PARSER is None:
        _PARSER = Lark(
            GRAMMAR,
            parser="lalr",
            lexer="contextual",
            transformer=_Build(),
            lexer_callbacks={"COMMENT": _on_comment},
        )
    return _PARSER


# Named messages for the mistakes people make, matched against lark's parser state
# (lark's `UnexpectedInput.match_examples`). Each example is a small broken text.
_EXAMPLES: dict[tuple[str, str, str], list[str]] = {
    (
        "E007",
        "blocks do not nest",
        "close the enclosing block with '}' first; blocks hold statements only",
    ): ["tier a {\n  x {\n", "tier a {\n x y {\n"],
    (
        "E005",
        "unexpected end of file: a block is not closed",
        "add the missing '}'",
    ): ["tier a {\n", "tier a {\n cpu 1\n", "tier a { cpu 1"],
    (
        "E006",
        "'}' without a block to close",
        "remove it, or open the block it belongs to",
    ): ["}\n", "tier a {\n}\n}\n"],
    (
        "E004",
        "'=' needs a key before it",
        "write key = value",
    ): ["= 1\n", "tier a {\n = 1\n}\n", "a b\n= 1\n", "a\n= 1\n"],
    (
        "E004",
        "a statement starts with a keyword, not a list separator",
        "remove the ',' or join this line to the previous one",
    ): [", a\n", "tier a {\n , a\n}\n", "a b\n, a\n", "a\n, a\n"],
    (
        "E004",
        "a statement starts with a keyword, not a string",
        'start the line with a keyword, e.g. `label team = "x"`',
    ): ['"x"\n', 'tier a {\n "x"\n}\n'],
    (
        "E004",
        "a block needs a keyword before '{'",
        "write e.g. `tier tier0 {`",
    ): ["{\n", "\n{\n"],
}


def _unclosed(text: str, path: str) -> Diagnostic:
    """Point at the '{' that is never closed, skipping strings and comments."""
    opened: list[tuple[int, int]] = []
    for lineno, row in enumerate(text.split("\n"), 1):
        in_string = False
        for col, ch in enumerate(row, 1):
            if in_string:
                in_string = ch != '"' or row[col - 2] == "\\"
            elif ch == '"':
                in_string = True
            elif ch == "#":
                break
            elif ch == "{":
                opened.append((lineno, col))
            elif ch == "}" and opened:
                opened.pop()
    line, col = opened[-1] if opened else (1, 1)
    return error(
        "E005",
        "this block is not closed before the end of the file",
        Span.point(path, line, col),
        "add the missing '}' after the block's last statement",
    )


def _syntax_error(exc: UnexpectedInput, path: str, text: str) -> Diagnostic:
    line = exc.line if isinstance(exc.line, int) and exc.line > 0 else 1
    col = exc.column if isinstance(exc.column, int) and exc.column > 0 else 1
    if isinstance(exc, UnexpectedCharacters):
        pos = exc.pos_in_stream if isinstance(exc.pos_in_stream, int) else -1
        ch = text[pos] if 0 <= pos < len(text) else ""
        span = Span.point(path, line, col)
        if ch == '"':
            return error(
                "E003",
                "unterminated string",
                span,
                'close the string with " on the same line',
            )
        if ch.isspace():
            name = unicodedata.name(ch, f"U+{ord(ch):04X}").lower()
            return error(
                "E002",
                f"unexpected {name} (U+{ord(ch):04X})",
                span,
                "replace it with a plain space or newline; it often comes from copy and paste",
            )
        shown = repr(ch) if ch else "end of input"
        return error("E002", f"unexpected character {shown}", span, None)
    if isinstance(exc, UnexpectedEOF):
        return _unclosed(text, path)
    assert isinstance(exc, UnexpectedToken)
    tok = exc.token
    if tok.type == "$END" and "RBRACE" in (exc.accepts or exc.expected):
        return _unclosed(text, path)
    tok_text = str(tok) if tok.type != "$END" else ""
    width = max(1, len(tok_text.split("\n", 1)[0]))
    if tok.type == "$END":
        lines = text.splitlines() or [""]
        span = Span.point(path, len(lines), len(lines[-1]) + 1)
    else:
        span = Span(path=path, line=line, column=col, end_line=line, end_column=col + width)
    try:
        matched = exc.match_examples(_parser().parse, _EXAMPLES, use_accepts=True)
    except Exception:  # lark 1.3.1 can fail while logging a clash between examples
        matched = None
    if matched is not None:
        code, message, hint = matched
        return error(code, message, span, hint)
    shown = {"_NL": "end of line", "$END": "end of file"}.get(tok.type, repr(tok_text))
    return error("E004", f"unexpected {shown}", span, None)


def _on_comment(tok: Token) -> Token:
    if _STATE.comments is not None:
        _STATE.comments.append(Comment(line=tok.line or 1, column=tok.column or 1, text=str(tok)))
    return tok


def parse_text(text: str, path: str) -> tuple[RawFile | None, list[Diagnostic]]:
    """Parse one file's text. Returns the raw tree (None on a syntax error) and diagnostics.

    The LALR parser stops at the first syntax error of a file; the caller still reports the
    problems of every other file, and `dsl.syntax` reports every statement error.
    """
    comments: list[Comment] = []
    diagnostics: list[Diagnostic] = []
    _STATE.path, _STATE.comments, _STATE.diagnostics = path, comments, diagnostics
    try:
        items = _parser().parse(text if text.endswith("\n") else text + "\n")
    except UnexpectedInput as exc:
        return None, [_syntax_error(exc, path, text)]
    finally:
        _STATE.comments = _STATE.diagnostics = None
    assert isinstance(items, tuple)
    return RawFile(path=path, items=items, comments=tuple(comments)), diagnostics
