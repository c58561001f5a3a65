"""The AdmissionReview wire format (`admission.k8s.io/v1`): parse a request, build a response.

Parsing checks only the envelope the webhook relies on (apiVersion, kind, `request.uid`, the
types of the fields it reads); the object itself stays the dict the API server sent, unknown
fields and all, so that a patch computed from it never loses data. Anything the envelope
check rejects raises `ReviewError` and becomes an HTTP 400 (see `webhook.handler`).
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass
from typing import Any, Final, Literal, NotRequired, TypedDict, cast

from compiler.decision import Decision

API_VERSION: Final = "admission.k8s.io/v1"
KIND: Final = "AdmissionReview"

Operation = Literal["CREATE", "UPDATE", "DELETE", "CONNECT"]
OPERATIONS: Final[frozenset[str]] = frozenset({"CREATE", "UPDATE", "DELETE", "CONNECT"})

# metav1.Status reasons for the codes a decision can carry; the API server shows the message.
_REASONS: Final = {
    400: "BadRequest",
    403: "Forbidden",
    404: "NotFound",
    409: "Conflict",
    422: "Invalid",
    429: "TooManyRequests",
    500: "InternalError",
    503: "ServiceUnavailable",
}


class GroupVersionKind(TypedDict):
    group: str
    version: str
    kind: str


class AdmissionRequest(TypedDict, total=False):
    """`request` of an AdmissionReview (the fields hermetic reads or sends)."""

    uid: str
    kind: GroupVersionKind
    resource: dict[str, str]
    name: str
    namespace: str
    operation: Operation
    userInfo: dict[str, Any]
    object: dict[str, Any] | None
    oldObject: dict[str, Any] | None
    dryRun: bool


class Status(TypedDict):
    """The subset of metav1.Status that a denial carries."""

    status: Literal["Failure"]
    code: int
    reason: str
    message: str


class AdmissionResponse(TypedDict):
    uid: str
    allowed: bool
    status: NotRequired[Status]
    patchType: NotRequired[Literal["JSONPatch"]]
    patch: NotRequired[str]  # base64 of the JSON Patch array
    warnings: NotRequired[list[str]]
    auditAnnotations: NotRequired[dict[str, str]]


class AdmissionReviewRequest(TypedDict):
    apiVersion: str
    kind: str
    request: AdmissionRequest


class AdmissionReviewResponse(TypedDict):
    apiVersion: str
    kind: str
    response: AdmissionResponse


class ReviewError(ValueError):
    """A body that is not a usable AdmissionReview; `reason` is a stable label for metrics."""

    def __init__(self, message: str, reason: str = "malformed") -> None:
        super().__init__(message)
        self.reason = reason


@dataclass(frozen=True, slots=True, kw_only=True)
class Review:
    """What the webhook needs from a request, checked; `object` is the API server's dict."""

    uid: str
    namespace: str
    operation: Operation
    object: dict[str, Any] | None
    dry_run: bool
    kind: str
    name: str


def parse_review(body: bytes) -> Review:
    """Parse and check an AdmissionReview v1 request body; `ReviewError` says what is wrong."""
    try:
        doc = json.loads(body)
    except (ValueError, RecursionError) as exc:  # UnicodeDecodeError is a ValueError
        raise ReviewError(f"body is not JSON: {_short(exc)}", "not-json") from None
    if not isinstance(doc, dict):
        raise ReviewError(f"body is a JSON {type(doc).__name__}, not an AdmissionReview object")
    _check_envelope(doc)
    request = doc.get("request")
    if not isinstance(request, dict):
        raise ReviewError("AdmissionReview has no `request` object", "no-request")
    return _review_of(request)


def _check_envelope(doc: dict[str, Any]) -> None:
    if doc.get("apiVersion") != API_VERSION:
        got = _show(doc.get("apiVersion"))
        raise ReviewError(f"apiVersion is {got}; this webhook speaks {API_VERSION}", "api-version")
    if doc.get("kind") != KIND:
        raise ReviewError(f"kind is {_show(doc.get('kind'))}, not {KIND}", "kind")


def _review_of(request: dict[str, Any]) -> Review:
    uid = request.get("uid")
    if not isinstance(uid, str) or not uid:
        raise ReviewError("request.uid is missing or not a non-empty string", "no-uid")
    operation = request.get("operation")
    if not isinstance(operation, str) or operation not in OPERATIONS:
        raise ReviewError(f"request.operation {_show(operation)} is not one of {_OPS}", "operation")
    obj = request.get("object")
    if obj is not None and not isinstance(obj, dict):
        raise ReviewError("request.object is not an object", "object")
    dry_run = request.get("dryRun", False)
    if not isinstance(dry_run, bool):
        raise ReviewError("request.dryRun is not a boolean", "dry-run")
    return Review(
        uid=uid,
        namespace=_string(request, "namespace"),
        operation=cast(Operation, operation),
        object=obj,
        dry_run=dry_run,
        kind=_kind_of(request, obj),
        name=_string(request, "name"),
    )


_OPS: Final = ", ".join(sorted(OPERATIONS))


def _string(request: dict[str, Any], key: str) -> str:
    value = request.get(key, "")
    if value is None:
        return ""
    if not isinstance(value, str):
        raise ReviewError(f"request.{key} is not a string", key)
    return value


def _kind_of(request: dict[str, Any], obj: dict[str, Any] | None) -> str:
    """The kind for logs and metrics: request.kind.kind, else the object's own `kind`."""
    gvk = request.get("kind")
    if isinstance(gvk, dict) and isinstance(gvk.get("kind"), str):
        return str(gvk["kind"])
    if obj is not None and isinstance(obj.get("kind"), str):
        return str(obj["kind"])
    return ""


def _show(value: object) -> str:
    text = json.dumps(value) if isinstance(value, str | int | float | bool | None) else "an object"
    return text if len(text) <= 60 else text[:57] + "..."


def _short(exc: BaseException) -> str:
    text = str(exc) or type(exc).__name__
    return text if len(text) <= 120 else text[:117] + "..."


# --- responses ----------------------------------------------------------------------------


def status(code: int, message: str) -> Status:
    """A metav1.Status for a denial with this HTTP-style code."""
    return {
        "status": "Failure",
        "code": code,
        "reason": _REASONS.get(code, "Forbidden"),
        "message": message,
    }


def response_for(uid: str, decision: Decision, *, patch_allowed: bool = True) -> AdmissionResponse:
    """The `response` stanza for a decision: the patch only when there is one (and allowed)."""
    response: AdmissionResponse = {"uid": uid, "allowed": decision.allowed}
    if not decision.allowed:
        code = decision.code if 400 <= decision.code <= 599 else 403
        response["status"] = status(code, decision.message or "denied by hermetic policy")
    elif decision.patch and patch_allowed:
        response["patchType"] = "JSONPatch"
        response["patch"] = encode_patch(decision.patch)
    if decision.warnings:
        response["warnings"] = list(decision.warnings)
    if decision.audit_annotations:
        response["auditAnnotations"] = dict(decision.audit_annotations)
    return response


def denial(uid: str, code: int, message: str) -> AdmissionResponse:
    """A response that denies with `code` and `message` (the webhook's own refusals)."""
    return {"uid": uid, "allowed": False, "status": status(code, message)}


def allowance(uid: str) -> AdmissionResponse:
    """A response that admits the object untouched."""
    return {"uid": uid, "allowed": True}


def encode_patch(patch: list[dict[str, Any]]) -> str:
    """RFC 6902 operations as the API server wants them: compact JSON, then base64."""
    raw = json.dumps(patch, separators=(",", ":"), allow_nan=False).encode()
    return base64.b64encode(raw).decode("ascii")


def decode_patch(value: str) -> list[dict[str, Any]]:
    """The inverse of `encode_patch` (for clients and tests)."""
    patch = json.loads(base64.b64decode(value, validate=True))
    if not isinstance(patch, list):
        raise ValueError("patch is not a JSON array")
    return patch


def encode_review(response: AdmissionResponse) -> bytes:
    """The whole AdmissionReview response body, serialised once."""
    review: AdmissionReviewResponse = {
        "apiVersion": API_VERSION,
        "kind": KIND,
        "response": response,
    }
    return json.dumps(review, separators=(",", ":"), allow_nan=False).encode()
