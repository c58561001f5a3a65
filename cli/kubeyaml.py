"""YAML read as kubectl sends it: the JSON the API server (and so the webhook) receives.

kubectl turns manifests into JSON with sigs.k8s.io/yaml, on go-yaml v2. Where PyYAML's
safe loader reads the same text differently, `Loader` reads it as kubectl does, so that
`hermetic mutate` and `hermetic check` decide what the cluster will decide:

- a scalar that looks like a timestamp (`2024-07-01`) stays a string (go-yaml v2 keeps
  timestamps as strings when decoding into interface{});
- mapping keys that are not strings become strings: integers in decimal, booleans as
  `true`/`false`, floats as Go's `strconv.FormatFloat(f, 'g', -1, 32)`; a null key is an
  error (kubectl refuses it too), positioned;
- `!!binary` data becomes the decoded text (go-yaml's string(data));
- `1e6` is a float, and `y`/`n` are booleans, as go-yaml reads them; `=` is a string.

Left as PyYAML reads it: YAML 1.1 sexagesimal numbers (`1:20` is 80 and `1:20.5` is 80.5
here, strings for kubectl), which no field of a pod takes.
"""

from __future__ import annotations

import math
import re
import struct
from typing import Any, ClassVar

import yaml

_Base: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class Loader(_Base):  # type: ignore[valid-type,misc]
    """A safe loader that yields what kubectl would send (see the module docstring)."""

    def construct_yaml_timestamp(self, node: yaml.ScalarNode) -> str:
        return str(self.construct_scalar(node))

    def construct_yaml_binary(self, node: yaml.ScalarNode) -> str:
        # go-yaml v2 decodes into string(data); encoding/json then replaces invalid UTF-8.
        raw: bytes = super().construct_yaml_binary(node)
        return raw.decode("utf-8", "replace")

    def construct_yaml_value(self, node: yaml.ScalarNode) -> str:
        return str(self.construct_scalar(node))  # `=`: YAML 1.1's value key, a plain string

    # go-yaml v2 also reads y, Y, n and N as booleans.
    bool_values: ClassVar[dict[str, bool]] = {
        **yaml.constructor.SafeConstructor.bool_values,
        "y": True,
        "n": False,
    }

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[str, Any]:
        self.flatten_mapping(node)  # `<<` merge keys, as the safe loader does
        mapping: dict[str, Any] = {}
        for key_node, value_node in node.value:
            key = self.construct_object(key_node, deep=deep)
            if not isinstance(key, str):
                try:
                    if key is None:
                        raise ValueError("a mapping key must be a string or a number, not null")
                    key = json_key(key)
                except ValueError as exc:
                    raise yaml.constructor.ConstructorError(
                        "while reading a mapping", node.start_mark, str(exc), key_node.start_mark
                    ) from None
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
Loader.add_constructor("tag:yaml.org,2002:value", Loader.construct_yaml_value)
Loader.add_implicit_resolver("tag:yaml.org,2002:bool", re.compile(r"^(?:y|Y|n|N)$"), list("yYnN"))


INT64 = range(-(2**63), 2**63)
UINT64 = range(2**63, 2**64)


def json_key(key: Any) -> str:
    """A non-string YAML key as sigs.k8s.io/yaml writes it in JSON; ValueError for the keys
    it refuses. go-yaml v2 reads an integer beyond int64 as a uint64 (a key kubectl
    refuses), or beyond that as a float."""
    if isinstance(key, bool):
        return "true" if key else "false"
    if isinstance(key, int) and key in INT64:
        return str(key)
    if isinstance(key, int) and key in UINT64:
        raise ValueError("a mapping key must fit in 64 bits")
    if isinstance(key, int | float):
        return go_float32(float(key))
    raise ValueError(f"a mapping key must be a string or a number, not a {type(key).__name__}")


def go_float32(value: float) -> str:
    """Go's strconv.FormatFloat(value, 'g', -1, 32): the shortest digits that read back as
    the same float32, in exponent form when the exponent is below -4 or at least 6."""
    if math.isnan(value):
        return ".nan"
    if math.isinf(value):
        return ".inf" if value > 0 else "-.inf"
    try:
        single = struct.unpack("f", struct.pack("f", value))[0]
    except OverflowError:  # beyond float32: Go's conversion gives an infinity
        single = math.copysign(math.inf, value)
    if math.isinf(single):
        return ".inf" if single > 0 else "-.inf"
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
