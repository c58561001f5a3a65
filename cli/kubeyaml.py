"""YAML read as kubectl sends it: the JSON the API server (and so the webhook) receives.

kubectl turns manifests into JSON with sigs.k8s.io/yaml, on go-yaml v2. Where PyYAML's
safe loader reads the same text differently, `Loader` reads it as kubectl does, so that
`hermetic mutate` and `hermetic check` decide what the cluster will decide:

- a scalar that looks like a timestamp (`2024-07-01`) stays a string (go-yaml v2 keeps
  timestamps as strings when decoding into interface{});
- mapping keys that are not strings become strings: integers in decimal, booleans as
  `true`/`false`, floats as Go's `strconv.FormatFloat(f, 'g', -1, 32)`; a null key is an
  error (kubectl refuses it too), positioned;
- `!!binary` data becomes the base64 text encoding/json writes for bytes;
- `1e6` is a float, as go-yaml reads it.

Left as PyYAML reads it: YAML 1.1 sexagesimal integers (`1:20` is 80 here, a string for
kubectl), which no field of a pod takes.
"""

from __future__ import annotations

import base64
import math
import re
import struct
from typing import Any

import yaml

_Base: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class Loader(_Base):  # type: ignore[valid-type,misc]
    """A safe loader that yields what kubectl would send (see the module docstring)."""

    def construct_yaml_timestamp(self, node: yaml.ScalarNode) -> str:
        return str(self.construct_scalar(node))

    def construct_yaml_binary(self, node: yaml.ScalarNode) -> str:
        raw = super().construct_yaml_binary(node)
        return base64.b64encode(raw).decode("ascii")

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[str, Any]:
        self.flatten_mapping(node)  # `<<` merge keys, as the safe loader does
        mapping: dict[str, Any] = {}
        for key_node, value_node in node.value:
            key = self.construct_object(key_node, deep=deep)
            if not isinstance(key, str):
                if key is None or not isinstance(key, int | float):
                    what = "null" if key is None else "a " + type(key).__name__
                    raise yaml.constructor.ConstructorError(
                        "while reading a mapping",
                        node.start_mark,
                        f"a mapping key must be a string or a number, not {what}",
                        key_node.start_mark,
                    )
                key = json_key(key)
            mapping[key] = self.construct_object(value_node, deep=deep)
        return mapping


Loader.add_constructor("tag:yaml.org,2002:timestamp", Loader.construct_yaml_timestamp)
# go-yaml v2 reads `1e6` as a float; YAML 1.1 (PyYAML) wants a dot and a signed exponent.
# Checked after the int resolver, so `123` stays an integer.
Loader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(r"^[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?$"),
    list("-+0123456789."),
)
Loader.add_constructor("tag:yaml.org,2002:binary", Loader.construct_yaml_binary)


def json_key(key: Any) -> str:
    """A non-string YAML key as sigs.k8s.io/yaml writes it in JSON."""
    if isinstance(key, bool):
        return "true" if key else "false"
    if isinstance(key, int):
        return str(key)
    if isinstance(key, float):
        return go_float32(key)
    return str(key)


def go_float32(value: float) -> str:
    """Go's strconv.FormatFloat(value, 'g', -1, 32): the shortest digits that read back as
    the same float32, in exponent form when the exponent is below -4 or at least 6."""
    if math.isnan(value):
        return ".nan"
    if math.isinf(value):
        return ".inf" if value > 0 else "-.inf"
    single = struct.unpack("f", struct.pack("f", value))[0]
    if single == 0:
        return "-0" if math.copysign(1.0, single) < 0 else "0"
    for digits in range(1, 10):
        text = f"{single:.{digits - 1}e}"
        if struct.unpack("f", struct.pack("f", float(text)))[0] == single:
            break
    mantissa, exponent = text.split("e")
    exp = int(exponent)
    sign = "-" if mantissa.startswith("-") else ""
    figures = mantissa.lstrip("-").replace(".", "").rstrip("0") or "0"
    if exp < -4 or exp >= 6:
        head = figures[0] + ("." + figures[1:] if len(figures) > 1 else "")
        return f"{sign}{head}e{'-' if exp < 0 else '+'}{abs(exp):02d}"
    if exp < 0:
        return f"{sign}0.{'0' * (-exp - 1)}{figures}"
    whole = figures[: exp + 1].ljust(exp + 1, "0")
    rest = figures[exp + 1 :]
    return f"{sign}{whole}{'.' + rest if rest else ''}"
