"""Copy-on-write editing of a JSON document that records RFC 6902 operations as it goes.

`mutate` must never change its input and should not pay for a deep copy of every pod: the
editor copies only the dicts and lists on the path to each write (the rest of the result
shares structure with the input), and writes the JSON Patch operation for each change by
hand, which is an order of magnitude faster than diffing with `jsonpatch.make_patch`.

Reads see earlier writes, so later passes build on earlier ones (the thread count reads the
CPU limit that the resources pass filled in). The copies are the editor's "owned nodes": a
caller that writes into one often (the pod's spec, each container) holds it and writes it
by key, instead of walking a path from the root for every write.
"""

from __future__ import annotations

from typing import Any, Final

Key = str | int
Path = tuple[Key, ...]
JsonOp = dict[str, Any]


class Malformed(Exception):
    """The object has the wrong JSON type at `path`; `mutate` turns this into a denial."""

    def __init__(self, path: Path, expected: str) -> None:
        super().__init__(f"{dotted(path)} must be {expected}")
        self.path = path
        self.expected = expected


_POINTERS: Final[dict[Path, str]] = {}


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


_CONTAINERS: Final = (dict, list)  # for isinstance: a tuple built once, not a union per call


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


_CHILDREN: Final[dict[tuple[str, Key], str]] = {}


def _child_pointer(where: str, key: Key) -> str:
    """The pointer of key below the pointer `where`. Memoised, like `pointer`: callers look
    it up in _CHILDREN first (building the string costs more than the lookup)."""
    hit = f"{where}/{str(key).replace('~', '~0').replace('/', '~1')}"
    if len(_CHILDREN) > 50_000:
        _CHILDREN.clear()
    _CHILDREN[where, key] = hit
    return hit


class Editor:
    """Edits `root` (the whole object) below `base` (a pod template's path, or ()).

    A write names its place by a path relative to base, or by a node and a key: a node is
    a dict (or list) the editor owns, i.e. copied from the input (`own`, `child`). Callers
    keep nodes to read and write them directly: a node stays current through every write.
    """

    __slots__ = ("_paths", "_where", "base", "ops", "root")

    def __init__(self, root: dict[str, Any], base: Path = ()) -> None:
        self.root = root
        self.base = base
        self.ops: list[JsonOp] = []
        # The owned nodes, by id: their pointers and full paths. A node's parents are owned
        # too, and an owned node is never the value of an operation (a later write would
        # change what the operation says).
        self._where: dict[int, str] = {}
        self._paths: dict[int, Path] = {}

    # --- by path -----------------------------------------------------------------------

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

    def own(self, path: Path) -> Any:
        """The value at base + path, None when absent: an owned node if a dict or a list."""
        full = self.base + path if self.base else path
        try:
            node, depth = self._reach(full)
        except _Clash:
            raise _locate(self.root, full) from None
        return node if depth == len(full) else None

    def set(self, path: Path, value: Any) -> bool:
        """Ensure base + path == value, creating missing parents in the same operation.

        Returns False when the value is already there (no operation is written)."""
        full = self.base + path if self.base else path
        key = full[-1]
        try:
            parent, depth = self._reach(full[:-1])
            if depth < len(full) - 1:
                self._create(parent, full, depth, value)
                return True
            if type(parent) is dict and type(key) is str:
                return self.put(parent, key, value)
            old = _child(parent, key)  # an item of a list
        except _Clash:
            raise _locate(self.root, full) from None
        if old is not None and type(old) is type(value) and old == value:
            return False
        if isinstance(old, _CONTAINERS):
            self._forget(full, shifted=False)
        parent[key] = value
        op = "add" if old is None else "replace"
        self.ops.append({"op": op, "path": pointer(full), "value": value})
        return True

    def extend(self, path: Path, values: tuple[Any, ...] | list[Any]) -> None:
        """Append each value to the list at base + path (see `add`); missing parents are
        created with the first value, in one operation."""
        full = self.base + path if self.base else path
        key = full[-1]
        try:
            parent, depth = self._reach(full[:-1])
            if not isinstance(key, str):
                raise _Clash
        except _Clash:
            raise _locate(self.root, full) from None
        if depth < len(full) - 1:
            self._create(parent, full, depth, [values[0]])
            if len(values) > 1:
                self.add(self.own(path[:-1]), key, values[1:])
        elif isinstance(parent, dict):
            self.add(parent, key, values)
        else:
            raise _locate(self.root, full)

    def append(self, path: Path, value: Any) -> None:
        self.extend(path, (value,))

    def remove(self, path: Path) -> None:
        """Remove the value at base + path, which must be there (one `remove` operation)."""
        full = self.base + path if self.base else path
        try:
            parent, depth = self._reach(full[:-1])
            if depth < len(full) - 1 or _child(parent, full[-1]) is None:
                raise _Clash
        except _Clash:
            raise _locate(self.root, full) from None
        del parent[full[-1]]
        self._forget(full, shifted=True)
        self.ops.append({"op": "remove", "path": pointer(full)})

    # --- by node -----------------------------------------------------------------------

    def path_of(self, node: Any) -> Path:
        """The full path of an owned node."""
        return self._paths[id(node)]

    def put(self, node: dict[str, Any], key: str, value: Any) -> bool:
        """node[key] = value, unless it is so already (then False: no operation)."""
        old = node.get(key)
        if old is not None:
            if type(old) is type(value) and old == value:
                return False
            if isinstance(old, _CONTAINERS):
                self._forget((*self._paths[id(node)], key), shifted=False)
        node[key] = value
        up = self._where[id(node)]
        where = _CHILDREN.get((up, key)) or _child_pointer(up, key)
        self.ops.append({"op": "add" if old is None else "replace", "path": where, "value": value})
        return True

    def child(self, node: Any, key: Key) -> Any:
        """node[key], None when absent: an owned node if a dict or a list."""
        value = node.get(key) if type(node) is dict and type(key) is str else _child(node, key)
        if not isinstance(value, _CONTAINERS) or id(value) in self._where:
            return value
        return self._adopt(node, key, value.copy())

    def update(self, node: dict[str, Any], key: str, values: dict[str, Any]) -> None:
        """Set each key of the object node[key] to its value (one operation per key that
        changes); an absent object is written whole, in one operation."""
        target = node.get(key)
        if target is None:
            self.put(node, key, dict(values))
            return
        if not isinstance(target, dict):
            raise Malformed((*self._paths[id(node)], key), "an object")
        target = self.child(node, key)
        for k, value in values.items():
            self.put(target, k, value)

    def add(self, node: dict[str, Any], key: str, values: tuple[Any, ...] | list[Any]) -> None:
        """Append each value to the list node[key], one `add` operation each; the first
        creates the list when it is absent."""
        target = node.get(key)
        up = self._where[id(node)]
        where = _CHILDREN.get((up, key)) or _child_pointer(up, key)
        ops = self.ops
        if target is None:
            first = [values[0]]
            ops.append({"op": "add", "path": where, "value": first})
            if len(values) == 1:
                node[key] = first
                return
            # The editor's own copy in the place of the operation's list, for the others.
            target = self._adopt(node, key, [values[0]])
            values = values[1:]
        elif not isinstance(target, list):
            raise Malformed((*self._paths[id(node)], key), "a list")
        elif id(target) not in self._where:
            target = self._adopt(node, key, target.copy())
        where = _CHILDREN.get((where, "-")) or _child_pointer(where, "-")
        for value in values:
            target.append(value)
            ops.append({"op": "add", "path": where, "value": value})

    # --- ownership ---------------------------------------------------------------------

    def _adopt(self, parent: Any, key: Key, node: Any) -> Any:
        """Put node (a copy, or a new dict or list) at parent[key] (parent: owned), owned."""
        parent[key] = node
        up = id(parent)
        where = self._where[up]
        self._where[id(node)] = _CHILDREN.get((where, key)) or _child_pointer(where, key)
        self._paths[id(node)] = self._paths[up] + (key,)
        return node

    def _reach(self, full: Path) -> tuple[Any, int]:
        """Walk along full as far as it exists, owning each dict and list on the way: (the
        value reached, how many keys of full lead to it). _Clash on a type clash."""
        owned = self._where
        node: Any = self.root
        if id(node) not in owned:
            node = self.root = node.copy()
            owned[id(node)] = ""
            self._paths[id(node)] = ()
        for i, key in enumerate(full):
            child = node.get(key) if type(node) is dict and type(key) is str else _child(node, key)
            if child is None:
                return node, i
            if isinstance(child, _CONTAINERS) and id(child) not in owned:
                child = self._adopt(node, key, child.copy())
            node = child  # a scalar ends the walk: _child clashes on the next key
        return node, len(full)

    def _create(self, node: Any, full: Path, i: int, value: Any) -> None:
        """Write value at full, whose parents from full[i] on are absent, in one `add`."""
        nested = value
        for k in reversed(full[i + 1 :]):
            if not isinstance(k, str):
                raise _Clash
            nested = {k: nested}
        node[full[i]] = nested
        self.ops.append({"op": "add", "path": pointer(full[: i + 1]), "value": nested})

    def _forget(self, full: Path, *, shifted: bool) -> None:
        """Disown the nodes at and below full, which a write replaced or removed; when
        `shifted`, also those at and below the later items of its list (they moved down)."""
        n, last = len(full), full[-1]
        for node, path in list(self._paths.items()):
            if len(path) < n or path[: n - 1] != full[:-1]:
                continue
            key = path[n - 1]
            if key == last or (shifted and type(key) is int and type(last) is int and key > last):
                del self._paths[node], self._where[node]
