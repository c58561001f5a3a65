"""Small timing helpers shared by the benchmarks."""

from __future__ import annotations

import json
import statistics
import time
from collections.abc import Callable


def median_seconds(fn: Callable[[], object], runs: int = 5, warmup: int = 1) -> float:
    for _ in range(warmup):
        fn()
    samples = []
    for _ in range(runs):
        t = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - t)
    return statistics.median(samples)


def machine_baseline() -> float:
    """A fixed amount of pure-Python work (JSON round trips of a 200 kB document): the
    machine's speed right now, to read the other figures against."""
    doc = {
        "items": [{"name": f"n{i}", "labels": {"a": str(i)}, "v": [i] * 10} for i in range(1500)]
    }

    def work() -> None:
        for _ in range(5):
            json.loads(json.dumps(doc))

    return median_seconds(work, runs=5)


def fmt_ms(seconds: float) -> str:
    return f"{seconds * 1000:.1f} ms"
