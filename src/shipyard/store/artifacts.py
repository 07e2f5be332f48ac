"""Content-addressed artifact blobs: a local directory by default, any fsspec URL else.

A blob is named by the sha256 of its bytes (``sha256/ab/cdef…``), so writing the same
bytes twice stores them once and a name can never be chosen by a user. User-facing
names (``log_artifact("plots/residuals.png")``) are validated by ``safe_name`` and kept
in the metadata store, never used as paths.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import shutil
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path, PurePosixPath
from typing import IO, Any

from shipyard.errors import NotFoundError, PathEscapeError, StoreError

CHUNK = 1 << 20


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def sha256_file(path: str | Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(CHUNK), b""):
            digest.update(chunk)
    return digest.hexdigest()


def safe_name(name: str, *, root: str = "the artifact root") -> str:
    """Normalise a user-given relative name, refusing any that could escape its root.

    Raises:
        PathEscapeError: for absolute paths, ``..`` parts, NUL bytes, backslashes or
            drive letters.
    """
    if not isinstance(name, str) or not name or "\x00" in name or "\\" in name:
        raise PathEscapeError(str(name), root)
    path = PurePosixPath(name)
    # "." and "./" have no parts at all: nothing to name, so refuse them too
    if not path.parts or path.is_absolute() or ":" in path.parts[0] or ".." in path.parts:
        raise PathEscapeError(name, root)
    return "/".join(path.parts)


def safe_join(root: str | Path, name: str) -> Path:
    """``root / name`` for a user-given name, guaranteed to stay inside ``root``."""
    base = Path(root).resolve()
    target = (base / safe_name(name, root=str(base))).resolve()
    if target != base and base not in target.parents:
        # a symlink inside root pointing out of it
        raise PathEscapeError(name, str(base))
    return target


class ArtifactStore:
    """Blobs by sha256 under a root: a local directory or an fsspec URL (``s3://…``).

    Args:
        root: a directory path, or a URL such as ``s3://bucket/prefix``.
        storage_options: passed to fsspec (e.g. ``{"endpoint_url": ...}`` for S3).
    """

    def __init__(self, root: str, storage_options: dict[str, Any] | None = None) -> None:
        self._local = "://" not in root or root.startswith("file://")
        self.root = root.removeprefix("file://").rstrip("/") if self._local else root.rstrip("/")
        if self._local:
            Path(self.root).mkdir(parents=True, exist_ok=True)
            self._fs = None
        else:
            import fsspec

            try:
                self._fs, _ = fsspec.core.url_to_fs(root, **(storage_options or {}))
            except (ImportError, ValueError) as exc:
                raise StoreError(
                    f"cannot open artifact store {root}: {exc}",
                    hint="for s3:// install shipyard[s3] and set credentials",
                ) from None

    def _key(self, digest: str) -> str:
        if len(digest) != 64 or any(c not in "0123456789abcdef" for c in digest):
            raise StoreError(
                f"{digest!r} is not a sha256 digest", hint="pass 64 lowercase hex digits"
            )
        return f"{self.root}/sha256/{digest[:2]}/{digest[2:]}"

    def put_bytes(self, data: bytes) -> str:
        """Store bytes; returns their sha256."""
        digest = sha256_bytes(data)
        if not self.exists(digest):
            self._write(digest, lambda fh: fh.write(data))
        return digest

    def put_file(self, path: str | Path) -> str:
        """Store a file's bytes, streamed; returns their sha256."""
        digest = sha256_file(path)
        if not self.exists(digest):

            def copy(fh: IO[bytes]) -> None:
                with open(path, "rb") as src:
                    shutil.copyfileobj(src, fh, CHUNK)

            self._write(digest, copy)
        return digest

    def _write(self, digest: str, write: Any) -> None:
        key = self._key(digest)
        if self._local:
            # write to a temporary file then rename: a reader never sees half a blob
            Path(key).parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=Path(key).parent, prefix=".tmp-")
            try:
                with os.fdopen(fd, "wb") as fh:
                    write(fh)
                os.replace(tmp, key)
            except BaseException:
                Path(tmp).unlink(missing_ok=True)
                raise
        else:
            assert self._fs is not None
            # an object store has no rename; an upload becomes visible only when it
            # completes, but closing a file commits what was written even on error, so a
            # failed write must never be aimed at the final key
            tmp = f"{key}.tmp-{uuid.uuid4().hex}"
            try:
                with self._fs.open(tmp, "wb") as fh:
                    write(fh)
                self._fs.mv(tmp, key)
            except BaseException:
                with contextlib.suppress(Exception):
                    self._fs.rm(tmp)
                raise

    def exists(self, digest: str) -> bool:
        key = self._key(digest)
        if self._local:
            return os.path.exists(key)
        assert self._fs is not None
        return bool(self._fs.exists(key))

    def open(self, digest: str) -> IO[bytes]:
        """Open a blob for reading; raises NotFoundError when absent."""
        key = self._key(digest)
        try:
            if self._local:
                return open(key, "rb")
            assert self._fs is not None
            return self._fs.open(key, "rb")  # type: ignore[no-any-return]
        except FileNotFoundError:
            raise NotFoundError("artifact", digest) from None

    def get_bytes(self, digest: str, *, verify: bool = True) -> bytes:
        """A blob's bytes, checked against its digest unless ``verify=False``."""
        with self.open(digest) as fh:
            data = fh.read()
        if verify and sha256_bytes(data) != digest:
            raise StoreError(
                f"artifact {digest[:12]}… is corrupt: its bytes no longer match their sha256",
                hint="restore it from a backup or rerun the step that wrote it",
            )
        return data

    def fetch(self, digest: str, dest: str | Path) -> Path:
        """Copy a blob to a local file, verifying its digest."""
        dest = Path(dest)
        dest.parent.mkdir(parents=True, exist_ok=True)
        hasher = hashlib.sha256()
        with self.open(digest) as src, open(dest, "wb") as out:
            for chunk in iter(lambda: src.read(CHUNK), b""):
                hasher.update(chunk)
                out.write(chunk)
        if hasher.hexdigest() != digest:
            dest.unlink(missing_ok=True)
            raise StoreError(
                f"artifact {digest[:12]}… is corrupt", hint="rerun the step that wrote it"
            )
        return dest

    def local_path(self, digest: str) -> Path | None:
        """The blob's path when the store is a local directory, else None."""
        key = self._key(digest)
        return Path(key) if self._local and os.path.exists(key) else None

    def digests(self) -> Iterator[str]:
        """Every stored digest (for garbage collection and checks)."""
        base = f"{self.root}/sha256"
        if self._local:
            for path in Path(base).glob("*/*"):
                if not path.name.startswith(".tmp-"):
                    yield path.parent.name + path.name
        else:
            assert self._fs is not None
            for key in self._fs.find(base):
                parts = key.rstrip("/").split("/")
                if ".tmp-" not in parts[-1]:
                    yield parts[-2] + parts[-1]
