"""The state of one admission decision: who, which tier, the editor, and what happened."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any, NamedTuple

from compiler.admission.cache import TierData
from compiler.admission.patch import Editor, Malformed, Path, dotted, pointer
from compiler.decision import Denial
from compiler.model import CompiledPolicy, Tenant, Tier

WARNING_LIMIT = 120  # characters: kubectl shows warnings on one line; longer may be truncated
APP, INIT, EPHEMERAL = "containers", "initContainers", "ephemeralContainers"
_KIND_WORDS = {APP: "container", INIT: "init container", EPHEMERAL: "ephemeral container"}


_EMPTY_MAP: dict[str, Any] = {}  # returned for absent objects; never written to
_EMPTY_LIST: list[Any] = []


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
    text = value if isinstance(value, str) else json.dumps(value, sort_keys=True, default=str)
    if len(text) > 60:
        text = text[:57] + "..."
    return json.dumps(text, ensure_ascii=False)


class Change(NamedTuple):
    """One write, kept so that `validate` can say what a later webhook undid."""

    rule: str
    what: str  # the problem the write fixed, e.g. 'container "x" has no cpu limit'
    path: Path  # of the whole object


class Fill:
    """A value to write where the user wrote nothing, with the rule and the problem it fixes.

    A slotted class, not a NamedTuple: several are made per decision, and this is twice
    as fast to build (only the attributes are ever read)."""

    __slots__ = ("rule", "value", "what")

    def __init__(self, value: Any, rule: str, what: str) -> None:
        self.value = value
        self.rule = rule
        self.what = what


Fills = dict[str, "Fill | Fills"]


class Container(NamedTuple):
    path: Path  # relative to the pod (or template) root, e.g. ("spec", "containers", 0)
    full: Path  # from the object's root, for Malformed
    field: str  # containers | initContainers | ephemeralContainers
    body: dict[str, Any]
    label: str  # 'container "backtest"', for messages
    mesh: bool  # a proxy container of the tier's mesh (resources come from the proxy setting)


def _hashable(value: Any) -> Any:
    return value if isinstance(value, str) else None


class Ctx:
    """Everything one pass needs; passes record denials, warnings, fired rules and writes."""

    __slots__ = (
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
        "policy",
        "shapes",
        "template",
        "tenant",
        "tier",
        "uid",
        "warnings",
        "where",
    )

    def __init__(
        self,
        *,
        policy: CompiledPolicy,
        tenant: Tenant,
        tier: Tier,
        data: TierData,
        ed: Editor,
        namespace: str,
        where: str,
        uid: str,
        digest: str,
    ) -> None:
        self.policy, self.tenant, self.tier, self.data, self.ed = policy, tenant, tier, data, ed
        self.namespace, self.uid, self.digest = namespace, uid, digest
        self.where = where  # "" for a pod; 'Deployment "web" pod template: ' for templates
        self.template = bool(ed.base)
        self.denials: list[Denial] = []
        self.warnings: list[str] = []
        self.fired: dict[str, None] = {}
        self.changes: list[Change] | None = None  # kept only for `validate` (set to [])
        # Label and annotation writes wait for `flush`, to go out as one op when the map is
        # absent (a dozen annotations would otherwise cost a dozen ops).
        self.meta: dict[str, dict[str, Any]] = {"labels": {}, "annotations": {}}
        self.shapes: list[Container] | None = None  # the containers, without their bodies
        # The object's own labels and annotations: unchanged until `flush` writes `meta`.
        self.labels: dict[str, Any] = self.mapping(("metadata", "labels"))
        self.annotations: dict[str, Any] = self.mapping(("metadata", "annotations"))

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

    def items(self, path: Path, what: str = "a list") -> list[Any]:
        value = self.ed.get(path)
        if value is None:
            return []
        if not isinstance(value, list):
            raise Malformed(self.ed.base + path, what)
        return value

    def containers(self, *fields: str) -> Iterator[Container]:
        """The containers of the given lists (default: app and init), as they are now.

        Passes never add or remove containers, so the list of them (with their paths and
        labels) is built once per call; each body is read anew (earlier passes edit them)."""
        if self.shapes is None:
            self.shapes = self._shapes()
        shapes = self.shapes
        spec = self.mapping(("spec",))
        wanted = fields or (APP, INIT)
        for i, s in enumerate(shapes):
            if s.field in wanted:
                body = spec[s.field][s.path[2]]
                if body is not s.body:
                    # Kept for the next pass: the body stays put until a pass edits it again.
                    s = shapes[i] = Container(s.path, s.full, s.field, body, s.label, s.mesh)
                yield s

    def _shapes(self) -> list[Container]:
        spec = self.mapping(("spec",))
        base = self.ed.base
        out = []
        for field in (APP, INIT, EPHEMERAL):
            for i, body in enumerate(seq(spec, field, (*base, "spec"))):
                path = ("spec", field, i)
                if not isinstance(body, dict):
                    raise Malformed((*base, *path), "a container object")
                name = body.get("name")
                label = f"{_KIND_WORDS[field]} {q(name)}"
                mesh = field != EPHEMERAL and _hashable(name) in self.data.mesh_containers
                out.append(Container(path, (*base, *path), field, body, label, mesh))
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
        self.fired[rule] = None  # _record, inlined on the hot paths
        if self.changes is not None:
            self.changes.append(Change(rule, what, self.ed.base + path))
        return True

    def put_meta(self, which: str, key: str, value: str, rule: str, what: str) -> bool:
        """Set metadata.<which>[key] (labels or annotations); False if it is already so."""
        current = self.labels if which == "labels" else self.annotations
        if current.get(key) == value:
            self.meta[which].pop(key, None)
            return False
        self.meta[which][key] = value
        self.fired[rule] = None  # _record, inlined
        if self.changes is not None:
            self.changes.append(Change(rule, what, (*self.ed.base, "metadata", which, key)))
        return True

    def flush(self) -> None:
        """Write the pending labels and annotations."""
        for which, pending in self.meta.items():
            if not pending:
                continue
            if self.ed.get(("metadata", which)) is None:
                self.ed.set(("metadata", which), dict(pending))
                continue
            for key, value in pending.items():
                self.ed.set(("metadata", which, key), value)

    def merge(self, path: Path, fills: Fills) -> None:
        """Write each Fill where nothing is; an absent parent is written whole, in one op."""
        if not fills:
            return
        existing = self.ed.get(path)
        if existing is None:
            self.ed.set(path, self._materialize(path, fills))
            return
        if not isinstance(existing, dict):
            raise Malformed(self.ed.base + path, "an object")
        for key, f in fills.items():
            if isinstance(f, Fill):
                self.set((*path, key), f.value, f.rule, f.what)
            else:
                self.merge((*path, key), f)

    def _materialize(self, path: Path, fills: Fills) -> dict[str, Any]:
        out: dict[str, Any] = {}
        fired, changes = self.fired, self.changes
        for key, f in fills.items():
            if isinstance(f, Fill):
                out[key] = f.value
                fired[f.rule] = None  # _record, inlined
                if changes is not None:
                    changes.append(Change(f.rule, f.what, (*self.ed.base, *path, key)))
            else:
                out[key] = self._materialize((*path, key), f)
        return out

    def remove(self, path: Path, rule: str, what: str) -> None:
        """Remove the value at path (it must be there) under `rule`."""
        self.ed.remove(path)
        self._record(rule, what, path)

    def applied(self, rule: str) -> None:
        """Record a rule that applied although its value was there already (no write, and
        nothing for `validate` to hold against the object)."""
        self.fired[rule] = None

    def append(self, path: Path, value: Any, rule: str, what: str) -> None:
        self.ed.append(path, value)
        self._record(rule, what, path)

    def extend(self, path: Path, items: list[tuple[Any, str, str]]) -> None:
        """Append each (value, rule, what): one operation each, as many `append`s would."""
        self.ed.extend(path, [value for value, _, _ in items])
        fired, changes = self.fired, self.changes
        for _, rule, what in items:
            fired[rule] = None  # _record, inlined
            if changes is not None:
                changes.append(Change(rule, what, self.ed.base + path))

    def note(self, rule: str, what: str, path: Path) -> None:
        """Record a rule whose value went out in another rule's write (one op, many rules)."""
        self._record(rule, what, path)

    def _record(self, rule: str, what: str, path: Path) -> None:
        self.fired[rule] = None
        if self.changes is not None:
            self.changes.append(Change(rule, what, self.ed.base + path))
