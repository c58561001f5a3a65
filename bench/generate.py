"""Generated policies of any size, for the benchmarks: realistic tenants with exact and
glob namespaces, quotas, per-tier quotas and several network allows each."""

from __future__ import annotations

from dsl.codes import with_base

TIERS = """policy bench version "1"

cluster {
  governs app.kubernetes.io/component = backtest
  cni calico version 3.31
}

tier t0 {
  cpu exclusive 4
  memory 16Gi
  security strict
  priority 1000 preempting
  bandwidth ingress 1G egress 1G
}

tier t1 {
  cpu 500m..8 default 2
  memory 1Gi..32Gi default 4Gi
  priority 100 non-preempting
}
"""


def tenant(i: int, n: int) -> str:
    peer = f"team{(i + 1) % n:05d}"
    return f"""
tenant team{i:05d} {{
  namespaces team{i:05d}, team{i:05d}-*
  tiers t0, t1
  default-tier t1
  quota cpu 64 memory 256Gi pods 100
  quota tier t0 cpu 32 memory 128Gi pods 8
  cost-center "CC-{i}"
  allow egress dns
  allow egress tenant {peer} ports tcp 8080
  allow ingress tenant {peer} ports tcp 8080
  allow egress cidr 10.{i % 250}.0.0/16 except 10.{i % 250}.9.0/24 ports tcp 443
  allow egress namespace market-data pods app = cache ports tcp 6379
}}
"""


def policy_text(tenants: int) -> str:
    return TIERS + "".join(tenant(i, tenants) for i in range(tenants))


__all__ = ["policy_text", "with_base"]
