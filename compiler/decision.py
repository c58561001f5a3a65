"""What an admission decision is: shared by `mutate`, the CLI and the webhook."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

JsonPatch = list[dict[str, Any]]


@dataclass(frozen=True, slots=True, kw_only=True)
class Denial:
    """One reason for a denial: its rule id, the full message line (naming tenant, tier, rule
    and fix), and the JSON Pointer of the offending field in the object ("" for the object)."""

    rule: str
    message: str
    path: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class Decision:
    """The outcome of `mutate` for one object.

    allowed: admit or deny. patch: RFC 6902 operations (empty when nothing changes).
    code/message: the HTTP status and the text `kubectl` shows on denial. rules: the ids of
    the rules that fired, e.g. "resources.cpu.default". tenant/tier: None when the object
    is not governed. warnings go back to the client; audit_annotations to the audit log.
    denials: one entry per reason when denied (`message` joins their lines).
    """

    allowed: bool
    patch: JsonPatch = field(default_factory=list)
    warnings: tuple[str, ...] = ()
    audit_annotations: dict[str, str] = field(default_factory=dict)
    code: int = 200
    message: str = ""
    rules: tuple[str, ...] = ()
    tenant: str | None = None
    tier: str | None = None
    governed: bool = False
    denials: tuple[Denial, ...] = ()
