"""Schema validation of Kubernetes objects, for tests: `validate_object(obj)`.

- Built-in kinds (Pod, NetworkPolicy, ResourceQuota, webhook configurations, ...): the
  `kubernetes-validate` package in strict mode (unknown fields are errors), for
  `K8S_VERSIONS` (1.34, the oldest supported, and the newest the package ships).
- Custom resources: the `openAPIV3Schema` of the served version of their CRD, from the
  shared schemas (/work/shared/schemas/crds) and tests/golden/targets/crds (the CRDs missing
  there), with jsonschema. Made strict like the built-ins: an object schema that lists
  `properties` and does not preserve unknown fields rejects other fields (the API server
  would silently prune them, hiding a typo). CEL rules (`x-kubernetes-validations`) are
  not evaluated.
- Every object: `metadata.name` (DNS subdomain), `metadata.namespace` (DNS label), label
  keys and values.

Every error is reported, each prefixed with the object's kind/namespace/name and the JSON
path. CRDs and validators are loaded once per process.
"""

from __future__ import annotations

import copy
import functools
import re
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import jsonschema
import kubernetes_validate
import yaml
from kubernetes_validate import utils as kv_utils
from referencing import Registry, Resource

CRD_DIRS = (
    Path("/work/shared/schemas/crds"),
    Path(__file__).parent / "golden" / "targets" / "crds",
)
K8S_VERSIONS = ("1.34.0", kv_utils.latest_version())

_DNS_LABEL = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?")
_DNS_SUBDOMAIN = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*")
_LABEL_NAME = re.compile(r"([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]")


class SchemaError(AssertionError):
    """An object that does not validate; the message lists every error."""


def validate_object(obj: dict[str, Any], versions: Iterable[str] = K8S_VERSIONS) -> None:
    """Raise SchemaError listing every problem of `obj`, or return quietly."""
    problems = errors(obj, versions)
    if problems:
        raise SchemaError(f"{_who(obj)} is invalid:\n  " + "\n  ".join(problems))


def validate_objects(
    objs: Iterable[dict[str, Any]], versions: Iterable[str] = K8S_VERSIONS
) -> None:
    """Validate many objects; one SchemaError with the problems of all of them."""
    problems = [f"{_who(o)}: {e}" for o in objs for e in errors(o, versions)]
    if problems:
        raise SchemaError(f"{len(problems)} problem(s):\n  " + "\n  ".join(problems))


def errors(obj: dict[str, Any], versions: Iterable[str] = K8S_VERSIONS) -> list[str]:
    """Every problem of `obj` as `path: message` strings (empty when valid)."""
    out = _metadata_errors(obj)
    api, kind = obj.get("apiVersion", ""), obj.get("kind", "")
    crd = _crd_schemas().get((api, kind))
    if crd is not None:
        out.extend(_iter(_crd_validator(api, kind), obj))
        return out
    for version in versions:
        out.extend(f"[k8s {version}] {e}" for e in _builtin_errors(obj, version))
    return out


def _who(obj: dict[str, Any]) -> str:
    m = obj.get("metadata") or {}
    where = f"{m['namespace']}/" if "namespace" in m else ""
    return f"{obj.get('kind', '?')} {where}{m.get('name', '?')}"


def _iter(validator: Any, obj: dict[str, Any]) -> list[str]:
    found = sorted(validator.iter_errors(obj), key=lambda e: list(map(str, e.absolute_path)))
    return [f"{'.'.join(map(str, e.absolute_path)) or '(top)'}: {e.message}" for e in found]


# --- built-in kinds -------------------------------------------------------------------------


def _builtin_errors(obj: dict[str, Any], version: str) -> list[str]:
    try:
        kubernetes_validate.validate(obj, version, strict=True)
    except kubernetes_validate.ValidationError:
        return _iter(_builtin_validator(obj["apiVersion"], obj["kind"], version), obj)
    except kv_utils.SchemaNotFoundError as exc:
        return [exc.message]
    return []


@functools.cache
def _builtin_validator(api_version: str, kind: str, version: str) -> Any:
    """The validator `kubernetes_validate.validate` builds, kept to list every error."""
    group_version = re.sub(r"^([^./]*)(?:\.[^/]*)?/", r"\1-", api_version)
    folder = f"kubernetes-json-schema/v{version}-local-strict"
    schema = kv_utils.schema_contents(f"{folder}/{kind.lower()}-{group_version}.json", version)
    definitions = kv_utils.schema_contents(f"{folder}/_definitions.json", version)
    registry = Resource.from_contents(definitions) @ (Resource.from_contents(schema) @ Registry())
    return jsonschema.Draft202012Validator(schema, registry=registry)


# --- custom resources -----------------------------------------------------------------------


@functools.cache
def _crd_schemas() -> dict[tuple[str, str], dict[str, Any]]:
    """(apiVersion, kind) -> openAPIV3Schema for every served version of every CRD."""
    out: dict[tuple[str, str], dict[str, Any]] = {}
    for folder in CRD_DIRS:
        for path in sorted(folder.glob("*.yaml")):
            for doc in yaml.safe_load_all(path.read_text()):
                if not doc or doc.get("kind") != "CustomResourceDefinition":
                    continue
                spec = doc["spec"]
                for v in spec["versions"]:
                    if v.get("served"):
                        key = (f"{spec['group']}/{v['name']}", spec["names"]["kind"])
                        out.setdefault(key, v["schema"]["openAPIV3Schema"])
    return out


@functools.cache
def _crd_validator(api_version: str, kind: str) -> Any:
    schema = copy.deepcopy(_crd_schemas()[(api_version, kind)])
    props = schema.setdefault("properties", {})
    props.setdefault("apiVersion", {"type": "string"})
    props.setdefault("kind", {"type": "string"})
    props.setdefault("metadata", {"type": "object"})
    return jsonschema.Draft4Validator(_strict(schema))


def _strict(schema: Any) -> Any:
    """Reject fields a schema does not list, as kubernetes-validate's strict mode does."""
    if isinstance(schema, dict):
        for k, v in schema.items():
            if k not in ("enum", "default", "example"):
                _strict(v)
        preserve = schema.get("x-kubernetes-preserve-unknown-fields") is True
        if "properties" in schema and "additionalProperties" not in schema and not preserve:
            schema["additionalProperties"] = False
    elif isinstance(schema, list):
        for v in schema:
            _strict(v)
    return schema


# --- metadata -------------------------------------------------------------------------------


def _metadata_errors(obj: dict[str, Any]) -> list[str]:
    m = obj.get("metadata")
    if not isinstance(m, dict):
        return ["metadata: missing"]
    out: list[str] = []
    name = m.get("name", "")
    if not (_DNS_SUBDOMAIN.fullmatch(name) and len(name) <= 253):
        out.append(f"metadata.name: {name!r} is not a DNS subdomain")
    ns = m.get("namespace")
    if ns is not None and not (_DNS_LABEL.fullmatch(ns) and len(ns) <= 63):
        out.append(f"metadata.namespace: {ns!r} is not a DNS label")
    for key, value in (m.get("labels") or {}).items():
        if not _qualified(key):
            out.append(f"metadata.labels: key {key!r} is not a qualified name")
        if not isinstance(value, str) or (
            value and not (_LABEL_NAME.fullmatch(value) and len(value) <= 63)
        ):
            out.append(f"metadata.labels.{key}: {value!r} is not a label value")
    for key in m.get("annotations") or {}:
        if not _qualified(key):
            out.append(f"metadata.annotations: key {key!r} is not a qualified name")
    return out


def _qualified(key: str) -> bool:
    prefix, _, name = key.rpartition("/")
    if prefix and not (_DNS_SUBDOMAIN.fullmatch(prefix) and len(prefix) <= 253):
        return False
    return bool(_LABEL_NAME.fullmatch(name)) and len(name) <= 63
