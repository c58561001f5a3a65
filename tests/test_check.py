"""The checker's semantics: namespace ownership, glob overlap, shaping keys, defaults."""

from __future__ import annotations

import fnmatch
import itertools

from hypothesis import given, settings
from hypothesis import strategies as st

import compiler
from compiler.check import bandwidth_keys
from compiler.globs import matches, overlap
from compiler.model import CompiledPolicy
from dsl.codes import BASE
from dsl.loader import Source


def _load(text: str) -> compiler.Loaded:
    return compiler.load_sources([Source(path="p.hermetic", text=text)])


def test_bundled_policy_compiles(bundled_policy: CompiledPolicy) -> None:
    p = bundled_policy
    assert [t.name for t in p.tiers] == ["tier0", "tier1", "tier2"]
    tier0 = p.tier("tier0")
    assert tier0 is not None and tier0.resources.exclusive_cores == 4
    assert tier0.resources.memory.fixed and tier0.resources.memory.default == 16 * 2**30
    assert p.cluster.bandwidth_keys == "calico-qos"
    assert {"kube-system", "kube-public", "kube-node-lease", "hermetic-system"} <= set(
        p.cluster.excluded_namespaces
    )


def test_namespace_lookup_exact_wins_over_glob(bundled_policy: CompiledPolicy) -> None:
    p = bundled_policy
    assert (t := p.tenant_for_namespace("alpha-research")) and t.name == "alpha-research"
    assert (t := p.tenant_for_namespace("alpha-7")) and t.name == "alpha-research"
    assert (t := p.tenant_for_namespace("replay-2026")) and t.name == "replay"
    assert p.tenant_for_namespace("kube-system") is None
    assert p.tenant_for_namespace("default") is None


def test_exact_name_inside_another_tenants_glob() -> None:
    text = BASE + "\ntenant team-b {\n  namespaces team-*\n  tiers t0\n}\n"
    loaded = _load(text)
    assert [d.code for d in loaded.diagnostics] == ["W025"]
    assert loaded.policy is not None
    owner = loaded.policy.tenant_for_namespace("team-a")
    assert owner is not None and owner.name == "team-a"
    other = loaded.policy.tenant_for_namespace("team-x")
    assert other is not None and other.name == "team-b"


glob_text = st.text(alphabet="ab-*", min_size=1, max_size=6)


@settings(max_examples=400, derandomize=True, deadline=None)
@given(glob_text, glob_text)
def test_glob_overlap_agrees_with_brute_force(a: str, b: str) -> None:
    """Any common match of two such globs has a witness of bounded length over the alphabet."""
    witnesses = (
        "".join(w)
        for n in range(0, len(a) + len(b) + 1)
        for w in itertools.product("ab-", repeat=n)
    )
    brute = any(fnmatch.fnmatchcase(w, a) and fnmatch.fnmatchcase(w, b) for w in witnesses)
    assert overlap(a, b) == brute


@settings(max_examples=2000, derandomize=True, deadline=None)
@given(st.text(alphabet="ab-", max_size=8), glob_text)
def test_glob_matching_agrees_with_fnmatch(name: str, glob: str) -> None:
    assert matches(name, glob) == fnmatch.fnmatchcase(name, glob)


def test_bandwidth_keys_follow_the_cni() -> None:
    assert bandwidth_keys("calico", "3.30") == "calico-qos"
    assert bandwidth_keys("calico", "3.29") == "kubernetes"
    assert bandwidth_keys("calico", None) == "calico-qos"
    assert bandwidth_keys("cilium", None) == "kubernetes"
    assert bandwidth_keys("bandwidth-plugin", None) == "kubernetes"
    assert bandwidth_keys("none", None) == "none"


def test_profile_settings_are_overridden_by_the_tier() -> None:
    text = BASE.replace(
        "tier t0 {\n  cpu 500m..2 default 1\n",
        'profile p {\n  cpu 1..8 default 2\n  env A = "p"\n  env B = "p"\n}\n\ntier t0 {\n  profile p\n  cpu 500m..2 default 1\n  env B = "t"\n',
    )
    loaded = _load(text)
    assert loaded.policy is not None, loaded.diagnostics
    t0 = loaded.policy.tier("t0")
    assert t0 is not None
    assert (t0.resources.cpu.min, t0.resources.cpu.max, t0.resources.cpu.default) == (
        500,
        2000,
        1000,
    )
    assert t0.env == (("A", "p"), ("B", "t"))


def test_defaults_when_a_range_has_no_default() -> None:
    loaded = _load(
        BASE.replace("cpu 500m..2 default 1", "cpu 500m..2").replace(
            "memory 1Gi..4Gi default 2Gi", "memory ..4Gi"
        )
    )
    assert loaded.policy is not None
    t0 = loaded.policy.tier("t0")
    assert t0 is not None
    assert t0.resources.cpu.default == 500 and t0.resources.memory.default == 4 * 2**30
    assert t0.resources.memory.min is None


def test_quantities_use_the_kubernetes_parser() -> None:
    loaded = _load(BASE.replace("cpu 500m..2 default 1", "cpu 0.5..2 default 1500m"))
    assert loaded.policy is not None
    t0 = loaded.policy.tier("t0")
    assert t0 is not None and (t0.resources.cpu.min, t0.resources.cpu.default) == (500, 1500)
    bad = _load(BASE.replace("cpu 500m..2 default 1", "cpu 0.0001..2"))
    assert [d.code for d in bad.diagnostics] == ["E020"]
    assert "finer than 1m" in bad.diagnostics[0].message
