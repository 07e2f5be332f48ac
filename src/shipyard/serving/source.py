"""Where the server gets models: a ``ModelSource`` resolves a registry reference to a Predictor.

The server only ever loads by reference (``NAME``, ``NAME:VERSION``, ``NAME@ALIAS``,
spelled as ``shipyard.registry.reference`` parses them), never by URL or path. The
registry-backed source wraps ``shipyard.registry``; ``InMemorySource`` serves
Predictor objects built in code (tests, notebooks, benchmarks).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

from shipyard.bundle.signature import Predictor
from shipyard.registry.errors import AliasNotFoundError, ModelNotFoundError, VersionNotFoundError
from shipyard.registry.reference import CHAMPION, LATEST, ModelRef, parse_ref

if TYPE_CHECKING:
    from shipyard.registry import Registry


@dataclass(frozen=True)
class ResolvedModel:
    """One model version, loaded and ready to predict."""

    name: str
    version: int
    predictor: Predictor
    platform: str = "shipyard"  # reported in Open Inference Protocol model metadata


class ModelSource(Protocol):
    """Resolves a model reference to a loaded model version.

    ``resolve`` may block (reading and verifying a bundle); the server calls it in a
    worker thread. It raises a ``LookupError`` (e.g. the registry's
    ``ModelNotFoundError``) for references that name nothing.
    """

    def resolve(self, reference: ModelRef) -> ResolvedModel: ...


class InMemorySource:
    """A ModelSource over Predictor objects held in memory.

    Args:
        models: ``{name: {version: predictor}}``.
        aliases: ``{name: {alias: version}}``; a bare name means ``champion`` when set,
            else the highest version, as in the registry.

    Example:
        >>> source = InMemorySource({"housing": {1: predictor}})  # doctest: +SKIP
    """

    def __init__(
        self,
        models: Mapping[str, Mapping[int, Predictor]],
        aliases: Mapping[str, Mapping[str, int]] | None = None,
        *,
        platform: str = "shipyard",
    ) -> None:
        self._models = {name: dict(versions) for name, versions in models.items()}
        self._aliases = {name: dict(a) for name, a in (aliases or {}).items()}
        self._platform = platform

    def resolve(self, reference: ModelRef | str) -> ResolvedModel:
        ref = parse_ref(reference)
        versions = self._models.get(ref.name)
        if versions is None:
            raise ModelNotFoundError(ref.name, sorted(self._models))
        aliases = self._aliases.get(ref.name, {})
        if ref.version is not None:
            version = ref.version
        elif ref.alias is not None and ref.alias != LATEST:
            if ref.alias not in aliases:
                raise AliasNotFoundError(ref.name, ref.alias, sorted(aliases))
            version = aliases[ref.alias]
        elif ref.alias is None and CHAMPION in aliases:
            version = aliases[CHAMPION]
        else:
            version = max(versions)
        if version not in versions:
            raise VersionNotFoundError(ref.name, version, sorted(versions))
        return ResolvedModel(ref.name, version, versions[version], self._platform)


class RegistrySource:
    """A ModelSource over a project's registry: the registry resolves the reference,
    verifies the bundle against its manifest and loads it (once per process).

    Example:
        >>> RegistrySource(Registry(project))  # doctest: +SKIP
    """

    def __init__(self, registry: Registry) -> None:
        self._registry = registry

    def champions(self) -> dict[str, str]:
        """``{model: "model@champion"}`` for every registered model that has a champion:
        what ``shipyard serve`` serves when given no endpoint and none is configured."""
        return {
            m.name: f"{m.name}@champion" for m in self._registry.models() if "champion" in m.aliases
        }

    def resolve(self, reference: ModelRef | str) -> ResolvedModel:
        version = self._registry.get(reference)
        model = self._registry.load(version.ref)
        return ResolvedModel(version.name, version.version, model, platform=version.flavor)
