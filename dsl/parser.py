"""The concrete syntax: blocks of statements, each a keyword followed by arguments.

    tier tier0 {                      # a block: kind, optional name, statements
      cpu exclusive 4                 # a statement: keyword, arguments
      tolerate pool = dedicated effect NoSchedule
    }

The grammar only knows this shape; what each statement means is in `dsl.syntax`. That keeps
the grammar small and LALR(1), and lets every argument error name the statement it is in.
This is the only module that imports lark: its errors become `Diagnostic`s here.

The language has two grammars, over the same text. `GRAMMAR` reads a token for each keyword,
argument list and separator, with lark's contextual lexer; its parser states and `_EXAMPLES`
name the syntax errors. `_STATEMENTS` reads one token per statement, made by
`_StatementLexer` with the same patterns in a few regex matches, and costs a fraction of the
time (lark's LALR loop costs the same for every token, and its lexer several times more than
the regexes). It builds the same tree, and accepts only text that `GRAMMAR` accepts. Every
file is read with `_STATEMENTS` first; text it does not accept (a syntax error, or anything
it does not expect) is read again with `GRAMMAR`, which reports the error. The tests check
that whatever `_STATEMENTS` reads, it reads as `GRAMMAR` does.
"""

from __future__ import annotations

import re
import threading
import unicodedata
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cache
from typing import Any, Literal, NamedTuple

from lark import Lark, Token, Transformer
from lark.common import LexerConf
from lark.exceptions import UnexpectedCharacters, UnexpectedEOF, UnexpectedInput, UnexpectedToken
from lark.lexer import Lexer, LexerState

from dsl.diagnostics import Diagnostic, Span, error

# A keyword: the first word of a statement or block.
WORD_PATTERN = r'[^\s"#{};,=]+'
# A statement's arguments are one token: words, strings, ',' and '=' with the spaces between
# them, and a list may go on to the next line after a ','. `_split` cuts it into arguments
# with their positions; one token a statement keeps parsing linear and fast (lark's LALR
# loop costs the same for every token).
ARGS_PATTERN = (
    r'(?:,[ \t\f]*(?:#[^\n]*)?(?:\r?\n[ \t\f]*)+|"(?:[^"\\\r\n]|\\[^\r\n])*"'
    r'|[^\s"#{};]|[ \t\f]+(?=[^\s#{};]))+'
)

GRAMMAR = r"""
start: _sep* (_item _sep+)* _item?

_item: block | statement

block: WORD ARGS? _LBRACE _sep* (statement _sep+)* statement? RBRACE
statement: WORD ARGS?

_sep: _NL | _SEMI

WORD: /@WORD@/
ARGS: /@ARGS@/
_LBRACE: "{"
RBRACE: "}"
_SEMI: ";"
_NL: /(?:\r?\n)+/

COMMENT: /#[^\n]*/
%ignore /[ \t\f]+/
%ignore COMMENT
""".replace("@WORD@", WORD_PATTERN).replace("@ARGS@", ARGS_PATTERN)

# The same language in coarser tokens, from `_StatementLexer`: OPEN is a block's header with
# its '{', STMT a statement with the separators after it, LAST a block's last statement
# written right before its '}', CLOSE a '}' (with the separators after it). The lists are
# left-recursive rules that the transformer appends to: cheaper than lark's `*`, which
# builds a tree for each element.
_STATEMENTS = r"""
start: (start (block | statement))?
block: OPEN stmts LAST? CLOSE
stmts: (stmts STMT)?
statement: STMT
%declare OPEN STMT LAST CLOSE
"""

ArgKind = Literal["word", "string", "comma", "eq"]


# The raw tree is built once per statement and argument of every file (a 1,000-tenant policy
# has over 100,000 arguments), so its nodes are NamedTuples: immutable like frozen
# dataclasses, and several times cheaper to construct. The hot paths below construct them
# with `_new` (tuple.__new__), which skips the generated keyword-argument constructor.
class RawArg(NamedTuple):
    """One argument. It never spans lines; its position is kept inline, and `span` is made
    when asked for (most arguments are read without ever needing one)."""

    kind: ArgKind
    text: str  # for strings: the value with escapes resolved
    path: str
    line: int
    column: int
    end_column: int

    @property
    def span(self) -> Span:
        return _new(Span, (self.path, self.line, self.column, self.line, self.end_column))


class RawStatement(NamedTuple):
    keyword: str
    keyword_span: Span
    args: tuple[RawArg, ...]
    span: Span


class RawBlock(NamedTuple):
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
    comments: tuple[Comment, ...]  # in the order they appear in the text


_new = tuple.__new__

# The pieces of an ARGS token. Blanks (and the '\r' of a '\r\n') match no alternative, so
# `finditer` steps over them without a match to handle.
_PIECE = re.compile(
    r'(?P<word>[^\s"#{};,=]+)|(?P<comma>,)|(?P<eq>=)|(?P<string>"(?:[^"\\\r\n]|\\[^\r\n])*")'
    r"|(?P<nl>\n)|(?P<comment>#[^\n]*)"
)

# Arguments without strings, comments or line breaks (see `_split`).
_SPECIAL = re.compile(r'["#\n]')
_PLAIN = re.compile(r'([ \t\f]*+)([^\s"#{};,=]++|[,=])')

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
    """What one parse in this thread is building: lark calls back into this module."""

    path: str = ""
    text: str = ""
    comments: list[Comment] | None = None
    diagnostics: list[Diagnostic] | None = None


_STATE = _State()


def _split(text: str, pos: int, end: int, line: int, line_start: int) -> tuple[RawArg, ...]:
    """Cut the arguments in text[pos:end] into RawArgs, each with its exact span.

    `line` is the line at `pos`, and `line_start` the offset in `text` of that line's
    column 1. Both parsers use this: the statement parser on the whole source text, the
    token parser on one ARGS token.
    """
    path = _STATE.path
    out: list[RawArg] = []
    append = out.append
    if _SPECIAL.search(text, pos, end) is None:
        # Most arguments are words, ',' and '=' on one line, with blanks between: read as
        # (blank, piece) pairs by one `findall`, the columns counted along.
        col = pos - line_start + 1
        for blank, piece in _PLAIN.findall(text, pos, end):
            col += len(blank)
            stop = col + len(piece)
            kind = "comma" if piece == "," else "eq" if piece == "=" else "word"
            append(_new(RawArg, (kind, piece, path, line, col, stop)))
            col = stop
        return tuple(out)
    base = 1 - line_start  # a column is an offset plus this
    for m in _PIECE.finditer(text, pos, end):
        group = m.lastgroup
        if group == "word" or group == "comma" or group == "eq":
            start, stop = m.span()
            append(_new(RawArg, (group, m.group(), path, line, start + base, stop + base)))
        elif group == "nl":
            line += 1
            base = 1 - m.end()
        elif group == "string":
            append(_string(m.group(), path, line, m.start() + base))
        elif _STATE.comments is not None:  # a comment after a ',' that goes on
            _STATE.comments.append(Comment(line=line, column=m.start() + base, text=m.group()))
    return tuple(out)


def _string(tok: str, path: str, line: int, col: int) -> RawArg:
    arg = _new(RawArg, ("string", tok[1:-1], path, line, col, col + len(tok)))
    if "\\" not in tok:
        return arg
    value = _unescape(arg.text)
    if value is None:
        if _STATE.diagnostics is not None:
            hint = 'escapes are \\" \\\\ \\n \\t'
            _STATE.diagnostics.append(error("E003", "unknown escape in string", arg.span, hint))
        return arg
    return arg._replace(text=value)


def _statement(keyword: str, kspan: Span, args: tuple[RawArg, ...]) -> RawStatement:
    path, line, column, end_line, end_column = kspan
    if args:
        end_line, end_column = args[-1].line, args[-1].end_column
    span = _new(Span, (path, line, column, end_line, end_column))
    return _new(RawStatement, (keyword, kspan, args, span))


def _block(
    kind: str,
    kspan: Span,
    args: tuple[RawArg, ...],
    statements: tuple[RawStatement, ...],
    close_line: int,
) -> RawBlock:
    last = statements[-1].span if statements else (args[-1].span if args else kspan)
    span = Span.cover(kspan, last)
    return _new(RawBlock, (kind, kspan, args, statements, span, close_line))


# --- the token grammar ------------------------------------------------------------------


class _Build(Transformer[Token, object]):
    """Builds the raw tree while LALR parses `GRAMMAR` (lark's inline transformer: no parse
    tree). WORD tokens never span lines, so a token's end is its start plus its length."""

    @staticmethod
    def _span(tok: Token) -> Span:
        line, col = tok.line or 1, tok.column or 1
        return _new(Span, (_STATE.path, line, col, line, col + len(tok)))

    @staticmethod
    def _args(tok: Token | None) -> tuple[RawArg, ...]:
        if tok is None:
            return ()
        return _split(tok, 0, len(tok), tok.line or 1, 1 - (tok.column or 1))

    def statement(self, children: list[Token]) -> RawStatement:
        kw, *args = children
        return _statement(str(kw), self._span(kw), self._args(args[0] if args else None))

    def block(self, children: list[Token | RawStatement]) -> RawBlock:
        kw, *rest = children
        assert isinstance(kw, Token)
        close = rest.pop()
        assert isinstance(close, Token)
        kspan = self._span(kw)
        args = self._args(next((a for a in rest if isinstance(a, Token)), None))
        stmts = tuple(s for s in rest if isinstance(s, RawStatement))
        return _block(str(kw), kspan, args, stmts, close.line or kspan.line)

    def start(self, children: list[RawBlock | RawStatement]) -> tuple[RawBlock | RawStatement, ...]:
        return tuple(children)


def _on_comment(tok: Token) -> Token:
    if _STATE.comments is not None:
        _STATE.comments.append(Comment(line=tok.line or 1, column=tok.column or 1, text=str(tok)))
    return tok


@cache
def _parser() -> Lark:
    return Lark(
        GRAMMAR,
        parser="lalr",
        lexer="contextual",
        transformer=_Build(),
        lexer_callbacks={"COMMENT": _on_comment},
    )


# --- the statement grammar --------------------------------------------------------------


class _Decline(Exception):
    """The statement lexer met text it does not read; `GRAMMAR` decides what it is."""


# The blanks, comments and separators between two items. Group "sep" is set when there is at
# least one separator. Possessive, like lark's tokens: a comment runs to the end of its line.
_GAP_PATTERN = r"(?:[ \t\f]*+(?:#[^\n]*+)?+(?P<sep>\r?\n|;))*+[ \t\f]*+"
_GAP = re.compile(_GAP_PATTERN)
# ARGS_PATTERN, matching the same text faster: runs of plain characters instead of one
# character per repetition, and possessive quantifiers (nothing after it ever needs it to
# give back). A ',' first tries to go on to the next line, as in ARGS_PATTERN.
_FAST_ARGS_PATTERN = (
    r'(?:[^\s"#{};,]++|,[ \t\f]*+(?:#[^\n]*+)?+(?:\r?\n[ \t\f]*+)++|,'
    r'|"(?:[^"\\\r\n]++|\\[^\r\n])*+"|[ \t\f]++(?=[^\s#{};]))++'
)
# A statement or block header and the gap after it, in one match. Each part takes all it
# can, as the contextual lexer's WORD, ARGS and ignored tokens would: the gap also matches
# the empty string, so the match never gives back any of the keyword or the arguments.
_ITEM = re.compile(f"(?P<word>{WORD_PATTERN})(?P<args>{_FAST_ARGS_PATTERN})?{_GAP_PATTERN}")
_COMMENT = re.compile(r"#[^\n]*")


class _StatementLexer(Lexer):
    """One token per statement, block header and '}', for the `_STATEMENTS` grammar.

    A statement is a WORD and the ARGS after it, exactly as `GRAMMAR`'s contextual lexer
    reads them (the same patterns); the blanks, comments and separators after it are the gap
    to the next token. A STMT, OPEN or LAST token's value is the keyword, and its `end_pos`
    the end of the arguments. Comments in gaps are collected here, comments inside ARGS by
    `_split`. Anything else raises `_Decline`: a lone '\r', a Unicode space, an unterminated
    string, two items on one line without a separator, a '{' without a keyword.
    """

    __future_interface__ = 2  # lex() gets lark's LexerState, as lark's own lexers do

    def __init__(self, conf: LexerConf) -> None:
        pass

    def lex(self, lexer_state: LexerState, parser_state: object) -> Iterator[Token]:
        text, end = lexer_state.text.text, lexer_state.text.end
        item = _ITEM.match
        pos, line, line_start = _skip(text, 0, _gap(text, 0).end(), 1, 0)
        while pos < end:
            col = pos - line_start + 1
            if text.startswith("}", pos):
                yield Token("CLOSE", "}", pos, line, col, None, None, pos + 1)
                g = _gap(text, pos + 1)
                if g.group("sep") is None:
                    raise _Decline  # '}' and more on the same line
                pos, line, line_start = _skip(text, pos + 1, g.end(), line, line_start)
                continue
            m = item(text, pos)
            if m is None:
                raise _Decline
            stop = m.end("args")
            if stop < 0:  # no arguments
                stop = m.end("word")
            after = m.end()
            if m.group("sep") is not None:
                kind = "STMT"
            elif text.startswith("{", after):
                kind = "OPEN"
            elif text.startswith("}", after):
                kind = "LAST"
            else:
                raise _Decline
            yield Token(kind, m.group("word"), pos, line, col, None, None, stop)
            if kind == "STMT" and text.find("#", stop, after) < 0:
                # The common case, inline: count the lines of the arguments and the gap.
                n = text.count("\n", pos, after)
                if n:
                    line += n
                    line_start = text.rfind("\n", pos, after) + 1
                pos = after
                continue
            pos, line, line_start = _skip(text, pos, stop, line, line_start, comments=False)
            if kind == "STMT":
                pos, line, line_start = _skip(text, stop, after, line, line_start)
            elif kind == "OPEN":  # blanks, '{', then any gap
                stop = _gap(text, after + 1).end()
                pos, line, line_start = _skip(text, after + 1, stop, line, line_start)
            else:  # blanks, then the '}'
                pos = after


def _gap(text: str, pos: int) -> re.Match[str]:
    m = _GAP.match(text, pos)
    assert m is not None  # it matches the empty string too
    return m


def _skip(
    text: str, pos: int, stop: int, line: int, line_start: int, comments: bool = True
) -> tuple[int, int, int]:
    """Step over text[pos:stop], collecting its comments (unless they are inside ARGS, where
    `_split` does) and counting its lines. Returns `stop`, and the line and its start there."""
    if comments and text.find("#", pos, stop) >= 0 and _STATE.comments is not None:
        for c in _COMMENT.finditer(text, pos, stop):
            at = c.start()
            n = text.count("\n", pos, at)
            ls = text.rfind("\n", pos, at) + 1 if n else line_start
            _STATE.comments.append(Comment(line=line + n, column=at - ls + 1, text=c.group()))
    n = text.count("\n", pos, stop)
    if n:
        line += n
        line_start = text.rfind("\n", pos, stop) + 1
    return stop, line, line_start


class _BuildStatements(Transformer[Token, object]):
    """Builds the raw tree from `_StatementLexer`'s tokens, as `_Build` does from
    `GRAMMAR`'s."""

    @staticmethod
    def _stmt(tok: Token) -> RawStatement:
        keyword, pos, stop = tok.value, tok.start_pos or 0, tok.end_pos or 0
        path, line, col = _STATE.path, tok.line or 1, tok.column or 1
        kspan = _new(Span, (path, line, col, line, col + len(keyword)))
        kw_end = pos + len(keyword)
        if kw_end == stop:
            return _new(RawStatement, (keyword, kspan, (), kspan))
        args = _split(_STATE.text, kw_end, stop, line, pos - col + 1)
        span = _new(Span, (path, line, col, args[-1].line, args[-1].end_column))
        return _new(RawStatement, (keyword, kspan, args, span))

    # Statements are read in the order `_Build` reads them (a block's header after its
    # statements), so that their diagnostics come in the same order.
    def statement(self, children: list[Token]) -> RawStatement:
        return self._stmt(children[0])

    def stmts(self, children: list[Any]) -> list[RawStatement]:
        """`stmts STMT`: the list so far and a statement to add; nothing to start one."""
        if not children:
            return []
        stmts: list[RawStatement] = children[0]
        stmts.append(self._stmt(children[1]))
        return stmts

    def block(self, children: list[Any]) -> RawBlock:
        """OPEN, the list of statements, maybe a LAST one, CLOSE."""
        head, stmts, *last, close = children
        if last:
            stmts.append(self._stmt(last[0]))
        kind, kspan, args, _ = self._stmt(head)
        return _block(kind, kspan, args, tuple(stmts), close.line or kspan.line)

    def start(self, children: list[Any]) -> list[RawBlock | RawStatement]:
        """`start` and an item to add to it; nothing to start the file."""
        if not children:
            return []
        items: list[RawBlock | RawStatement] = children[0]
        items.append(children[1])
        return items


@cache
def _statement_parser() -> Lark:
    return Lark(_STATEMENTS, parser="lalr", lexer=_StatementLexer, transformer=_BuildStatements())


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


def parse_text(text: str, path: str) -> tuple[RawFile | None, list[Diagnostic]]:
    """Parse one file's text. Returns the raw tree (None on a syntax error) and diagnostics.

    The LALR parser stops at the first syntax error of a file; the caller still reports the
    problems of every other file, and `dsl.syntax` reports every statement error. Comments
    are in the order they appear in the text.
    """
    return read_by_statement(text, path) or read_by_token(text, path)


def read_by_statement(text: str, path: str) -> tuple[RawFile, list[Diagnostic]] | None:
    """The file read with `_STATEMENTS`, or None for text that it does not accept."""
    try:
        return _read(_statement_parser(), text, path)
    except (_Decline, UnexpectedInput):
        return None


def read_by_token(text: str, path: str) -> tuple[RawFile | None, list[Diagnostic]]:
    """The file read with `GRAMMAR`; a syntax error becomes the one diagnostic."""
    try:
        return _read(_parser(), text, path)
    except UnexpectedInput as exc:
        return None, [_syntax_error(exc, path, text)]


def _read(parser: Lark, text: str, path: str) -> tuple[RawFile, list[Diagnostic]]:
    src = text if text.endswith("\n") else text + "\n"
    comments: list[Comment] = []
    diagnostics: list[Diagnostic] = []
    _STATE.path, _STATE.text, _STATE.comments, _STATE.diagnostics = path, src, comments, diagnostics
    try:
        items = parser.parse(src)
    finally:
        _STATE.text, _STATE.comments, _STATE.diagnostics = "", None, None
    assert isinstance(items, tuple | list)
    comments.sort(key=lambda c: (c.line, c.column))
    return RawFile(path=path, items=tuple(items), comments=tuple(comments)), diagnostics
