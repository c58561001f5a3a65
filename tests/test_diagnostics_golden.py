"""Every diagnostic code: its example produces it, rendered exactly as docs/errors.md shows."""

from __future__ import annotations

import pytest

import compiler
from cli import errors_doc
from dsl.codes import BASE, CATALOG
from dsl.loader import MAX_BYTES, Source, decode

from .conftest import ROOT

EXAMPLES = [c for c in CATALOG if c.example is not None]


def test_codes_are_unique_and_well_formed() -> None:
    codes = [c.code for c in CATALOG]
    assert len(codes) == len(set(codes))
    assert all(c[0] in "EW" and c[1:].isdigit() and len(c) == 4 for c in codes)


def test_base_example_is_clean() -> None:
    loaded = compiler.load_sources([Source(path="policy.hermetic", text=BASE)])
    assert loaded.diagnostics == []
    assert loaded.policy is not None


@pytest.mark.parametrize("code", EXAMPLES, ids=[c.code for c in EXAMPLES])
def test_example_produces_its_code(code: object) -> None:
    from dsl.codes import Code

    assert isinstance(code, Code) and code.example is not None
    every, _ = errors_doc.diagnostics_of(code)
    found = [d for d in every if d.code == code.code]
    assert found, f"{code.code} not produced; got {[d.code for d in every]}"
    d = found[0]
    assert d.severity.value == ("error" if code.code.startswith("E") else "warning")
    if d.is_error:
        loaded = compiler.load_sources([Source(path="policy.hermetic", text=code.example)])
        assert loaded.policy is None
    # the span points into the text
    lines = code.example.split("\n")
    assert 1 <= d.span.line <= len(lines)
    assert 1 <= d.span.column <= len(lines[d.span.line - 1]) + 1


def test_docs_errors_md_is_up_to_date() -> None:
    on_disk = (ROOT / "docs" / "errors.md").read_text()
    assert on_disk == errors_doc.markdown(), "run: python -m cli.errors_doc > docs/errors.md"


def test_every_code_the_code_emits_is_documented() -> None:
    """Scan the sources for diagnostic codes: none may be missing from the catalog."""
    import re

    documented = {c.code for c in CATALOG}
    used: set[str] = set()
    for pkg in ("dsl", "compiler", "webhook", "cli"):
        for path in (ROOT / pkg).rglob("*.py"):
            used |= set(re.findall(r'"([EW]0\d\d)"', path.read_text()))
    assert used - documented == set()


def test_binary_file_is_e001_with_position() -> None:
    source, diags = decode("bin.hermetic", b'policy x version "1"\n\xff\xfe\x00')
    assert source is None
    assert [(d.code, d.span.line, d.span.column) for d in diags] == [("E001", 2, 1)]


def test_nul_in_utf8_text_is_e001() -> None:
    _, diags = decode("nul.hermetic", b"tier a {\n  cpu 1\x00\n}\n")
    assert [(d.code, d.span.line, d.span.column) for d in diags] == [("E001", 2, 8)]


def test_huge_file_is_e008() -> None:
    _, diags = decode("huge.hermetic", b"#" * (MAX_BYTES + 1))
    assert [d.code for d in diags] == ["E008"]
