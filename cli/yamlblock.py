"""Block-style YAML for Kubernetes manifests, written directly.

PyYAML builds an event for every node, even with libyaml's emitter, which makes writing
the 40,000 objects of a 1,000-tenant policy take seconds. Manifests hold only dicts,
lists, strings, integers, booleans and null, so this writer emits them in one pass:
keys sorted, sequences indented as PyYAML does, a string plain only where no YAML 1.1
resolver could read it as anything else, otherwise double-quoted with JSON's escapes
(a subset of YAML's). A property test checks that PyYAML reads back the same data.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Sequence
from functools import lru_cache
from typing import Any

import yaml

# Plain only when it holds no ':' '#', spaces or indicators, and YAML 1.1 reads it as a
# string: not a boolean or null, and (starting with a digit, like 500m or 16Gi) not a
# number, date or time by PyYAML's own resolver. Everything else is quoted.
_PLAIN = re.compile(r"[A-Za-z0-9_/][A-Za-z0-9_./-]*")
_STR = "tag:yaml.org,2002:str"
_RESERVED = frozenset(
    w
    for word in ("y", "n", "yes", "no", "true", "false", "on", "off", "null")
    for w in (word, word.capitalize(), word.upper())
)


_UNPRINTABLE = re.compile(r"[^\x20-\x7e]")  # outside printable ASCII: looked at one by one


def _escape(m: re.Match[str]) -> str:
    ch = m.group()
    if ch.isprintable():
        return ch
    code = ord(ch)
    return f"\\u{code:04x}" if code <= 0xFFFF else f"\\U{code:08x}"


@lru_cache(maxsize=65536)
def _reads_as_str(value: str) -> bool:
    if not value[0].isdigit() and value[0] not in "-.+":
        return True
    tag = yaml.resolver.Resolver().resolve(yaml.ScalarNode, value, (True, False))  # type: ignore[no-untyped-call]
    return bool(tag == _STR)


# Manifests repeat the same strings (keys, kinds, label values) tens of thousands of times:
# each is decided once. Bounded, so that a long run does not keep every string it wrote.
_STRINGS: dict[str, str] = {}
_STRINGS_MAX = 1 << 16


def _string(value: str) -> str:
    if _PLAIN.fullmatch(value) and value not in _RESERVED and _reads_as_str(value):
        return value
    quoted = json.dumps(value, ensure_ascii=False)
    # YAML forbids raw control characters, and reads "\\uD87A\\uDFE1" as two code
    # points: escape what is not printable by its own code point
    return quoted if value.isprintable() else _UNPRINTABLE.sub(_escape, quoted)


def scalar(value: Any) -> str:
    if type(value) is str:
        text = _STRINGS.get(value)
        if text is None:
            if len(_STRINGS) >= _STRINGS_MAX:
                _STRINGS.clear()
            text = _STRINGS[value] = _string(value)
        return text
    if value is None:
        return "null"
    if value is True:
        return "true"
    if value is False:
        return "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, str):
        return _string(value)
    if isinstance(value, float):
        return json.dumps(value)
    if isinstance(value, _Hole):
        return value.marker
    raise TypeError(f"cannot write {type(value).__name__} as YAML")


def _node(value: Any, indent: str, out: list[str]) -> None:
    """Append the lines of a mapping or sequence value (after its key's line)."""
    if isinstance(value, dict):
        for key in sorted(value):
            _entry(f"{indent}{scalar(key)}:", value[key], indent, out)
    else:
        for item in value:
            if isinstance(item, dict) and item:
                keys = sorted(item)
                _entry(f"{indent}- {scalar(keys[0])}:", item[keys[0]], indent + "  ", out)
                for key in keys[1:]:
                    _entry(f"{indent}  {scalar(key)}:", item[key], indent + "  ", out)
            elif isinstance(item, list) and item:
                out.append(f"{indent}-")
                _node(item, indent + "  ", out)
            else:
                out.append(f"{indent}- {_inline(item)}")


def _entry(head: str, value: Any, indent: str, out: list[str]) -> None:
    if isinstance(value, dict) and value:
        out.append(head)
        _node(value, indent + "  ", out)
    elif isinstance(value, list) and value:
        out.append(head)
        _node(value, indent, out)  # PyYAML's indentless sequences under a key
    else:
        out.append(f"{head} {_inline(value)}")


def _inline(value: Any) -> str:
    if isinstance(value, dict):
        return "{}"
    if isinstance(value, list):
        return "[]"
    return scalar(value)


def dump_all(documents: Iterable[Any]) -> str:
    """Documents, each after `---`, as block YAML with sorted keys."""
    out: list[str] = []
    for doc in documents:
        if isinstance(doc, dict | list) and doc:
            out.append("---")
            _node(doc, "", out)
        else:
            out.append(f"--- {_inline(doc)}")
    return "\n".join(out) + "\n" if out else ""


# --- one rendering, many namespaces -------------------------------------------------------


class _Hole:
    """A string left open in a Stencil: written as a marker no YAML text contains (NUL is
    never written raw: `scalar` escapes what is not printable)."""

    __slots__ = ("marker", "text")

    def __init__(self, index: int, text: str) -> None:
        self.marker = f"\0{index}\0"
        self.text = text


class Stencil:
    """YAML documents in which one placeholder is left open: rendered once, then filled
    with a value many times. `Stencil(docs, p).fill(v)` is `dump_all(docs with p replaced
    by v in every string)`, byte for byte: a string holding the placeholder is written by
    `scalar` at fill time, and everything else does not depend on the value. (A mapping
    key holding the placeholder could sort differently once filled: such documents are
    rendered whole at every fill.)"""

    def __init__(self, documents: Sequence[Any], placeholder: str) -> None:
        self._placeholder = placeholder
        self._holes: list[str] = []
        self._whole: Sequence[Any] | None = None
        try:
            opened = [self._open(doc) for doc in documents]
        except _KeyHolds:
            self._whole = documents
            self._literals: list[str] = []
            return
        parts = dump_all(opened).split("\0")
        self._literals = parts[::2]
        order = [int(i) for i in parts[1::2]]
        self._holes = [self._holes[i] for i in order]

    def _open(self, value: Any) -> Any:
        if isinstance(value, str):
            if self._placeholder not in value:
                return value
            self._holes.append(value)
            return _Hole(len(self._holes) - 1, value)
        if isinstance(value, dict):
            if any(self._placeholder in k for k in value if isinstance(k, str)):
                raise _KeyHolds
            return {k: self._open(v) for k, v in value.items()}
        if isinstance(value, list):
            return [self._open(v) for v in value]
        return value

    def fill(self, value: str) -> str:
        p = self._placeholder
        if self._whole is not None:
            return dump_all(_replace(doc, p, value) for doc in self._whole)
        out = [self._literals[0]]
        for text, literal in zip(self._holes, self._literals[1:], strict=True):
            out.append(scalar(text.replace(p, value)))
            out.append(literal)
        return "".join(out)


class _KeyHolds(Exception):
    """A mapping key holds the placeholder."""


def _replace(value: Any, old: str, new: str) -> Any:
    if isinstance(value, str):
        return value.replace(old, new)
    if isinstance(value, dict):
        return {_replace(k, old, new): _replace(v, old, new) for k, v in value.items()}
    if isinstance(value, list):
        return [_replace(v, old, new) for v in value]
    return value
