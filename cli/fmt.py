"""`hermetic fmt`: print policy files in their canonical form, or check that they are.

`--check` exits 1 when a file is not canonical (and names it); `--write` rewrites files
in place. Exit 2 on a usage or I/O error; files that do not parse are reported like lint.
"""

from __future__ import annotations

import argparse
import difflib
import os
import sys
import tempfile

from cli.main import EXIT_OK, EXIT_PROBLEMS, EXIT_USAGE
from cli.output import emit
from dsl import UsageError, read_sources
from dsl.fmt import format_source


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("fmt", help="print policy files in canonical form", description=__doc__)
    p.add_argument("paths", nargs="+", metavar="PATH")
    mode = p.add_mutually_exclusive_group()
    mode.add_argument("--check", action="store_true", help="exit 1 if a file is not canonical")
    mode.add_argument("--write", action="store_true", help="rewrite files in place")
    p.set_defaults(func=run)


def _write(path: str, text: str) -> None:
    d = os.path.dirname(path) or "."
    fd, tmp = tempfile.mkstemp(dir=d, prefix=".hermetic-fmt-")
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write(text)
    os.chmod(tmp, os.stat(path).st_mode & 0o777)
    os.replace(tmp, path)


def run(args: argparse.Namespace) -> int:
    try:
        sources, problems = read_sources(args.paths)
    except UsageError as exc:
        print(f"hermetic fmt: {exc}", file=sys.stderr)
        return EXIT_USAGE
    lines = {s.path: s.lines for s in sources}
    changed = []
    for src in sources:
        text, diags = format_source(src.text, src.path)
        problems.extend(d for d in diags if d.is_error)
        if text is None or text == src.text:
            if text is not None and not (args.check or args.write):
                sys.stdout.write(text)
            continue
        changed.append(src.path)
        if args.write:
            _write(src.path, text)
        elif args.check:
            diff = difflib.unified_diff(
                src.text.splitlines(True),
                text.splitlines(True),
                src.path,
                f"{src.path} (canonical)",
            )
            sys.stdout.writelines(diff)
        else:
            sys.stdout.write(text)
    if problems:
        emit(problems, lines, "text", len(sources), sys.stderr)
        return EXIT_PROBLEMS
    if args.check and changed:
        print(f"hermetic fmt: {len(changed)} file(s) not in canonical form", file=sys.stderr)
        return EXIT_PROBLEMS
    return EXIT_OK
