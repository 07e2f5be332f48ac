"""The loaded model versions: each a Predictor with its own batcher, loaded by reference.

Loading resolves a registry reference through the ``ModelSource`` in a worker thread;
unloading takes the version out of the table at once (new requests no longer find
it) and lets its batcher finish what is queued, so in-flight requests complete.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from shipyard.bundle.signature import Predictor, Signature
from shipyard.config import ServingSpec
from shipyard.errors import BundleError
from shipyard.registry.reference import parse_ref
from shipyard.serving.batching import Batcher, BatchObserver
from shipyard.serving.errors import ModelNotFound
from shipyard.serving.source import ModelSource


@dataclass(eq=False)
class ServedModel:
    """One loaded model version."""

    name: str
    version: int
    reference: str
    predictor: Predictor
    platform: str
    batcher: Batcher
    loaded_at: float = field(default_factory=time.time)
    ready: bool = True

    @property
    def label(self) -> str:
        return f"{self.name}:{self.version}"

    @property
    def signature(self) -> Signature:
        return self.predictor.signature

    def to_dict(self) -> dict[str, object]:
        return {
            "name": self.name,
            "version": self.version,
            "reference": self.reference,
            "platform": self.platform,
            "ready": self.ready,
            "loaded_at": self.loaded_at,
        }


class Runtime:
    """The model versions this server has loaded, keyed by (name, version).

    Args:
        source: resolves references to loaded models.
        spec: batching and timeout settings.
        observer: builds a batch observer for a ``name:version`` label (metrics).
    """

    def __init__(
        self,
        source: ModelSource,
        spec: ServingSpec,
        *,
        observer: Callable[[str], BatchObserver] | None = None,
    ) -> None:
        self._source = source
        self._spec = spec
        self._observer = observer
        self._models: dict[tuple[str, int], ServedModel] = {}
        self._load_lock = asyncio.Lock()

    async def load(self, reference: str) -> ServedModel:
        """Resolve and load ``reference`` (``NAME``, ``NAME:VERSION`` or ``NAME@ALIAS``).

        A version already loaded is returned as it is.

        Raises:
            InvalidReferenceError: the text is not a reference (a path or URL, say).
            LookupError: the source knows no such model, version or alias.
            BundleError: what the source returned cannot predict.
        """
        ref = parse_ref(reference)
        async with self._load_lock:
            if ref.version is not None and (ref.name, ref.version) in self._models:
                return self._models[(ref.name, ref.version)]
            resolved = await asyncio.to_thread(self._source.resolve, ref)
            key = (resolved.name, resolved.version)
            if key in self._models:
                return self._models[key]
            predictor = resolved.predictor
            if not isinstance(getattr(predictor, "signature", None), Signature) or not callable(
                getattr(predictor, "predict", None)
            ):
                raise BundleError(
                    f"{reference} did not load as a Predictor (no signature or predict)",
                    hint="load it with shipyard.bundle.load_bundle",
                )
            label = f"{resolved.name}:{resolved.version}"
            spec = self._spec
            batcher = Batcher(
                predictor.predict,
                label=label,
                max_batch_size=spec.max_batch_size,
                max_wait_s=spec.max_wait_ms / 1000,
                max_queue_rows=max(spec.max_batch_rows, 64 * spec.max_batch_size),
                observe=self._observer(label) if self._observer else None,
            )
            served = ServedModel(
                resolved.name, resolved.version, str(ref), predictor, resolved.platform, batcher
            )
            self._models[key] = served
            return served

    async def unload(self, name: str, version: int) -> ServedModel:
        """Stop serving a version; queued requests finish first (up to the request timeout)."""
        served = self._models.pop((name, version), None)
        if served is None:
            raise ModelNotFound(name, str(version), known=self.labels())
        served.ready = False
        await served.batcher.close(self._spec.request_timeout_s)
        return served

    def get(self, name: str, version: int | None = None) -> ServedModel:
        """A loaded version; without ``version``, the highest loaded one."""
        if version is not None:
            served = self._models.get((name, version))
        else:
            versions = self.versions(name)
            served = versions[-1] if versions else None
        if served is None:
            raise ModelNotFound(
                name, None if version is None else str(version), known=self.labels()
            )
        return served

    def versions(self, name: str) -> list[ServedModel]:
        """Loaded versions of one model, lowest first."""
        return sorted(
            (m for (n, _), m in self._models.items() if n == name), key=lambda m: m.version
        )

    def all(self) -> list[ServedModel]:
        return sorted(self._models.values(), key=lambda m: (m.name, m.version))

    def labels(self) -> list[str]:
        return [m.label for m in self.all()]

    async def close(self) -> None:
        """Unload everything, letting queued requests finish."""
        for name, version in list(self._models):
            await self.unload(name, version)
