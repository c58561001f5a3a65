"""The language: statements read into typed nodes with exact spans; errors positioned."""

from __future__ import annotations

import compiler
from dsl import ast
from dsl.diagnostics import render_text
from dsl.loader import Source
from dsl.syntax import parse_module


def _module(text: str) -> tuple[ast.Module | None, list[str]]:
    m, d = parse_module(text, "t.hermetic")
    return m, [x.code for x in d]


def test_every_statement_kind_parses() -> None:
    text = """policy p version "1.2"
cluster {
  governs app = backtest, team exists
  exclude namespaces a, b
  cni calico version 3.31
  mesh-cni istio, linkerd
  webhook service h namespace hs port 8443
  failure-policy ignore
  timeout 5s
}
profile pr {
  cpu 500m..4 default 1
  memory 1Gi..2Gi
  swap off
  ephemeral-storage 10Gi
  scratch /tmp 1Gi memory
  bandwidth ingress 1G egress 2G
  burst egress 1M
  packet-rate ingress 10
  max-connections ingress 5 egress 6
  bandwidth-excess lower
  threads match-cpu
  seed inject env S
  images pinned
  env A = "x y"
}
tier t {
  profile pr
  priority 5 non-preempting non-preemptible
  security strict
  mtls linkerd permissive
  runtime-class gvisor
  require-node pool in a, b
  prefer-node zone = z weight 10
  tolerate spot exists effect NoExecute
  spread by fam across zone max-skew 3 soft
  anti-affinity by fam across host
  block-io gold
  proxy cpu 100m memory 64Mi
}
tenant te {
  namespaces te, te-*
  tiers t
  default-tier t
  quota tier t cpu 1 memory 1Gi pods 3 ephemeral-storage 1Gi
  cost-center "CC-1"
  label example.com/x = y
  allow egress dns
  allow egress cidr 10.0.0.0/8 except 10.1.0.0/16 ports tcp 1-2, udp 3
  allow ingress tenant te ports tcp 80 as sa1, sa2
  allow egress namespace ns pods app = x ports sctp 9
  allow egress pods app in a, b
}
"""
    m, codes = _module(text)
    assert codes == []
    assert m is not None
    kinds = {type(s).__name__ for b in m.blocks for s in b.statements}
    assert kinds >= {
        "Governs", "ExcludeNamespaces", "Cni", "MeshCni", "WebhookService", "FailurePolicy",
        "Timeout", "Cpu", "Amount", "Swap", "Scratch", "Shaping", "BandwidthExcess", "Threads",
        "Seed", "Images", "Env", "UseProfile", "Priority", "Security", "Mtls", "RuntimeClass",
        "NodeRule", "Tolerate", "Spread", "BlockIo", "ProxyResources", "Namespaces", "Tiers",
        "DefaultTier", "Quota", "CostCenter", "Label", "Allow",
    }  # fmt: skip
    allow = [s for b in m.blocks for s in b.statements if isinstance(s, ast.Allow)][1]
    assert [p.port.text for p in allow.ports] == ["1", "3"]
    assert allow.ports[0].end_port is not None and allow.ports[0].end_port.text == "2"
    # the span of the end port points at '2' in `tcp 1-2`
    line = text.split("\n")[allow.ports[0].end_port.span.line - 1]
    assert line[allow.ports[0].end_port.span.column - 1] == "2"


def test_range_spans_point_inside_the_word() -> None:
    m, _ = _module("tier t {\n  cpu 500m..4 default 1\n}\n")
    assert m is not None
    cpu = m.blocks[0].statements[0]
    assert isinstance(cpu, ast.Cpu) and cpu.range is not None
    assert cpu.range.low is not None and cpu.range.high is not None
    assert (cpu.range.low.span.column, cpu.range.low.span.end_column) == (7, 11)
    assert (cpu.range.high.span.column, cpu.range.high.span.end_column) == (13, 14)


def test_every_statement_error_in_a_file_is_reported() -> None:
    text = "tier t {\n  cpus 1\n  memory\n  swap maybe\n}\ntenant x {\n  quota cpu\n}\n"
    _, codes = _module(text)
    assert codes == ["E011", "E016", "E032", "E016"]


def test_statement_in_wrong_block_gets_a_pointed_hint() -> None:
    _, diags = parse_module("tenant t {\n  cpu 1\n}\n", "t.hermetic")
    assert diags[0].code == "E011"
    assert diags[0].hint == "`cpu` belongs in a profile or tier block"


def test_unknown_name_suggests_the_closest() -> None:
    text = 'policy p version "1"\ntier tier2 {\n  cpu 1\n  memory 1Gi\n}\ntenant t {\n  namespaces t\n  tiers tier3\n}\n'
    loaded = compiler.load_sources([Source(path="p.hermetic", text=text)])
    d = next(x for x in loaded.diagnostics if x.code == "E012")
    assert d.hint == "did you mean 'tier2'?"
    assert render_text(d, loaded.lines).splitlines() == [
        "p.hermetic:8:9: error[E012]: unknown tier 'tier3'",
        " 8 |   tiers tier3",
        "   |         ^^^^^",
        "hint: did you mean 'tier2'?",
    ]


def test_problems_in_every_file_are_reported_in_one_run() -> None:
    a = Source(path="a.hermetic", text="tier t {\n  cpu x\n  memory 1Gi\n}\n")
    b = Source(path="b.hermetic", text="tier u {\n")
    c = Source(
        path="c.hermetic", text='policy p version "1"\ntenant z {\n  namespaces Z\n  tiers t\n}\n'
    )
    loaded = compiler.load_sources([a, b, c])
    assert {(d.span.path, d.code) for d in loaded.diagnostics} >= {
        ("a.hermetic", "E020"),
        ("b.hermetic", "E005"),
        ("c.hermetic", "E035"),
    }
