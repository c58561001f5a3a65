"""`hermetic lint`: check policy files and report every problem in every file.

Exit 0 when clean, 1 when there are errors (or warnings with --strict), 2 on a usage or
I/O error, 3 on an internal error.
"""

from __future__ import annotations

import argparse
import sys

import compiler
from cli.main import EXIT_OK, EXIT_PROBLEMS, EXIT_USAGE
from cli.output import FORMATS, emit
from dsl import UsageError
from dsl.loader import discover


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("lint", help="check policy files", description=__doc__)
    p.add_argument("paths", nargs="+", metavar="PATH", help="a .hermetic file or a directory")
    p.add_argument("--format", choices=FORMATS, default="text")
    p.add_argument("--strict", action="store_true", help="warnings fail the run too")
    p.set_defaults(func=run)


def load_paths(paths: list[str]) -> tuple[compiler.Loaded, int]:
    """The policy in these files and directories, and how many files it has.
    UsageError for a missing path, or for paths that hold no policy file at all."""
    files = len(discover(paths))
    if files == 0:
        raise UsageError(f"no *.hermetic files in {' '.join(paths)}")
    return compiler.load(paths), files


def run(args: argparse.Namespace) -> int:
    try:
        loaded, files = load_paths(args.paths)
    except UsageError as exc:
        print(f"hermetic lint: {exc}", file=sys.stderr)
        return EXIT_USAGE
    emit(loaded.diagnostics, loaded.lines, args.format, files)
    failing = [d for d in loaded.diagnostics if d.is_error or args.strict]
    return EXIT_PROBLEMS if failing else EXIT_OK
