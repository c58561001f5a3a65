"""Every diagnostic code: a title and a small policy that produces it.

The examples are the golden cases of the diagnostics: `tests/test_diagnostics_golden.py`
checks that each example produces its code, and that `docs/errors.md`, generated from this
table with each example's exact rendered output, is up to date
(`python -m cli.errors_doc > docs/errors.md`).
"""

from __future__ import annotations

from dataclasses import dataclass

BASE = """policy farm version "1"

tier t0 {
  cpu 500m..2 default 1
  memory 1Gi..4Gi default 2Gi
}

tenant team-a {
  namespaces team-a
  tiers t0
}
"""


def with_base(extra: str, base: str = BASE) -> str:
    return base + "\n" + extra


@dataclass(frozen=True, slots=True)
class Code:
    code: str
    title: str
    example: str | None  # None: the case cannot be shown as text (see `note`)
    note: str = ""
    # compile-time codes (the targets): the namespaces `--namespaces` would list
    namespaces: tuple[str, ...] | None = None


CATALOG: tuple[Code, ...] = (
    Code(
        "E001",
        "the file is not UTF-8 text, or holds control characters",
        None,
        "Any byte sequence that is not UTF-8, or a control character such as NUL, makes the whole file unreadable: `policy.hermetic:1:7: error[E001]: file is not UTF-8 text`.",
    ),
    Code(
        "E002",
        "a character that cannot start anything (e.g. a non-breaking space)",
        'policy farm\u00a0version "1"\n',
    ),
    Code("E003", "an unterminated string, or an unknown escape in one", 'policy farm version "1\n'),
    Code("E004", "a token where it cannot stand", 'policy farm version "1"\n= 1\n'),
    Code(
        "E005",
        "a block is not closed at the end of the file",
        'policy farm version "1"\n\ntier t0 {\n  cpu 1\n',
    ),
    Code("E006", "a '}' that closes no block", 'policy farm version "1"\n}\n'),
    Code("E007", "a block inside a block", "tier t0 {\n  profile p {\n  }\n}\n"),
    Code(
        "E008",
        "the file is larger than 8 MiB",
        None,
        "Split a policy this large into several files; every `*.hermetic` file under the given paths is part of one policy.",
    ),
    Code(
        "E010", "an unknown block, or a statement outside any block", with_base("tiers t1 {\n}\n")
    ),
    Code("E011", "an unknown statement in a block", with_base("profile fast {\n  cpus 4\n}\n")),
    Code("E012", "an unknown tier", BASE.replace("tiers t0", "tiers t0, t1")),
    Code("E013", "an unknown profile", BASE.replace("  cpu 500m", "  profile fastest\n  cpu 500m")),
    Code(
        "E014",
        "an unknown tenant",
        BASE.replace("tiers t0\n", "tiers t0\n  allow egress tenant team-b ports tcp 80\n"),
    ),
    Code(
        "E015",
        "a name or the policy declared twice",
        with_base("tier t0 {\n  cpu 1\n  memory 1Gi\n}\n"),
    ),
    Code(
        "E016",
        "a statement's arguments do not fit it",
        BASE.replace("  cpu 500m..2 default 1", "  cpu 500m..2 default"),
    ),
    Code("E017", "an invalid name", BASE.replace("tenant team-a", "tenant Team_A")),
    Code(
        "E018",
        "a setting given twice",
        BASE.replace(
            "  memory 1Gi..4Gi default 2Gi", "  memory 1Gi..4Gi default 2Gi\n  memory 8Gi"
        ),
    ),
    Code(
        "E019", "something required is missing", BASE.replace("  memory 1Gi..4Gi default 2Gi\n", "")
    ),
    Code(
        "E020", "an invalid Kubernetes quantity", BASE.replace("memory 1Gi..4Gi", "memory 1GB..4Gi")
    ),
    Code(
        "E021",
        "a range whose minimum, default and maximum are out of order",
        BASE.replace("cpu 500m..2 default 1", "cpu 500m..2 default 3"),
    ),
    Code(
        "E022",
        "exclusive CPUs that are not whole cores",
        BASE.replace("cpu 500m..2 default 1", "cpu exclusive 2500m"),
    ),
    Code(
        "E023",
        "exclusive cores with a memory range",
        BASE.replace("cpu 500m..2 default 1", "cpu exclusive 4"),
    ),
    Code(
        "E024",
        "a default tier the tenant may not use",
        with_base("tier t1 {\n  cpu 1\n  memory 1Gi\n}\n").replace(
            "  tiers t0\n", "  tiers t0\n  default-tier t1\n"
        ),
    ),
    Code(
        "E025",
        "two tenants claim the same namespaces",
        with_base("tenant team-b {\n  namespaces team-*\n  tiers t0\n}\n").replace(
            "namespaces team-a", "namespaces team-a-*"
        ),
    ),
    Code(
        "W025",
        "an exact namespace also matches another tenant's glob",
        with_base("tenant team-b {\n  namespaces team-*\n  tiers t0\n}\n"),
    ),
    Code(
        "E026",
        "an invalid port or port range",
        BASE.replace(
            "tiers t0\n", "tiers t0\n  allow ingress namespace monitoring ports tcp 9100-9000\n"
        ),
    ),
    Code(
        "E027",
        "an invalid CIDR, or an exception outside its CIDR",
        BASE.replace("tiers t0\n", "tiers t0\n  allow egress cidr 10.20.0.1/16 ports tcp 443\n"),
    ),
    Code(
        "E028",
        "a shaping value outside what Calico and Kubernetes accept",
        BASE.replace(
            "  memory 1Gi..4Gi default 2Gi\n",
            "  memory 1Gi..4Gi default 2Gi\n  packet-rate egress 50k\n",
        ),
    ),
    Code(
        "E029",
        "an invalid or reserved label key or value",
        BASE.replace("tiers t0\n", 'tiers t0\n  label hermetic.io/team = "a"\n'),
    ),
    Code(
        "E030",
        "a tenant claims a namespace that is never governed",
        BASE.replace("namespaces team-a", "namespaces team-a, kube-system"),
    ),
    Code(
        "W030",
        "a namespace glob also matches namespaces that are never governed",
        BASE.replace("namespaces team-a", "namespaces kube-*"),
    ),
    Code(
        "E032",
        "a word that is not one of the statement's choices",
        BASE.replace(
            "  memory 1Gi..4Gi default 2Gi\n",
            "  memory 1Gi..4Gi default 2Gi\n  security restrictd\n",
        ),
    ),
    Code(
        "E033",
        "a scratch path that is not a clean absolute directory",
        BASE.replace(
            "  memory 1Gi..4Gi default 2Gi\n",
            "  memory 1Gi..4Gi default 2Gi\n  security strict\n  scratch tmp/ 1Gi\n",
        ),
    ),
    Code(
        "E034",
        "a quota for a tier the tenant may not use",
        with_base("tier t1 {\n  cpu 1\n  memory 1Gi\n}\n").replace(
            "  tiers t0\n", "  tiers t0\n  quota tier t1 cpu 8\n"
        ),
    ),
    Code(
        "E035",
        "an invalid namespace name or glob",
        BASE.replace("namespaces team-a", "namespaces Team_A"),
    ),
    Code(
        "E036",
        "a number that is not whole, or out of range",
        BASE.replace(
            "  memory 1Gi..4Gi default 2Gi\n",
            "  memory 1Gi..4Gi default 2Gi\n  priority 2000000000\n",
        ),
    ),
    Code(
        "E040",
        "exclusive cores with an injected proxy whose resources are not pinned",
        'policy farm version "1"\n\ncluster {\n  mesh-cni istio\n}\n\ntier t0 {\n  cpu exclusive 2\n  memory 4Gi\n  mtls istio-sidecar strict\n}\n\ntenant team-a {\n  namespaces team-a\n  tiers t0\n}\n',
    ),
    Code(
        "E041",
        "restricted security with a sidecar mesh whose init container needs NET_ADMIN",
        BASE.replace(
            "  memory 1Gi..4Gi default 2Gi\n",
            "  memory 1Gi..4Gi default 2Gi\n  mtls linkerd strict\n",
        ),
    ),
    Code(
        "W042",
        "swap off with a memory range raises every request to its limit",
        BASE.replace(
            "  memory 1Gi..4Gi default 2Gi\n", "  memory 1Gi..4Gi default 2Gi\n  swap off\n"
        ),
    ),
    Code(
        "E045",
        "a non-preemptible tier that a preempting tier outranks",
        with_base("tier t1 {\n  cpu 1\n  memory 1Gi\n  priority 1000 preempting\n}\n")
        .replace(
            "  memory 1Gi..4Gi default 2Gi\n",
            "  memory 1Gi..4Gi default 2Gi\n  priority 10 non-preemptible\n",
        )
        .replace("tiers t0\n", "tiers t0, t1\n  default-tier t0\n"),
    ),
    Code(
        "E046",
        "a per-tier quota above the tenant's total",
        BASE.replace("tiers t0\n", "tiers t0\n  quota cpu 8\n  quota tier t0 cpu 16\n"),
    ),
    Code(
        "W047",
        "traffic shaping on a cluster whose CNI shapes nothing",
        BASE.replace(
            "  memory 1Gi..4Gi default 2Gi\n",
            "  memory 1Gi..4Gi default 2Gi\n  bandwidth egress 100M\n",
        ),
    ),
    Code(
        "E047",
        "memory-backed scratch larger than the memory limit",
        BASE.replace(
            "  memory 1Gi..4Gi default 2Gi\n",
            "  memory 1Gi..4Gi default 2Gi\n  security strict\n  scratch /tmp 8Gi memory\n",
        ),
    ),
    Code(
        "E048",
        "disk scratch larger than the ephemeral-storage limit",
        BASE.replace(
            "  memory 1Gi..4Gi default 2Gi\n",
            "  memory 1Gi..4Gi default 2Gi\n  ephemeral-storage 10Gi\n  security strict\n  scratch /scratch 20Gi\n",
        ),
    ),
    Code(
        "W048",
        "a shaping feature the cluster's CNI annotations cannot express",
        'policy farm version "1"\n\ncluster {\n  cni bandwidth-plugin\n}\n\ntier t0 {\n  cpu 1\n  memory 1Gi\n  bandwidth egress 100M\n  max-connections egress 512\n}\n\ntenant team-a {\n  namespaces team-a\n  tiers t0\n}\n',
    ),
    Code(
        "W049",
        "scratch directories on a tier whose root filesystem is writable",
        BASE.replace(
            "  memory 1Gi..4Gi default 2Gi\n", "  memory 1Gi..4Gi default 2Gi\n  scratch /tmp 1Gi\n"
        ),
    ),
    Code(
        "E051",
        "strict mTLS ingress from a tenant without a mesh",
        'policy farm version "1"\n\ntier meshed {\n  cpu 1\n  memory 1Gi\n  mtls istio-ambient strict\n}\n\ntier plain {\n  cpu 1\n  memory 1Gi\n}\n\ntenant team-a {\n  namespaces team-a\n  tiers meshed\n  allow ingress tenant team-b ports tcp 8080\n}\n\ntenant team-b {\n  namespaces team-b\n  tiers plain\n}\n',
    ),
    Code(
        "E052",
        "a tier quota below one pod of the tier",
        BASE.replace("tiers t0\n", "tiers t0\n  quota tier t0 memory 512Mi\n"),
    ),
    Code(
        "W058",
        "failure-policy ignore lets pods through unmutated",
        with_base("cluster {\n  failure-policy ignore\n}\n"),
    ),
    Code(
        "W059",
        "swap on for a tier with exclusive cores",
        BASE.replace("cpu 500m..2 default 1", "cpu exclusive 2").replace(
            "memory 1Gi..4Gi default 2Gi", "memory 4Gi\n  swap on"
        ),
    ),
    Code(
        "W070",
        "a namespace glob a NetworkPolicy cannot select, expanded to the namespaces known at compile time",
        BASE.replace("tiers t0\n", "tiers t0\n  allow egress namespace feed-* ports tcp 9000\n"),
        "Reported by `hermetic compile`: label selectors cannot match a name pattern, so the glob becomes the namespaces `--namespaces` lists.",
        ("feed-1", "feed-2", "team-a"),
    ),
    Code(
        "W071",
        "a namespace glob that matches no namespace known at compile time",
        BASE.replace("tiers t0\n", "tiers t0\n  allow egress namespace feed-* ports tcp 9000\n"),
        "Reported by `hermetic compile`: the peer is left out, never widened.",
        ("team-a",),
    ),
    Code(
        "W072",
        "a service-account identity NetworkPolicy cannot enforce for tiers without a mesh",
        BASE.replace(
            "tiers t0\n", "tiers t0\n  allow ingress tenant team-a ports tcp 8080 as runner\n"
        ),
        "Reported by `hermetic compile`.",
        ("team-a",),
    ),
    Code(
        "W073",
        "a tenant quota repeated in each of the tenant's namespaces",
        BASE.replace("namespaces team-a", "namespaces team-a, team-a-*").replace(
            "tiers t0\n", "tiers t0\n  quota pods 50\n"
        ),
        "Reported by `hermetic compile`: a ResourceQuota binds one namespace.",
        ("team-a", "team-a-1"),
    ),
    Code(
        "W074",
        "an ingress rule the mesh's authorization objects cannot mirror exactly",
        BASE.replace(
            "  memory 1Gi..4Gi default 2Gi\n",
            "  memory 1Gi..4Gi default 2Gi\n  mtls istio-ambient strict\n",
        ).replace(
            "tiers t0\n",
            "tiers t0\n  allow ingress pods app = peer ports tcp 5000, udp 5001 as peer\n",
        ),
        "Reported by `hermetic compile`.",
        ("team-a",),
    ),
    Code("W060", "a profile no tier uses", with_base("profile unused {\n  cpu 1\n}\n")),
    Code("W061", "a tier no tenant may use", with_base("tier t1 {\n  cpu 1\n  memory 1Gi\n}\n")),
)


def titles() -> dict[str, str]:
    return {c.code: c.title for c in CATALOG}
