"""The build. pyproject.toml holds the metadata; this file compiles the admission path.

compiler/admission/ (the code every admission request runs) is compiled to C extension
modules with mypyc: the same source, already type-checked by `mypy --strict`, decides in
about half the time. Everything else stays Python.

HERMETIC_COMPILE=0 builds pure Python, and so does a machine without a C compiler or Python's
headers (with a warning); both builds decide identically (tests/test_native.py). Compiled
modules take precedence over their sources: a build records the hashes of the sources it
was built from (build/hermetic-native.json), `compiler.native.stale()` compares, and `make`
rebuilds when one changed. HERMETIC_PURE_PYTHON=1 runs the sources instead.
"""

from __future__ import annotations

import ast
import hashlib
import json
import os
import shutil
import sys
import sysconfig
from pathlib import Path

from setuptools import setup

COMPILED = "compiler/admission"
PROJECT = ("compiler", "dsl")  # the packages whose types the compiled code is built against
RECORD = Path("build/hermetic-native.json")  # read by compiler.native.stale()


def _compiler_available() -> bool:
    cc = os.environ.get("CC") or (sysconfig.get_config_var("CC") or "cc").split()[0]
    headers = Path(sysconfig.get_paths()["include"], "Python.h")
    return shutil.which(cc) is not None and headers.is_file()


def _module_file(name: str) -> Path | None:
    path = Path(*name.split("."))
    for candidate in (path.with_suffix(".py"), path / "__init__.py"):
        if candidate.is_file():
            return candidate
    return None


def build_sources() -> dict[str, str]:
    """sha256 of every project module the compiled code is built from: the compiled modules
    and, transitively, the project modules they import (their types are compiled in)."""
    todo = sorted(Path(COMPILED).glob("*.py"))
    seen: dict[str, str] = {}
    while todo:
        path = todo.pop()
        if path.as_posix() in seen:
            continue
        data = path.read_bytes()
        seen[path.as_posix()] = hashlib.sha256(data).hexdigest()
        for node in ast.walk(ast.parse(data)):
            names: list[str] = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
                # `from compiler import bundle` names a module; `from compiler.model import
                # Tier` a module's attribute
                names = [
                    f"{node.module}.{a.name}"
                    if _module_file(f"{node.module}.{a.name}")
                    else node.module
                    for a in node.names
                ]
            for name in names:
                found = _module_file(name) if name.split(".")[0] in PROJECT else None
                if found is not None:
                    todo.append(found)
    return dict(sorted(seen.items()))


# The setup.py commands that build extension modules. pip also runs setup.py for the
# metadata alone (egg_info, dist_info), where mypyc's analysis would be wasted time.
BUILDS = {"build", "build_ext", "bdist_wheel", "editable_wheel", "develop", "install"}


def ext_modules() -> list[object]:
    if os.environ.get("HERMETIC_COMPILE", "1") == "0":
        return []
    if not _compiler_available():
        print(
            "hermetic: no C compiler or Python headers found: compiler/admission is built as "
            "pure Python "
            "(about 2x slower per admission decision)",
            file=sys.stderr,
        )
        return []
    from mypyc.build import mypycify

    sources = sorted(str(p) for p in Path(COMPILED).glob("*.py"))
    # Third-party packages need not be installed in the build environment: modules outside
    # compiler/admission are read for their types only, and untyped imports are Any.
    flags = ["--ignore-missing-imports", "--follow-imports=silent"]
    return list(mypycify([*flags, *sources], opt_level="3", group_name="hermetic_admission"))


building = bool(BUILDS & set(sys.argv[1:]))
sources = build_sources() if building else {}  # hashed before the build reads them
extensions = ext_modules() if building else []
setup(ext_modules=extensions)
if building:  # the build succeeded: record what it was built from
    RECORD.parent.mkdir(exist_ok=True)
    RECORD.write_text(json.dumps({"compiled": bool(extensions), "sources": sources}, indent=1))
