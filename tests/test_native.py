"""The compiled admission path (setup.py: mypyc) and its Python source decide identically.

`make test` runs every other test on the build that ships: the compiled modules. Here the
same decisions are made again in a process that imports the Python source
(HERMETIC_PURE_PYTHON=1), over the whole corpus under every policy variant, the golden
cases and the examples, for `mutate`, and for `validate` of each admitted result, and
compared field by field, patch included.
"""

from __future__ import annotations

import os
import pickle
import shutil
import subprocess
import sys
import textwrap
import tomllib
import zipfile
from importlib.machinery import EXTENSION_SUFFIXES
from pathlib import Path
from typing import Any

import pytest
import yaml

from compiler import native
from compiler.admission import mutate, validate
from compiler.decision import Decision
from tests.test_admission_support import ROOT, apply, bundled
from tests.test_corpus import FILES, policies, quiet, requests

GOLDEN = ROOT / "tests" / "golden" / "admission"
COMPILE = os.environ.get("HERMETIC_COMPILE", "1") != "0"

# Runs in the other process: decide each case with the Python source, pickle the results.
_PURE = textwrap.dedent(
    """
    import pickle, sys
    from compiler import native
    from compiler.admission import mutate, validate
    assert not native.compiled(), native.describe()
    policies, cases = pickle.load(sys.stdin.buffer)
    out = []
    for fn, obj, name, kw in cases:
        call = mutate if fn == "mutate" else validate
        out.append(call(obj, policies[name], **kw))
    sys.stdout.buffer.write(pickle.dumps(out))
    """
)

Case = tuple[str, Any, str, dict[str, Any]]


def _cases() -> list[Case]:
    """(function, object, policy name, keyword arguments) over everything there is."""
    cases: list[Case] = []
    for path in FILES:
        for obj, op, uid in requests(path):
            for name in (*policies(), "quiet"):
                kw = {"namespace": "alpha-research", "operation": op, "request_uid": uid}
                cases.append(("mutate", obj, name, kw))
    inputs = [p for p in GOLDEN.glob("*.yaml") if not p.name.endswith(".out.yaml")]
    inputs += (ROOT / "examples").glob("*.yaml")
    for path in sorted(inputs):
        obj = yaml.safe_load(path.read_text())
        ns = obj["metadata"].get("namespace") or "alpha-research"
        cases.append(("mutate", obj, "bundled", {"namespace": ns, "request_uid": "u"}))
    return cases


def _policies() -> dict[str, Any]:
    return {**policies(), "quiet": quiet(), "bundled": bundled()}


def _decide(cases: list[Case], table: dict[str, Any]) -> list[Decision]:
    out = []
    for fn, obj, name, kw in cases:
        out.append((mutate if fn == "mutate" else validate)(obj, table[name], **kw))
    return out


def _with_backstop(cases: list[Case], decisions: list[Decision]) -> list[Case]:
    """Also `validate` every admitted, patched object, as the validating webhook does."""
    more: list[Case] = []
    for (fn, obj, name, kw), d in zip(cases, decisions, strict=True):
        if fn == "mutate" and d.allowed and d.patch:
            more.append(("validate", apply(obj, d), name, {"namespace": kw["namespace"]}))
    return cases + more


def _pure(table: dict[str, Any], cases: list[Case], tmp: Path) -> list[Decision]:
    env = {**os.environ, native.SOURCE_ENV: "1", "PYTHONPATH": str(ROOT)}
    run = subprocess.run(
        [sys.executable, "-c", _PURE],
        input=pickle.dumps((table, cases)),
        capture_output=True,
        env=env,
        cwd=tmp,
        check=False,
    )
    assert run.returncode == 0, run.stderr.decode()[-3000:]
    result: list[Decision] = pickle.loads(run.stdout)
    return result


def test_the_build_that_ships_is_the_one_tested() -> None:
    assert native.compiled() == COMPILE, native.describe()
    assert not native.stale(), native.describe()
    if COMPILE:
        import compiler.admission.patch as patch

        assert native.built() and patch.__file__ and patch.__file__.endswith(".so")


def test_compiled_and_source_decide_identically(tmp_path: Path) -> None:
    if not native.compiled():
        pytest.skip(
            "a pure-Python build (HERMETIC_COMPILE=0): one implementation, nothing to compare"
        )
    table = _policies()
    cases = _cases()
    cases = _with_backstop(cases, _decide(cases, table))
    compiled = _decide(cases, table)
    pure = _pure(table, cases, tmp_path)
    assert len(pure) == len(compiled) > 3000
    differ = [
        (fn, name, kw, a, b)
        for (fn, _, name, kw), a, b in zip(cases, compiled, pure, strict=True)
        if a != b
    ]
    assert not differ, differ[:3]
    # Not a comparison of two empty outcomes: both kinds of decision, and real patches.
    assert sum(d.allowed and bool(d.patch) for d in compiled) > 500
    assert sum(not d.allowed for d in compiled) > 500
    assert any(fn == "validate" for fn, *_ in cases)


def test_the_source_switch_loads_python_files(tmp_path: Path) -> None:
    code = (
        "from compiler import native; import compiler.admission.engine as e; "
        "print(native.compiled(), e.__file__)"
    )
    env = {**os.environ, native.SOURCE_ENV: "1", "PYTHONPATH": str(ROOT)}
    run = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, cwd=tmp_path
    )
    assert run.returncode == 0, run.stderr
    flag, path = run.stdout.split()
    assert flag == "False"
    assert Path(path) == ROOT / "compiler" / "admission" / "engine.py"


def test_stale_names_a_source_newer_than_its_build(tmp_path: Path, monkeypatch: Any) -> None:
    folder = tmp_path / "compiler" / "admission"
    folder.mkdir(parents=True)
    suffix = EXTENSION_SUFFIXES[0]
    for name, source_newer in (("engine", True), ("patch", False)):
        ext, source = folder / f"{name}{suffix}", folder / f"{name}.py"
        ext.write_bytes(b"")
        source.write_text("")
        older, newer = (ext, source) if source_newer else (source, ext)
        os.utime(older, (1_000_000, 1_000_000))
        os.utime(newer, (2_000_000, 2_000_000))
    monkeypatch.setattr(native, "DIRECTORY", folder)
    assert [p.name for p in native.built()] == [f"engine{suffix}", f"patch{suffix}"]
    assert native.stale() == []  # installed (no setup.py): file times mean nothing
    (tmp_path / "setup.py").write_text("")
    assert native.stale() == ["engine.py"]  # a source checkout


def test_the_build_uses_the_tools_the_tests_have() -> None:
    # mypyc is part of mypy: the compiled code must come from the checker `make test` runs;
    # and the wheel test builds offline with the venv's setuptools.
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())
    build = sorted(project["build-system"]["requires"])
    test = project["project"]["optional-dependencies"]["test"]
    assert build == sorted(r for r in test if r.startswith(("mypy==", "setuptools==")))
    assert [r.split("==")[0] for r in build] == ["mypy", "setuptools"]


def test_the_wheel_ships_every_module_compiled(tmp_path: Path) -> None:
    # What the Dockerfile installs: a wheel, built here from the checkout's files without a
    # network (the venv has the pinned setuptools and mypy), unpacked and run on its own.
    if not COMPILE:
        pytest.skip("a pure-Python build (HERMETIC_COMPILE=0) ships no compiled modules")
    source = tmp_path / "src"
    source.mkdir()
    files = ["pyproject.toml", "setup.py", "README.md", "dsl", "compiler", "webhook", "certs"]
    for name in [*files, "cli"]:
        path = ROOT / name
        if path.is_dir():
            shutil.copytree(path, source / name, ignore=shutil.ignore_patterns("*.so", "*.pyc"))
        else:
            shutil.copy2(path, source / name)
    pip = [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q"]
    built = subprocess.run(
        [*pip, "--wheel-dir", str(tmp_path / "wheels"), str(source)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert built.returncode == 0, built.stderr[-3000:]
    (wheel,) = (tmp_path / "wheels").glob("hermetic-*.whl")
    assert not wheel.name.endswith("-none-any.whl")  # a platform wheel: extension modules
    with zipfile.ZipFile(wheel) as z:
        z.extractall(tmp_path / "site")
        names = z.namelist()
    sources = sorted(p.stem for p in (ROOT / "compiler" / "admission").glob("*.py"))
    compiled = sorted(
        n.split("/")[-1].split(".")[0]
        for n in names
        if n.startswith("compiler/admission/") and n.endswith(".so")
    )
    assert compiled == sources
    assert any(n.startswith("hermetic_admission__mypyc") for n in names)
    code = (
        "import sys, yaml, compiler; from compiler import native; "
        "from compiler.admission import mutate; "
        "assert native.compiled() and native.stale() == [], native.describe(); "
        "assert compiler.__file__.startswith(sys.argv[1]), compiler.__file__; "
        "pod = yaml.safe_load(open(sys.argv[2])); "
        "p = compiler.load([sys.argv[3]]).policy; "
        "d = mutate(pod, p, namespace='alpha-research', request_uid='w'); "
        "print(d.allowed, len(d.patch))"
    )
    env = {**os.environ, "PYTHONPATH": str(tmp_path / "site")}
    env.pop(native.SOURCE_ENV, None)
    pod, policy = ROOT / "examples" / "backtest-pod.yaml", ROOT / "policies"
    ran = subprocess.run(
        [sys.executable, "-c", code, str(tmp_path / "site"), str(pod), str(policy)],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        check=False,
    )
    assert ran.returncode == 0, ran.stderr[-3000:]
    here = mutate(
        yaml.safe_load(pod.read_text()), bundled(), namespace="alpha-research", request_uid="w"
    )
    assert ran.stdout.split() == ["True", str(len(here.patch))]
