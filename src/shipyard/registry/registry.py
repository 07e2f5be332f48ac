"""The model registry: register bundles as immutable versions, resolve references, move aliases.

A version's bundle is packed to one deterministic archive and stored in the project's
artifact store by sha256; the metadata store keeps the version row. Loading fetches
the archive once, unpacks it under ``<root>/.shipyard/cache/bundles/<digest>/`` (the
bundle verifies its files against its manifest on load) and keeps the loaded model
for the rest of the process.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import threading
from collections import OrderedDict
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from shipyard.bundle import Bundle, load_bundle, pack, unpack
from shipyard.errors import RegistryError
from shipyard.registry.errors import (
    AliasNotFoundError,
    ModelNotFoundError,
    VersionNotFoundError,
)
from shipyard.registry.reference import (
    CHAMPION,
    LATEST,
    ModelRef,
    check_alias,
    check_name,
    parse_ref,
)
from shipyard.store.registry import (
    UNCHECKED,
    AliasEvent,
    ModelVersion,
    RegisteredModel,
    RegistryStore,
)

if TYPE_CHECKING:
    from shipyard.bundle import LoadedModel
    from shipyard.project import Project

# Loaded models are shared by every Registry of the process, keyed by their unpacked
# directory (which is named by digest, so a key never changes meaning); bounded so a
# long-lived server that walks through many versions does not keep them all.
_LOADED: OrderedDict[str, LoadedModel] = OrderedDict()
_LOADED_MAX = 16
_LOAD_LOCK = threading.Lock()


class Registry:
    """Model names, their versions and aliases, in one project.

    Example:
        >>> registry = Registry(Project.open())
        >>> mv = registry.register("housing", "build/bundle", run_id=run.id)
        >>> registry.load("housing@champion").predict_frame(df)
    """

    def __init__(self, project: Project) -> None:
        self.project = project
        self.store = RegistryStore(project.db)

    # ------------------------------------------------------------------ writing
    def register(
        self,
        name: str,
        bundle_path: str | Path,
        *,
        run_id: str | None = None,
        tags: Mapping[str, str] | None = None,
        details: Mapping[str, Any] | None = None,
        target: str | None = None,
        description: str | None = None,
    ) -> ModelVersion:
        """Register a bundle (a directory, or an archive made by ``pack``) as the next version.

        Args:
            name: the model name, e.g. ``housing``.
            bundle_path: the bundle directory built by ``build_bundle``, or its archive.
            run_id: the run that produced the bundle.
            tags: free string labels, changeable later with ``set_tags``.
            details: anything else to keep with the version (JSON-serialisable).
            target: the label column of the training data; the promotion gate scores
                versions against it (stored as ``details["target"]``).

        Raises:
            InvalidReferenceError: ``name`` is not a valid model name.
            RegistryError: ``bundle_path`` holds no bundle.
            IntegrityError: a bundle file does not match its manifest.
        """
        check_name(name)
        path = Path(bundle_path)
        if not path.exists():
            raise RegistryError(
                f"no bundle at {path}",
                hint="pass the directory that build_bundle wrote, or its .tar.gz archive",
            )
        with tempfile.TemporaryDirectory(prefix="shipyard-register-") as tmp:
            if path.is_dir():
                archive = pack(path, Path(tmp) / "bundle.tar.gz")  # verifies the files
                bundle = Bundle.open(path)
            else:
                archive = path
                bundle = Bundle.open(unpack(path, Path(tmp) / "bundle"))
            digest = self.project.artifacts.put_file(archive)
            info = _version_details(bundle, archive, details, target)
        manifest = bundle.manifest
        return self.store.add_version(
            name,
            bundle_digest=digest,
            flavor=manifest.flavor,
            size_bytes=sum(f.size for f in manifest.files.values()),
            run_id=run_id or manifest.run_id,
            tags=tags,
            details=info,
            description=description,
        )

    def set_alias(
        self,
        ref: str | ModelRef,
        alias: str,
        *,
        actor: str,
        reason: str | None = None,
        forced: bool = False,
        evidence: Mapping[str, Any] | None = None,
        expected_from: int | None = UNCHECKED,
    ) -> AliasEvent:
        """Point ``alias`` at the version ``ref`` names and record who, when and why.

        ``champion`` moves only with the gate's evidence (``promote``) or when
        ``forced`` with a ``reason``; every other alias moves freely.

        Raises:
            RegistryError: moving ``champion`` without evidence, or forcing without a reason.
            AliasMovedError: the alias no longer points at ``expected_from``.
        """
        check_alias(alias)
        if forced and not (reason and reason.strip()):
            raise RegistryError(
                f"forcing '{alias}' needs a reason", hint="pass --reason TEXT; it is recorded"
            )
        if alias == CHAMPION and not forced and not evidence:
            raise RegistryError(
                "'champion' moves only through the promotion gate",
                hint="use `shipyard promote NAME:VERSION`, or --force --reason TEXT to override",
            )
        mv = self.get(ref)
        return self.store.set_alias(
            mv.name,
            alias,
            mv.version,
            actor=actor,
            reason=reason,
            forced=forced,
            evidence=evidence,
            expected_from=expected_from,
        )

    def remove_alias(
        self, name: str, alias: str, *, actor: str, reason: str | None = None
    ) -> AliasEvent:
        """Remove an alias (the versions stay); the removal is recorded in the history."""
        known = self._aliases(name)
        if alias not in known:
            raise AliasNotFoundError(name, alias, sorted(known))
        return self.store.set_alias(name, alias, None, actor=actor, reason=reason)

    def set_tags(self, ref: str | ModelRef, tags: Mapping[str, str | None]) -> ModelVersion:
        """Set tags on a version; a value of None removes the tag."""
        mv = self.get(ref)
        return self.store.update_tags(mv.name, mv.version, tags)

    def record_test_results(
        self, ref: str | ModelRef, suite_name: str, passed: bool, summary: Mapping[str, Any]
    ) -> ModelVersion:
        """Record a model test suite's outcome on a version; the gate reads it."""
        mv = self.get(ref)
        entry = {
            "passed": bool(passed),
            "summary": dict(summary),
            "at": datetime.now(UTC).isoformat(),
        }
        return self.store.update_details(mv.name, mv.version, "tests", {suite_name: entry})

    # ------------------------------------------------------------------ reading
    def get(self, ref: str | ModelRef) -> ModelVersion:
        """The version a reference names; bare ``NAME`` is the champion, else the latest.

        Raises:
            InvalidReferenceError, ModelNotFoundError, VersionNotFoundError,
            AliasNotFoundError: each naming what does exist.
        """
        parsed = parse_ref(ref)
        name = parsed.name
        if parsed.version is not None:
            version = parsed.version
        else:
            aliases = self._aliases(name)
            if parsed.alias is None:
                version = aliases.get(CHAMPION) or self._latest(name)
            elif parsed.alias == LATEST:
                version = self._latest(name)
            elif parsed.alias in aliases:
                version = aliases[parsed.alias]
            else:
                raise AliasNotFoundError(name, parsed.alias, sorted(aliases))
        mv = self.store.find_version(name, version)
        if mv is None:
            self._require_model(name)
            known = [v.version for v in self.store.list_versions(name)]
            raise VersionNotFoundError(name, version, known)
        return mv

    def versions(self, name: str) -> list[ModelVersion]:
        """Every version of a model, oldest first."""
        self._require_model(name)
        return self.store.list_versions(name)

    def model(self, name: str) -> RegisteredModel:
        """One model with its latest version and aliases."""
        found = self.store.find_model(check_name(name))
        if found is None:
            raise ModelNotFoundError(name, [m.name for m in self.store.list_models()])
        return found

    def models(self) -> list[RegisteredModel]:
        """Every registered model, by name."""
        return self.store.list_models()

    def history(self, name: str, alias: str | None = None) -> list[AliasEvent]:
        """Every alias move of a model (optionally one alias), oldest first."""
        self._require_model(name)
        return self.store.history(name, alias)

    # ------------------------------------------------------------------ loading
    def bundle_path(self, ref: str | ModelRef) -> Path:
        """The unpacked bundle directory of a version, fetched and unpacked on first use."""
        return self._unpacked(self.get(ref).bundle_digest)

    def load(self, ref: str | ModelRef) -> LoadedModel:
        """The version's model, ready to predict; loaded once per process."""
        path = self.bundle_path(ref)
        key = str(path)
        with _LOAD_LOCK:
            if key in _LOADED:
                _LOADED.move_to_end(key)
                return _LOADED[key]
            model = load_bundle(path)
            _LOADED[key] = model
            if len(_LOADED) > _LOADED_MAX:
                _LOADED.popitem(last=False)
            return model

    def _unpacked(self, digest: str) -> Path:
        cache = self.project.root / ".shipyard" / "cache" / "bundles"
        dest = cache / digest
        if dest.is_dir():
            return dest
        cache.mkdir(parents=True, exist_ok=True)
        # unpack beside the destination and rename: another process never sees half
        # a bundle, and when two race the loser's copy is simply dropped
        with tempfile.TemporaryDirectory(dir=cache, prefix=".tmp-") as tmp:
            archive = self.project.artifacts.fetch(digest, Path(tmp) / "bundle.tar.gz")
            unpacked = unpack(archive, Path(tmp) / "bundle")
            try:
                os.rename(unpacked, dest)
            except OSError:
                if not dest.is_dir():
                    raise
                shutil.rmtree(unpacked, ignore_errors=True)
        return dest

    # ------------------------------------------------------------------ helpers
    def _aliases(self, name: str) -> dict[str, int]:
        aliases = self.store.aliases(name)
        if not aliases:
            self._require_model(name)
        return aliases

    def _latest(self, name: str) -> int:
        latest = self.store.latest_version(name)
        if latest is None:  # versions are added with their model, so only a bad name
            self._require_model(name)
            raise RegistryError(f"model '{name}' has no versions")
        return latest

    def _require_model(self, name: str) -> None:
        self.model(name)


# what the gate and the test runner read from a version's details, copied from the
# bundle's manifest metadata when the caller does not give them
_FROM_METADATA = ("target", "evaluation_dataset")


def _version_details(
    bundle: Bundle,
    archive: Path,
    details: Mapping[str, Any] | None,
    target: str | None,
) -> dict[str, Any]:
    metadata = bundle.manifest.metadata
    info: dict[str, Any] = {k: metadata[k] for k in _FROM_METADATA if metadata.get(k)}
    info.update(details or {})
    if target:
        info["target"] = target
    info["task"] = bundle.signature.task
    info["manifest_digest"] = bundle.digest
    info["archive_bytes"] = archive.stat().st_size
    return info
