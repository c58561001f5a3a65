"""`mutate` per typical backtest pod (goal: 100 µs at most), and its growth from 10 to
10,000 tenants (goal: 1.2x at most), against a baseline measured in the same run:
`copy.deepcopy` of the same pod (the least a pure function that copied its input would pay).

The admission path runs as installed: compiled with mypyc (setup.py) unless built with
HERMETIC_COMPILE=0. The same pod is also timed in a second process on the Python source
(HERMETIC_PURE_PYTHON=1), for reference.

The pod is examples/backtest-pod.yaml (tier0: a container with limits, a seed and a
pinned image; ~30 patch operations) and the same pod in tier1 (defaults, the sidecar
mesh). The policies with many tenants are the bundled one with generated tenants (an
exact namespace and a glob each); the pod's namespace matches the middle tenant's glob.
"""

from __future__ import annotations

import copy
import dataclasses
import gc
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, NamedTuple

import yaml

import compiler
from compiler import native
from compiler.admission import mutate
from compiler.model import CompiledPolicy, Tenant
from webhook.server import settle_heap

ROOT = Path(__file__).resolve().parent.parent
GOAL_US = 100.0
GOAL_GROWTH = 1.2


class Timing(NamedTuple):
    median: float  # µs per call: the median batch
    best: float  # µs per call: the best batch


def _batch(fn: Callable[[], object], batch: int) -> float:
    t = time.process_time()
    for _ in range(batch):
        fn()
    return (time.process_time() - t) / batch * 1e6


def timing(fn: Callable[[], object], batch: int = 200, batches: int = 15) -> Timing:
    """The time per call in microseconds over `batches` batches of `batch` calls, in this
    process's CPU time. The machine is shared: wall-clock times move 2x with the load; CPU
    time moves less, and the best batch is the intrinsic cost. Ratios between figures of
    one run are what to compare across runs."""
    for _ in range(batch):
        fn()
    samples = [_batch(fn, batch) for _ in range(batches)]
    return Timing(statistics.median(samples), min(samples))


def interleaved(
    fns: dict[str, Callable[[], object]], batch: int = 200, rounds: int = 9, per_round: int = 3
) -> dict[str, Timing]:
    """`timing` of several functions, their batches taken in turns over `rounds` rounds:
    a burst of load from the shared host then falls on all of them alike and on a few
    batches of each, not on the whole series of one (which moved a median by 1.7x)."""
    for fn in fns.values():
        for _ in range(batch):
            fn()
    samples: dict[str, list[float]] = {name: [] for name in fns}
    for _ in range(rounds):
        for name, fn in fns.items():
            samples[name] += [_batch(fn, batch) for _ in range(per_round)]
    return {name: Timing(statistics.median(v), min(v)) for name, v in samples.items()}


def with_tenants(policy: CompiledPolicy, n: int) -> CompiledPolicy:
    """The policy with n generated tenants (exact namespace team-i, glob team-i-*)."""
    tenants = tuple(
        Tenant(
            name=f"team-{i:05d}",
            namespaces=(f"team-{i:05d}",),
            globs=(f"team-{i:05d}-*",),
            tiers=("tier0", "tier1", "tier2"),
            default_tier="tier1",
            quotas=(),
            cost_center=f"CC-{i}",
            labels=(),
            rules=(),
        )
        for i in range(n)
    )
    return dataclasses.replace(policy, tenants=tenants)


def _pod(tier: str) -> dict[str, Any]:
    pod: dict[str, Any] = yaml.safe_load((ROOT / "examples" / "backtest-pod.yaml").read_text())
    pod["metadata"]["labels"]["hermetic.io/tier"] = tier
    if tier != "tier0":
        del pod["spec"]["containers"][0]["resources"]
    return pod


def _decide(policy: CompiledPolicy, pod: dict[str, Any], ns: str) -> Callable[[], object]:
    decision = mutate(pod, policy, namespace=ns, request_uid="bench")
    assert decision.allowed and decision.patch, decision.message
    return lambda: mutate(pod, policy, namespace=ns, request_uid="bench")


def run() -> list[str]:
    """Measure; the printed lines. The heap is settled first, as `hermetic serve` settles it
    before serving (webhook.server.settle_heap): otherwise the garbage collector's full
    passes over the loaded modules and policies, which the webhook never pays, are charged
    to whichever calls trigger them."""
    loaded = compiler.load([str(ROOT / "policies")])
    assert loaded.policy is not None
    policy = loaded.policy
    many = {n: with_tenants(policy, n) for n in (10, 10_000)}
    settle_heap()
    try:
        return _measure(policy, many)
    finally:
        gc.unfreeze()


def _measure(policy: CompiledPolicy, many: dict[int, CompiledPolicy]) -> list[str]:
    lines = [
        "mutate: one backtest pod (examples/backtest-pod.yaml); CPU time per call, median "
        "(best) of 27 batches taken in turns",
        f"  admission path: {native.describe()}",
    ]
    fns: dict[str, Callable[[], object]] = {}
    for tier in ("tier0", "tier1"):
        pod = _pod(tier)
        fns[f"{tier} baseline"] = lambda pod=pod: copy.deepcopy(pod)  # type: ignore[misc]
        fns[tier] = _decide(policy, pod, "alpha-research")
    times = interleaved(fns)
    for tier in ("tier0", "tier1"):
        pod = _pod(tier)
        base, t = times[f"{tier} baseline"], times[tier]
        ops = len(mutate(pod, policy, namespace="alpha-research").patch)
        verdict = "met" if t.median <= GOAL_US else "NOT met"
        lines += [
            f"  {tier}: {ops} patch operations",
            f"    baseline copy.deepcopy(pod): {base.median:7.1f} µs ({base.best:.1f})",
            f"    mutate:                      {t.median:7.1f} µs ({t.best:.1f})"
            f"  {t.median / base.median:.1f}x baseline  goal <= {GOAL_US:.0f} µs: {verdict}",
        ]
        if base.median > 1.3 * base.best:
            lines.append(
                f"    (the baseline's median is {base.median / base.best:.1f}x its best batch: the"
                " shared host was busy for much of this run; read the ratios)"
            )
        if native.compiled():
            pure = _pure_python(tier)
            lines.append(
                f"    the Python source:           {pure.median:7.1f} µs ({pure.best:.1f})"
                f"  {pure.median / t.median:.2f}x the compiled (HERMETIC_PURE_PYTHON=1)"
            )
    calls = {n: _decide(p, _pod("tier0"), f"team-{n // 2:05d}-x") for n, p in many.items()}
    by_size = interleaved({str(n): call for n, call in calls.items()}, rounds=5, per_round=5)
    best = {n: by_size[str(n)].best for n in calls}
    growth = best[10_000] / best[10]
    verdict = "met" if growth <= GOAL_GROWTH else "NOT met"
    lines += [
        "  growth with tenants (tier0 pod, glob namespace):",
        f"    10 tenants: {best[10]:7.1f} µs   10,000 tenants: {best[10_000]:7.1f} µs"
        f"   growth {growth:.2f}x  goal <= {GOAL_GROWTH}x: {verdict}",
    ]
    return lines


def _pure_python(tier: str) -> Timing:
    """The same measure in a process that runs the admission path's Python source."""
    env = {**os.environ, native.SOURCE_ENV: "1", "PYTHONPATH": str(ROOT)}
    code = f"from bench.mutate_bench import one; one({tier!r})"
    out = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True
    ).stdout
    median, best = (float(x) for x in out.split())
    return Timing(median, best)


def one(tier: str) -> None:
    """Print the median and best µs per call of one tier's pod (for `_pure_python`)."""
    loaded = compiler.load([str(ROOT / "policies")])
    assert loaded.policy is not None
    settle_heap()
    t = timing(_decide(loaded.policy, _pod(tier), "alpha-research"))
    print(t.median, t.best)


if __name__ == "__main__":
    print("\n".join(run()))
