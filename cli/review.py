"""`hermetic review`: send an object to a running webhook and print its decision.

    hermetic review --server URL --ca FILE [--cert FILE --key FILE] [--namespace NS]
                    [--operation CREATE] [--endpoint mutate|validate] [--dry-run] OBJECT.yaml

The object (YAML or JSON, one document; `-` reads stdin) goes out as an AdmissionReview v1,
as the API server would send it. Prints allowed/denied, the message, the warnings, the
audit annotations and the decoded JSON Patch.

Exit codes: 0 allowed; 1 denied; 2 usage or I/O errors (unreadable object, TLS or HTTP
failure, an answer that is not an AdmissionReview).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

import yaml

from cli import kubeyaml
from cli.main import EXIT_OK, EXIT_PROBLEMS, EXIT_USAGE
from webhook.client import ClientError, Outcome, build_review, client_context, send
from webhook.review import OPERATIONS


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add `hermetic review` to the `hermetic` parser."""
    p = sub.add_parser("review", help="send an object to a running webhook, print the decision")
    p.add_argument("object", metavar="OBJECT.yaml", help="the object to review ('-': stdin)")
    p.add_argument("--server", required=True, help="the webhook's base URL, https://host:port")
    p.add_argument("--ca", required=True, type=Path, help="CA bundle to trust the server with")
    p.add_argument("--cert", type=Path, help="client certificate (when the server wants one)")
    p.add_argument("--key", type=Path, help="its private key")
    p.add_argument("--namespace", help="request.namespace (default: the object's, or 'default')")
    p.add_argument("--operation", default="CREATE", choices=sorted(OPERATIONS))
    p.add_argument("--endpoint", default="mutate", choices=("mutate", "validate"))
    p.add_argument("--dry-run", action="store_true", help="set request.dryRun")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Send the review and print the decision; return the exit code."""
    if (args.cert is None) != (args.key is None):
        print("hermetic review: --cert and --key go together", file=sys.stderr)
        return EXIT_USAGE
    try:
        obj = read_object(args.object)
        namespace = args.namespace or _namespace_of(obj)
        review = build_review(
            obj, namespace=namespace, operation=args.operation, dry_run=args.dry_run
        )
        context = client_context(args.ca, args.cert, args.key)
        outcome = send(args.server, review, context, endpoint=args.endpoint)
    except ClientError as exc:
        print(f"hermetic review: {exc}", file=sys.stderr)
        return EXIT_USAGE
    print(render(outcome))
    return EXIT_OK if outcome.allowed else EXIT_PROBLEMS


def read_object(path: str) -> dict[str, Any]:
    """The one object in a YAML or JSON file; ClientError otherwise."""
    try:
        text = sys.stdin.read() if path == "-" else Path(path).read_text(encoding="utf-8")
        docs = [d for d in yaml.load_all(text, Loader=kubeyaml.Loader) if d is not None]
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        raise ClientError(f"{path}: {exc}") from None
    if len(docs) != 1 or not isinstance(docs[0], dict):
        raise ClientError(f"{path}: expected one object (a YAML mapping), found {len(docs)}")
    return docs[0]


def _namespace_of(obj: dict[str, Any]) -> str:
    metadata = obj.get("metadata")
    namespace = metadata.get("namespace") if isinstance(metadata, dict) else None
    return namespace if isinstance(namespace, str) and namespace else "default"


def render(outcome: Outcome) -> str:
    """The decision as a person reads it."""
    lines = ["allowed" if outcome.allowed else f"denied ({outcome.code})"]
    if outcome.message:
        lines.append(f"message: {outcome.message}")
    lines.extend(f"warning: {w}" for w in outcome.warnings)
    lines.extend(f"audit: {k}={v}" for k, v in sorted(outcome.audit_annotations.items()))
    if outcome.patch:
        lines.append("patch:")
        lines.append(json.dumps(outcome.patch, indent=2, ensure_ascii=False))
    elif outcome.allowed:
        lines.append("patch: none (the object is admitted unchanged)")
    return "\n".join(lines)
