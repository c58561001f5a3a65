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
from collections.abc import Callable, Iterable, Sequence
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
    raise TypeError(f"cannot write {type(value).__name__} as YAML")


class _Writer:
    """Block YAML, one line at a time into `out`; `value` writes a scalar value, `key` a
    mapping key (a Stencil writes open strings as markers, and refuses open keys)."""

    __slots__ = ("key", "out", "value")

    def __init__(self, value: Callable[[Any], str], key: Callable[[Any], str]) -> None:
        self.value = value
        self.key = key
        self.out: list[str] = []

    def dump_all(self, documents: Iterable[Any]) -> str:
        out = self.out = []
        for doc in documents:
            if isinstance(doc, dict | list) and doc:
                out.append("---")
                self.node(doc, "")
            else:
                out.append(f"--- {self.inline(doc)}")
        return "\n".join(out) + "\n" if out else ""

    def node(self, value: Any, indent: str) -> None:
        """Append the lines of a non-empty mapping or sequence (after its key's line).
        Each entry is written in the loop, not by a call: this is the writer's hot path."""
        out, key, scalar_ = self.out, self.key, self.value
        if isinstance(value, dict):
            inner = indent + "  "
            for k in sorted(value):
                v = value[k]
                head = f"{indent}{key(k)}:"
                if isinstance(v, dict):
                    if v:
                        out.append(head)
                        self.node(v, inner)
                    else:
                        out.append(f"{head} {{}}")
                elif isinstance(v, list):
                    if v:
                        out.append(head)
                        self.node(v, indent)  # PyYAML's indentless sequences under a key
                    else:
                        out.append(f"{head} []")
                else:
                    out.append(f"{head} {scalar_(v)}")
            return
        inner = indent + "  "
        for item in value:
            if isinstance(item, dict) and item:
                keys = sorted(item)
                first, rest = keys[0], keys[1:]
                self.entry(f"{indent}- {key(first)}:", item[first], inner)
                for k in rest:
                    self.entry(f"{inner}{key(k)}:", item[k], inner)
            elif isinstance(item, list) and item:
                out.append(f"{indent}-")
                self.node(item, inner)
            else:
                out.append(f"{indent}- {self.inline(item)}")

    def entry(self, head: str, value: Any, indent: str) -> None:
        if isinstance(value, dict) and value:
            self.out.append(head)
            self.node(value, indent + "  ")
        elif isinstance(value, list) and value:
            self.out.append(head)
            self.node(value, indent)  # PyYAML's indentless sequences under a key
        else:
            self.out.append(f"{head} {self.inline(value)}")

    def inline(self, value: Any) -> str:
        if isinstance(value, dict):
            return "{}"
        if isinstance(value, list):
            return "[]"
        return self.value(value)


def dump_all(documents: Iterable[Any]) -> str:
    """Documents, each after `---`, as block YAML with sorted keys."""
    return _Writer(scalar, scalar).dump_all(documents)


# --- one rendering, many namespaces -------------------------------------------------------


class Stencil:
    """YAML documents in which one placeholder is left open: rendered once, then filled
    with a value many times. `Stencil(docs, p).fill(v)` is `dump_all(docs with p replaced
    by v in every string)`, byte for byte: a string value holding the placeholder is
    written as a marker (NUL, which `scalar` never writes raw, around its number) and by
    `scalar` at fill time, and nothing else depends on the value. A mapping key holding the
    placeholder could sort differently once filled: such documents are rendered whole at
    every fill. (Keys are written by `scalar`, which quotes the placeholder's `{` and keeps
    it verbatim, so an open key shows as the placeholder in the text.)"""

    def __init__(self, documents: Sequence[Any], placeholder: str) -> None:
        if scalar(placeholder) != json.dumps(placeholder) or "{" not in placeholder:
            raise ValueError(f"{placeholder!r}: a placeholder needs a '{{' and no escapes")
        self._placeholder = placeholder
        self._documents = documents
        self._holes: list[str] = []
        text = _Writer(self._open, scalar).dump_all(documents)
        self._whole = placeholder in text
        parts = text.split("\0")
        self._literals = parts[::2]
        self._holes = [self._holes[int(i)] for i in parts[1::2]]

    def _open(self, value: Any) -> str:
        if type(value) is str and self._placeholder in value:
            self._holes.append(value)
            return f"\0{len(self._holes) - 1}\0"
        return scalar(value)

    def fill(self, value: str) -> str:
        p = self._placeholder
        if self._whole:
            return dump_all(_replace(doc, p, value) for doc in self._documents)
        out = [self._literals[0]]
        for text, literal in zip(self._holes, self._literals[1:], strict=True):
            out.append(scalar(text.replace(p, value)))
            out.append(literal)
        return "".join(out)


def _replace(value: Any, old: str, new: str) -> Any:
    if isinstance(value, str):
        return value.replace(old, new)
    if isinstance(value, dict):
        return {_replace(k, old, new): _replace(v, old, new) for k, v in value.items()}
    if isinstance(value, list):
        return [_replace(v, old, new) for v in value]
    return value
