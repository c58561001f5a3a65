"""Shared helpers for the admission tests: policies, pods, and the invariants every
decision must keep (imported by tests/test_admission_*.py, test_corpus.py; no tests here).

`check` runs `mutate` and asserts, for any object:
- it never raises and never reaches `internal.error`; it never changes its input;
- determinism: the same input gives the same decision, byte for byte;
- a denial names tenant, tier, rule (a known id) and what to change, on every line;
- an admission's patch applies, and the result is no less valid than the input against the
  Kubernetes 1.37 strict schema (corpus objects carry placeholder values that a real API
  server rejects, so the test compares error sets instead of requiring none);
- idempotence: the result yields an empty patch and the same decision (allowed, rules);
- nothing lost: every leaf the user wrote is still there with the same value, unless it is
  at a pointer a documented rule overwrites (OVERWRITABLE), a value the LimitRanger plugin
  set by its annotation (resources: treated as unset), or the ServiceAccount plugin's token
  volume and its mounts, which `security.automount-token` removes (and nothing else: a
  removed volume must be a `kube-api-access-*` projected service-account token);
- the validating backstop admits the result.
"""

from __future__ import annotations

import copy
import dataclasses
import functools
import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jsonpatch
import jsonschema
from kubernetes_validate import utils as kv_utils
from referencing import Registry, Resource

import compiler
from compiler.admission import RULES, mutate, validate
from compiler.decision import Decision
from compiler.model import CompiledPolicy, Requirement, Tier

ROOT = Path(__file__).resolve().parent.parent
NS = "alpha-research"
DIGEST_RE = re.compile(r"^sha256:[0-9a-f]{64}$")
SHA = "sha256:" + "ab" * 32
LINE = re.compile(r"^hermetic: tenant \S+, tier \S+: .+ \(rule ([a-z0-9.-]+)\); \S.*$")
BACKTEST = {"app.kubernetes.io/component": "backtest"}

# Pointers (suffixes; templates add a prefix) that documented rules may overwrite.
OVERWRITABLE = re.compile(
    r"/metadata/labels/(hermetic\.io~1(tenant|cost-center)|sidecar\.istio\.io~1inject"
    r"|istio\.io~1dataplane-mode)$"
    r"|/metadata/annotations/(hermetic\.io~1(bundle-digest|rules)|linkerd\.io~1inject"
    r"|sidecar\.istio\.io~1proxy\w+|config\.linkerd\.io~1proxy-[a-z-]+"
    r"|qos\.projectcalico\.org~1\w+|kubernetes\.io~1(ingress|egress)-bandwidth"
    r"|blockio\.resources\.beta\.kubernetes\.io~1pod)$"
    r"|/spec/(priority|preemptionPolicy)$"
)


@functools.cache
def bundled() -> CompiledPolicy:
    loaded = compiler.load([str(ROOT / "policies")])
    assert loaded.policy is not None, loaded.diagnostics
    return loaded.policy


def variant(
    policy: CompiledPolicy,
    *,
    default_tier: str | None = None,
    governs: tuple[Requirement, ...] | None = None,
    **tier_changes: Any,
) -> CompiledPolicy:
    """The policy with alpha-research's default tier, the governing selector, or every
    tier's fields (e.g. pin_images=False) changed."""
    tenants = tuple(
        dataclasses.replace(t, default_tier=default_tier)
        if default_tier and t.name == "alpha-research"
        else t
        for t in policy.tenants
    )
    cluster = policy.cluster
    if governs is not None:
        cluster = dataclasses.replace(cluster, governs=governs)
    tiers = tuple(dataclasses.replace(t, **tier_changes) for t in policy.tiers)
    return dataclasses.replace(policy, tenants=tenants, cluster=cluster, tiers=tiers)


def tier(policy: CompiledPolicy, name: str) -> Tier:
    t = policy.tier(name)
    assert t is not None
    return t


def pod(
    tier_name: str | None = "tier1",
    *,
    containers: list[dict[str, Any]] | None = None,
    labels: dict[str, str] | None = None,
    annotations: dict[str, str] | None = None,
    **spec: Any,
) -> dict[str, Any]:
    """A typical backtest pod (pinned image, a seed), with overrides."""
    lab = dict(BACKTEST) | {"strategy.hermetic.io/family": "momentum"}
    if tier_name:
        lab["hermetic.io/tier"] = tier_name
    meta: dict[str, Any] = {"name": "bt-1", "labels": lab | (labels or {})}
    if annotations is not None:
        meta["annotations"] = annotations
    default = {
        "name": "backtest",
        "image": f"registry.example.com/bt@{SHA}",
        "env": [{"name": "BACKTEST_SEED", "value": "7"}],
    }
    body = {"containers": containers if containers is not None else [default]} | spec
    return {"apiVersion": "v1", "kind": "Pod", "metadata": meta, "spec": body}


def container(name: str = "backtest", **fields: Any) -> dict[str, Any]:
    return {"name": name, "image": f"registry.example.com/{name}@{SHA}"} | fields


def apply(obj: dict[str, Any], d: Decision) -> dict[str, Any]:
    result: dict[str, Any] = jsonpatch.apply_patch(obj, d.patch)
    return result


def admitted(
    obj: dict[str, Any], policy: CompiledPolicy | None = None, ns: str = NS
) -> dict[str, Any]:
    """The object as admitted (asserting that it is, and the invariants)."""
    d = check(obj, policy or bundled(), ns)
    assert d.allowed, d.message
    return apply(obj, d)


def denied(obj: dict[str, Any], policy: CompiledPolicy | None = None, ns: str = NS) -> Decision:
    d = check(obj, policy or bundled(), ns)
    assert not d.allowed, "expected a denial"
    return d


# --- schema --------------------------------------------------------------------------------


@functools.cache
def _validator(api_version: str, kind: str) -> Any:
    group_version = re.sub(r"^([^./]*)(?:\.[^/]*)?/", r"\1-", api_version)
    folder = "kubernetes-json-schema/v1.37.0-local-strict"
    try:
        schema = kv_utils.schema_contents(f"{folder}/{kind.lower()}-{group_version}.json", "1.37")
    except FileNotFoundError:
        return None
    definitions = kv_utils.schema_contents(f"{folder}/_definitions.json", "1.37")
    registry = Resource.from_contents(definitions) @ (Resource.from_contents(schema) @ Registry())
    return jsonschema.Draft202012Validator(schema, registry=registry)


def schema_errors(obj: Any) -> set[str]:
    """Every error of the object against the Kubernetes 1.37 strict schema (kubernetes-
    validate's files; the validator is built once per kind, which makes it ~100x faster)."""
    if not isinstance(obj, dict) or not isinstance(obj.get("kind"), str):
        return set()
    v = _validator(str(obj.get("apiVersion", "")), obj["kind"])
    if v is None:
        return set()
    return {f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in v.iter_errors(obj)}


# --- invariants ----------------------------------------------------------------------------


def leaves(value: Any, path: str = "") -> Iterator[tuple[str, Any]]:
    """(JSON Pointer, value) of every scalar and every empty object or list."""
    if isinstance(value, dict) and value:
        for k, v in value.items():
            yield from leaves(v, f"{path}/{str(k).replace('~', '~0').replace('/', '~1')}")
    elif isinstance(value, list) and value:
        for i, v in enumerate(value):
            yield from leaves(v, f"{path}/{i}")
    else:
        yield path, value


def _at(doc: Any, ptr: str) -> Any:
    try:
        return jsonpatch.JsonPointer(ptr).resolve(doc)
    except (jsonpatch.JsonPointerException, KeyError, IndexError, TypeError):
        return KeyError


TOKEN_PATH = "/var/run/secrets/kubernetes.io/serviceaccount"
POD_SPECS = (
    "/spec",
    "/template/spec",
    "/spec/template/spec",
    "/spec/jobTemplate/spec/template/spec",
)
LIMIT_RANGER = re.compile(r"(.+) (request|limit) for (container|init container) (.+)")


def _token_volumes_removed(before: Any, after: Any) -> Any:
    """`before` without the token volumes `security.automount-token` removed (gone from
    `after`, named kube-api-access-*, projected, with a serviceAccountToken source) and
    without their mounts at the token path; the object itself when nothing was removed."""
    out = before
    for ptr in POD_SPECS:
        spec, now = _at(before, ptr), _at(after, ptr)
        if not isinstance(spec, dict) or not isinstance(now, dict):
            continue
        volumes = spec.get("volumes")
        if not isinstance(volumes, list):
            continue
        kept = {v.get("name") for v in now.get("volumes") or () if isinstance(v, dict)}
        gone = {
            v["name"]
            for v in volumes
            if isinstance(v, dict)
            and str(v.get("name")).startswith("kube-api-access-")
            and v["name"] not in kept
            and any("serviceAccountToken" in s for s in v.get("projected", {}).get("sources", ()))
        }
        if not gone:
            continue
        out = copy.deepcopy(out) if out is before else out
        spec = _at(out, ptr)
        _drop(spec, "volumes", gone)
        for field in ("containers", "initContainers", "ephemeralContainers"):
            for c in spec.get(field) or ():
                _drop(c, "volumeMounts", gone, TOKEN_PATH)
    return out


def _drop(parent: Any, key: str, names: set[str], mount_path: str | None = None) -> None:
    """Drop the items of parent[key] with one of `names` (and, for mounts, at mount_path);
    an emptied list goes as well."""
    if not isinstance(parent, dict) or not isinstance(parent.get(key), list):
        return
    items = [
        x
        for x in parent[key]
        if not (
            isinstance(x, dict)
            and x.get("name") in names
            and (mount_path is None or x.get("mountPath") == mount_path)
        )
    ]
    if items:
        parent[key] = items
    else:
        del parent[key]


def _set_by_limit_ranger(obj: Any) -> set[str]:
    """Pointers of the resource values a Pod's `kubernetes.io/limit-ranger` annotation says
    the LimitRanger plugin set (LimitRanger plugin set: cpu, memory request for container x;
    ...)."""
    if not isinstance(obj, dict) or obj.get("kind") != "Pod":
        return set()
    text = _at(obj, "/metadata/annotations/kubernetes.io~1limit-ranger")
    if not isinstance(text, str) or not text.startswith("LimitRanger plugin set: "):
        return set()
    out = set()
    for entry in text.removeprefix("LimitRanger plugin set: ").split("; "):
        m = LIMIT_RANGER.fullmatch(entry)
        if m is None:
            continue
        names, which, kind, name = m.groups()
        field = "containers" if kind == "container" else "initContainers"
        containers = _at(obj, f"/spec/{field}")
        for i, c in enumerate(containers if isinstance(containers, list) else ()):
            if isinstance(c, dict) and c.get("name") == name:
                for n in names.split(", "):
                    out.add(f"/spec/{field}/{i}/resources/{which}s/{n}")
    return out


def lost(before: Any, after: Any) -> list[str]:
    """Pointers whose user-written value changed or vanished, outside OVERWRITABLE, the
    LimitRanger's values and the removed token volumes."""
    out = []
    plugin_set = _set_by_limit_ranger(before)
    before = _token_volumes_removed(before, after)
    for ptr, value in leaves(before):
        if value is None or OVERWRITABLE.search(ptr) or ptr in plugin_set:
            continue
        if value == "" and ptr.endswith("/metadata/labels/hermetic.io~1tier"):
            continue  # an empty tier label asks for the default tier, which is stamped
        now = _at(after, ptr)
        if isinstance(value, dict | list):  # an empty container may have been filled
            if type(now) is not type(value):
                out.append(ptr)
        elif type(now) is not type(value) or now != value:
            out.append(ptr)
    return out


def _dump(d: Decision) -> str:
    return json.dumps(dataclasses.asdict(d), sort_keys=True, default=str)


def check_denial(d: Decision) -> None:
    assert d.code == 403 and d.message and d.denials
    assert d.message == "\n".join(x.message for x in d.denials)
    for x in d.denials:
        m = LINE.match(x.message)
        assert m, x.message
        assert m.group(1) == x.rule and x.rule in RULES, x.message
        assert x.path == "" or x.path.startswith("/"), x.path
    assert all(len(w) <= 120 for w in d.warnings), d.warnings


def check(
    obj: Any, policy: CompiledPolicy, ns: str = NS, *, operation: str = "CREATE", uid: str = "u1"
) -> Decision:
    """mutate, with every invariant asserted; returns the decision."""
    before = copy.deepcopy(obj)
    d = mutate(obj, policy, namespace=ns, operation=operation, request_uid=uid)
    assert obj == before, "mutate changed its input"
    assert "internal.error" not in d.rules, d.message
    again = mutate(obj, policy, namespace=ns, operation=operation, request_uid=uid)
    assert _dump(d) == _dump(again), "not deterministic"
    assert all(len(w) <= 120 for w in d.warnings), d.warnings
    if not d.allowed:
        check_denial(d)
        return d
    if not d.patch:
        return d
    after = apply(obj, d)
    assert schema_errors(after) <= schema_errors(obj), schema_errors(after) - schema_errors(obj)
    assert not lost(obj, after), lost(obj, after)
    second = mutate(after, policy, namespace=ns, operation=operation, request_uid=uid)
    assert second.allowed and second.patch == [], second.patch or second.message
    assert second.rules == d.rules and second.tier == d.tier
    v = validate(after, policy, namespace=ns)
    assert v.allowed, v.message
    assert v.patch == []
    return d
