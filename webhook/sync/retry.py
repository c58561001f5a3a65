"""Capped exponential backoff with jitter, and a retry loop that never lets a transient
error out (it gives up after `attempts` and says so; the next resync tries again).

Waiting goes through a `threading.Event`, so that `stop()` interrupts a backoff at once,
and through an injectable `sleep` in tests.
"""

from __future__ import annotations

import random
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TypeVar

from webhook.sync.api import is_transient
from webhook.sync.log import event

T = TypeVar("T")


@dataclass(slots=True)
class Backoff:
    """Delays `initial * factor**n`, capped at `cap`, each scaled by a jitter in [0.5, 1]."""

    initial: float = 0.5
    factor: float = 2.0
    cap: float = 30.0
    jitter: Callable[[], float] = field(default=lambda: random.uniform(0.5, 1.0))
    attempt: int = 0

    def next(self) -> float:
        """The next delay in seconds."""
        delay = min(self.cap, self.initial * self.factor**self.attempt)
        self.attempt += 1
        return delay * self.jitter()

    def reset(self) -> None:
        """Start again from `initial` (after a success)."""
        self.attempt = 0


class GaveUp(Exception):
    """A transient error persisted for every attempt, or the controller is stopping."""


def retry(
    fn: Callable[[], T],
    *,
    what: str,
    stop: threading.Event,
    backoff: Backoff | None = None,
    attempts: int = 6,
    wait: Callable[[float], bool] | None = None,
) -> T:
    """`fn()`, retried on transient errors with backoff; other errors propagate.

    Raises GaveUp after `attempts` transient failures or when `stop` is set. `wait(delay)`
    returns True to stop waiting for good (default: `stop.wait`).
    """
    delays = backoff or Backoff()
    pause = wait or stop.wait
    for attempt in range(1, attempts + 1):
        if stop.is_set():
            raise GaveUp(f"{what}: stopping")
        try:
            return fn()
        except Exception as exc:
            if not is_transient(exc):
                raise
            delay = delays.next()
            event(
                "warning",
                "retry",
                what=what,
                attempt=attempt,
                delay_s=round(delay, 3),
                error=_short(exc),
            )
            if attempt == attempts or pause(delay):
                raise GaveUp(f"{what}: {_short(exc)}") from exc
    raise GaveUp(what)  # attempts < 1


def _short(exc: BaseException) -> str:
    text = str(exc).splitlines()[0] if str(exc) else ""
    return f"{type(exc).__name__}: {text}"[:300]
