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

# command -> (module that registers it, one-line help). Only the module of the command being
# run is imported: each pulls in what it needs (the webhook's FastAPI, the kubernetes
# client, the compiler), and `hermetic certs` or `hermetic --help` need none of that.
COMMANDS: dict[str, tuple[str, str]] = {
    "lint": ("cli.lint", "check policy files"),
    "fmt": ("cli.fmt", "print policy files in canonical form"),
    "compile": ("cli.compile", "compile a policy into the webhook's bundle and manifests"),
    "mutate": ("cli.mutate", "preview the admission decision for pods and workloads"),
    "check": ("cli.mutate", "fail when workload manifests would be denied, and say why"),
    "serve": ("cli.serve", "serve the admission webhook over HTTPS"),
    "review": ("cli.review", "send an object to a running webhook, print the decision"),
    "certs": ("cli.certs", "issue, rotate, check and inject the webhook's TLS material"),
    "sync": ("cli.sync", "keep tenant namespaces' labels and objects as the policy says"),
}


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # type: ignore[override]
        self.print_usage(sys.stderr)
        print(f"{self.prog}: error: {message}", file=sys.stderr)
        raise SystemExit(EXIT_USAGE)


def build_parser(command: str | None = None) -> argparse.ArgumentParser:
    """The parser; with `command`, only that command's module is imported and registered
    in full (the others are listed by name and help), otherwise every command is."""
    parser = _Parser(prog="hermetic", description="Isolation policies for backtest clusters.")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    registered: set[str] = set()
    for name, (module, help_text) in COMMANDS.items():
        if command is not None and module != COMMANDS.get(command, ("",))[0]:
            # listed by name and help only
            sub.add_parser(name, help=help_text, add_help=False)
        elif module not in registered:
            importlib.import_module(module).register(sub)
            registered.add(module)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    words = list(sys.argv[1:] if argv is None else argv)
    command = next((w for w in words if not w.startswith("-")), None)
    # no known command (`hermetic --help`, a typo): list the commands, import none
    parser = build_parser(command if command in COMMANDS else "")
    args = parser.parse_args(words)
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
