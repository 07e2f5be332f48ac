"""The single-file form of a bundle: a deterministic tar.gz, and its safe extraction.

``pack`` writes the same bytes for the same bundle (sorted members, zero mtimes, no
owners, a gzip header without name or time), so an archive's sha256 is stable.
``unpack`` never lets a member choose where it lands or what it is: only regular files
and directories with plain relative names, under a cap on count and total size.
"""

from __future__ import annotations

import gzip
import hashlib
import os
import shutil
import tarfile
import tempfile
import zlib
from contextlib import ExitStack
from pathlib import Path
from typing import IO, Protocol

from shipyard.bundle.manifest import MANIFEST_FILE, Bundle
from shipyard.errors import BundleError, IntegrityError, PathEscapeError
from shipyard.store.artifacts import safe_name

MAX_BYTES = 8 << 30  # total unpacked size; larger models need an explicit max_bytes
MAX_MEMBERS = 10_000
_HEADER_BYTES = 4096  # allowance per member for its header blocks and padding
_CHUNK = 1 << 20


class UnsafeArchiveError(BundleError, ValueError):
    """An archive member would escape its directory, is a link or device, or is too big."""

    def __init__(self, archive: str | Path, member: str, reason: str) -> None:
        self.archive = str(archive)
        self.member = member
        self.reason = reason
        super().__init__(
            f"archive {archive} refused: member {member!r} {reason}",
            hint="bundle archives hold only regular files with relative names; "
            "make them with shipyard.bundle.pack",
        )


class _HashingReader:
    """Reads a file while hashing it, so packing proves what it wrote."""

    def __init__(self, fh: IO[bytes]) -> None:
        self._fh = fh
        self.digest = hashlib.sha256()

    def read(self, size: int = -1) -> bytes:
        data = self._fh.read(size)
        self.digest.update(data)
        return data


def pack(bundle_dir: str | Path, dest: str | Path) -> Path:
    """Verify a bundle directory and write it as one deterministic ``.tar.gz``.

    Raises:
        IntegrityError, UnlistedFileError: the directory does not match its manifest.
    """
    bundle = Bundle.open(bundle_dir)
    dest = Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=dest.parent, prefix=f".{dest.name}.tmp-")
    try:
        with (
            os.fdopen(fd, "wb") as raw,
            gzip.GzipFile(filename="", mode="wb", fileobj=raw, mtime=0) as gz,
            tarfile.open(fileobj=gz, mode="w", format=tarfile.PAX_FORMAT) as tar,
        ):
            for name in sorted([*bundle.manifest.files, MANIFEST_FILE]):
                _add(tar, bundle, name)
        os.replace(tmp, dest)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return dest


def _add(tar: tarfile.TarFile, bundle: Bundle, name: str) -> None:
    path = bundle.path / name
    info = tarfile.TarInfo(name)
    info.size = path.stat().st_size
    info.mtime = 0
    info.mode = 0o644
    info.uid = info.gid = 0
    info.uname = info.gname = ""
    with open(path, "rb") as fh:
        reader = _HashingReader(fh)
        tar.addfile(info, reader)  # type: ignore[arg-type]
    entry = bundle.manifest.files.get(name)
    if entry is not None and reader.digest.hexdigest() != entry.sha256:
        raise IntegrityError(name, entry.sha256, reader.digest.hexdigest())


def unpack(
    archive: str | Path,
    dest: str | Path,
    *,
    max_bytes: int = MAX_BYTES,
    max_members: int = MAX_MEMBERS,
) -> Path:
    """Extract a bundle archive into ``dest`` (new or empty), refusing unsafe members.

    Only regular files and directories are extracted, each under a plain relative name
    (no ``..``, no absolute path, no duplicates). Links, devices and FIFOs are refused,
    as are archives past ``max_members`` members or ``max_bytes`` of content. On any
    refusal nothing extracted is left behind. The result is not yet verified: open it
    with ``Bundle.open``.

    Raises:
        UnsafeArchiveError: a member is unsafe or the archive exceeds a cap.
        BundleError: the archive is unreadable or ``dest`` is not empty.
    """
    dest = Path(dest)
    if dest.exists() and (not dest.is_dir() or any(dest.iterdir())):
        raise BundleError(f"cannot unpack into {dest}: it exists and is not an empty directory")
    created = not dest.exists()
    dest.mkdir(parents=True, exist_ok=True)
    try:
        _extract(Path(archive), dest, max_bytes=max_bytes, max_members=max_members)
    except BaseException as exc:
        if created:
            shutil.rmtree(dest, ignore_errors=True)
        else:
            for child in dest.iterdir():
                shutil.rmtree(child) if child.is_dir() else child.unlink()
        if isinstance(exc, tarfile.TarError | EOFError | zlib.error | gzip.BadGzipFile):
            raise BundleError(
                f"{archive} is not a readable bundle archive: {exc}",
                hint="re-download it, or rebuild it with shipyard.bundle.pack",
            ) from None
        raise
    return dest


class _Readable(Protocol):
    def read(self, size: int = ..., /) -> bytes: ...


class _CappedReader:
    """A decompressed stream that refuses to yield more than ``limit`` bytes.

    Member sizes are checked before their content is read, but tarfile reads headers
    (a PAX header can claim any size) into memory itself: this bounds those too.
    """

    def __init__(self, fh: _Readable, limit: int, archive: Path) -> None:
        self._fh = fh
        self._limit = limit
        self._archive = archive
        self._count = 0

    def read(self, size: int = -1) -> bytes:
        data = self._fh.read(self._limit - self._count + 1 if size < 0 else size)
        self._count += len(data)
        if self._count > self._limit:
            raise UnsafeArchiveError(
                self._archive, "(archive)", f"decompresses past {self._limit} bytes"
            )
        return data


def _extract(archive: Path, dest: Path, *, max_bytes: int, max_members: int) -> None:
    total = 0
    seen: set[str] = set()
    with ExitStack() as stack:
        raw = stack.enter_context(open(archive, "rb"))
        gzipped = raw.read(2) == b"\x1f\x8b"
        raw.seek(0)
        stream = stack.enter_context(gzip.GzipFile(fileobj=raw)) if gzipped else raw
        limit = max_bytes + _HEADER_BYTES * (max_members + 2)
        capped = _CappedReader(stream, limit, archive)
        # stream mode: one pass, members read in order, nothing held back in memory
        tar = stack.enter_context(tarfile.open(fileobj=capped, mode="r|"))  # type: ignore[call-overload]
        for count, member in enumerate(tar, start=1):
            if count > max_members:
                raise UnsafeArchiveError(archive, member.name, f"exceeds {max_members} members")
            if member.isdir() and member.name.rstrip("/") == ".":
                continue  # the root itself, as `tar -C bundle .` writes it
            name = _checked_name(archive, member)
            if member.isdir():
                _make_dir(archive, member, dest / name)
                continue
            if not member.isreg():
                raise UnsafeArchiveError(archive, member.name, f"is a {_kind(member)}")
            if name in seen:
                raise UnsafeArchiveError(archive, member.name, "appears twice")
            seen.add(name)
            total += member.size
            if total > max_bytes:
                raise UnsafeArchiveError(
                    archive, member.name, f"takes the content past {max_bytes} bytes"
                )
            _make_dir(archive, member, (dest / name).parent)
            try:
                _write_member(tar, member, dest / name)
            except (FileExistsError, IsADirectoryError, NotADirectoryError):
                raise UnsafeArchiveError(
                    archive, member.name, "collides with another member"
                ) from None


def _make_dir(archive: Path, member: tarfile.TarInfo, target: Path) -> None:
    try:
        target.mkdir(parents=True, exist_ok=True)
    except (FileExistsError, NotADirectoryError):
        raise UnsafeArchiveError(archive, member.name, "collides with another member") from None


def _checked_name(archive: Path, member: tarfile.TarInfo) -> str:
    try:
        return safe_name(member.name.rstrip("/") if member.isdir() else member.name)
    except PathEscapeError:
        raise UnsafeArchiveError(
            archive, member.name, "has an absolute or parent-relative name"
        ) from None


def _kind(member: tarfile.TarInfo) -> str:
    if member.issym():
        return "symbolic link"
    if member.islnk():
        return "hard link"
    if member.ischr() or member.isblk():
        return "device"
    if member.isfifo():
        return "FIFO"
    return "non-regular member"


def _write_member(tar: tarfile.TarFile, member: tarfile.TarInfo, target: Path) -> None:
    source = tar.extractfile(member)
    if source is None:
        raise BundleError(f"archive member {member.name!r} has no content")
    # "xb": never overwrite, never follow something already there
    with source, open(target, "xb") as out:
        remaining = member.size
        while remaining > 0:
            chunk = source.read(min(_CHUNK, remaining))
            if not chunk:
                raise BundleError(f"archive member {member.name!r} is truncated")
            out.write(chunk)
            remaining -= len(chunk)
