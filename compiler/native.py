"""Whether the admission path runs compiled, and the switch back to its Python source.

`compiler.admission` is compiled to C extension modules with mypyc when the package is
built (setup.py); a build with HERMETIC_COMPILE=0, or on a machine without a C compiler, is
pure Python. Both decide identically (tests/test_native.py holds them to it).

Python imports an extension module in preference to the source file beside it, so after
an edit in compiler/admission/ the compiled modules are stale until rebuilt (`make` does
it). `stale()` names them; HERMETIC_PURE_PYTHON=1 makes a process import the sources
instead (`use_source`), for a debugger, for the benchmark's comparison, and for the tests
that compare the two builds.
"""

from __future__ import annotations

import importlib.util
import os
import sys
from importlib.machinery import EXTENSION_SUFFIXES, ModuleSpec
from pathlib import Path
from types import ModuleType

PACKAGE = "compiler.admission"
SOURCE_ENV = "HERMETIC_PURE_PYTHON"
DIRECTORY = Path(__file__).resolve().parent / "admission"


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


def compiled() -> bool:
    """True when this process runs the compiled admission modules."""
    import compiler.admission

    return _is_extension(compiler.admission.__file__)


def _is_extension(path: str | None) -> bool:
    return path is not None and path.endswith(tuple(EXTENSION_SUFFIXES))


def built() -> list[Path]:
    """The compiled admission modules installed beside their sources."""
    return sorted({p for s in EXTENSION_SUFFIXES for p in DIRECTORY.glob(f"*{s}")})


def stale() -> list[str]:
    """The modules whose source changed after they were compiled in place, in a source
    checkout (setup.py beside the packages): those would run old code. An installed wheel
    has no such problem, and its files' times say nothing (pip writes them in any order)."""
    if not (DIRECTORY.parents[1] / "setup.py").is_file():
        return []
    out = []
    for ext in built():
        source = DIRECTORY / (ext.name.split(".", 1)[0] + ".py")
        if source.is_file() and source.stat().st_mtime > ext.stat().st_mtime:
            out.append(source.name)
    return out


def describe() -> str:
    """One line for logs and benchmarks: which build of the admission path runs."""
    if not compiled():
        return "pure Python" + (" (compiled modules ignored)" if built() else "")
    return "compiled with mypyc" + (f" (STALE: {', '.join(stale())})" if stale() else "")
