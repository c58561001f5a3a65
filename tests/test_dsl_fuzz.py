"""No input makes the language front end raise: every problem is a positioned diagnostic.

Over 10,000 generated inputs in the normal run: token soup drawn from the language's own
vocabulary, edits of valid policies (the bundled one and every catalog example), and raw
bytes. Derandomized, so that a failure in CI reproduces. And the parser's two grammars read
every text alike (see `dsl.parser`).
"""

from __future__ import annotations

import re
import time

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import compiler
from dsl import parser
from dsl.codes import BASE, CATALOG
from dsl.diagnostics import render_text
from dsl.loader import Source, decode
from dsl.syntax import STATEMENTS

from .conftest import POLICIES


def fuzz(examples: int) -> settings:
    return settings(
        max_examples=examples,
        derandomize=True,
        deadline=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )


KEYWORDS = sorted({k for v in STATEMENTS.values() for k in v} | set(STATEMENTS) | {"policy"})
WORDS = [
    *KEYWORDS, "t0", "tier0", "team-a", "a-*", "*", "500m", "4", "16Gi", "1.5", "500m..4",
    "..4", "1Gi..", "..", "default", "exclusive", "ingress", "egress", "tcp", "udp", "53",
    "9000-9010", "10.0.0.0/8", "10.0.0.1/8", "-1", "1e3", "0x10", "/tmp", "tmp/", "version",
    "in", "exists", "by", "across", "weight", "effect", "NoSchedule", "as", "ports", "except",
    "pods", "tenant", "namespace", "dns", "cidr", "on", "off", "strict", "ambient", "9" * 30,
]  # fmt: skip
PUNCT = [
    "{",
    "}",
    ",",
    "=",
    ";",
    "\n",
    "\n\n",
    " ",
    "\t",
    '"',
    '"x"',
    '"a\\"b"',
    '"\\q"',
    "# c\n",
    "\r\n",
    "\u00a0",
    "\u2028",
    "é",
]


def _check(text: str, path: str = "f.hermetic") -> None:
    loaded = compiler.load_sources([Source(path=path, text=text)])
    lines = text.split("\n")
    for d in loaded.diagnostics:
        assert d.span.path == path
        assert 1 <= d.span.line <= len(lines) + 1, d
        assert d.span.column >= 1 and d.span.end_column >= d.span.column, d
        assert d.code[0] in "EW" and d.message
        render_text(d, loaded.lines)
    assert (loaded.policy is None) == any(d.is_error for d in loaded.diagnostics)


tokens = st.lists(
    st.one_of(st.sampled_from(WORDS), st.sampled_from(PUNCT), st.text(max_size=3)), max_size=60
)


@fuzz(4000)
@given(tokens)
def test_token_soup_never_raises(parts: list[str]) -> None:
    _check(" ".join(parts))


VALID = [BASE, *(p.read_text() for p in sorted(POLICIES.glob("*.hermetic")))] + [
    c.example for c in CATALOG if c.example is not None
]


@st.composite
def edited(draw: st.DrawFn) -> str:
    text = draw(st.sampled_from(VALID))
    for _ in range(draw(st.integers(1, 4))):
        n = len(text)
        i = draw(st.integers(0, n))
        j = draw(st.integers(i, min(n, i + 12)))
        kind = draw(st.sampled_from(["delete", "insert", "replace", "swap-lines", "truncate"]))
        if kind == "delete":
            text = text[:i] + text[j:]
        elif kind == "insert":
            text = text[:i] + draw(st.sampled_from(WORDS + PUNCT)) + text[i:]
        elif kind == "replace":
            text = text[:i] + draw(st.text(max_size=4)) + text[j:]
        elif kind == "truncate":
            text = text[:i]
        else:
            lines = text.split("\n")
            a, b = draw(st.integers(0, len(lines) - 1)), draw(st.integers(0, len(lines) - 1))
            lines[a], lines[b] = lines[b], lines[a]
            text = "\n".join(lines)
    return text


@fuzz(4500)
@given(edited())
def test_edited_policies_never_raise(text: str) -> None:
    _check(text)


@fuzz(1500)
@given(st.binary(max_size=200))
def test_raw_bytes_never_raise(data: bytes) -> None:
    source, diags = decode("b.hermetic", data)
    if source is None:
        assert diags and all(d.code in ("E001", "E008") for d in diags)
    else:
        _check(source.text, "b.hermetic")


def test_deep_nesting_and_huge_inputs_stay_linear() -> None:
    started = time.perf_counter()
    _check("tier t " + "{" * 100_000)
    _check("}" * 100_000)
    _check('policy p version "' + "x" * 1_000_000)  # unterminated, one long line
    big = "\n".join(f"tenant t{i} {{\n  namespaces t{i}\n  tiers t0\n}}" for i in range(3000))
    _check(BASE + big)
    # generous: the point is no exponential blow-up, not a timing goal (see make bench)
    assert time.perf_counter() - started < 60


# The parser reads a file first with its statement grammar, and falls back to the token
# grammar (which makes the syntax errors) on any text the statement grammar does not accept.
# Whatever the statement grammar accepts, it must read exactly as the token grammar does.

GAPS = [" ", "  ", "\t", "\f", "", "\n", "\n\n", "\r\n", ";", " ; ", " # c\n", "# c;d\n", "\n  "]
ARG_GAPS = [" ", "  ", "\t", "", ",", ", ", " ,", ",\n  ", ", # c\n  ", ",\r\n", ",\n\n ", " = "]
ARGS = [*WORDS, '"x"', '"a b"', '"q\\"t"', '"\\n\\t"', '"\\q"', '""', "a=b", "x,y", "é"]


@st.composite
def laid_out(draw: st.DrawFn) -> str:
    """Statements and blocks in every layout the language allows, with a few mistakes."""
    out: list[str] = []
    for _ in range(draw(st.integers(0, 6))):
        out.append(draw(st.sampled_from(GAPS)))
        block = draw(st.booleans())
        head = [draw(st.sampled_from(KEYWORDS))]
        for _ in range(draw(st.integers(0, 2 if block else 5))):
            head += [draw(st.sampled_from(ARG_GAPS)), draw(st.sampled_from(ARGS))]
        out.append(" ".join(head[:1]) + "".join(head[1:]))
        if block:
            out.append(draw(st.sampled_from([" {", "{", " {\n", "{ # c\n", " {;"])))
            for _ in range(draw(st.integers(0, 4))):
                out.append(draw(st.sampled_from(GAPS)) + draw(st.sampled_from(KEYWORDS)))
                for _ in range(draw(st.integers(0, 4))):
                    out.append(draw(st.sampled_from(ARG_GAPS)) + draw(st.sampled_from(ARGS)))
                out.append(draw(st.sampled_from(GAPS)))
            out.append(draw(st.sampled_from(["}", " }", "\n}", "}}", "{"])))
        out.append(draw(st.sampled_from(GAPS)))
    return "".join(out)


def _same_reading(text: str) -> bool:
    """Whether the statement grammar read the text; asserts it read it as the tokens do."""
    by_statement = parser.read_by_statement(text, "f.hermetic")
    if by_statement is not None:
        assert by_statement == parser.read_by_token(text, "f.hermetic")
    return by_statement is not None


@fuzz(2000)
@given(laid_out())
def test_statement_grammar_reads_layouts_as_the_token_grammar(text: str) -> None:
    _same_reading(text)


@fuzz(1000)
@given(st.one_of(tokens.map(" ".join), edited()))
def test_statement_grammar_reads_edits_as_the_token_grammar(text: str) -> None:
    _same_reading(text)


def test_statement_grammar_reads_every_text_without_syntax_errors() -> None:
    """The statement grammar is the common path: it reads every example the token grammar
    reads, and declines those with syntax errors."""
    for text in VALID:
        for t in (text, text.replace("\n", "\r\n")):
            assert _same_reading(t) == (parser.read_by_token(t, "f.hermetic")[0] is not None)


TRICKY = [
    "tier a { cpu 1; memory 2 }\n",  # a block on one line, ';' between statements
    "tier a {}; tier b {\n}\n",
    "tenant t {\n  namespaces a, # first\n    b,\n\n    c  # last\n}\n",  # a list goes on
    "tenant t {\n  namespaces a,\n  # between\n  b\n}\n",  # a comment ends the list
    "tier t {\r\n  cpu 1\r\n}\r\n",
    'tier t {\n  env A = "x\\"y" # "z"\n}\n',
    'tier t {\n  env A = "\\q"\n}\nenv B="\\w"\n',  # unknown escapes, in statement order
    "a=b,c\n",
    "tier t { cpu 1 }}\n",  # '}' and more on one line: declined
    "tier t\n{\n}\n",  # '{' without a keyword: declined
    "tier t {\n  cpu 1\u00a0\n}\n",  # a Unicode space: declined
    "tier t {\n  cpu 1\r}\n",  # a lone '\r': declined
    'policy p version "1\n',  # an unterminated string: declined
]


@pytest.mark.parametrize("text", TRICKY)
def test_statement_grammar_reads_tricky_layouts_as_the_token_grammar(text: str) -> None:
    read = _same_reading(text)
    assert read == (parser.read_by_token(text, "f.hermetic")[0] is not None)


ARGS_CHARS = [*'ab1 \t\f,=;{}#"\\\n\r', "\u00a0", "é", "\r\n", " # c\n", ",\n  ", '"x"']


@fuzz(2000)
@given(st.lists(st.sampled_from(ARGS_CHARS), max_size=16).map("".join))
def test_fast_args_pattern_matches_what_args_pattern_matches(text: str) -> None:
    args = re.compile(parser.ARGS_PATTERN).match(text)
    fast = re.compile(parser._FAST_ARGS_PATTERN).match(text)
    assert (args and args.end()) == (fast and fast.end())
