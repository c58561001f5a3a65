"""Pausing Python's cyclic garbage collector around bulk work.

Parsing a large policy or generating its objects allocates hundreds of thousands of small,
acyclic objects; the collector's full passes over them find nothing and cost more than the
work itself (1,000 tenants: parsing 1.7 s -> 1.0 s, generating 3.6 s -> 0.8 s). Reference
counting still frees everything; the collector resumes when the work is done.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def paused_gc() -> Iterator[None]:
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()
