"""Sending an object to a running webhook as an AdmissionReview (`hermetic review`).

Standard library only (http.client + ssl): the client must run wherever `hermetic` is
installed, and httpx is a test dependency.
"""

from __future__ import annotations

import http.client
import json
import ssl
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final
from urllib.parse import urlsplit

from webhook.review import (
    API_VERSION,
    KIND,
    AdmissionRequest,
    AdmissionReviewRequest,
    decode_patch,
)

DEFAULT_TIMEOUT: Final = 10.0


class ClientError(Exception):
    """The review could not be sent or its answer not understood (exit code 2)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Outcome:
    """The webhook's answer, decoded."""

    allowed: bool
    code: int
    message: str
    warnings: tuple[str, ...]
    patch: list[dict[str, Any]] | None
    audit_annotations: dict[str, str]


def build_review(
    obj: dict[str, Any],
    *,
    namespace: str,
    operation: str = "CREATE",
    dry_run: bool = False,
    uid: str | None = None,
) -> AdmissionReviewRequest:
    """An AdmissionReview v1 request as the API server would send it for `obj`."""
    group, _, version = str(obj.get("apiVersion", "v1")).rpartition("/")
    kind = str(obj.get("kind", ""))
    metadata = obj.get("metadata")
    name = metadata.get("name", "") if isinstance(metadata, dict) else ""
    request: AdmissionRequest = {
        "uid": uid or str(uuid.uuid4()),
        "kind": {"group": group, "version": version, "kind": kind},
        "resource": {"group": group, "version": version, "resource": kind.lower() + "s"},
        "name": str(name),
        "namespace": namespace,
        "operation": operation,  # type: ignore[typeddict-item]
        "userInfo": {"username": "hermetic-review", "groups": ["system:authenticated"]},
        "object": None if operation == "DELETE" else obj,
        "oldObject": obj if operation in ("UPDATE", "DELETE") else None,
        "dryRun": dry_run,
    }
    return {"apiVersion": API_VERSION, "kind": KIND, "request": request}


def client_context(ca: Path, cert: Path | None = None, key: Path | None = None) -> ssl.SSLContext:
    """TLS 1.2+ trusting only `ca`; with `cert`/`key`, presenting a client certificate."""
    try:
        context = ssl.create_default_context(cafile=str(ca))
        context.minimum_version = ssl.TLSVersion.TLSv1_2
        if cert is not None:
            context.load_cert_chain(str(cert), str(key) if key is not None else None)
    except (OSError, ssl.SSLError) as exc:
        raise ClientError(f"cannot load TLS material: {exc}") from None
    return context


def send(
    server: str,
    review: AdmissionReviewRequest,
    context: ssl.SSLContext,
    *,
    endpoint: str = "mutate",
    timeout: float = DEFAULT_TIMEOUT,
) -> Outcome:
    """POST `review` to `server`/`endpoint` and decode the answer; ClientError on failure."""
    url = urlsplit(server)
    if url.scheme != "https" or not url.hostname:
        raise ClientError(f"--server must be an https:// URL, not {server!r}")
    conn = http.client.HTTPSConnection(
        url.hostname, url.port or 443, timeout=timeout, context=context
    )
    path = url.path.rstrip("/") + "/" + endpoint
    try:
        conn.request(
            "POST", path, json.dumps(review).encode(), {"Content-Type": "application/json"}
        )
        response = conn.getresponse()
        body = response.read()
    except (OSError, http.client.HTTPException) as exc:
        raise ClientError(f"{server}: {exc}") from None
    finally:
        conn.close()
    if response.status != 200:
        raise ClientError(f"{server}{path}: HTTP {response.status}: {_message(body)}")
    return decode(body, review["request"]["uid"])


def _message(body: bytes) -> str:
    try:
        return str(json.loads(body)["message"])
    except (ValueError, KeyError, TypeError):
        return body[:200].decode("utf-8", "replace")


def decode(body: bytes, uid: str) -> Outcome:
    """Decode an AdmissionReview response, checking that it answers `uid`."""
    try:
        response = json.loads(body)["response"]
        if response["uid"] != uid:
            raise ClientError(f"the response answers uid {response['uid']!r}, not {uid!r}")
        status = response.get("status") or {}
        patch = response.get("patch")
        return Outcome(
            allowed=bool(response["allowed"]),
            code=int(status.get("code", 200)),
            message=str(status.get("message", "")),
            warnings=tuple(response.get("warnings") or ()),
            patch=decode_patch(patch) if patch else None,
            audit_annotations=dict(response.get("auditAnnotations") or {}),
        )
    except (ValueError, KeyError, TypeError) as exc:
        raise ClientError(f"not an AdmissionReview response: {exc}") from None
