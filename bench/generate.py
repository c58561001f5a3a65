"""Generated policies of any size, for the benchmarks (lint, compile, admission).

Each tenant has an exact and a glob namespace (two existing namespaces match the glob),
tiers on Istio ambient and Linkerd, a total and a per-tier quota, and allows: DNS,
tenant-to-tenant both ways (`as` a service account on ingress), a CIDR with an exception, a
namespace glob (expanded against the known namespaces) and a monitoring namespace.
"""

from __future__ import annotations

HEAD = """policy bench-compile version "1"

cluster {
  governs app.kubernetes.io/component = backtest
  exclude namespaces monitoring
  cni calico version 3.31
  mesh-cni istio, linkerd
}

tier t0 {
  cpu exclusive 4
  memory 16Gi
  security strict
  priority 1000 preempting
  mtls istio-ambient strict
  bandwidth ingress 1G egress 1G
}

tier t1 {
  cpu 500m..8 default 2
  memory 1Gi..32Gi default 4Gi
  priority 100 non-preempting
  mtls linkerd permissive
}
"""


def tenant(i: int, n: int) -> str:
    """One tenant block; tenant i talks to tenant i+1 (mod n)."""
    name, peer = f"team{i:05d}", f"team{(i + 1) % n:05d}"
    return f"""
tenant {name} {{
  namespaces {name}, {name}-*
  tiers t0, t1
  default-tier t1
  quota cpu 64 memory 256Gi pods 100
  quota tier t0 cpu 32 memory 128Gi pods 8
  cost-center "CC-{i}"
  allow egress dns
  allow egress tenant {peer} ports tcp 8080
  allow ingress tenant {peer} ports tcp 8080 as runner
  allow egress cidr 10.{i % 250}.0.0/16 except 10.{i % 250}.9.0/24 ports tcp 443
  allow egress namespace market-* pods app = cache ports tcp 6379
  allow ingress namespace monitoring ports tcp 9090
}}
"""


def policy_text(tenants: int) -> str:
    return HEAD + "".join(tenant(i, tenants) for i in range(tenants))


def namespaces(tenants: int) -> list[str]:
    """What `kubectl get ns` would list: every exact namespace, two per glob, and others."""
    names = ["default", "kube-system", "monitoring", "market-data", "market-ticks"]
    for i in range(tenants):
        names += [f"team{i:05d}", f"team{i:05d}-a", f"team{i:05d}-b"]
    return names
