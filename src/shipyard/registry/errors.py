"""The registry's errors: unknown models, versions and aliases, refused promotions.

Each lookup error lists what does exist, so the fix is one copy-paste away.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING

from shipyard.errors import RegistryError
from shipyard.registry.reference import InvalidReferenceError

if TYPE_CHECKING:
    from shipyard.registry.gate import GateReport
    from shipyard.registry.policy import Criterion

__all__ = [
    "AliasNotFoundError",
    "InvalidReferenceError",
    "ModelNotFoundError",
    "PromotionRefused",
    "VersionNotFoundError",
]

_SHOWN = 20


def _listing(items: Iterable[object]) -> str:
    names = [str(i) for i in items]
    shown = ", ".join(names[:_SHOWN])
    return shown + (f", ... ({len(names)} in all)" if len(names) > _SHOWN else "")


class ModelNotFoundError(RegistryError, LookupError):
    """No model is registered under this name."""

    def __init__(self, name: str, known: Sequence[str]) -> None:
        self.name = name
        self.known = tuple(known)
        hint = (
            f"known models: {_listing(known)}"
            if known
            else "no model is registered yet; register a bundle first"
        )
        super().__init__(f"model '{name}' is not registered", hint=hint)


class VersionNotFoundError(RegistryError, LookupError):
    """The model exists but has no such version."""

    def __init__(self, name: str, version: int, known: Sequence[int]) -> None:
        self.name = name
        self.version = version
        self.known = tuple(known)
        hint = f"known versions: {_listing(known)}" if known else "it has no versions yet"
        super().__init__(f"model '{name}' has no version {version}", hint=hint)


class AliasNotFoundError(RegistryError, LookupError):
    """The model exists but no version carries this alias."""

    def __init__(self, name: str, alias: str, known: Sequence[str]) -> None:
        self.name = name
        self.alias = alias
        self.known = tuple(known)
        have = f"its aliases: {_listing(known)}" if known else "it has no aliases yet"
        hint = f"{have}; use {name}:VERSION or {name}@latest"
        if alias == "champion":
            hint += f", or promote a version with `shipyard promote {name}:VERSION`"
        super().__init__(f"model '{name}' has no alias '{alias}'", hint=hint)


class PromotionRefused(RegistryError):
    """The gate refused to move an alias: ``failed`` lists the failing criteria,
    ``report`` holds the whole evidence."""

    def __init__(
        self,
        ref: str,
        alias: str,
        failed: Sequence[Criterion],
        *,
        report: GateReport | None = None,
    ) -> None:
        self.ref = ref
        self.alias = alias
        self.failed = tuple(failed)
        self.report = report
        lines = "; ".join(c.describe() for c in failed)
        super().__init__(
            f"{ref} was not promoted to '{alias}': {lines}",
            hint="improve the candidate, or override with --force --reason TEXT "
            "(the override and its reason are recorded)",
        )
