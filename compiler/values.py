"""Reading values written in a policy, each failure a positioned diagnostic.

Every reader returns None after recording a diagnostic, so a check pass goes on with the
rest of the policy and one run reports every problem.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable

from compiler import quantity
from compiler.model import Operator, Requirement
from dsl import ast
from dsl.diagnostics import Diagnostic, Span, error, warning

NAME = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?")
LABEL_NAME = re.compile(r"([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]")
DNS_SUBDOMAIN = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*")
ENV_NAME = re.compile(r"[-._a-zA-Z][-._a-zA-Z0-9]*")
NAMESPACE_GLOB = re.compile(r"[a-z0-9*]([-a-z0-9*]*[a-z0-9*])?")


class Sink:
    """Collects diagnostics for one run."""

    def __init__(self) -> None:
        self.items: list[Diagnostic] = []
        self.errors = 0  # how many of `items` are errors

    def error(self, code: str, message: str, span: Span, hint: str | None = None) -> None:
        self.items.append(error(code, message, span, hint))
        self.errors += 1

    def warn(self, code: str, message: str, span: Span, hint: str | None = None) -> None:
        self.items.append(warning(code, message, span, hint))

    @property
    def has_errors(self) -> bool:
        return self.errors > 0


def name(sink: Sink, v: ast.Value, what: str) -> str | None:
    if NAME.fullmatch(v.text) and len(v.text) <= 63:
        return v.text
    sink.error(
        "E017",
        f"invalid {what} name '{v.text}'",
        v.span,
        "names are kebab-case: lower-case letters, digits and '-', at most 63 characters",
    )
    return None


def namespace(sink: Sink, v: ast.Value) -> str | None:
    if NAME.fullmatch(v.text) and len(v.text) <= 63:
        return v.text
    sink.error(
        "E035",
        f"invalid namespace '{v.text}'",
        v.span,
        "a namespace is a DNS label: lower-case letters, digits and '-', at most 63 characters",
    )
    return None


def namespace_pattern(sink: Sink, v: ast.Value) -> str | None:
    text = v.text
    if "*" not in text:
        return namespace(sink, v)
    if NAMESPACE_GLOB.fullmatch(text) and len(text) <= 63 and "**" not in text:
        return text
    sink.error(
        "E035",
        f"invalid namespace glob '{text}'",
        v.span,
        "a glob is a namespace name with '*' for any run of characters, e.g. team-a-*",
    )
    return None


def label_key(sink: Sink, v: ast.Value) -> str | None:
    prefix, _, key = v.text.rpartition("/")
    ok = bool(LABEL_NAME.fullmatch(key)) and len(key) <= 63
    if prefix:
        ok = ok and bool(DNS_SUBDOMAIN.fullmatch(prefix)) and len(prefix) <= 253
    if ok:
        return v.text
    sink.error(
        "E029",
        f"invalid label key '{v.text}'",
        v.span,
        "a key is an optional DNS prefix and '/', then up to 63 of [A-Za-z0-9-_.]",
    )
    return None


def label_value(sink: Sink, v: ast.Value) -> str | None:
    if v.text == "" or (LABEL_NAME.fullmatch(v.text) and len(v.text) <= 63):
        return v.text
    sink.error(
        "E029",
        f"invalid label value '{v.text}'",
        v.span,
        "a value is empty or up to 63 of [A-Za-z0-9-_.], starting and ending alphanumeric",
    )
    return None


def env_name(sink: Sink, v: ast.Value) -> str | None:
    if ENV_NAME.fullmatch(v.text):
        return v.text
    sink.error("E029", f"invalid environment variable name '{v.text}'", v.span, None)
    return None


def _quantity(
    sink: Sink, v: ast.Value, what: str, conv: Callable[[str], int], example: str
) -> int | None:
    try:
        return conv(v.text)
    except quantity.QuantityError as exc:
        sink.error("E020", f"invalid {what}: {exc}", v.span, f"write {what} as e.g. {example}")
        return None


def cpu(sink: Sink, v: ast.Value) -> int | None:
    return _quantity(sink, v, "CPU quantity", quantity.millicores, "500m, 2 or 1.5")


def size(sink: Sink, v: ast.Value, what: str = "memory quantity") -> int | None:
    return _quantity(sink, v, what, quantity.whole, "512Mi, 16Gi or 1G")


def rate(sink: Sink, v: ast.Value, what: str, lo: int, hi: int, example: str) -> int | None:
    n = _quantity(sink, v, what, quantity.whole, example)
    if n is None:
        return None
    if not lo <= n <= hi:
        sink.error(
            "E028",
            f"{what} {v.text} is outside the range Calico and Kubernetes accept",
            v.span,
            f"use a value from {quantity.format_decimal(lo)} to {quantity.format_decimal(hi)}",
        )
        return None
    return n


def integer(sink: Sink, v: ast.Value, what: str, lo: int, hi: int) -> int | None:
    try:
        n = int(v.text, 10)
    except ValueError:
        sink.error("E036", f"{what} must be a whole number, found '{v.text}'", v.span, None)
        return None
    if not lo <= n <= hi:
        sink.error("E036", f"{what} {n} is out of range", v.span, f"use {lo} to {hi}")
        return None
    return n


def port(sink: Sink, v: ast.Value) -> int | None:
    try:
        n = int(v.text, 10)
    except ValueError:
        n = -1
    if 1 <= n <= 65535:
        return n
    sink.error("E026", f"invalid port '{v.text}'", v.span, "a port is a number from 1 to 65535")
    return None


def cidr(sink: Sink, v: ast.Value) -> ipaddress.IPv4Network | ipaddress.IPv6Network | None:
    try:
        return ipaddress.ip_network(v.text, strict=True)
    except ValueError as exc:
        hint = None
        try:
            net = ipaddress.ip_network(v.text, strict=False)
            hint = f"did you mean '{net}'? host bits must be zero"
        except ValueError:
            hint = "write a network as address/prefix, e.g. 10.20.0.0/16"
        sink.error("E027", f"invalid CIDR '{v.text}': {exc}", v.span, hint)
        return None


_OPS: dict[str, Operator] = {
    "=": "In",
    "in": "In",
    "not-in": "NotIn",
    "exists": "Exists",
    "not-exists": "DoesNotExist",
}


def requirement(sink: Sink, sel: ast.Selector) -> Requirement | None:
    key = label_key(sink, sel.key)
    vals = [label_value(sink, v) for v in sel.values]
    if key is None or any(v is None for v in vals):
        return None
    return Requirement(
        key=key, operator=_OPS[sel.op], values=tuple(v for v in vals if v is not None)
    )
