"""docs/language.md: every example in the reference parses, and every statement is shown."""

from __future__ import annotations

import re

import pytest

from dsl.syntax import STATEMENTS, parse_module

from .conftest import ROOT

DOC = (ROOT / "docs" / "language.md").read_text()
BLOCKS = re.findall(r"```hermetic\n(.*?)```", DOC, re.S)


@pytest.mark.parametrize("text", BLOCKS, ids=[f"example{i}" for i in range(len(BLOCKS))])
def test_every_example_parses_without_a_diagnostic(text: str) -> None:
    module, diagnostics = parse_module(text, "language.md")
    assert module is not None
    assert diagnostics == []


def test_every_statement_has_an_example() -> None:
    shown = {
        (b.kind, type(s).__name__)
        for text in BLOCKS
        if (m := parse_module(text, "x")[0]) is not None
        for b in m.blocks
        for s in b.statements
    }
    keywords = set()
    for text in BLOCKS:
        for line in text.splitlines():
            word = line.strip().split(" ", 1)[0]
            keywords.add(word)
    missing = {k for specs in STATEMENTS.values() for k in specs} - keywords
    assert shown and missing == set()
