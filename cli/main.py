"""Entry point of the `hermetic` command.

Exit codes, the same for every command: 0 success; 1 the input has problems (policy
errors, denied objects, failed checks); 2 usage or I/O errors; 3 an internal error, reported
in one line (set HERMETIC_DEBUG=1 for the traceback) — never a raw traceback.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from collections.abc import Sequence

EXIT_OK, EXIT_PROBLEMS, EXIT_USAGE, EXIT_INTERNAL = 0, 1, 2, 3

COMMANDS = (
    "cli.lint",
    "cli.fmt",
    "cli.compile",
    "cli.mutate",
    "cli.serve",
    "cli.review",
    "cli.certs",
    "cli.sync",
)


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # type: ignore[override]
        self.print_usage(sys.stderr)
        print(f"{self.prog}: error: {message}", file=sys.stderr)
        raise SystemExit(EXIT_USAGE)


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="hermetic", description="Isolation policies for backtest clusters.")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    for name in COMMANDS:
        importlib.import_module(name).register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        code: int = args.func(args)
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        # The reader went away (`hermetic ... | head`); nothing left to say.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return EXIT_OK
    except Exception as exc:  # the last line of defence: no traceback reaches a user
        if os.environ.get("HERMETIC_DEBUG"):
            raise
        print(
            f"hermetic: internal error: {type(exc).__name__}: {exc}\n"
            "this is a bug in hermetic; rerun with HERMETIC_DEBUG=1 for the traceback",
            file=sys.stderr,
        )
        return EXIT_INTERNAL
    return code


if __name__ == "__main__":
    sys.exit(main())
