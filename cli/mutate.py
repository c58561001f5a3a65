"""`hermetic mutate` (preview the admission of manifests) and `hermetic check` (the CI check).

Both read multi-document YAML or JSON (`-` for stdin): Kubernetes objects, `List`s, full
AdmissionReviews or bare AdmissionRequests (their object, namespace, operation and uid are
used), and run the same `compiler.admission.mutate` the webhook runs.

Exit codes: 0 every object admitted; 1 an object denied, or the policy has errors; 2 bad
input (unreadable file, broken YAML with `file:line:col: error: ...`, a bad bundle).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import jsonpatch
import yaml

import compiler
from cli import kubeyaml
from compiler import bundle
from compiler.admission import RULES, mutate
from compiler.decision import Decision
from compiler.model import CompiledPolicy
from dsl import UsageError
from dsl.diagnostics import (
    Diagnostic,
    Span,
    error,
    render_github,
    render_json,
    render_sarif,
    render_text,
    warning,
)

EXIT_OK, EXIT_PROBLEMS, EXIT_USAGE = 0, 1, 2


class InputError(Exception):
    """Input that is not a set of Kubernetes objects: exit 2 with this positioned message."""


@dataclass(frozen=True, slots=True)
class Request:
    """One object to decide, where it came from, and what the request says about it."""

    path: str
    index: int  # 1-based document number in the file
    obj: Any
    node: yaml.Node | None  # the object's YAML node, for positions
    namespace: str
    operation: str = "CREATE"
    uid: str = ""

    def span(self, pointer: str = "") -> Span:
        """The position of a JSON Pointer in the object (the deepest part that exists)."""
        node = _locate(self.node, pointer) if self.node is not None else None
        if node is None:
            return Span.point(self.path, 1, 1)
        start, end = node.start_mark, node.end_mark
        end_col = end.column + 1 if end.line == start.line else start.column + 2
        return Span(
            path=self.path,
            line=start.line + 1,
            column=start.column + 1,
            end_line=start.line + 1,
            end_column=max(end_col, start.column + 2),
        )


# --- reading ----------------------------------------------------------------------------


def _locate(node: yaml.Node, pointer: str) -> yaml.Node:
    """The node at a JSON Pointer: for a mapping member, its key (the caret goes there)."""
    found = node
    for raw in pointer.split("/")[1:]:
        key = raw.replace("~1", "/").replace("~0", "~")
        if isinstance(node, yaml.MappingNode):
            hit = next(((k, v) for k, v in node.value if k.value == key), None)
            if hit is None:
                return found
            found, node = hit
        elif isinstance(node, yaml.SequenceNode) and key.isdigit() and int(key) < len(node.value):
            node = found = node.value[int(key)]
        else:
            return found
    return found


def _read(path: str) -> str:
    if path == "-":
        return sys.stdin.read()
    try:
        with open(path, encoding="utf-8") as f:
            return f.read()
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        raise InputError(f"{path}: error: {reason}") from exc


def documents(path: str) -> Iterator[tuple[int, Any, yaml.Node]]:
    """(1-based index, data, node) of every non-empty document in a YAML or JSON file."""
    text = _read(path)
    name = "<stdin>" if path == "-" else path
    loader = kubeyaml.Loader(text)
    index = 0
    try:
        while loader.check_node():
            node = loader.get_node()
            index += 1
            data = loader.construct_document(node) if node is not None else None
            if node is not None and data is not None:
                yield index, data, node
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = f"{name}:{mark.line + 1}:{mark.column + 1}" if mark else name
        problem = exc.problem or exc.context or "not valid YAML"
        raise InputError(f"{where}: error: {problem}") from exc
    except yaml.YAMLError as exc:
        raise InputError(f"{name}: error: {exc}") from exc
    finally:
        loader.dispose()


def _member(node: yaml.Node, key: str) -> yaml.Node | None:
    if isinstance(node, yaml.MappingNode):
        return next((v for k, v in node.value if k.value == key), None)
    return None


def requests(path: str, namespace: str | None) -> Iterator[Request]:
    """The objects of a file, unwrapped from AdmissionReviews and Lists."""
    name = "<stdin>" if path == "-" else path
    for index, data, node in documents(path):
        if not isinstance(data, dict):
            raise InputError(
                f"{name}:{node.start_mark.line + 1}:1: error: document {index} is not an object"
            )
        yield from _unwrap(name, index, data, node, namespace)


def _unwrap(
    path: str, index: int, data: dict[str, Any], node: yaml.Node, namespace: str | None
) -> Iterator[Request]:
    request = data.get("request") if data.get("kind") == "AdmissionReview" else None
    node_r: yaml.Node | None = None
    if request is None and "object" in data and "operation" in data:
        request, node_r = data, node  # a bare AdmissionRequest
    elif request is not None:
        node_r = _member(node, "request")
    if isinstance(request, dict):
        obj = request.get("object")
        if isinstance(obj, dict):
            ns = namespace or str(request.get("namespace") or "") or _own_namespace(obj)
            op, uid = str(request.get("operation") or "CREATE"), str(request.get("uid") or "")
            obj_node = _member(node_r, "object") if node_r is not None else None
            yield Request(path, index, obj, obj_node, ns, op, uid)
        return
    if data.get("kind") == "List" and isinstance(data.get("items"), list):
        items = _member(node, "items")
        for i, item in enumerate(data["items"]):
            child = items.value[i] if isinstance(items, yaml.SequenceNode) else None
            yield Request(path, index, item, child, namespace or _own_namespace(item))
        return
    yield Request(path, index, data, node, namespace or _own_namespace(data))


def _own_namespace(obj: Any) -> str:
    meta = obj.get("metadata") if isinstance(obj, dict) else None
    ns = meta.get("namespace") if isinstance(meta, dict) else None
    return ns if isinstance(ns, str) and ns else "default"


# --- the policy -------------------------------------------------------------------------


def load_policy(args: argparse.Namespace) -> tuple[CompiledPolicy, str | None] | int:
    """The policy (and the bundle's digest), or an exit code after printing why not."""
    if args.bundle:
        try:
            loaded = bundle.load(args.bundle)
        except bundle.BundleError as exc:
            print(f"hermetic: error: {exc}", file=sys.stderr)
            return EXIT_USAGE
        return loaded.policy, loaded.digest
    try:
        result = compiler.load(args.policy)
    except UsageError as exc:
        print(f"hermetic: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    color = sys.stderr.isatty()
    for d in result.diagnostics:
        print(render_text(d, result.lines, color=color), file=sys.stderr)
    if result.policy is None:
        return EXIT_PROBLEMS
    return result.policy, None


def _decide(r: Request, policy: CompiledPolicy, digest: str | None) -> Decision:
    return mutate(
        r.obj,
        policy,
        namespace=r.namespace,
        operation=r.operation,
        request_uid=r.uid,
        digest=digest,
    )


def _all_requests(paths: Sequence[str], namespace: str | None) -> list[Request] | int:
    out: list[Request] = []
    try:
        for path in paths:
            out.extend(requests(path, namespace))
    except InputError as exc:
        print(str(exc), file=sys.stderr)
        return EXIT_USAGE
    return out


# --- hermetic mutate --------------------------------------------------------------------


def _name(obj: Any) -> str:
    meta = obj.get("metadata") if isinstance(obj, dict) else None
    if not isinstance(meta, dict):
        return ""
    return str(meta.get("name") or meta.get("generateName") or "")


def _report(r: Request, d: Decision) -> dict[str, Any]:
    return {
        "file": r.path,
        "document": r.index,
        "kind": r.obj.get("kind") if isinstance(r.obj, dict) else None,
        "name": _name(r.obj),
        "namespace": r.namespace,
        "allowed": d.allowed,
        "message": d.message,
        "patch": d.patch,
        "warnings": list(d.warnings),
        "rules": list(d.rules),
        "tenant": d.tenant,
        "tier": d.tier,
    }


def run_mutate(args: argparse.Namespace) -> int:
    loaded = load_policy(args)
    if isinstance(loaded, int):
        return loaded
    policy, digest = loaded
    reqs = _all_requests(args.files, args.namespace)
    if isinstance(reqs, int):
        return reqs
    denied = False
    pods: list[Any] = []
    for r in reqs:
        d = _decide(r, policy, digest)
        denied |= not d.allowed
        if args.output == "json":
            print(json.dumps(_report(r, d), sort_keys=True, ensure_ascii=False))
            continue
        where = f"{r.path}:{r.span().line}"
        for w in d.warnings:
            print(f"{where}: warning: {w}", file=sys.stderr)
        if not d.allowed:
            print(f"{where}: denied: {d.message}", file=sys.stderr)
        elif args.output == "patch":
            print(json.dumps(d.patch, ensure_ascii=False))
        else:
            pods.append(jsonpatch.apply_patch(r.obj, d.patch) if d.patch else r.obj)
    if pods:
        sys.stdout.write(yaml.safe_dump_all(pods, sort_keys=False, allow_unicode=True))
    return EXIT_PROBLEMS if denied else EXIT_OK


# --- hermetic check ---------------------------------------------------------------------


def diagnostics(r: Request, d: Decision) -> list[Diagnostic]:
    """One error per denial reason, at the offending field; one warning per warning."""
    out = [error(x.rule, x.message, r.span(x.path)) for x in d.denials]
    out += [warning("hermetic", w, r.span()) for w in d.warnings]
    return out


def run_check(args: argparse.Namespace) -> int:
    loaded = load_policy(args)
    if isinstance(loaded, int):
        return loaded
    policy, digest = loaded
    reqs = _all_requests(args.manifests, args.namespace)
    if isinstance(reqs, int):
        return reqs
    found: list[Diagnostic] = []
    denied = 0
    lines: dict[str, list[str]] = {}
    for r in reqs:
        d = _decide(r, policy, digest)
        denied += not d.allowed
        found += diagnostics(r, d)
        if r.path not in lines and r.path != "<stdin>":
            lines[r.path] = _read(r.path).split("\n")
    _print(args.format, found, lines, len(reqs), denied)
    return EXIT_PROBLEMS if denied else EXIT_OK


def _print(
    fmt: str, found: list[Diagnostic], lines: dict[str, list[str]], total: int, denied: int
) -> None:
    if fmt == "json":
        print(render_json(found))
    elif fmt == "github":
        for d in found:
            print(render_github(d))
    elif fmt == "sarif":
        rules = {code: r.summary for code, r in RULES.items()}
        rules["hermetic"] = "a warning from the admission decision"
        print(render_sarif(found, rules))
    else:
        color = sys.stdout.isatty()
        for d in found:
            print(render_text(d, lines, color=color))
        print(f"hermetic check: {total} objects, {denied} would be denied")


# --- registration -----------------------------------------------------------------------


def _policy_args(p: argparse.ArgumentParser) -> None:
    g = p.add_mutually_exclusive_group(required=True)
    g.add_argument("--policy", action="append", metavar="PATH", help="policy files or directories")
    g.add_argument("--bundle", metavar="FILE", help="a compiled policy bundle (JSON)")
    p.add_argument(
        "--namespace",
        metavar="NS",
        help="decide every object as if in NS (default: the object's own, else 'default')",
    )


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    m = sub.add_parser(
        "mutate",
        help="show what admission does to manifests (mutated objects, patches or decisions)",
    )
    _policy_args(m)
    m.add_argument("--output", choices=("pod", "patch", "json"), default="pod")
    m.add_argument("files", nargs="+", metavar="FILE", help="YAML or JSON; '-' for stdin")
    m.set_defaults(func=run_mutate)
    c = sub.add_parser("check", help="fail when workload manifests would be denied, and say why")
    _policy_args(c)
    c.add_argument("--format", choices=("text", "json", "github", "sarif"), default="text")
    c.add_argument("manifests", nargs="+", metavar="MANIFEST", help="YAML or JSON; '-' for stdin")
    c.set_defaults(func=run_check)
