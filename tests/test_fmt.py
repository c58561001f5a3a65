"""`hermetic fmt`: canonical text, comments kept, idempotent, meaning unchanged."""

from __future__ import annotations

from pathlib import Path

import pytest

from cli.main import main
from dsl.codes import CATALOG
from dsl.fmt import format_source
from dsl.parser import RawBlock, RawFile, parse_text

from .conftest import POLICIES

BUNDLED = sorted(POLICIES.glob("*.hermetic"))
EXAMPLES = [c.example for c in CATALOG if c.example and parse_text(c.example, "x")[0] is not None]


def _shape(raw: RawFile) -> list[object]:
    """The meaning of a file without positions: blocks, keywords and arguments."""

    def args(a: tuple[object, ...]) -> list[tuple[str, str]]:
        return [(x.kind, x.text) for x in a]  # type: ignore[attr-defined]

    out: list[object] = []
    for item in raw.items:
        if isinstance(item, RawBlock):
            out.append(
                (item.kind, args(item.args), [(s.keyword, args(s.args)) for s in item.statements])
            )
        else:
            out.append((item.keyword, args(item.args)))
    return out


@pytest.mark.parametrize("path", BUNDLED, ids=[p.name for p in BUNDLED])
def test_bundled_policy_is_canonical(path: Path) -> None:
    text = path.read_text()
    assert format_source(text, str(path))[0] == text


@pytest.mark.parametrize("text", EXAMPLES + [p.read_text() for p in BUNDLED])
def test_round_trip_keeps_meaning_and_is_idempotent(text: str) -> None:
    raw, _ = parse_text(text, "x")
    assert raw is not None
    once, _ = format_source(text, "x")
    assert once is not None
    again, _ = format_source(once, "x")
    assert again == once
    raw2, _ = parse_text(once, "x")
    assert raw2 is not None and _shape(raw2) == _shape(raw)
    assert [c.text.rstrip() for c in raw2.comments] == [c.text.rstrip() for c in raw.comments]


def test_messy_text_becomes_canonical() -> None:
    text = 'policy p   version "1"\ntier t{cpu 1;memory 1Gi   # m\n   namespaces a ,b,\n  c\n}'
    out, _ = format_source(text, "x")
    assert out == (
        'policy p version "1"\n\ntier t {\n  cpu 1\n  memory 1Gi  # m\n  namespaces a, b, c\n}\n'
    )


def test_strings_keep_their_escapes() -> None:
    out, _ = format_source('tier t {\n  env A = "a \\"b\\" \\\\ c"\n}\n', "x")
    assert out == 'tier t {\n  env A = "a \\"b\\" \\\\ c"\n}\n'


def test_cli_check_and_write(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    f = tmp_path / "a.hermetic"
    f.write_text("tier t {cpu 1}\n")
    assert main(["fmt", "--check", str(f)]) == 1
    assert "+tier t {" in capsys.readouterr().out
    assert main(["fmt", "--write", str(f)]) == 0
    assert f.read_text() == "tier t {\n  cpu 1\n}\n"
    assert main(["fmt", "--check", str(f)]) == 0
    assert main(["fmt", "--check", str(POLICIES)]) == 0


def test_cli_reports_syntax_errors(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    f = tmp_path / "a.hermetic"
    f.write_text("tier t {\n")
    assert main(["fmt", str(f)]) == 1
    assert "error[E005]" in capsys.readouterr().err
    assert main(["fmt", str(tmp_path / "missing.hermetic")]) == 2
