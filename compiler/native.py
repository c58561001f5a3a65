"""Whether the admission path runs compiled, and the switch back to its Python source.

`compiler.admission` is compiled to C extension modules with mypyc when the package is
built (setup.py); a build with HERMETIC_COMPILE=0, or on a machine without a C compiler, is
pure Python. Both decide identically (tests/test_native.py holds them to it).

Python imports an extension module in preference to the source file beside it, so after
an edit the compiled modules are stale until rebuilt (`make` does it): `stale()` compares
the sources with the hashes the build recorded. HERMETIC_PURE_PYTHON=1 makes a process
import the sources instead (`use_source`), for a debugger, for the benchmark's
comparison, and for the tests that compare the two builds.
"""

from __future__ import annotations

import functools
import hashlib
import importlib.util
import json
import os
import sys
from importlib.machinery import EXTENSION_SUFFIXES, ModuleSpec
from pathlib import Path
from types import ModuleType
from typing import Any

PACKAGE = "compiler.admission"
SOURCE_ENV = "HERMETIC_PURE_PYTHON"
DIRECTORY = Path(__file__).resolve().parent / "admission"
RECORD = "build/hermetic-native.json"  # in the checkout; written by setup.py


class _SourceFinder:
    """A meta path finder that loads compiler.admission and its modules from their .py files."""

    def find_spec(
        self, fullname: str, path: object = None, target: ModuleType | None = None
    ) -> ModuleSpec | None:
        del path, target
        if fullname == PACKAGE:
            return importlib.util.spec_from_file_location(
                fullname, DIRECTORY / "__init__.py", submodule_search_locations=[str(DIRECTORY)]
            )
        parent, _, name = fullname.rpartition(".")
        source = DIRECTORY / f"{name}.py"
        if parent != PACKAGE or not source.is_file():
            return None
        return importlib.util.spec_from_file_location(fullname, source)


def use_source() -> None:
    """Import compiler.admission from its Python source in this process, compiled or not.

    Must run before the package is first imported (compiler/__init__ calls it when
    HERMETIC_PURE_PYTHON=1)."""
    if any(isinstance(f, _SourceFinder) for f in sys.meta_path):
        return
    if PACKAGE in sys.modules:
        raise RuntimeError(f"{PACKAGE} is imported already: call use_source() before")
    sys.meta_path.insert(0, _SourceFinder())


def honour_environment() -> None:
    if os.environ.get(SOURCE_ENV) == "1":
        use_source()


@functools.cache  # modules are imported once: the answer holds for the process
def compiled() -> bool:
    """True when this process runs the compiled admission modules (all of them)."""
    import compiler.admission

    if not _is_extension(compiler.admission.__file__):
        return False
    names = {p.name.split(".", 1)[0] for p in built()}
    return all(source.stem in names for source in DIRECTORY.glob("*.py"))


def _is_extension(path: str | None) -> bool:
    return path is not None and path.endswith(tuple(EXTENSION_SUFFIXES))


def built() -> list[Path]:
    """The compiled admission modules installed beside their sources."""
    return sorted({p for s in EXTENSION_SUFFIXES for p in DIRECTORY.glob(f"*{s}")})


def _checkout() -> Path | None:
    """The source checkout compiler/ is in (setup.py beside it), or None when installed."""
    root = DIRECTORY.parents[1]
    return root if (root / "setup.py").is_file() else None


def record() -> dict[str, Any] | None:
    """What the last build of this checkout recorded (setup.py): whether it compiled, and
    the sha256 of each source it was built from. None when installed, or never built."""
    root = _checkout()
    try:
        data = json.loads((root / RECORD).read_text()) if root is not None else None
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def stale() -> list[str]:
    """In a source checkout, why the installed admission modules would not run today's
    sources ([] when they would): each source changed, or added, since the build.

    Compiled modules take precedence over their sources, so a stale build runs old code,
    and checks today's objects against the old types it was built with (those of
    compiler.model, say). An installed wheel is never stale: nobody edits it."""
    root = _checkout()
    if root is None:
        return []
    built_from = record()
    if built_from is None:
        return ["no build record"] if built() else []
    if not built_from.get("compiled"):
        return ["compiled modules left from an older build"] if built() else []
    sources: dict[str, str] = built_from.get("sources") or {}
    out = []
    for path in sorted(
        {*sources, *(f"compiler/admission/{p.name}" for p in DIRECTORY.glob("*.py"))}
    ):
        file = root / path
        digest = hashlib.sha256(file.read_bytes()).hexdigest() if file.is_file() else None
        if digest != sources.get(path):
            out.append(f"{path} changed")
    return out


def describe() -> str:
    """One line for logs and benchmarks: which build of the admission path runs."""
    if not compiled():
        return "pure Python" + (" (compiled modules ignored)" if built() else "")
    problems = stale()
    return "compiled with mypyc" + (f" (STALE: {', '.join(problems)})" if problems else "")


def check() -> int:
    """The Makefile's test: 1, saying why on stderr, when the build is stale (it rebuilds)."""
    problems = stale()
    if problems:
        print(
            f"compiler/admission: rebuilding its compiled modules ({', '.join(problems)})",
            file=sys.stderr,
        )
        return 1
    return 0
