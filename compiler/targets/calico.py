"""Traffic shaping: which pod annotations carry a tier's `Shaping`, for `mutate` to write.

`compiler.check.bandwidth_keys` decides the set from the cluster's CNI:
- "calico-qos" (Calico >= 3.30): `qos.projectcalico.org/{ingress,egress}{Bandwidth,Burst,
  PacketRate,MaxConnections}`. Calico lets them override the `kubernetes.io/*-bandwidth`
  pair, so that pair is never written alongside (traffic would be shaped twice by a chained
  bandwidth plugin).
- "kubernetes": `kubernetes.io/{ingress,egress}-bandwidth` only (bursts, packet rates and
  connection limits have no such key; `compiler.conflicts` warns with W048).
- "none": nothing (W047).

Values are Kubernetes quantities with decimal suffixes: bits/s for bandwidth, bits for burst,
packets/s and counts for the rest. Shaping is per pod, so this target emits no object.
"""

from __future__ import annotations

from compiler.model import BandwidthKeys, CompiledPolicy, Shaping, Tier
from compiler.quantity import format_decimal
from compiler.targets.base import Generated

CALICO = "qos.projectcalico.org"
_CALICO_FIELDS = (
    ("Bandwidth", "bandwidth"),
    ("Burst", "burst"),
    ("PacketRate", "packet_rate"),
    ("MaxConnections", "max_connections"),
)


def shaping_annotations(tier: Tier, keys: BandwidthKeys) -> dict[str, str]:
    """The annotations (key -> quantity string) that shape a pod of this tier."""
    s = tier.shaping
    if s is None or keys == "none":
        return {}
    out: dict[str, str] = {}
    for direction in ("ingress", "egress"):
        if keys == "kubernetes":
            _put(out, f"kubernetes.io/{direction}-bandwidth", s, f"{direction}_bandwidth")
            continue
        for suffix, attr in _CALICO_FIELDS:
            _put(out, f"{CALICO}/{direction}{suffix}", s, f"{direction}_{attr}")
    return dict(sorted(out.items()))


def _put(out: dict[str, str], key: str, s: Shaping, attr: str) -> None:
    value = getattr(s, attr)
    if value is not None:
        out[key] = format_decimal(value)


class ShapingTarget:
    """The target: nothing cluster-wide; `mutate` writes `shaping_annotations` per pod."""

    def generate(self, policy: CompiledPolicy) -> Generated:
        return Generated()
