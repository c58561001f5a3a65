"""The pure decision functions the webhook serves, behind a seam tests can fill.

In production they are `compiler.admission.mutate` and `compiler.admission.validate`; the
HTTP layer only ever sees these two signatures.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

from compiler.admission import mutate, validate
from compiler.decision import Decision
from compiler.model import CompiledPolicy


class MutateFn(Protocol):
    def __call__(
        self,
        obj: dict[str, Any],
        policy: CompiledPolicy,
        *,
        namespace: str,
        operation: str = "CREATE",
        request_uid: str = "",
        digest: str | None = None,
        dry_run: bool = False,
    ) -> Decision: ...


class ValidateFn(Protocol):
    def __call__(
        self, obj: dict[str, Any], policy: CompiledPolicy, *, namespace: str
    ) -> Decision: ...


@dataclass(frozen=True, slots=True)
class Deciders:
    """The mutating and the validating decision function."""

    mutate: MutateFn
    validate: ValidateFn


def admission_deciders() -> Deciders:
    """`compiler.admission`'s mutate and validate."""
    return Deciders(mutate=mutate, validate=validate)
