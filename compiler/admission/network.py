"""Traffic shaping annotations, with the keys the compiler chose for the cluster's CNI.

A pod may ask for less than its tier allows (its value is kept). Asking for more, or for
something unreadable, is lowered to the tier's value (with a warning) or denied, as the
tier's `bandwidth-excess` says.
"""

from __future__ import annotations

from typing import Final

from compiler.admission.context import Ctx, q
from compiler.quantity import QuantityError, parse

ANNOTATIONS: Final = ("metadata", "annotations")


def _number(value: object) -> float | None:
    if not isinstance(value, str):
        return None
    try:
        return float(parse(value))
    except QuantityError:
        return None


def apply(ctx: Ctx) -> None:
    shaping = ctx.tier.shaping
    if shaping is None or not ctx.data.shaping:
        return
    ann = ctx.annotations
    for s in ctx.data.shaping:
        old = ann.get(s.key)
        if old is None:
            ctx.put_meta("annotations", s.key, s.value, "network.shaping", s.missing)
            continue
        value = _number(old)
        if value is not None and value <= s.limit:
            continue  # a stricter limit than the tier's: the pod's choice
        if shaping.excess == "lower":
            what = f"annotation {s.key} asks for {q(old)}, above the tier's {s.value}"
            ctx.put_meta("annotations", s.key, s.value, "network.excess", what)
            ctx.warn(f"hermetic: {s.key} lowered from {q(old)} to the tier's {s.value}")
        else:
            subject = f"annotation {s.key} is {q(old)}, above the tier's {s.value}"
            fix = f"set it to at most {s.value} or remove it: tier {ctx.tier.name} denies excess"
            ctx.deny("network.excess", subject, fix, (*ANNOTATIONS, s.key))
