"""Kubernetes quantities: parsed with the kubernetes client's `parse_quantity`, kept as ints.

CPU is kept in millicores, memory, storage and bit rates in base units. Formatting gives
the shortest exact Kubernetes spelling, so that emitted values are stable and readable.
"""

from __future__ import annotations

import importlib.util
from decimal import Decimal, InvalidOperation
from functools import cache
from pathlib import Path
from typing import Any


class QuantityError(ValueError):
    pass


@cache
def _parser() -> Any:
    """The kubernetes client's `parse_quantity`, loaded on first use.

    Importing `kubernetes.utils.quantity` runs the package's `__init__`, which imports the
    whole API client (about a third of a second, more than linting a thousand tenants);
    the module itself needs only `decimal`. So its file is loaded on its own, from the
    installed package, and the package is imported the usual way only if that fails.
    """
    spec = importlib.util.find_spec("kubernetes")
    if spec is not None and spec.origin is not None:
        path = Path(spec.origin).parent / "utils" / "quantity.py"
        alone = importlib.util.spec_from_file_location("_hermetic_k8s_quantity", path)
        if alone is not None and alone.loader is not None and path.is_file():
            module = importlib.util.module_from_spec(alone)
            alone.loader.exec_module(module)
            parse = getattr(module, "parse_quantity", None)
            if callable(parse):
                return parse
    from kubernetes.utils.quantity import parse_quantity

    return parse_quantity


def parse(text: str) -> Decimal:
    """The value of a Kubernetes quantity, or QuantityError with the reason."""
    try:
        value = _parser()(text)
    except (ValueError, TypeError, InvalidOperation) as exc:
        raise QuantityError(f"'{text}' is not a Kubernetes quantity") from exc
    if not isinstance(value, Decimal) or not value.is_finite():
        raise QuantityError(f"'{text}' is not a Kubernetes quantity")
    if value < 0:
        raise QuantityError(f"'{text}' is negative")
    return value


def millicores(text: str) -> int:
    """CPU in millicores; CPU finer than 1m cannot be expressed."""
    value = parse(text) * 1000
    if value != value.to_integral_value():
        raise QuantityError(f"'{text}' is finer than 1m, the smallest CPU unit")
    return int(value)


def whole(text: str) -> int:
    """A quantity that must be a whole number of base units (bytes, bits, packets)."""
    value = parse(text)
    if value != value.to_integral_value():
        raise QuantityError(f"'{text}' is not a whole number")
    return int(value)


def format_cpu(milli: int) -> str:
    return str(milli // 1000) if milli % 1000 == 0 else f"{milli}m"


_BINARY = (("Ei", 2**60), ("Pi", 2**50), ("Ti", 2**40), ("Gi", 2**30), ("Mi", 2**20), ("Ki", 2**10))
_DECIMAL = (("E", 10**18), ("P", 10**15), ("T", 10**12), ("G", 10**9), ("M", 10**6), ("k", 10**3))


def format_bytes(n: int) -> str:
    """The shortest exact spelling, binary suffixes first: 17179869184 -> '16Gi'."""
    for suffix, size in _BINARY:
        if n and n % size == 0:
            return f"{n // size}{suffix}"
    return format_decimal(n)


def format_decimal(n: int) -> str:
    """Decimal suffixes, for bit rates and counts: 200000000 -> '200M'."""
    for suffix, size in _DECIMAL:
        if n and n % size == 0:
            return f"{n // size}{suffix}"
    return str(n)


def cpu_of(value: object) -> int | None:
    """Millicores of a value found in a pod (a string or a number), None if unreadable."""
    try:
        return millicores(str(value))
    except QuantityError:
        return None


def bytes_of(value: object) -> int | None:
    """Bytes of a value found in a pod, rounded up as the API server rounds; None if unreadable."""
    try:
        v = parse(str(value))
    except QuantityError:
        return None
    return int(v.to_integral_value(rounding="ROUND_CEILING"))
