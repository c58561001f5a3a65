"""Copy-on-write editing of a JSON document that records RFC 6902 operations as it goes.

`mutate` must never change its input and should not pay for a deep copy of every pod: the
editor copies only the dicts and lists on the path to each write (the rest of the result
shares structure with the input), and writes the JSON Patch operation for each change by
hand, which is an order of magnitude faster than diffing with `jsonpatch.make_patch`.

Reads see earlier writes, so later passes build on earlier ones (the thread count reads the
CPU limit that the resources pass filled in).
"""

from __future__ import annotations

from typing import Any

Key = str | int
Path = tuple[Key, ...]
JsonOp = dict[str, Any]


class Malformed(Exception):
    """The object has the wrong JSON type at `path`; `mutate` turns this into a denial."""

    def __init__(self, path: Path, expected: str) -> None:
        super().__init__(f"{dotted(path)} must be {expected}")
        self.path = path
        self.expected = expected


_POINTERS: dict[Path, str] = {}


def pointer(path: Path) -> str:
    """The RFC 6901 JSON Pointer of a path: '/' and '~' inside keys are escaped.

    Memoised: the same few dozen paths come up in every call."""
    hit = _POINTERS.get(path)
    if hit is None:
        hit = "".join("/" + str(k).replace("~", "~0").replace("/", "~1") for k in path)
        if len(_POINTERS) > 50_000:
            _POINTERS.clear()
        _POINTERS[path] = hit
    return hit


def dotted(path: Path) -> str:
    """A path as a person reads it: spec.containers[0].resources."""
    out = ""
    for k in path:
        out += f"[{k}]" if isinstance(k, int) else (f".{k}" if out else k)
    return out or "the object"


def _child(node: Any, key: Key) -> Any:
    """node[key], None when absent (JSON null counts as absent); _Clash on a type clash."""
    if isinstance(node, dict):
        if isinstance(key, str):
            return node.get(key)
    elif isinstance(node, list) and isinstance(key, int) and 0 <= key < len(node):
        return node[key]
    raise _Clash


_CONTAINERS = (dict, list)  # for isinstance: a tuple built once, not a union per call


class _Clash(Exception):
    """A step that cannot be taken; `_locate` turns it into Malformed with the path."""


def _locate(root: Any, full: Path) -> Malformed:
    node = root
    for i, key in enumerate(full):
        try:
            node = _child(node, key)
        except _Clash:
            return Malformed(full[:i], "a list" if isinstance(key, int) else "an object")
        if node is None:
            break
    return Malformed(full, "an object")


class Editor:
    """Edits `root` (the whole object) below `base` (a pod template's path, or ())."""

    __slots__ = ("_keep", "_owned", "base", "ops", "root")

    def __init__(self, root: dict[str, Any], base: Path = ()) -> None:
        self.root = root
        self.base = base
        self.ops: list[JsonOp] = []
        self._owned: set[int] = set()
        self._keep: list[Any] = []  # owned copies stay alive, so their ids are never reused

    def get(self, path: Path) -> Any:
        """The value at base + path, None when absent; Malformed on a type clash."""
        node: Any = self.root
        full = self.base + path if self.base else path
        for key in full:
            # The fast path: plain dicts and lists, as JSON and YAML loaders make them.
            if type(node) is dict and type(key) is str:
                node = node.get(key)
            elif type(node) is list and type(key) is int and 0 <= key < len(node):
                node = node[key]
            else:
                try:
                    node = _child(node, key)
                except _Clash:
                    raise _locate(self.root, full) from None
            if node is None:
                return None
        return node

    def set(self, path: Path, value: Any) -> bool:
        """Ensure base + path == value, creating missing parents in the same operation.

        Returns False when the value is already there (no operation is written)."""
        full = self.base + path if self.base else path
        owned = self._owned
        try:  # one function, not a wrapper and a worker: this is the hottest path
            node: Any = self.root if id(self.root) in owned else self._own_root()
            last = len(full) - 1
            for i in range(last):
                key = full[i]
                # The fast path first: plain dicts, as JSON and YAML loaders make them.
                fast = type(node) is dict and type(key) is str
                child = node.get(key) if fast else _child(node, key)
                if child is None:
                    self._create(node, full, i, value)
                    return True
                if id(child) not in owned:
                    if not isinstance(child, _CONTAINERS):
                        raise _Clash
                    child = child.copy()  # as _copy, inlined
                    owned.add(id(child))
                    self._keep.append(child)
                    node[key] = child
                node = child
            key = full[last]
            old = node.get(key) if type(node) is dict and type(key) is str else _child(node, key)
        except _Clash:
            raise _locate(self.root, full) from None
        if old is not None and type(old) is type(value) and old == value:
            return False
        node[key] = value
        op = "add" if old is None else "replace"
        self.ops.append({"op": op, "path": pointer(full), "value": value})
        return True

    def _create(self, node: Any, full: Path, i: int, value: Any) -> None:
        """Write value at full, whose parents from full[i] on are absent, in one `add`."""
        nested = value
        for k in reversed(full[i + 1 :]):
            if not isinstance(k, str):
                raise _Clash
            nested = {k: nested}
        node[full[i]] = nested
        self.ops.append({"op": "add", "path": pointer(full[: i + 1]), "value": nested})

    def append(self, path: Path, value: Any) -> None:
        """Append to the list at base + path, creating the list when it is absent."""
        self.extend(path, (value,))

    def extend(self, path: Path, values: tuple[Any, ...] | list[Any]) -> None:
        """Append each value, one `add` operation each (the first creates an absent list),
        walking to the list once."""
        if not values:
            return
        full = self.base + path if self.base else path
        try:
            target = self._own_path(full)
        except _Clash:
            raise _locate(self.root, full) from None
        if target is None:
            self.set(path, [values[0]])
            self.extend(path, values[1:])
            return
        if not isinstance(target, list):
            raise Malformed(full, "a list")
        where = pointer(full) + "/-"
        for value in values:
            target.append(value)
            self.ops.append({"op": "add", "path": where, "value": value})

    def remove(self, path: Path) -> None:
        """Remove the value at base + path, which must be there (one `remove` operation)."""
        full = self.base + path if self.base else path
        try:
            parent = self._own_path(full[:-1])
            if parent is None or _child(parent, full[-1]) is None:
                raise _Clash
        except _Clash:
            raise _locate(self.root, full) from None
        del parent[full[-1]]
        self.ops.append({"op": "remove", "path": pointer(full)})

    def _own_root(self) -> Any:
        if id(self.root) not in self._owned:
            self.root = self._copy(self.root)
        return self.root

    def _own_path(self, full: Path) -> Any:
        """The value at full, with every container on the way (and itself) owned; None when
        absent (nothing is copied then but what was already on the way)."""
        node = self._own_root()
        for key in full:
            # The fast paths first: plain dicts and lists, as JSON and YAML loaders make them.
            if type(node) is dict and type(key) is str:
                child = node.get(key)
            elif type(node) is list and type(key) is int and 0 <= key < len(node):
                child = node[key]
            else:
                child = _child(node, key)
            if child is None:
                return None
            node = self._own(node, key, child)
        return node

    def _own(self, parent: Any, key: Key, child: Any) -> Any:
        owned = self._owned
        if id(child) in owned or not isinstance(child, _CONTAINERS):
            return child
        copy = child.copy()  # as _copy, inlined: the hot path
        owned.add(id(copy))
        self._keep.append(copy)
        parent[key] = copy
        return copy

    def _copy(self, node: Any) -> Any:
        copy = node.copy()
        self._owned.add(id(copy))
        self._keep.append(copy)
        return copy


_SCALARS = frozenset({str, int, float, bool, type(None)})


def clone(value: Any) -> Any:
    """A deep copy of JSON data (much faster than copy.deepcopy for small fragments).

    Scalars (never dicts or lists) are kept without a recursive call: most leaves are."""
    if isinstance(value, dict):
        return {k: v if type(v) in _SCALARS else clone(v) for k, v in value.items()}
    if isinstance(value, list):
        return [v if type(v) in _SCALARS else clone(v) for v in value]
    return value
