"""Quantities are the kubernetes client's: `compiler.quantity` loads its `parse_quantity`
without importing the whole client, and must read every text exactly as it does."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from kubernetes.utils.quantity import parse_quantity

from compiler import quantity

TEXTS = ["1", "0", "500m", "1.5", "2Gi", "16Mi", "1e3", "1E", "100Ki", "0.1m", "-1", "1x", "", "Gi",
         "1.5.5", "12345678901234567890", "1ki", "3n", "7u", "1_000", " 1", "inf", "nan"]  # fmt: skip


def _outcome(fn: object, text: str) -> tuple[str, Decimal | None]:
    try:
        return ("ok", fn(text))  # type: ignore[operator]
    except Exception as exc:
        return (type(exc).__name__, None)


def test_the_parser_is_the_clients_loaded_on_its_own() -> None:
    parse = quantity._parser()
    assert parse.__name__ == "parse_quantity"
    assert parse.__code__.co_code == parse_quantity.__code__.co_code


@pytest.mark.parametrize("text", TEXTS)
def test_reads_as_the_client_does(text: str) -> None:
    assert _outcome(quantity._parser(), text) == _outcome(parse_quantity, text)


@settings(max_examples=500, derandomize=True, deadline=None)
@given(st.from_regex(r"[0-9.eE+-]{0,6}(m|k|M|G|T|P|E|Ki|Mi|Gi|Ti|Pi|Ei|n|u)?", fullmatch=True))
def test_generated_texts_read_as_the_client_reads_them(text: str) -> None:
    assert _outcome(quantity._parser(), text) == _outcome(parse_quantity, text)
