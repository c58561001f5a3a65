"""Run every benchmark: `python -m bench` (or `make bench`)."""

from __future__ import annotations

import importlib
import sys
import time

BENCHES = ("bench.lint_bench", "bench.compile_bench", "bench.mutate_bench", "bench.webhook_bench")


def main() -> int:
    failed = 0
    for name in BENCHES:
        started = time.perf_counter()
        print(f"== {name.removeprefix('bench.')}", flush=True)
        try:
            lines = importlib.import_module(name).run()
        except Exception as exc:  # one broken benchmark must not hide the others
            print(f"  failed: {type(exc).__name__}: {exc}", flush=True)
            failed += 1
            continue
        for line in lines:
            print(line, flush=True)
        print(f"  ({time.perf_counter() - started:.1f} s)\n", flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
