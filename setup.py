"""The build. pyproject.toml holds the metadata; this file compiles the admission path.

compiler/admission/ (the code every admission request runs) is compiled to C extension
modules with mypyc: the same source, already type-checked by `mypy --strict`, decides in
about half the time. Everything else stays Python.

HERMETIC_COMPILE=0 builds pure Python, and so does a machine without a C compiler (with a
warning); both builds decide identically (tests/test_native.py). After changing a file in
compiler/admission/, rebuild (`make` does) or run with HERMETIC_PURE_PYTHON=1: compiled
modules take precedence over their sources.
"""

from __future__ import annotations

import os
import shutil
import sys
import sysconfig
from pathlib import Path

from setuptools import setup

COMPILED = "compiler/admission"


def _compiler_available() -> bool:
    cc = os.environ.get("CC") or (sysconfig.get_config_var("CC") or "cc").split()[0]
    return shutil.which(cc) is not None


# The setup.py commands that build extension modules. pip also runs setup.py for the
# metadata alone (egg_info, dist_info), where mypyc's analysis would be wasted time.
BUILDS = {"build", "build_ext", "bdist_wheel", "editable_wheel", "develop", "install"}


def ext_modules() -> list[object]:
    if os.environ.get("HERMETIC_COMPILE", "1") == "0" or not BUILDS & set(sys.argv[1:]):
        return []
    if not _compiler_available():
        print(
            "hermetic: no C compiler found: compiler/admission is built as pure Python "
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


setup(ext_modules=ext_modules())
