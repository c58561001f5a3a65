"""`hermetic compile PATH... --out DIR`: the webhook's bundle and every Kubernetes manifest.

Writes DIR/bundle.json and DIR/manifests/ (namespaces, priorityclasses and webhooks files,
and tenants/<tenant> with everything namespaced), YAML documents or JSON `List`s, with
sorted keys in a stable order: compiling twice gives the same bytes. Diagnostics go to
stderr as `hermetic lint` renders them. Exit 0 when written, 1 when the policy has errors
(nothing is written), 2 on a usage or I/O error. DIR is replaced as a whole: the output is
built in a temporary directory beside it and renamed into place.

--namespaces FILE: the namespaces that exist, one a line, or the output of
`kubectl get ns -o name` (`namespace/NAME`); `#` comments and blank lines are ignored.
Tenant globs are expanded against it, and so are namespace globs in allow rules.
--webhook-url URL: register the webhook at URL (https, `/mutate` and `/validate` appended)
instead of at the policy's Service, e.g. for a webhook that runs outside the cluster.
"""

from __future__ import annotations

import argparse
import itertools
import os
import re
import shutil
import sys
import tempfile
import urllib.parse
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import orjson

from cli import yamlblock
from cli.lint import load_paths
from cli.main import EXIT_OK, EXIT_PROBLEMS, EXIT_USAGE
from cli.output import emit
from compiler import bundle
from compiler.build import bundle_of, plan_all
from compiler.model import CompiledPolicy
from compiler.targets import PLACEHOLDER, Obj, Plan
from dsl import UsageError
from dsl.diagnostics import sort_diagnostics
from dsl.gc import paused_gc

OURS = frozenset({"bundle.json", "manifests"})
_NAMESPACE = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?")
_CLUSTER_FILES = {
    "Namespace": "namespaces",
    "PriorityClass": "priorityclasses",
    "MutatingWebhookConfiguration": "webhooks",
    "ValidatingWebhookConfiguration": "webhooks",
}


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "compile",
        help="compile a policy into the webhook's bundle and Kubernetes manifests",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("paths", nargs="+", metavar="PATH", help="a .hermetic file or a directory")
    p.add_argument("--out", required=True, metavar="DIR", help="output directory (replaced)")
    p.add_argument("--namespaces", metavar="FILE", help="the namespaces that exist")
    p.add_argument("--format", choices=("yaml", "json"), default="yaml", help="of the manifests")
    p.add_argument("--webhook-url", metavar="URL", help="register the webhook by URL")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    try:
        loaded, files = load_paths(args.paths)
        names = read_namespaces(args.namespaces) if args.namespaces else []
        url = webhook_url(args.webhook_url) if args.webhook_url else None
        out = output_dir(args.out)
    except UsageError as exc:
        print(f"hermetic compile: {exc}", file=sys.stderr)
        return EXIT_USAGE
    diagnostics = list(loaded.diagnostics)
    policy = loaded.policy
    plan = plan_all(policy, names, webhook_url=url) if policy is not None else None
    if plan is not None:
        diagnostics = sort_diagnostics([*diagnostics, *plan.diagnostics()])
    if diagnostics:
        emit(diagnostics, loaded.lines, "text", files, stream=sys.stderr)
    if plan is None or any(d.is_error for d in diagnostics):
        return EXIT_PROBLEMS
    rendered = outputs(plan, args.format)
    try:
        write_tree(out, rendered)
    except OSError as exc:
        print(f"hermetic compile: {out}: {exc.strerror or exc}", file=sys.stderr)
        return EXIT_USAGE
    print(f"hermetic compile: {plan.count()} objects in {len(rendered)} files in {out}")
    return EXIT_OK


# --- inputs -----------------------------------------------------------------------------------


def read_namespaces(path: str) -> list[str]:
    """Namespace names from a file: `NAME` or `namespace/NAME` a line, `#` comments."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) else "not UTF-8 text"
        raise UsageError(f"{path}: {reason or exc}") from exc
    return parse_namespaces(text, path)


def parse_namespaces(text: str, source: str = "<namespaces>") -> list[str]:
    """The names listed in `text`; UsageError naming the line of an invalid one."""
    names: dict[str, None] = {}
    for number, raw in enumerate(text.splitlines(), 1):
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        name = line.removeprefix("namespace/").removeprefix("namespaces/")
        if not (_NAMESPACE.fullmatch(name) and len(name) <= 63):
            raise UsageError(f"{source}:{number}: '{line}' is not a namespace name")
        names[name] = None
    return list(names)


def webhook_url(text: str) -> str:
    """An https URL without query, fragment or credentials (what the API server accepts)."""
    u = urllib.parse.urlsplit(text)
    if u.scheme != "https" or not u.hostname or u.query or u.fragment or u.username:
        raise UsageError(
            f"--webhook-url {text}: the API server calls webhooks at https://HOST[:PORT][/PATH] "
            "only (no query, fragment or user)"
        )
    return text.rstrip("/")


def output_dir(text: str) -> Path:
    """DIR, checked: absent, empty, or a previous output (never someone else's files)."""
    out = Path(text)
    if out.exists() and not out.is_dir():
        raise UsageError(f"--out {text}: exists and is not a directory")
    if out.is_dir():
        foreign = sorted(p.name for p in out.iterdir() if p.name not in OURS)
        if foreign:
            raise UsageError(
                f"--out {text}: refusing to replace a directory that holds other files "
                f"({', '.join(foreign[:3])}); choose an empty or new directory"
            )
    return out


# --- outputs ----------------------------------------------------------------------------------


def outputs(plan: Plan, fmt: str) -> dict[str, str]:
    """The bundle and the manifests of a plan: relative path -> file text. The cyclic GC
    is paused meanwhile: what is built is acyclic, and with the policy and its templates
    alive, each of the collector's passes would walk hundreds of thousands of objects."""
    with paused_gc():
        return render(plan, bundle_of(plan), fmt)


def render(plan: Plan, doc: dict[str, Any], fmt: str) -> dict[str, str]:
    """Relative path -> file text, for the bundle and every manifest file.

    A file holds its objects sorted by namespace, in the order `generate_all` emits them
    within one namespace. In YAML, each per-tenant template is rendered once and filled in
    for every namespace of the tenant (`yamlblock.Stencil`), and templates that tenants
    share (a default-deny NetworkPolicy, equal quotas) are rendered once for all of them:
    the same bytes as rendering every object, a fraction of the work.
    """
    out = {"bundle.json": bundle.dumps(doc)}
    if fmt != "yaml":
        groups: dict[str, list[Obj]] = {}
        for obj in plan.generated().objects:
            groups.setdefault(_file_of(plan.policy, obj), []).append(obj)
        for name in sorted(groups):
            items = sorted(groups[name], key=lambda o: o["metadata"].get("namespace", ""))
            out[f"manifests/{name}.{fmt}"] = dump(items, fmt)
        return out
    # file -> (namespace, sequence, one document's YAML), the sequence being the order of
    # `generate_all`
    files: dict[str, list[tuple[str, int, str]]] = {}
    seq = itertools.count()
    stencils: dict[bytes, yamlblock.Stencil] = {}

    def stencil(obj: Obj) -> yamlblock.Stencil:
        try:
            same = orjson.dumps(obj, option=orjson.OPT_SORT_KEYS)  # same JSON, same YAML
        except TypeError:
            return yamlblock.Stencil([obj], PLACEHOLDER)
        found = stencils.get(same)
        if found is None:
            found = stencils[same] = yamlblock.Stencil([obj], PLACEHOLDER)
        return found

    for step in plan.steps:
        if step.generated is not None:
            for obj in step.generated.objects:
                docs = files.setdefault(_file_of(plan.policy, obj), [])
                key = obj["metadata"].get("namespace", "")
                docs.append((key, next(seq), yamlblock.dump_all([obj])))
            continue
        for tt in plan.tenants:
            if not tt.namespaces:
                continue
            for obj in tt.templates[step.name].objects:
                fill = stencil(obj).fill
                where = obj["metadata"].get("namespace")
                if obj["kind"] in _CLUSTER_FILES or where != PLACEHOLDER:
                    docs = files.setdefault(_file_of(plan.policy, obj), [])
                    docs.extend((where or "", next(seq), fill(ns)) for ns in tt.namespaces)
                else:
                    docs = files.setdefault(_tenant_file(tt.tenant.name), [])
                    docs.extend((ns, next(seq), fill(ns)) for ns in tt.namespaces)
    for name in sorted(files):
        out[f"manifests/{name}.yaml"] = "".join(text for _, _, text in sorted(files[name]))
    return out


def _file_of(policy: CompiledPolicy, obj: dict[str, Any]) -> str:
    if obj["kind"] in _CLUSTER_FILES:
        return _CLUSTER_FILES[obj["kind"]]
    namespace = obj["metadata"].get("namespace")
    tenant = policy.tenant_for_namespace(namespace) if namespace else None
    return _tenant_file(tenant.name) if tenant else "other"


def _tenant_file(tenant: str) -> str:
    return f"tenants/{tenant}"


def dump(objects: Sequence[dict[str, Any]], fmt: str) -> str:
    """Objects as YAML documents or as a JSON `List`: sorted keys, deterministic."""
    if fmt == "json":
        return bundle.pretty({"apiVersion": "v1", "kind": "List", "items": list(objects)})
    return yamlblock.dump_all(objects)


def write_tree(out: Path, files: dict[str, str]) -> None:
    """Write `files` under a temporary directory beside `out`, then swap it into place."""
    out = out.absolute()
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.", dir=out.parent))
    try:
        for parent in sorted({os.path.dirname(rel) for rel in files} - {""}):
            os.makedirs(tmp / parent, mode=0o755, exist_ok=True)
        for rel, text in files.items():
            fd = os.open(tmp / rel, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
            with open(fd, "wb") as f:
                os.fchmod(fd, 0o644)  # whatever the umask
                f.write(text.encode())
        os.chmod(tmp, 0o755)
        _swap(tmp, out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def _swap(new: Path, out: Path) -> None:
    if not out.exists():
        os.rename(new, out)
        return
    old = Path(tempfile.mkdtemp(prefix=f".{out.name}.old.", dir=out.parent))
    os.rename(out, old / "previous")
    try:
        os.rename(new, out)
    except OSError:
        os.rename(old / "previous", out)  # put the previous output back
        raise
    finally:
        shutil.rmtree(old, ignore_errors=True)
