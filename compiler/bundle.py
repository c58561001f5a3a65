"""The webhook's bundle: the compiled policy as JSON, its schema, and its digest.

    {"apiVersion": "hermetic.io/v1", "kind": "PolicyBundle",
     "metadata": {"name", "version", "digest": "sha256:<hex>", "templatesDigest": "sha256:<hex>"},
     "policy": {...CompiledPolicy...},
     "templates": {"<tenant>": [<objects for one namespace, namespace "{{namespace}}">]}}

`digest` is the sha256 of the canonical JSON (sorted keys, no spaces) of the policy:
apiVersion, kind, name, version and `policy`. It is what the webhook stamps on every pod,
so it identifies the policy whether the webhook loaded this file or compiled the same
policy text itself. The templates are derived from the policy and the namespaces known at
compile time; `templatesDigest` covers them. Both are checked when a bundle is loaded. The JSON Schema is derived from the model's types (so it cannot drift)
and published at compiler/schema/bundle.v1.json; a test keeps the file equal to it.
Bundles are validated against it whenever they are written or loaded.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import types
import typing
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, Literal, get_args, get_origin, get_type_hints

import jsonschema
import orjson

from compiler.model import CompiledPolicy

API_VERSION = "hermetic.io/v1"
KIND = "PolicyBundle"
SCHEMA_PATH = Path(__file__).parent / "schema" / "bundle.v1.json"
NAMESPACE_PLACEHOLDER = "{{namespace}}"


class BundleError(ValueError):
    """A bundle that cannot be used: unreadable, not JSON, or not valid against its schema."""


# --- the model <-> JSON -------------------------------------------------------------------


def _fields(cls: type) -> list[dataclasses.Field[Any]]:
    return [f for f in dataclasses.fields(cls) if f.compare]


_NAMES: dict[type, tuple[str, ...] | None] = {}


def _names(cls: type) -> tuple[str, ...] | None:
    """The fields of a model class that its JSON holds (positions of the source are not
    compared, and not written); None for a class that is not a dataclass."""
    try:
        return _NAMES[cls]
    except KeyError:
        names = tuple(f.name for f in _fields(cls)) if dataclasses.is_dataclass(cls) else None
        _NAMES[cls] = names
        return names


def to_json(value: Any) -> Any:
    names = _names(type(value))
    if names is not None:
        return {name: to_json(getattr(value, name)) for name in names}
    if isinstance(value, tuple | list):
        return [to_json(v) for v in value]
    return value


def _from_json(tp: Any, data: Any) -> Any:
    origin = get_origin(tp)
    if origin in (types.UnionType, typing.Union):
        if data is None:
            return None
        (inner,) = [a for a in get_args(tp) if a is not type(None)]
        return _from_json(inner, data)
    if origin is tuple:
        args = get_args(tp)
        if len(args) == 2 and args[1] is Ellipsis:
            return tuple(_from_json(args[0], v) for v in data)
        return tuple(_from_json(a, v) for a, v in zip(args, data, strict=True))
    if isinstance(tp, type) and dataclasses.is_dataclass(tp):
        hints = get_type_hints(tp)
        return tp(**{f.name: _from_json(hints[f.name], data[f.name]) for f in _fields(tp)})
    return data


def policy_from_json(data: dict[str, Any]) -> CompiledPolicy:
    result = _from_json(CompiledPolicy, data)
    assert isinstance(result, CompiledPolicy)
    return result


# --- the schema, derived from the types ---------------------------------------------------


def _schema_of(tp: Any, defs: dict[str, Any]) -> dict[str, Any]:
    origin = get_origin(tp)
    if origin in (types.UnionType, typing.Union):
        return _optional(tp, defs)
    if origin is Literal:
        return {"enum": list(get_args(tp))}
    if origin is tuple:
        args = get_args(tp)
        if len(args) == 2 and args[1] is Ellipsis:
            return {"type": "array", "items": _schema_of(args[0], defs)}
        return {
            "type": "array",
            "prefixItems": [_schema_of(a, defs) for a in args],
            "minItems": len(args),
            "maxItems": len(args),
        }
    if isinstance(tp, type) and dataclasses.is_dataclass(tp):
        name = tp.__name__
        if name not in defs:
            defs[name] = {}  # reserve: recursive types
            hints = get_type_hints(tp)
            fields = _fields(tp)
            defs[name] = {
                "type": "object",
                "additionalProperties": False,
                "required": [f.name for f in fields],
                "properties": {f.name: _schema_of(hints[f.name], defs) for f in fields},
            }
        return {"$ref": f"#/$defs/{name}"}
    simple = {str: "string", int: "integer", bool: "boolean", type(None): "null"}
    if tp in simple:
        return {"type": simple[tp]}
    raise TypeError(f"no JSON schema for {tp!r}")


def _optional(tp: Any, defs: dict[str, Any]) -> dict[str, Any]:
    """`X | None` in the cheapest form a validator evaluates: a type list or an enum with
    null where X allows it (anyOf builds an error object for every failing branch)."""
    (inner,) = [a for a in get_args(tp) if a is not type(None)]
    schema = _schema_of(inner, defs)
    if set(schema) == {"type"} and isinstance(schema["type"], str):
        return {"type": [schema["type"], "null"]}
    if set(schema) == {"enum"}:
        return {"enum": [*schema["enum"], None]}
    return {"anyOf": [{"type": "null"}, schema]}


def build_schema() -> dict[str, Any]:
    defs: dict[str, Any] = {}
    policy = _schema_of(CompiledPolicy, defs)
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": "https://hermetic.io/schemas/bundle.v1.json",
        "title": "hermetic policy bundle",
        "type": "object",
        "additionalProperties": False,
        "required": ["apiVersion", "kind", "metadata", "policy", "templates"],
        "properties": {
            "apiVersion": {"const": API_VERSION},
            "kind": {"const": KIND},
            "metadata": {
                "type": "object",
                "additionalProperties": False,
                "required": ["name", "version", "digest", "templatesDigest"],
                "properties": {
                    "name": {"type": "string"},
                    "version": {"type": "string"},
                    "digest": {"type": "string", "pattern": "^sha256:[0-9a-f]{64}$"},
                    "templatesDigest": {"type": "string", "pattern": "^sha256:[0-9a-f]{64}$"},
                },
            },
            "policy": policy,
            "templates": {
                "type": "object",
                "additionalProperties": {"type": "array", "items": {"type": "object"}},
            },
        },
        "$defs": defs,
    }


# A value checked against a schema that is only a `type`, an `enum`, or an array of such
# (most of the bundle's nodes: the scalar fields of the model and lists of them) is accepted
# here when its Python type is exactly what the schema asks for, without jsonschema
# descending into it; every object is validated by jsonschema, and anything not accepted
# here, including every invalid value, is left to jsonschema, so what is rejected, and how,
# is jsonschema's. Skipping `descend` for the leaves, and for values already found valid
# (below), makes validating the bundle of a thousand tenants several times faster.
_JSON_TYPES: dict[str, tuple[type, ...]] = {
    "string": (str,),
    "integer": (int,),
    "boolean": (bool,),
    "null": (type(None),),
    "object": (dict,),
    "array": (list,),
}
_SCALARS = (str, int, bool, type(None))
Accept = Callable[[Any], bool]
_ACCEPTORS: dict[int, tuple[Any, Accept | None]] = {}


def _acceptor(schema: Any) -> Accept | None:
    """A quick check that accepts only values valid against `schema`, or None when the
    schema is not one it knows (cached by the schema's identity: the validator's schema
    lives as long as the validator)."""
    hit = _ACCEPTORS.get(id(schema))
    if hit is not None and hit[0] is schema:
        return hit[1]
    accept = _make_acceptor(schema) if isinstance(schema, dict) else None
    _ACCEPTORS[id(schema)] = (schema, accept)
    return accept


def _make_acceptor(schema: dict[str, Any]) -> Accept | None:
    keys = set(schema)
    if keys == {"type"}:
        names = schema["type"] if isinstance(schema["type"], list) else [schema["type"]]
        if not all(n in _JSON_TYPES for n in names):
            return None
        exact = frozenset(t for n in names for t in _JSON_TYPES[n])
        return lambda v: type(v) in exact
    if keys == {"enum"}:
        if not all(type(e) in _SCALARS for e in schema["enum"]):
            return None
        members = frozenset((type(e), e) for e in schema["enum"])
        return lambda v: type(v) in _SCALARS and (type(v), v) in members
    if keys == {"type", "items"} and schema["type"] == "array":
        item = _acceptor(schema["items"])
        if item is None:
            return None
        return lambda v: type(v) is list and all(item(x) for x in v)
    return None


# Equal values recur (the same ports, quotas and selectors in many tenants): a value that
# jsonschema found valid against a subschema is remembered (the subschema's identity and the
# value's canonical JSON) and not validated again. Only valid results are remembered, so
# every error is still found by jsonschema; the memory is dropped after each validation.
_VALID: set[tuple[int, bytes]] = set()
_BASE = jsonschema.Draft202012Validator


def _descend(
    validator: Any, value: Any, sub: Any, path: str | int, schema_path: str | None = None
) -> Iterator[jsonschema.ValidationError]:
    """`validator.descend`, skipping what `_acceptor` accepts and what was found valid."""
    accept = _acceptor(sub)
    if accept is not None and accept(value):
        return
    try:
        key = (id(sub), orjson.dumps(value, option=orjson.OPT_SORT_KEYS))
    except TypeError:
        yield from validator.descend(value, sub, path=path, schema_path=schema_path)
        return
    if key in _VALID:
        return
    errors = list(validator.descend(value, sub, path=path, schema_path=schema_path))
    if not errors:
        _VALID.add(key)
    yield from errors


def _properties(
    validator: Any, properties: dict[str, Any], instance: Any, schema: dict[str, Any]
) -> Iterator[jsonschema.ValidationError]:
    if type(instance) is not dict:
        yield from _BASE.VALIDATORS["properties"](validator, properties, instance, schema)
        return
    for name, sub in properties.items():
        if name in instance:
            yield from _descend(validator, instance[name], sub, name, name)


def _items(
    validator: Any, items: Any, instance: Any, schema: dict[str, Any]
) -> Iterator[jsonschema.ValidationError]:
    if type(instance) is not list or "prefixItems" in schema or not isinstance(items, dict):
        yield from _BASE.VALIDATORS["items"](validator, items, instance, schema)
        return
    for index, value in enumerate(instance):
        yield from _descend(validator, value, items, index)


def _additional(
    validator: Any, additional: Any, instance: Any, schema: dict[str, Any]
) -> Iterator[jsonschema.ValidationError]:
    if type(instance) is not dict or "patternProperties" in schema or additional is False:
        yield from _BASE.VALIDATORS["additionalProperties"](validator, additional, instance, schema)
        return
    known = schema.get("properties", {})
    for name, value in instance.items():
        if name not in known:
            yield from _descend(validator, value, additional, name)


_Validator = jsonschema.validators.extend(  # type: ignore[no-untyped-call]
    _BASE,
    validators={"properties": _properties, "items": _items, "additionalProperties": _additional},
)
_VALIDATOR: Any = None


def _inline(node: Any, defs: dict[str, Any]) -> Any:
    """The schema with every `$ref` replaced by its definition (the model has no cycles):
    the same meaning, but a validator that does not resolve references at every node,
    which halves the time to validate a large bundle."""
    if isinstance(node, dict):
        if "$ref" in node:
            return _inline(defs[node["$ref"].rsplit("/", 1)[-1]], defs)
        return {k: _inline(v, defs) for k, v in node.items() if k != "$defs"}
    if isinstance(node, list):
        return [_inline(v, defs) for v in node]
    return node


def _validator() -> Any:
    global _VALIDATOR
    if _VALIDATOR is None:
        schema = json.loads(SCHEMA_PATH.read_text())
        _VALIDATOR = _Validator(_inline(schema, schema.get("$defs", {})))
    return _VALIDATOR


def validate(doc: Any) -> None:
    """Raise BundleError naming the first schema violation, with its JSON path."""
    try:
        error = jsonschema.exceptions.best_match(_validator().iter_errors(doc))
    finally:
        _VALID.clear()
    if error is not None:
        where = "/".join(str(p) for p in error.absolute_path) or "(top level)"
        raise BundleError(f"bundle does not match its schema at {where}: {error.message}")


# --- building, writing, loading -----------------------------------------------------------


# orjson writes exactly what `json.dumps(..., ensure_ascii=False)` writes with sorted keys
# (a test holds it to that), an order of magnitude faster; integers beyond 64 bits and
# strings with lone surrogates, which it refuses, go through `json`.


def canonical(doc: Any) -> bytes:
    """Sorted keys, no spaces, UTF-8: the bytes the digests are taken of."""
    try:
        return orjson.dumps(doc, option=orjson.OPT_SORT_KEYS)
    except TypeError:
        text = json.dumps(doc, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
        return text.encode("utf-8", "surrogatepass")  # a loaded bundle may hold "\ud800"


def _sha256(doc: Any) -> str:
    return "sha256:" + hashlib.sha256(canonical(doc)).hexdigest()


def digest_of(doc: dict[str, Any]) -> str:
    """The policy's digest: apiVersion, kind, name, version and the compiled policy."""
    meta = doc["metadata"]
    return _sha256(
        {
            "apiVersion": doc["apiVersion"],
            "kind": doc["kind"],
            "metadata": {"name": meta["name"], "version": meta["version"]},
            "policy": doc["policy"],
        }
    )


def templates_digest_of(doc: dict[str, Any]) -> str:
    return _sha256(doc["templates"])


def build(
    policy: CompiledPolicy, templates: dict[str, list[dict[str, Any]]] | None = None
) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "apiVersion": API_VERSION,
        "kind": KIND,
        "metadata": {"name": policy.name, "version": policy.version},
        "policy": to_json(policy),
        "templates": templates or {},
    }
    doc["metadata"]["digest"] = digest_of(doc)
    doc["metadata"]["templatesDigest"] = templates_digest_of(doc)
    validate(doc)
    return doc


def dumps(doc: dict[str, Any]) -> str:
    """Deterministic text: sorted keys, two-space indent, a final newline. `doc` comes from
    `build`, which has validated it against the schema."""
    return pretty(doc)


def pretty(doc: Any) -> str:
    """JSON with sorted keys, a two-space indent and a final newline."""
    try:
        option = orjson.OPT_SORT_KEYS | orjson.OPT_INDENT_2 | orjson.OPT_APPEND_NEWLINE
        return orjson.dumps(doc, option=option).decode()
    except TypeError:
        return json.dumps(doc, sort_keys=True, indent=2, ensure_ascii=False) + "\n"


@dataclasses.dataclass(frozen=True, slots=True)
class Bundle:
    policy: CompiledPolicy
    digest: str
    templates: dict[str, list[dict[str, Any]]]


def loads(text: str | bytes) -> Bundle:
    """Parse and validate a bundle; BundleError with a clear message on any problem."""
    try:
        doc = json.loads(text)
    except (ValueError, UnicodeDecodeError) as exc:
        raise BundleError(f"bundle is not JSON: {exc}") from exc
    validate(doc)
    expected = digest_of(doc)
    for field, actual in (("digest", expected), ("templatesDigest", templates_digest_of(doc))):
        if doc["metadata"][field] != actual:
            raise BundleError(
                f"bundle {field} {doc['metadata'][field]} does not match its content ({actual}): "
                "the file was changed after it was compiled"
            )
    return Bundle(
        policy=policy_from_json(doc["policy"]), digest=expected, templates=doc["templates"]
    )


def load(path: str | Path) -> Bundle:
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        raise BundleError(f"{path}: {exc.strerror or exc}") from exc
    return loads(data)


def digest_for(policy: CompiledPolicy) -> str:
    """The digest of every bundle this policy compiles to, whatever its templates."""
    return digest_of(
        {
            "apiVersion": API_VERSION,
            "kind": KIND,
            "metadata": {"name": policy.name, "version": policy.version},
            "policy": to_json(policy),
        }
    )
