"""Structured logs: one JSON object per line, one line per admission.

Records go through the standard `logging` module (logger `hermetic.webhook`) with the JSON
already in the message, so any handler can ship them; `JsonFormatter` turns the other
records (uvicorn's, tracebacks) into the same shape. `hermetic serve` installs it on stderr.
"""

from __future__ import annotations

import json
import logging
import sys
import time
import traceback
from dataclasses import dataclass
from typing import IO, Any, Final

LOGGER: Final = logging.getLogger("hermetic.webhook")


@dataclass(frozen=True, slots=True, kw_only=True)
class AdmissionLine:
    """The fields of one admission's log line."""

    uid: str
    endpoint: str
    kind: str
    namespace: str
    name: str
    operation: str
    dry_run: bool
    decision: str
    code: int
    tenant: str | None
    tier: str | None
    rules: tuple[str, ...]
    digest: str | None
    duration: float  # seconds


def admission(line: AdmissionLine) -> None:
    """Log one admission at INFO, if anyone listens."""
    if not LOGGER.isEnabledFor(logging.INFO):
        return
    record: dict[str, Any] = {
        "ts": round(time.time(), 6),
        "level": "info",
        "event": "admission",
        "uid": line.uid,
        "endpoint": line.endpoint,
        "kind": line.kind,
        "namespace": line.namespace,
        "name": line.name,
        "operation": line.operation,
        "dry_run": line.dry_run,
        "decision": line.decision,
        "code": line.code,
        "tenant": line.tenant,
        "tier": line.tier,
        "rules": list(line.rules),
        "digest": line.digest,
        "duration_ms": round(line.duration * 1000, 3),
    }
    _emit(logging.INFO, json.dumps(record, separators=(",", ":")))


def _emit(level: int, message: str) -> None:
    # makeRecord + handle, not LOGGER.info: the latter also walks the stack for the
    # caller's file and line, a third of the cost of a line nobody reads for its caller.
    record = LOGGER.makeRecord(LOGGER.name, level, "", 0, message, (), None)
    record.hermetic_json = True
    LOGGER.handle(record)


def event(level: int, name: str, exc_info: bool = False, **fields: Any) -> None:
    """Log a webhook event (reloads, bad requests, failures) as one JSON line."""
    if not LOGGER.isEnabledFor(level):
        return
    record: dict[str, Any] = {
        "ts": round(time.time(), 6),
        "level": logging.getLevelName(level).lower(),
        "event": name,
        **fields,
    }
    if exc_info:
        record["traceback"] = _traceback()
    _emit(level, json.dumps(record, separators=(",", ":")))


def _traceback() -> str:
    return "".join(traceback.format_exception(*sys.exc_info()))


class JsonFormatter(logging.Formatter):
    """Hermetic's records pass through; any other record becomes a JSON line too."""

    def format(self, record: logging.LogRecord) -> str:
        if getattr(record, "hermetic_json", False):
            return record.getMessage()
        out: dict[str, Any] = {
            "ts": round(record.created, 6),
            "level": record.levelname.lower(),
            "event": "log",
            "logger": record.name,
            "message": record.getMessage(),
        }
        if record.exc_info:
            out["traceback"] = self.formatException(record.exc_info)
        return json.dumps(out, separators=(",", ":"))


def configure(stream: IO[str] | None = None, level: int = logging.INFO) -> logging.Handler:
    """Send hermetic's and uvicorn's logs, as JSON lines, to `stream` (stderr by default)."""
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(JsonFormatter())
    for name in ("hermetic", "uvicorn", "uvicorn.error"):
        logger = logging.getLogger(name)
        logger.handlers[:] = [handler]
        logger.setLevel(level)
        logger.propagate = False
    return handler
