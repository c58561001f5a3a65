"""cli.kubeyaml: manifests are read as kubectl sends them, so previews match the cluster."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from cli.kubeyaml import Loader, go_float32
from cli.main import main
from tests.test_admission_support import ROOT

POLICY = str(ROOT / "policies")

# strconv.FormatFloat(f, 'g', -1, 32), printed by Go 1.26 for these inputs.
GO_FLOAT32 = [
    (2.5, "2.5"),
    (1000000.0, "1e+06"),
    (123456.0, "123456"),
    (1234567.0, "1.234567e+06"),
    (0.1, "0.1"),
    (1e-05, "1e-05"),
    (0.0001, "0.0001"),
    (3.14159265, "3.1415927"),
    (-2.0, "-2"),
    (1e21, "1e+21"),
    (1e39, ".inf"),
    (16777217.0, "1.6777216e+07"),
    (999999.0, "999999"),
    (1.234e-05, "1.234e-05"),
    (1e-45, "1e-45"),
    (3.4e38, "3.4e+38"),
    (-0.0001, "-0.0001"),
    (65536.0, "65536"),
    (1.1, "1.1"),
    (float("inf"), ".inf"),
    (float("-inf"), "-.inf"),
    (float("nan"), ".nan"),
]


def load(text: str) -> object:
    return yaml.load(text, Loader=Loader)


@pytest.mark.parametrize(("value", "go"), GO_FLOAT32)
def test_float_keys_are_written_as_go_writes_them(value: float, go: str) -> None:
    assert go_float32(value) == go


def test_what_pyyaml_reads_differently_is_read_as_kubectl_sends_it() -> None:
    text = "a: 2024-07-01\nb: 2024-07-01T10:00:00Z\n1: x\ntrue: w\n2.5: z\nc: 1e6\nd: 123\n"
    assert yaml.safe_load(text)["a"] != "2024-07-01"  # a datetime.date for PyYAML
    assert load(text) == {
        "a": "2024-07-01",
        "b": "2024-07-01T10:00:00Z",
        "1": "x",
        "true": "w",
        "2.5": "z",
        "c": 1e6,
        "d": 123,
    }


def test_go_yaml_v2_scalars() -> None:
    # !!binary: go-yaml's string(data); y/n: YAML 1.1 booleans go-yaml keeps; `=` a string.
    assert load("a: !!binary aGVsbG8=\nb: !!binary /w==\n") == {"a": "hello", "b": "\ufffd"}
    assert load("a: y\nb: N\nc: yes\nd: =\ne: 'y'\n") == {
        "a": True,
        "b": False,
        "c": True,
        "d": "=",
        "e": "y",
    }


def test_number_keys_beyond_64_bits_and_float32() -> None:
    assert load("1e39: x\n-3.5e38: w\n") == {".inf": "x", "-.inf": "w"}
    assert load("18446744073709551616: z\n") == {"1.8446744e+19": "z"}  # beyond uint64: a float
    with pytest.raises(yaml.MarkedYAMLError, match="must fit in 64 bits"):
        load("9223372036854775808: x\n")  # a uint64 key, which kubectl refuses


def test_merge_keys_still_merge() -> None:
    assert load("base: &b {x: 1}\nm:\n  <<: *b\n  z: 2\n") == {
        "base": {"x": 1},
        "m": {"x": 1, "z": 2},
    }


@pytest.mark.parametrize("key", ["~", "[1, 2]"])
def test_a_null_or_collection_key_is_a_positioned_error(
    key: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    pod = tmp_path / "pod.yaml"
    pod.write_text(f"apiVersion: v1\nkind: Pod\nmetadata:\n  labels:\n    {key}: x\n")
    assert main(["mutate", "--policy", POLICY, str(pod)]) == 2
    err = capsys.readouterr().err
    assert f"{pod}:5:5: error: a mapping key must be a string or a number" in err


def test_mutate_admits_what_kubectl_would_send(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # An unquoted date in an annotation, and a numeric label key: strings once kubectl has
    # turned the manifest into JSON, so the webhook admits the pod; the preview must too.
    source = (ROOT / "examples" / "backtest-pod.yaml").read_text()
    source = source.replace(
        "    strategy.hermetic.io/family: momentum\n",
        "    strategy.hermetic.io/family: momentum\n    2024: q3\n"
        "  annotations:\n    backtest.example.com/as-of: 2024-07-01\n",
    )
    pod = tmp_path / "pod.yaml"
    pod.write_text(source)
    assert main(["mutate", "--policy", POLICY, str(pod)]) == 0
    (out,) = yaml.safe_load_all(capsys.readouterr().out)
    assert out["metadata"]["labels"]["2024"] == "q3"
    assert out["metadata"]["annotations"]["backtest.example.com/as-of"] == "2024-07-01"
