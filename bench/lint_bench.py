"""Lint time of a generated policy with 1,000 tenants (goal: under 2 s on this machine)."""

from __future__ import annotations

import compiler
from bench.generate import policy_text
from bench.timing import fmt_ms, machine_baseline, median_seconds
from dsl.gc import paused_gc
from dsl.loader import Source
from dsl.parser import parse_text

GOAL_SECONDS = 2.0


def run(tenants: int = 1000) -> list[str]:
    text = policy_text(tenants)
    source = Source(path="bench.hermetic", text=text)
    loaded = compiler.load_sources([source])
    assert loaded.policy is not None, loaded.diagnostics[:3]

    def parse_only() -> None:
        with paused_gc():  # as lint runs it
            parse_text(text, "bench.hermetic")

    parse = median_seconds(parse_only)
    lint = median_seconds(lambda: compiler.load_sources([source]))
    base = machine_baseline()
    verdict = "met" if lint < GOAL_SECONDS else "NOT met"
    return [
        f"lint: {tenants} tenants, {len(text.splitlines())} lines, {len(text) // 1024} KiB",
        f"  machine baseline (JSON round trips): {fmt_ms(base)}",
        f"  parse only (lark LALR):              {fmt_ms(parse)}  ({parse / base:.1f}x baseline)",
        f"  lint (parse + every check):          {fmt_ms(lint)}  ({lint / base:.1f}x baseline, {lint / parse:.2f}x parse)",
        f"  goal: lint under {GOAL_SECONDS:.0f} s: {verdict}",
    ]


if __name__ == "__main__":
    print("\n".join(run()))
