"""The manifest and the verified bundle directory: what a bundle holds, and proof of it.

``manifest.json`` lists every other file in the bundle with its sha256 and size, the
signature, the stored forms of the model (``sklearn``, ``onnx``, ...) and which one
serves. ``Bundle.open`` refuses a bundle with a missing, changed or unlisted file, so a
loader only ever reads bytes the manifest vouches for; ``Bundle.read_bytes`` checks the
hash again on the bytes it hands out, so nothing can be swapped between the two.
"""

from __future__ import annotations

import json
import os
import stat
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any, Literal

import numpy as np
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PlainSerializer,
    PlainValidator,
    ValidationError,
    field_validator,
    model_validator,
)

from shipyard.bundle.signature import DATATYPES, Signature
from shipyard.errors import BundleError, IntegrityError, PathEscapeError
from shipyard.store.artifacts import safe_name, sha256_bytes, sha256_file

FORMAT_VERSION = 1
MANIFEST_FILE = "manifest.json"
INPUT_EXAMPLE_FILE = "input_example.json"
# A manifest is a few kilobytes; anything far larger is not one of ours.
MAX_MANIFEST_BYTES = 16 << 20


class UnlistedFileError(BundleError, ValueError):
    """The bundle directory holds a file, link or device its manifest does not list."""

    def __init__(self, path: str, what: str) -> None:
        self.path = path
        super().__init__(
            f"{path}: {what}; a bundle may hold only the files its manifest lists",
            hint="remove it, or rebuild the bundle with build_bundle",
        )


def _parse_signature(value: Any) -> Signature:
    if isinstance(value, Signature):
        return value
    try:
        signature = Signature.from_dict(value)
    except (KeyError, TypeError, ValueError) as exc:
        raise ValueError(f"invalid signature: {exc!r}") from None
    for spec in (*signature.inputs, *signature.outputs):
        if spec.datatype not in DATATYPES:
            raise ValueError(f"tensor {spec.name!r} has unknown datatype {spec.datatype!r}")
    return signature


SignatureField = Annotated[
    Signature,
    PlainValidator(_parse_signature),
    PlainSerializer(lambda s: s.to_dict(), return_type=dict),
]


class FileEntry(BaseModel):
    """One file of the bundle: its sha256 and size in bytes."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    sha256: str = Field(pattern=r"^[0-9a-f]{64}$")
    size: int = Field(ge=0)


class ModelForm(BaseModel):
    """One stored form of the model, readable by the flavor it is keyed by.

    ``converted_from`` names the form it was converted from (``onnx`` from ``sklearn``);
    ``options`` are the flavor's own settings and, for a converted form, the measured
    equivalence with its source.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    files: tuple[str, ...] = Field(min_length=1)
    converted_from: str | None = None
    options: dict[str, Any] = Field(default_factory=dict)


class Manifest(BaseModel):
    """What ``manifest.json`` says. Validated once, here, because a bundle is untrusted."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    format_version: Literal[1] = 1
    name: str = Field(min_length=1, max_length=200)
    flavor: str  # the form that serves by default; a key of ``forms``
    created_at: datetime
    run_id: str | None = None
    files: dict[str, FileEntry]
    signature: SignatureField
    forms: dict[str, ModelForm] = Field(min_length=1)
    environment: dict[str, str] = Field(default_factory=dict)
    metadata: dict[str, Any] = Field(default_factory=dict)

    @field_validator("files")
    @classmethod
    def _relative_names(cls, files: dict[str, FileEntry]) -> dict[str, FileEntry]:
        for name in files:
            try:
                normal = safe_name(name, root="the bundle")
            except PathEscapeError:
                raise ValueError(f"file name {name!r} would escape the bundle") from None
            if normal != name or name == MANIFEST_FILE:
                raise ValueError(f"file name {name!r} is not a plain relative name")
        return files

    @model_validator(mode="after")
    def _forms_are_listed(self) -> Manifest:
        if self.flavor not in self.forms:
            raise ValueError(f"flavor {self.flavor!r} is not one of the forms {list(self.forms)}")
        for flavor, form in self.forms.items():
            unlisted = [f for f in form.files if f not in self.files]
            if unlisted:
                raise ValueError(f"form {flavor!r} names files not in 'files': {unlisted}")
            if form.converted_from is not None and form.converted_from not in self.forms:
                raise ValueError(f"form {flavor!r} is converted from a missing form")
        return self

    @property
    def native_flavor(self) -> str:
        """The form the model was built from (not converted from another)."""
        return next(name for name, form in self.forms.items() if form.converted_from is None)

    def to_json(self) -> bytes:
        data = self.model_dump(mode="json")
        return (json.dumps(data, indent=2, sort_keys=True, allow_nan=False) + "\n").encode()

    @classmethod
    def from_json(cls, raw: bytes) -> Manifest:
        """Parse and validate manifest bytes; raises BundleError saying what is wrong."""
        try:
            data = json.loads(raw, parse_constant=_refuse_constant)
        except (ValueError, UnicodeDecodeError) as exc:
            raise BundleError(
                f"{MANIFEST_FILE} is not valid JSON: {exc}", hint="rebuild the bundle"
            ) from None
        version = data.get("format_version") if isinstance(data, dict) else None
        if isinstance(version, int) and version > FORMAT_VERSION:
            raise BundleError(
                f"bundle format {version} is newer than this Shipyard reads ({FORMAT_VERSION})",
                hint="upgrade shipyard on the machine that loads it",
            )
        try:
            return cls.model_validate(data)
        except ValidationError as exc:
            problems = "; ".join(
                f"{'.'.join(str(p) for p in e['loc']) or 'manifest'}: {e['msg']}"
                for e in exc.errors()[:5]
            )
            raise BundleError(
                f"{MANIFEST_FILE} is invalid: {problems}", hint="rebuild the bundle"
            ) from None


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not allowed")


def hash_tree(root: str | Path) -> dict[str, FileEntry]:
    """A ``FileEntry`` for every file under ``root`` but the manifest; refuses links."""
    root = Path(root)
    entries: dict[str, FileEntry] = {}
    for rel, path in _walk(root):
        if rel != MANIFEST_FILE:
            entries[rel] = FileEntry(sha256=sha256_file(path), size=path.stat().st_size)
    return dict(sorted(entries.items()))


def _walk(root: Path) -> list[tuple[str, Path]]:
    """Every regular file under root as (relative posix name, path); links refused."""
    found: list[tuple[str, Path]] = []
    for dirpath, dirnames, filenames in os.walk(root):
        for name in sorted(dirnames) + sorted(filenames):
            path = Path(dirpath, name)
            rel = path.relative_to(root).as_posix()
            mode = os.lstat(path).st_mode
            if stat.S_ISLNK(mode):
                raise UnlistedFileError(rel, "is a symbolic link")
            if stat.S_ISDIR(mode):
                continue
            if not stat.S_ISREG(mode):
                raise UnlistedFileError(rel, "is not a regular file")
            found.append((rel, path))
    return found


def verify(root: str | Path, manifest: Manifest) -> None:
    """Check that ``root`` holds exactly the manifest's files, each with its sha256.

    Raises:
        IntegrityError: a listed file is missing or its bytes changed.
        UnlistedFileError: an unlisted file, a link or a device is present.
    """
    root = Path(root)
    present = {rel for rel, _ in _walk(root)}
    unlisted = sorted(present - set(manifest.files) - {MANIFEST_FILE})
    if unlisted:
        raise UnlistedFileError(unlisted[0], "is not listed in manifest.json")
    for rel, entry in manifest.files.items():
        if rel not in present:
            raise IntegrityError(rel, entry.sha256, None)
        digest = sha256_file(root / rel)
        if digest != entry.sha256:
            raise IntegrityError(rel, entry.sha256, digest)


@dataclass(frozen=True)
class Bundle:
    """A bundle directory whose files were all checked against its manifest.

    ``digest`` is the sha256 of ``manifest.json``; since the manifest pins every other
    file, it names the whole bundle (the registry and the server record it).
    """

    path: Path
    manifest: Manifest
    digest: str

    @classmethod
    def open(cls, path: str | Path) -> Bundle:
        """Read the manifest and verify every file; the only way to get a Bundle."""
        path = Path(path)
        manifest_path = path / MANIFEST_FILE
        if not path.is_dir() or not manifest_path.is_file():
            raise BundleError(
                f"{path} is not a bundle: it has no {MANIFEST_FILE}",
                hint="pass a directory made by build_bundle, or an archive made by pack",
            )
        if manifest_path.stat().st_size > MAX_MANIFEST_BYTES:
            raise BundleError(f"{manifest_path} is too large to be a manifest")
        raw = manifest_path.read_bytes()
        manifest = Manifest.from_json(raw)
        verify(path, manifest)
        return cls(path=path, manifest=manifest, digest=sha256_bytes(raw))

    @property
    def signature(self) -> Signature:
        return self.manifest.signature

    def read_bytes(self, name: str) -> bytes:
        """A listed file's bytes, checked against the manifest on the bytes returned."""
        entry = self.manifest.files.get(name)
        if entry is None:
            raise BundleError(
                f"{name} is not listed in this bundle's manifest",
                hint="only files the manifest vouches for are read",
            )
        try:
            data = (self.path / name).read_bytes()
        except FileNotFoundError:
            raise IntegrityError(name, entry.sha256, None) from None
        digest = sha256_bytes(data)
        if digest != entry.sha256:
            raise IntegrityError(name, entry.sha256, digest)
        return data

    def read_json(self, name: str) -> Any:
        return json.loads(self.read_bytes(name))

    def input_example(self) -> Any:
        """The input example as a pandas DataFrame, typed by the signature."""
        import pandas as pd

        columns = self.read_json(INPUT_EXAMPLE_FILE)
        frame = {}
        for spec in self.signature.inputs:
            values = columns[spec.name]
            if spec.datatype == "BYTES":
                frame[spec.name] = pd.Series(values, dtype=object)
            else:
                dtype = DATATYPES[spec.datatype]
                if any(v is None for v in values):
                    dtype = "float64"
                frame[spec.name] = pd.Series(np.asarray(values, dtype=dtype))
        return pd.DataFrame(frame)
