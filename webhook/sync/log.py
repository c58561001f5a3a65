"""The controller's log: one JSON object per line, logger `hermetic.sync`.

The same shape as the webhook's (`webhook.logs`): `ts`, `level`, `event`, then fields.
`webhook.logs.configure()` (which `hermetic sync` and `hermetic serve` call) sends the
`hermetic` loggers, this one included, to stderr.
"""

from __future__ import annotations

import json
import logging
import time
from typing import Any, Final, Literal

LOGGER: Final = logging.getLogger("hermetic.sync")
Level = Literal["debug", "info", "warning", "error"]
_LEVELS: Final = {
    "debug": logging.DEBUG,
    "info": logging.INFO,
    "warning": logging.WARNING,
    "error": logging.ERROR,
}


def event(level: Level, name: str, **fields: Any) -> None:
    """Log one controller event (an action, a retry, a skipped kind) as a JSON line."""
    number = _LEVELS[level]
    if not LOGGER.isEnabledFor(number):
        return
    record = {"ts": round(time.time(), 6), "level": level, "event": name, **fields}
    line = json.dumps(record, separators=(",", ":"), default=str, sort_keys=False)
    LOGGER.log(number, line, extra={"hermetic_json": True})
