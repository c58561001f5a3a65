"""The compiled admission path (setup.py: mypyc) and its Python source decide identically.

`make test` runs every other test on the build that ships: the compiled modules. Here the
same decisions are made again in a process that imports the Python source
(HERMETIC_PURE_PYTHON=1), over the whole corpus under every policy variant, the golden
cases and the examples, for `mutate`, and for `validate` of each admitted result, and
compared field by field, patch included.
"""

from __future__ import annotations

import hashlib
import json
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
BUILD = native.record() or {}  # what the checkout's last build recorded (setup.py)
SOURCES_BY_REQUEST = os.environ.get(native.SOURCE_ENV) == "1"

# Runs in the other process: decide each case with the Python source, pickle the results.
_PURE = textwrap.dedent(
    """
    import pickle, sys
    from compiler import native
    from tests.test_native import _decide
    assert not native.compiled(), native.describe()
    policies, cases = pickle.load(sys.stdin.buffer)
    sys.stdout.buffer.write(pickle.dumps(_decide(cases, policies)))
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
    if SOURCES_BY_REQUEST:
        pytest.skip(f"{native.SOURCE_ENV}=1: this run tests the sources, by request")
    assert BUILD, "no build record: the package was not built from this checkout"
    assert native.compiled() == BUILD["compiled"], native.describe()
    assert not native.stale(), native.describe()
    if BUILD["compiled"]:
        import compiler.admission.patch as patch

        assert native.built() and patch.__file__ and patch.__file__.endswith(".so")


def test_compiled_and_source_decide_identically(tmp_path: Path) -> None:
    if not native.compiled():
        why = "the sources run by request" if SOURCES_BY_REQUEST else "a pure-Python build"
        pytest.skip(f"{why}: one implementation, nothing to compare")
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


def test_stale_compares_sources_with_the_build_record(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = tmp_path / "compiler" / "admission"
    folder.mkdir(parents=True)
    suffix = EXTENSION_SUFFIXES[0]
    model = tmp_path / "compiler" / "model.py"
    for path, text in ((folder / "engine.py", "a"), (folder / "patch.py", "b"), (model, "c")):
        path.write_text(text)
    (folder / f"engine{suffix}").write_bytes(b"")
    (folder / f"patch{suffix}").write_bytes(b"")
    monkeypatch.setattr(native, "DIRECTORY", folder)
    assert native.stale() == []  # installed (no setup.py beside): never stale
    (tmp_path / "setup.py").write_text("")
    assert native.stale() == ["no build record"]

    def digest(path: Path) -> str:
        return hashlib.sha256(path.read_bytes()).hexdigest()

    sources = {
        "compiler/admission/engine.py": digest(folder / "engine.py"),
        "compiler/admission/patch.py": digest(folder / "patch.py"),
        "compiler/model.py": digest(model),
    }
    (tmp_path / "build").mkdir()
    record = tmp_path / native.RECORD
    record.write_text(json.dumps({"compiled": True, "sources": sources}))
    assert native.stale() == []
    # By content, not by file times: an edit with an old time is still an edit.
    model.write_text("c, with a field more")
    os.utime(model, (1_000_000, 1_000_000))
    (folder / "seed.py").write_text("")  # a module the build never saw
    assert native.stale() == ["compiler/admission/seed.py changed", "compiler/model.py changed"]
    record.write_text(json.dumps({"compiled": False, "sources": sources}))
    assert native.stale() == ["compiled modules left from an older build"]


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
    if not BUILD.get("compiled"):
        pytest.skip("this checkout's build is pure Python: no C compiler, or HERMETIC_COMPILE=0")
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
