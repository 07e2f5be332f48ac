"""How a model version is named everywhere: ``NAME``, ``NAME:VERSION``, ``NAME@ALIAS``.

The CLI, the Python API and the server all parse references here, so one spelling
works in all three:

- ``housing:3`` is version 3 of model ``housing``;
- ``housing@champion`` is whichever version the alias ``champion`` points at;
- ``housing@latest`` is the highest version (``latest`` is reserved, never set);
- bare ``housing`` means ``housing@champion`` when a champion is set, else the
  latest version, so a model works before anything was promoted.

Names and aliases match ``[A-Za-z0-9][A-Za-z0-9_.-]*``; an alias is never all digits,
so ``NAME@3`` cannot be mistaken for version 3.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from shipyard.errors import RegistryError

NAME_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*")
MAX_NAME = 200
MAX_ALIAS = 100
LATEST = "latest"
CHAMPION = "champion"
CHALLENGER = "challenger"


class InvalidReferenceError(RegistryError, ValueError):
    """A model reference, name or alias is spelled wrong."""

    def __init__(self, text: str, problem: str) -> None:
        self.text = text
        self.problem = problem
        super().__init__(
            f"{text!r} is not a valid model reference: {problem}",
            hint="write NAME, NAME:VERSION (e.g. housing:3) or NAME@ALIAS "
            "(e.g. housing@champion); names use letters, digits, '_', '.', '-'",
        )


@dataclass(frozen=True)
class ModelRef:
    """A parsed reference: a name with at most one of ``version`` or ``alias``."""

    name: str
    version: int | None = None
    alias: str | None = None

    def __str__(self) -> str:
        if self.version is not None:
            return f"{self.name}:{self.version}"
        if self.alias is not None:
            return f"{self.name}@{self.alias}"
        return self.name


def parse_ref(text: str | ModelRef) -> ModelRef:
    """Parse ``NAME``, ``NAME:VERSION`` or ``NAME@ALIAS``.

    Example:
        >>> parse_ref("housing@champion")
        ModelRef(name='housing', version=None, alias='champion')

    Raises:
        InvalidReferenceError: naming what is wrong with the text.
    """
    if isinstance(text, ModelRef):
        return text
    if not isinstance(text, str) or not text.strip():
        raise InvalidReferenceError(str(text), "it is empty")
    text = text.strip()
    if ":" in text and "@" in text:
        raise InvalidReferenceError(text, "give a version (':') or an alias ('@'), not both")
    if text.count(":") > 1 or text.count("@") > 1:
        raise InvalidReferenceError(text, "it has more than one ':' or '@'")
    if ":" in text:
        name, version = text.split(":")
        check_name(name, text=text)
        return ModelRef(name, version=_parse_version(version, text))
    if "@" in text:
        name, alias = text.split("@")
        check_name(name, text=text)
        return ModelRef(name, alias=check_alias(alias, text=text, allow_latest=True))
    return ModelRef(check_name(text, text=text))


def check_name(name: str, *, text: str | None = None) -> str:
    """Return ``name`` when it is a valid model name, else raise InvalidReferenceError."""
    shown = name if text is None else text
    if not name:
        raise InvalidReferenceError(shown, "the model name is empty")
    if len(name) > MAX_NAME:
        raise InvalidReferenceError(shown, f"the model name is longer than {MAX_NAME} characters")
    if not NAME_PATTERN.fullmatch(name):
        raise InvalidReferenceError(
            shown,
            f"model name {name!r} must start with a letter or digit and hold only "
            "letters, digits, '_', '.' and '-'",
        )
    return name


def check_alias(alias: str, *, text: str | None = None, allow_latest: bool = False) -> str:
    """Return ``alias`` when it can name an alias, else raise InvalidReferenceError.

    ``latest`` is accepted only when reading (``allow_latest``): it is computed, never set.
    """
    shown = alias if text is None else text
    if not alias:
        raise InvalidReferenceError(shown, "the alias after '@' is empty")
    if len(alias) > MAX_ALIAS:
        raise InvalidReferenceError(shown, f"the alias is longer than {MAX_ALIAS} characters")
    if not NAME_PATTERN.fullmatch(alias):
        raise InvalidReferenceError(
            shown,
            f"alias {alias!r} must start with a letter or digit and hold only "
            "letters, digits, '_', '.' and '-'",
        )
    if alias.isdigit():
        raise InvalidReferenceError(
            shown, f"alias {alias!r} is all digits; for version {alias} write NAME:{alias}"
        )
    if alias == LATEST and not allow_latest:
        raise InvalidReferenceError(
            shown, "'latest' is reserved: it always means the highest version"
        )
    return alias


def _parse_version(version: str, text: str) -> int:
    if not version:
        raise InvalidReferenceError(text, "the version after ':' is empty")
    if not version.isascii() or not version.isdigit():
        raise InvalidReferenceError(
            text, f"version {version!r} is not a whole number; versions are 1, 2, 3, ..."
        )
    # the length check comes first: int() of thousands of digits is slow or refused
    if len(version) > 10 or int(version) > 2**31 - 1:
        raise InvalidReferenceError(text, f"version {version[:12]} is too large")
    number = int(version)
    if number < 1:
        raise InvalidReferenceError(text, "versions start at 1")
    return number
