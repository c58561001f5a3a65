"""Compile time of a generated policy with 1,000 tenants (goal: lint + compile under 2 s).

The goal is read on the work itself, in this process: lint (parse and every check) plus
compile (every target, the bundle with its validation, the YAML of every manifest), as
`hermetic compile` runs them, without the disk writes. For reference, the last line times
the whole command in a fresh process: interpreter start, imports, the same work, the
warnings printed to stderr and the files written.
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
from pathlib import Path

import compiler
from bench.generate import namespaces, policy_text
from bench.timing import fmt_ms, machine_baseline, median_seconds
from cli.compile import outputs
from compiler.build import generate_all, plan_all
from dsl.loader import Source

GOAL_SECONDS = 2.0


def run(tenants: int = 1000) -> list[str]:
    """Measure lint and the whole of `hermetic compile` but the disk writes."""
    source = Source(path="bench-compile.hermetic", text=policy_text(tenants))
    loaded = compiler.load_sources([source])
    policy = loaded.policy
    assert policy is not None, [d.message for d in loaded.diagnostics[:3]]
    known = namespaces(tenants)
    generated = generate_all(policy, known)

    def compile_all() -> int:
        plan = plan_all(policy, known)
        assert not any(d.is_error for d in plan.diagnostics())
        return len(outputs(plan, "yaml"))

    base = machine_baseline()
    lint = median_seconds(lambda: compiler.load_sources([source]), runs=3)
    gen = median_seconds(lambda: generate_all(policy, known), runs=3)
    full = median_seconds(compile_all, runs=3)
    total = lint + full
    verdict = "met" if total < GOAL_SECONDS else "NOT met"
    command = _command_seconds(tenants)
    return [
        f"compile: {tenants} tenants, {len(known)} namespaces, {len(generated.objects)} objects",
        f"  machine baseline (JSON round trips): {fmt_ms(base)}",
        f"  lint (parse + checks):               {fmt_ms(lint)}  ({lint / base:.1f}x baseline)",
        f"  generate_all (every target):         {fmt_ms(gen)}  ({gen / base:.1f}x baseline)",
        f"  compile (targets, bundle, YAML):     {fmt_ms(full)}  ({full / base:.1f}x baseline)",
        f"  goal: lint + compile under {GOAL_SECONDS:.0f} s ({fmt_ms(total)}): {verdict}",
        f"  `hermetic compile` as a command:     {fmt_ms(command)}  ({command / base:.1f}x baseline;"
        " start, imports, writing the files)",
    ]


def _command_seconds(tenants: int) -> float:
    """The median wall time of `hermetic compile` in a fresh interpreter (3 runs)."""
    with tempfile.TemporaryDirectory() as tmp:
        policy, names = Path(tmp, "policy.hermetic"), Path(tmp, "namespaces.txt")
        policy.write_text(policy_text(tenants))
        names.write_text("\n".join(namespaces(tenants)))
        argv = [sys.executable, "-m", "cli.main", "compile", str(policy)]
        argv += ["--namespaces", str(names), "--out", str(Path(tmp, "out"))]

        def once() -> None:
            subprocess.run(argv, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

        return median_seconds(once, runs=3)


if __name__ == "__main__":
    print("\n".join(run()))
