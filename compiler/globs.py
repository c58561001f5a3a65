"""Namespace globs: whether two patterns can match the same namespace.

A glob here has only '*' (any run of characters). Two globs overlap when some string
matches both; decided by walking both patterns together (a product of the two automata),
memoised on the two positions, so it is quadratic in the pattern lengths at worst.
"""

from __future__ import annotations

from functools import cache, lru_cache


@lru_cache(maxsize=65536)
def overlap(a: str, b: str) -> bool:
    """True when some namespace name matches both globs (or names)."""

    @cache
    def walk(i: int, j: int) -> bool:
        if i == len(a) and j == len(b):
            return True
        if i < len(a) and a[i] == "*":
            return walk(i + 1, j) or (j < len(b) and walk(i, j + 1))
        if j < len(b) and b[j] == "*":
            return walk(i, j + 1) or (i < len(a) and walk(i + 1, j))
        if i < len(a) and j < len(b) and a[i] == b[j]:
            return walk(i + 1, j + 1)
        return False

    return walk(0, 0)


def literal_prefix(glob: str) -> str:
    return glob.split("*", 1)[0]


def literal_suffix(glob: str) -> str:
    return glob.rsplit("*", 1)[-1]


def may_overlap(a: str, b: str) -> bool:
    """A cheap necessary condition: literal prefixes and suffixes must agree."""
    pa, pb = literal_prefix(a), literal_prefix(b)
    sa, sb = literal_suffix(a), literal_suffix(b)
    return (pa.startswith(pb) or pb.startswith(pa)) and (sa.endswith(sb) or sb.endswith(sa))


def matches(name: str, glob: str) -> bool:
    """Whether a name matches a glob whose only wildcard is '*'. Leftmost matching of each
    literal part is exact for such globs, and needs no regex (fnmatch compiles one per
    pattern, which dominates when thousands of tenants each have their own glob)."""
    parts = glob.split("*")
    if len(parts) == 1:
        return name == glob
    head, tail = parts[0], parts[-1]
    if len(name) < len(head) + len(tail) or not name.startswith(head) or not name.endswith(tail):
        return False
    pos, end = len(head), len(name) - len(tail)
    for part in parts[1:-1]:
        found = name.find(part, pos, end)
        if found < 0:
            return False
        pos = found + len(part)
    return True
