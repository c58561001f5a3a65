"""Raw ASGI plumbing for the admission routes: a bounded body read and a JSON reply.

The admission routes skip Starlette's Request/Response objects and FastAPI's body parsing:
they read bytes once, `json.loads` once and `json.dumps` once (see `webhook.handler`).
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any, Final

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]

# What the API server can send us. Its own request bodies are capped at 3 MiB
# (`--max-request-bytes`, 3 MiB by default) and an object in etcd at 1.5 MiB, so one object
# in JSON is at most about 3 MiB; an UPDATE review carries `object` and `oldObject`, plus the
# envelope (userInfo, options) and the growth of admission defaulting and JSON escaping.
# 2 x 3 MiB + 2 MiB of headroom = 8 MiB: no real review comes near it, and it bounds what
# one connection can make us buffer. The limit is checked on Content-Length before reading,
# and again while reading, so a chunked body without Content-Length is cut off as well.
MAX_BODY_BYTES: Final = 8 * 1024 * 1024

_JSON_HEADERS: Final = [(b"content-type", b"application/json")]


class BodyError(Exception):
    """The body cannot be read: too large, or a bad Content-Length (an HTTP 400)."""

    def __init__(self, message: str, reason: str) -> None:
        super().__init__(message)
        self.reason = reason


class ClientGone(Exception):
    """The client disconnected before sending the whole body: nobody to answer."""


def content_length(scope: Scope) -> int | None:
    """The declared Content-Length, None when absent; BodyError when it is not a number."""
    for name, value in scope["headers"]:
        if name == b"content-length":
            if not value.isdigit() or len(value) > 18:
                raise BodyError("Content-Length is not a number", "content-length")
            return int(value)
    return None


async def read_body(scope: Scope, receive: Receive, limit: int = MAX_BODY_BYTES) -> bytes:
    """The request body, refusing more than `limit` bytes before buffering them."""
    declared = content_length(scope)
    if declared is not None and declared > limit:
        raise _too_large(limit)
    message = await receive()
    body: bytes = message.get("body", b"")
    if message["type"] == "http.request" and not message.get("more_body", False):
        return _bounded(body, limit)  # the common case: the whole body in one message
    chunks, size = [body], len(body)
    while message["type"] == "http.request" and message.get("more_body", False):
        message = await receive()
        chunk: bytes = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            raise _too_large(limit)
        chunks.append(chunk)
    if message["type"] == "http.disconnect":
        raise ClientGone
    return b"".join(chunks)


def _bounded(body: bytes, limit: int) -> bytes:
    if len(body) > limit:
        raise _too_large(limit)
    return body


def _too_large(limit: int) -> BodyError:
    return BodyError(f"body is larger than {limit} bytes", "too-large")


async def send_json(send: Send, status: int, body: bytes) -> None:
    """Send a complete JSON response."""
    headers = [*_JSON_HEADERS, (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


def error_body(code: int, message: str, reason: str) -> bytes:
    """A metav1.Status-shaped JSON error, for the 4xx replies to malformed reviews."""
    return json.dumps(
        {
            "apiVersion": "v1",
            "kind": "Status",
            "status": "Failure",
            "code": code,
            "reason": reason,
            "message": message,
        },
        separators=(",", ":"),
    ).encode()
