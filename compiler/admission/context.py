"""The state of one admission decision: who, which tier, the editor, and what happened."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Final, NamedTuple

from compiler.admission.cache import TierData
from compiler.admission.patch import Editor, Malformed, Path, dotted, pointer
from compiler.decision import Decision, Denial
from compiler.model import Tenant, Tier

# Characters: kubectl shows warnings on one line; longer may be truncated.
WARNING_LIMIT: Final = 120
APP, INIT, EPHEMERAL = "containers", "initContainers", "ephemeralContainers"
_KIND_WORDS: Final = {APP: "container", INIT: "init container", EPHEMERAL: "ephemeral container"}


_EMPTY_MAP: Final[dict[str, Any]] = {}  # returned for absent objects; never written to
_EMPTY_LIST: Final[list[Any]] = []


def obj(parent: dict[str, Any], key: str, where: Path) -> dict[str, Any]:
    """parent[key] as an object ({} when absent); `where` is parent's full path, for errors."""
    value = parent.get(key)
    if value is None:
        return _EMPTY_MAP
    if isinstance(value, dict):
        return value
    raise Malformed((*where, key), "an object")


def seq(parent: dict[str, Any], key: str, where: Path) -> list[Any]:
    """parent[key] as a list ([] when absent)."""
    value = parent.get(key)
    if value is None:
        return _EMPTY_LIST
    if isinstance(value, list):
        return value
    raise Malformed((*where, key), "a list")


def line(tenant: str, tier: str, where: str, subject: str, rule: str, fix: str) -> str:
    """A denial line: it names the tenant, the tier, the rule and what to change."""
    return f"hermetic: tenant {tenant}, tier {tier}: {where}{subject} (rule {rule}); {fix}"


def q(value: Any) -> str:
    """A user-supplied value quoted for a message: one line, at most ~60 characters."""
    if (
        isinstance(value, str)
        and len(value) <= 60
        and value.isprintable()
        and '"' not in value
        and "\\" not in value
    ):
        return f'"{value}"'
    text = value if isinstance(value, str) else _json(value)
    if len(text) > 60:
        text = text[:57] + "..."
    return json.dumps(text, ensure_ascii=False)


def _json(value: Any) -> str:
    try:
        return json.dumps(value, sort_keys=True, default=str)
    except (TypeError, ValueError, RecursionError):  # keys of mixed types (from YAML), a cycle
        return repr(value)


class Change(NamedTuple):
    """One write, kept so that `validate` can say what a later webhook undid."""

    rule: str
    what: str  # the problem the write fixed, e.g. 'container "x" has no cpu limit'
    path: Path  # of the whole object


# A value to write where the user wrote nothing: (value, rule, the problem it fixes). A
# plain tuple: several are made per decision, and a tuple is several times cheaper to build
# than an instance of a class.
Fill = tuple[Any, str, str]
Fills = dict[str, "Fill | Fills"]


class Container:
    """One container: where it is, what to call it, and its body, which is the editor's own
    copy (so it stays current through every write, and passes read it directly)."""

    __slots__ = ("body", "field", "full", "label", "mesh", "path")

    def __init__(
        self, spec: Path, field: str, index: int, body: dict[str, Any], label: str, mesh: bool
    ) -> None:
        self.field = field  # containers | initContainers | ephemeralContainers
        self.path: Path = ("spec", field, index)  # from the pod (or template) root
        self.full: Path = (*spec, field, index)  # from the object's root, for Malformed
        self.body = body
        self.label = label  # 'container "backtest"', for messages
        self.mesh = mesh  # a proxy container of the tier's mesh (resources from the proxy)


@dataclass(slots=True)
class Subject:
    """A governed object: its pod's place, tenant and tier (or the denial of its tier)."""

    obj: dict[str, Any]
    base: Path
    tenant: Tenant
    tier: Tier | None
    where: str
    namespace: str
    labels: dict[str, Any]
    annotations: dict[str, Any]
    denial: Decision | None = None


class Ctx:
    """Everything one pass needs; passes record denials, warnings, fired rules and writes."""

    __slots__ = (
        "_all",
        "_pod",
        "annotations",
        "changes",
        "data",
        "denials",
        "digest",
        "ed",
        "fired",
        "labels",
        "meta",
        "namespace",
        "spec",
        "spec_path",
        "template",
        "tenant",
        "tier",
        "uid",
        "warnings",
        "where",
    )

    def __init__(self, s: Subject, data: TierData, uid: str, digest: str) -> None:
        assert s.tier is not None
        self.tenant, self.tier, self.data = s.tenant, s.tier, data
        self.namespace, self.uid, self.digest = s.namespace, uid, digest
        self.where = s.where  # "" for a pod; 'Deployment "web" pod template: ' for templates
        self.template = bool(s.base)
        self.ed = ed = Editor(s.obj, s.base)
        self.denials: list[Denial] = []
        self.warnings: list[str] = []
        self.fired: list[str] = []  # the rules that applied, with repeats
        self.changes: list[Change] | None = None  # kept only for `validate` (set to [])
        # Label and annotation writes wait for `flush`, to go out as one op when the map is
        # absent (a dozen annotations would otherwise cost a dozen ops).
        self.meta: dict[str, dict[str, Any]] = {"labels": {}, "annotations": {}}
        # The object's own labels and annotations: unchanged until `flush` writes `meta`.
        self.labels, self.annotations = s.labels, s.annotations
        # The pod's spec, the editor's own copy: current through every write ({} when the
        # object has none, or not an object: the passes then never run).
        spec = ed.own(("spec",))
        self.spec: dict[str, Any] = spec if isinstance(spec, dict) else {}
        self.spec_path: Path = (*ed.base, "spec")  # from the object's root, for Malformed
        self._pod: list[Container] | None = None  # app and init containers, on first use
        self._all: list[Container] | None = None  # and ephemeral ones

    # --- reading ---------------------------------------------------------------------

    def get(self, path: Path) -> Any:
        return self.ed.get(path)

    def mapping(self, path: Path) -> dict[str, Any]:
        """The object at path ({} when absent); Malformed if it is not an object."""
        value = self.ed.get(path)
        if value is None:
            return {}
        if not isinstance(value, dict):
            raise Malformed(self.ed.base + path, "an object")
        return value

    def node(self, path: Path) -> dict[str, Any] | None:
        """The object at path as an owned node (None when absent); Malformed if it is not an
        object."""
        value = self.ed.own(path)
        if value is not None and not isinstance(value, dict):
            raise Malformed(self.ed.base + path, "an object")
        return value

    def items(self, path: Path, what: str = "a list") -> list[Any]:
        value = self.ed.get(path)
        if value is None:
            return []
        if not isinstance(value, list):
            raise Malformed(self.ed.base + path, what)
        return value

    def containers(self, *, ephemeral: bool = False) -> list[Container]:
        """The app and init containers (native sidecars included), and with `ephemeral` the
        ephemeral ones: read once (passes never add or remove containers)."""
        if self._all is None:
            self._all = self._pod = self._containers()
            if self._all and self._all[-1].field == EPHEMERAL:  # ephemeral ones come last
                self._pod = [c for c in self._all if c.field != EPHEMERAL]
        if ephemeral:
            return self._all
        assert self._pod is not None
        return self._pod

    def _containers(self) -> list[Container]:
        spec, ed, where = self.spec, self.ed, self.spec_path
        mesh_names = self.data.mesh_containers
        out = []
        for field in (APP, INIT, EPHEMERAL):
            if not seq(spec, field, where):
                continue
            bodies = ed.child(spec, field)
            for i in range(len(bodies)):
                if not isinstance(bodies[i], dict):
                    raise Malformed((*where, field, i), "a container object")
                body = ed.child(bodies, i)
                name = body.get("name")
                label = f"{_KIND_WORDS[field]} {q(name)}"
                mesh = field != EPHEMERAL and isinstance(name, str) and name in mesh_names
                out.append(Container(where, field, i, body, label, mesh))
        return out

    # --- recording -------------------------------------------------------------------

    def deny(self, rule: str, subject: str, fix: str, path: Path = ()) -> None:
        """Refuse the object: `subject` says what is wrong, `fix` what to change."""
        text = line(self.tenant.name, self.tier.name, self.where, subject, rule, fix)
        self.denials.append(Denial(rule=rule, message=text, path=pointer(self.ed.base + path)))

    def deny_malformed(self, m: Malformed) -> None:
        subject = f"{dotted(m.path)} must be {m.expected}"
        fix = "correct the manifest (the API server would reject it as well)"
        text = line(self.tenant.name, self.tier.name, self.where, subject, "pod.malformed", fix)
        self.denials.append(Denial(rule="pod.malformed", message=text, path=pointer(m.path)))

    def warn(self, text: str) -> None:
        if len(text) > WARNING_LIMIT:
            text = text[: WARNING_LIMIT - 3] + "..."
        if text not in self.warnings:
            self.warnings.append(text)

    def set(self, path: Path, value: Any, rule: str, what: str) -> bool:
        """Write value at path under `rule`; `what` names the problem the write fixes."""
        if not self.ed.set(path, value):
            return False
        self.fired.append(rule)
        if self.changes is not None:
            self.changes.append(Change(rule, what, self.ed.base + path))
        return True

    def put(self, node: dict[str, Any], key: str, value: Any, rule: str, what: str) -> bool:
        """`set` of node[key], node being owned (the spec, a container's body...)."""
        if not self.ed.put(node, key, value):
            return False
        self.fired.append(rule)
        if self.changes is not None:
            self.changes.append(Change(rule, what, (*self.ed.path_of(node), key)))
        return True

    def merge(self, node: dict[str, Any], key: str, fills: Fills) -> None:
        """Write each Fill into the object node[key] where nothing is; an absent object is
        written whole, in one operation."""
        if not fills:
            return
        current = node.get(key)
        if current is None:
            self.ed.put(node, key, self._materialize(fills))
            if self.changes is not None:
                self._changed(fills, (*self.ed.path_of(node), key))
            return
        if not isinstance(current, dict):
            raise Malformed((*self.ed.path_of(node), key), "an object")
        target = self.ed.child(node, key)
        for k, f in fills.items():
            if isinstance(f, tuple):
                value, rule, what = f
                self.put(target, k, value, rule, what)
            else:
                self.merge(target, k, f)

    def _materialize(self, fills: Fills) -> dict[str, Any]:
        """The object the fills make up; their rules applied."""
        out: dict[str, Any] = {}
        for key, f in fills.items():
            if isinstance(f, tuple):
                out[key] = f[0]
                self.fired.append(f[1])
            else:
                out[key] = self._materialize(f)
        return out

    def _changed(self, fills: Fills, full: Path) -> None:
        assert self.changes is not None
        for key, f in fills.items():
            if isinstance(f, tuple):
                self.changes.append(Change(f[1], f[2], (*full, key)))
            else:
                self._changed(f, (*full, key))

    def add(self, node: dict[str, Any], key: str, items: list[tuple[Any, str, str]]) -> None:
        """Append each (value, rule, what) to the list node[key] (created when absent), node
        being owned: one operation each."""
        if not items:
            return
        self.ed.add(node, key, [value for value, _, _ in items])
        self._applied(items, (*self.ed.path_of(node), key) if self.changes is not None else ())

    def extend(self, path: Path, items: list[tuple[Any, str, str]]) -> None:
        """`add` by path."""
        if not items:
            return
        self.ed.extend(path, [value for value, _, _ in items])
        self._applied(items, self.ed.base + path)

    def _applied(self, items: list[tuple[Any, str, str]], full: Path) -> None:
        fired = self.fired
        for _, rule, _ in items:
            fired.append(rule)
        if self.changes is not None:
            self.changes += [Change(rule, what, full) for _, rule, what in items]

    def append(self, path: Path, value: Any, rule: str, what: str) -> None:
        self.ed.append(path, value)
        self.note(rule, what, path)

    def remove(self, path: Path, rule: str, what: str) -> None:
        """Remove the value at path (it must be there) under `rule`."""
        self.ed.remove(path)
        self.note(rule, what, path)

    def applied(self, rule: str) -> None:
        """Record a rule that applied although its value was there already (no write, and
        nothing for `validate` to hold against the object)."""
        self.fired.append(rule)

    def note(self, rule: str, what: str, path: Path) -> None:
        """Record a rule whose value went out in another rule's write (one op, many rules)."""
        self.fired.append(rule)
        if self.changes is not None:
            self.changes.append(Change(rule, what, self.ed.base + path))

    def put_meta(self, which: str, key: str, value: str, rule: str, what: str) -> bool:
        """Set metadata.<which>[key] (labels or annotations); False if it is already so."""
        current = self.labels if which == "labels" else self.annotations
        if current.get(key) == value:
            self.meta[which].pop(key, None)
            return False
        self.meta[which][key] = value
        self.fired.append(rule)
        if self.changes is not None:
            self.changes.append(Change(rule, what, (*self.ed.base, "metadata", which, key)))
        return True

    def flush(self) -> None:
        """Write the pending labels and annotations."""
        meta = None
        for which, pending in self.meta.items():
            if not pending:
                continue
            if meta is None:
                meta = self.ed.own(("metadata",))
            if meta is None:  # written with the map, in one operation
                self.ed.set(("metadata", which), dict(pending))
            else:
                self.ed.update(meta, which, pending)
