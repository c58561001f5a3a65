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
from collections.abc import Iterable
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


def scalar(value: Any) -> str:
    if value is None:
        return "null"
    if value is True:
        return "true"
    if value is False:
        return "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, str):
        if _PLAIN.fullmatch(value) and value not in _RESERVED and _reads_as_str(value):
            return value
        quoted = json.dumps(value, ensure_ascii=False)
        # YAML forbids raw control characters, and reads "\\uD87A\\uDFE1" as two code
        # points: escape what is not printable by its own code point
        return quoted if value.isprintable() else _UNPRINTABLE.sub(_escape, quoted)
    if isinstance(value, float):
        return json.dumps(value)
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
