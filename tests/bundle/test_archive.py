"""Packing is deterministic; unpacking refuses every member that could escape or deceive."""

from __future__ import annotations

import io
import shutil
import tarfile
from collections.abc import Callable
from pathlib import Path

import pytest

from shipyard.bundle import Bundle, UnsafeArchiveError, build_bundle, pack, unpack
from shipyard.errors import BundleError, IntegrityError


@pytest.fixture(scope="module")
def small_bundle(tmp_path_factory: pytest.TempPathFactory, ridge_pipeline, housing) -> Bundle:
    frame, _ = housing
    out = tmp_path_factory.mktemp("archive") / "bundle"
    return build_bundle(
        ridge_pipeline, out, name="housing", input_example=frame.head(3), convert_onnx=False
    )


def test_pack_writes_identical_bytes_for_the_same_bundle(
    small_bundle: Bundle, tmp_path: Path
) -> None:
    copy = tmp_path / "copy"
    shutil.copytree(small_bundle.path, copy)  # new mtimes, same content
    (copy / "input_example.json").touch()
    first = pack(small_bundle.path, tmp_path / "a.tar.gz").read_bytes()
    second = pack(copy, tmp_path / "b.tar.gz").read_bytes()
    assert first == second


def test_pack_members_are_sorted_with_no_owner_or_time(
    small_bundle: Bundle, tmp_path: Path
) -> None:
    with tarfile.open(pack(small_bundle.path, tmp_path / "a.tar.gz")) as tar:
        members = tar.getmembers()
    names = [m.name for m in members]
    assert names == sorted(names)
    assert "manifest.json" in names
    assert {(m.mtime, m.uid, m.gid, m.uname, m.gname, m.mode) for m in members} == {
        (0, 0, 0, "", "", 0o644)
    }


def test_pack_refuses_a_tampered_bundle(small_bundle: Bundle, tmp_path: Path) -> None:
    copy = tmp_path / "copy"
    shutil.copytree(small_bundle.path, copy)
    (copy / "input_example.json").write_text("{}")
    with pytest.raises(IntegrityError):
        pack(copy, tmp_path / "a.tar.gz")
    assert not (tmp_path / "a.tar.gz").exists()


def _archive(path: Path, *members: tuple[tarfile.TarInfo, bytes | None]) -> Path:
    with tarfile.open(path, "w:gz") as tar:
        for info, data in members:
            if data is not None:
                info.size = len(data)
            tar.addfile(info, io.BytesIO(data) if data is not None else None)
    return path


def _file(name: str, data: bytes = b"x") -> tuple[tarfile.TarInfo, bytes]:
    return tarfile.TarInfo(name), data


def _special(name: str, kind: bytes, target: str = "") -> tuple[tarfile.TarInfo, None]:
    info = tarfile.TarInfo(name)
    info.type = kind
    info.linkname = target
    return info, None


UNSAFE: dict[str, Callable[[], list[tuple[tarfile.TarInfo, bytes | None]]]] = {
    "parent": lambda: [_file("../escaped.txt")],
    "nested-parent": lambda: [_file("model/../../escaped.txt")],
    "absolute": lambda: [_file("/tmp/escaped.txt")],
    "symlink": lambda: [_special("model", tarfile.SYMTYPE, "/etc")],
    "hardlink": lambda: [_file("a.txt"), _special("b.txt", tarfile.LNKTYPE, "a.txt")],
    "char-device": lambda: [_special("dev", tarfile.CHRTYPE)],
    "block-device": lambda: [_special("blk", tarfile.BLKTYPE)],
    "fifo": lambda: [_special("pipe", tarfile.FIFOTYPE)],
    "duplicate": lambda: [_file("a.txt"), _file("a.txt", b"y")],
    "file-then-dir": lambda: [_file("a"), _file("a/b")],
}


@pytest.mark.parametrize("kind", list(UNSAFE))
def test_unpack_refuses_unsafe_members_and_leaves_nothing(kind: str, tmp_path: Path) -> None:
    archive = _archive(tmp_path / "evil.tar.gz", _file("manifest.json", b"{}"), *UNSAFE[kind]())
    dest = tmp_path / "out" / "bundle"
    with pytest.raises(UnsafeArchiveError):
        unpack(archive, dest)
    assert not dest.exists()
    assert not (tmp_path / "escaped.txt").exists()
    assert not (tmp_path / "out" / "escaped.txt").exists()


def test_unpack_refuses_content_past_the_size_cap(tmp_path: Path) -> None:
    archive = _archive(
        tmp_path / "big.tar.gz", _file("a.bin", b"0" * 600), _file("b.bin", b"0" * 600)
    )
    with pytest.raises(UnsafeArchiveError, match="past 1000 bytes"):
        unpack(archive, tmp_path / "out", max_bytes=1_000)
    assert not (tmp_path / "out").exists()


def test_unpack_refuses_headers_that_decompress_past_the_cap(tmp_path: Path) -> None:
    # a PAX header is read into memory by tarfile itself, before any member check
    info = tarfile.TarInfo("a.txt")
    info.pax_headers = {"comment": "x" * 200_000}
    archive = _archive(tmp_path / "headers.tar.gz", (info, b"x"))
    with pytest.raises(UnsafeArchiveError, match="decompresses past"):
        unpack(archive, tmp_path / "out", max_bytes=1_000, max_members=5)


def test_unpack_refuses_too_many_members(tmp_path: Path) -> None:
    archive = _archive(tmp_path / "many.tar.gz", *[_file(f"f{i}") for i in range(6)])
    with pytest.raises(UnsafeArchiveError, match="exceeds 5 members"):
        unpack(archive, tmp_path / "out", max_members=5)


def test_unpack_into_an_existing_non_empty_directory_is_refused(
    small_bundle: Bundle, tmp_path: Path
) -> None:
    archive = pack(small_bundle.path, tmp_path / "a.tar.gz")
    dest = tmp_path / "dest"
    dest.mkdir()
    (dest / "mine.txt").write_text("keep me")
    with pytest.raises(BundleError, match="not an empty directory"):
        unpack(archive, dest)
    assert (dest / "mine.txt").read_text() == "keep me"


def test_a_corrupt_archive_is_a_bundle_error(small_bundle: Bundle, tmp_path: Path) -> None:
    archive = pack(small_bundle.path, tmp_path / "a.tar.gz")
    data = bytearray(archive.read_bytes())
    data[len(data) // 2] ^= 0xFF
    archive.write_bytes(bytes(data))
    with pytest.raises(BundleError):
        Bundle.open(unpack(archive, tmp_path / "out"))


def test_unpacked_archive_opens_as_the_same_bundle(small_bundle: Bundle, tmp_path: Path) -> None:
    archive = pack(small_bundle.path, tmp_path / "a.tar.gz")
    assert Bundle.open(unpack(archive, tmp_path / "out")).digest == small_bundle.digest
