"""ArtifactStore: one contract for the local directory and s3:// (a local moto server),
plus the guarantee that no user-given name reaches outside its root."""

from __future__ import annotations

import hashlib
import os
import random
import threading
import types
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import fsspec
import pytest

from shipyard.errors import NotFoundError, PathEscapeError, StoreError
from shipyard.store import artifacts as artifacts_module
from shipyard.store.artifacts import ArtifactStore, safe_join, safe_name, sha256_bytes


@pytest.fixture(params=["local", "s3"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> ArtifactStore:
    if request.param == "local":
        return ArtifactStore(str(tmp_path / "artifacts"))
    s3 = request.getfixturevalue("s3_server")
    return ArtifactStore(s3.url("team/artifacts"), storage_options=s3.storage_options)


def blob_url(store: ArtifactStore, digest: str) -> str:
    """Where a blob lives, by the documented layout ``<root>/sha256/ab/cdef…``."""
    return f"{store.root}/sha256/{digest[:2]}/{digest[2:]}"


def raw_fs(store: ArtifactStore) -> fsspec.AbstractFileSystem:
    """A filesystem that reaches the store's bytes without going through the store."""
    if "://" not in store.root:
        return fsspec.filesystem("file")
    return store._fs  # the same credentials and endpoint


def every_object(store: ArtifactStore) -> list[str]:
    return sorted(raw_fs(store).find(store.root))


# ---------------------------------------------------------------- the contract
def test_put_bytes_returns_the_sha256_and_reads_back(store: ArtifactStore) -> None:
    data = b"the model weights\x00\xff"
    digest = store.put_bytes(data)
    assert digest == hashlib.sha256(data).hexdigest()
    assert store.exists(digest)
    assert store.get_bytes(digest) == data
    with store.open(digest) as fh:
        assert fh.read() == data


def test_empty_blob_is_a_blob(store: ArtifactStore) -> None:
    digest = store.put_bytes(b"")
    assert digest == sha256_bytes(b"")
    assert store.get_bytes(digest) == b""


def test_same_bytes_are_stored_once(store: ArtifactStore) -> None:
    first = store.put_bytes(b"same")
    second = store.put_bytes(b"same")
    other = store.put_bytes(b"different")
    assert first == second != other
    assert sorted(store.digests()) == sorted({first, other})
    assert len(every_object(store)) == 2


def test_put_file_streams_large_files(store: ArtifactStore, tmp_path: Path) -> None:
    # larger than the 1 MiB chunk, and not a multiple of it
    data = random.Random(1).randbytes(2 * artifacts_module.CHUNK + 12_345)
    source = tmp_path / "big.bin"
    source.write_bytes(data)
    digest = store.put_file(source)
    assert digest == hashlib.sha256(data).hexdigest()
    assert store.put_bytes(data) == digest  # a file and its bytes are the same blob
    assert store.get_bytes(digest) == data
    copy = store.fetch(digest, tmp_path / "out" / "copy.bin")
    assert copy.read_bytes() == data


def test_missing_blob_is_not_found(store: ArtifactStore, tmp_path: Path) -> None:
    digest = sha256_bytes(b"never stored")
    assert not store.exists(digest)
    with pytest.raises(NotFoundError) as info:
        store.get_bytes(digest)
    assert isinstance(info.value, LookupError)
    with pytest.raises(NotFoundError):
        store.open(digest)
    with pytest.raises(NotFoundError):
        store.fetch(digest, tmp_path / "x")
    assert store.local_path(digest) is None


@pytest.mark.parametrize(
    "digest",
    [
        "../../etc/passwd",
        "ab" * 31,  # 62 characters
        "AB" * 32,  # uppercase
        "g" * 64,
        "/" + "a" * 63,
        "a" * 63 + "\x00",
        "",
    ],
)
def test_anything_but_a_digest_is_refused_before_touching_storage(
    store: ArtifactStore, digest: str, tmp_path: Path
) -> None:
    for call in (
        lambda: store.exists(digest),
        lambda: store.get_bytes(digest),
        lambda: store.open(digest),
        lambda: store.fetch(digest, tmp_path / "x"),
        lambda: store.local_path(digest),
    ):
        with pytest.raises(StoreError, match="not a sha256 digest"):
            call()
    assert not (tmp_path / "x").exists()


def test_every_object_lives_under_the_root(store: ArtifactStore) -> None:
    digests = {store.put_bytes(bytes([i]) * i) for i in range(20)}
    objects = every_object(store)
    assert len(objects) == 20
    root = store.root.split("://", 1)[-1]
    assert all(key.split("://", 1)[-1].startswith(f"{root}/sha256/") for key in objects)
    assert set(store.digests()) == digests


def test_local_path_only_for_a_local_store(store: ArtifactStore) -> None:
    digest = store.put_bytes(b"x")
    path = store.local_path(digest)
    if "://" in store.root:
        assert path is None
    else:
        assert path is not None and path.read_bytes() == b"x"


# ---------------------------------------------------------------- corruption
@pytest.mark.parametrize(
    "damage",
    [
        pytest.param(lambda data: data[:-1], id="truncated"),
        pytest.param(lambda data: bytes([data[0] ^ 1]) + data[1:], id="bit-flip"),
        pytest.param(lambda data: data + b"\n", id="appended"),
        pytest.param(lambda data: b"", id="emptied"),
    ],
)
def test_corrupt_blob_is_detected_on_read(
    store: ArtifactStore, tmp_path: Path, damage: Callable[[bytes], bytes]
) -> None:
    data = b"a step output that matters" * 100
    digest = store.put_bytes(data)
    raw_fs(store).pipe_file(blob_url(store, digest), damage(data))

    with pytest.raises(StoreError, match="corrupt"):
        store.get_bytes(digest)
    dest = tmp_path / "fetched.bin"
    with pytest.raises(StoreError, match="corrupt"):
        store.fetch(digest, dest)
    assert not dest.exists(), "a corrupt fetch must not leave a file behind"
    # the caller may opt out, e.g. to salvage what is left
    assert store.get_bytes(digest, verify=False) == damage(data)


def test_corrupt_blob_error_names_the_digest(store: ArtifactStore) -> None:
    digest = store.put_bytes(b"abc")
    raw_fs(store).pipe_file(blob_url(store, digest), b"abd")
    with pytest.raises(StoreError) as info:
        store.get_bytes(digest)
    assert digest[:12] in str(info.value)
    assert info.value.hint


# ---------------------------------------------------------------- atomic writes
class _Paused:
    """Stands in for ``shutil`` in the store: copies half a file, then waits."""

    def __init__(self, fail: bool = False) -> None:
        self.halfway = threading.Event()
        self.proceed = threading.Event()
        self.fail = fail

    def copyfileobj(self, src: Any, dst: Any, length: int = 0) -> None:
        data = src.read()
        dst.write(data[: len(data) // 2])
        dst.flush()
        self.halfway.set()
        assert self.proceed.wait(10)
        if self.fail:
            raise OSError("disk full (simulated)")
        dst.write(data[len(data) // 2 :])


@pytest.fixture
def big_file(tmp_path: Path) -> tuple[Path, bytes]:
    data = os.urandom(3 * artifacts_module.CHUNK)
    path = tmp_path / "upload.bin"
    path.write_bytes(data)
    return path, data


def test_a_blob_being_written_is_invisible_until_complete(
    store: ArtifactStore, big_file: tuple[Path, bytes], monkeypatch: pytest.MonkeyPatch
) -> None:
    path, data = big_file
    digest = sha256_bytes(data)
    paused = _Paused()
    monkeypatch.setattr(
        artifacts_module, "shutil", types.SimpleNamespace(copyfileobj=paused.copyfileobj)
    )
    with ThreadPoolExecutor(1) as pool:
        writing = pool.submit(store.put_file, path)
        assert paused.halfway.wait(10)
        try:
            assert not store.exists(digest)
            with pytest.raises(NotFoundError):
                store.get_bytes(digest)
            assert digest not in set(store.digests())
        finally:
            paused.proceed.set()
        assert writing.result() == digest
    assert store.get_bytes(digest) == data


def test_a_failed_write_leaves_nothing_behind(
    store: ArtifactStore, big_file: tuple[Path, bytes], monkeypatch: pytest.MonkeyPatch
) -> None:
    path, data = big_file
    paused = _Paused(fail=True)
    paused.proceed.set()
    monkeypatch.setattr(
        artifacts_module, "shutil", types.SimpleNamespace(copyfileobj=paused.copyfileobj)
    )
    with pytest.raises(OSError, match="disk full"):
        store.put_file(path)
    assert not store.exists(sha256_bytes(data))
    assert list(store.digests()) == []
    assert every_object(store) == [], "no temporary file or object may be left behind"


def test_concurrent_writers_of_the_same_bytes_agree(store: ArtifactStore) -> None:
    data = os.urandom(200_000)
    with ThreadPoolExecutor(8) as pool:
        digests = set(pool.map(lambda _: store.put_bytes(data), range(16)))
    assert digests == {sha256_bytes(data)}
    assert store.get_bytes(sha256_bytes(data)) == data
    assert len(every_object(store)) == 1


# ---------------------------------------------------------------- s3 specifics
def test_s3_store_reads_endpoint_from_the_environment(
    s3_server: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """botocore honours AWS_ENDPOINT_URL_S3, so shipyard.yaml needs no S3 options."""
    monkeypatch.setenv("AWS_ENDPOINT_URL_S3", s3_server.endpoint_url)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    writer = ArtifactStore(s3_server.url("env"), storage_options={"skip_instance_cache": True})
    digest = writer.put_bytes(b"through the environment")
    reader = ArtifactStore(s3_server.url("env"), storage_options=s3_server.storage_options)
    assert reader.get_bytes(digest) == b"through the environment"


def test_a_project_with_s3_artifacts_needs_only_the_standard_aws_variables(
    s3_server: Any, project: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``artifacts: s3://...`` in shipyard.yaml; endpoint and keys from the environment."""
    import s3fs

    from shipyard.project import Project

    for name, value in {
        "AWS_ENDPOINT_URL_S3": s3_server.endpoint_url,
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
    }.items():
        monkeypatch.setenv(name, value)
    (project.root / "shipyard.yaml").write_text(f"artifacts: {s3_server.url('shipyard')}\n")
    s3fs.S3FileSystem.clear_instance_cache()
    try:
        on_s3 = Project.open(project.root)
        assert on_s3.settings.artifacts_url == s3_server.url("shipyard")
        digest = on_s3.artifacts.put_bytes(b"a model")
        reader = ArtifactStore(s3_server.url("shipyard"), storage_options=s3_server.storage_options)
        assert reader.get_bytes(digest) == b"a model"
    finally:
        s3fs.S3FileSystem.clear_instance_cache()


def test_two_prefixes_in_one_bucket_are_separate_stores(s3_server: Any) -> None:
    a = ArtifactStore(s3_server.url("a"), storage_options=s3_server.storage_options)
    b = ArtifactStore(s3_server.url("b/"), storage_options=s3_server.storage_options)
    digest = a.put_bytes(b"only in a")
    assert a.exists(digest)
    assert not b.exists(digest)
    assert list(b.digests()) == []


# ---------------------------------------------------------------- names and paths
ESCAPES = [
    "../../etc/passwd",
    "..",
    "../",
    "./../x",
    "a/../../x",
    "a/b/../../../x",
    "a/..",
    "/etc/passwd",
    "//etc/passwd",
    "/",
    "a\x00b",
    "\x00",
    "model.skops\x00.png",
    "..\\..\\windows\\system32",
    "a\\b",
    "C:\\Windows",
    "C:/Windows",
    "C:relative",
    "\\\\server\\share\\x",
    "",
    ".",
    "./",
    "./.",
]


@pytest.mark.parametrize("name", ESCAPES, ids=repr)
def test_names_that_could_escape_are_refused(name: str, tmp_path: Path) -> None:
    with pytest.raises(PathEscapeError) as info:
        safe_name(name)
    assert isinstance(info.value, ValueError)
    assert isinstance(info.value, StoreError)
    with pytest.raises(PathEscapeError):
        safe_join(tmp_path, name)


@pytest.mark.parametrize("name", [None, 5, b"plots/a.png", Path("a")], ids=repr)
def test_names_must_be_strings(name: Any) -> None:
    with pytest.raises(PathEscapeError):
        safe_name(name)


@pytest.mark.parametrize(
    ("name", "normal"),
    [
        ("plots/residuals.png", "plots/residuals.png"),
        ("./plots/./a.png", "plots/a.png"),
        ("plots//a.png", "plots/a.png"),
        ("plots/", "plots"),
        ("...", "..."),
        ("..a", "..a"),
        ("a..", "a.."),
        ("~/x", "~/x"),
        ("%2e%2e/%2e%2e/etc/passwd", "%2e%2e/%2e%2e/etc/passwd"),  # URL-encoded is a name
        ("%2e%2e%2f%2e%2e%2fetc", "%2e%2e%2f%2e%2e%2fetc"),
        ("\u2025/x", "\u2025/x"),  # a look-alike of '..' is a name
        ("report v2 (final).html", "report v2 (final).html"),
        ("$HOME/x", "$HOME/x"),
    ],
)
def test_ordinary_names_are_kept_and_stay_inside(name: str, normal: str, tmp_path: Path) -> None:
    assert safe_name(name) == normal
    target = safe_join(tmp_path, name)
    assert target == tmp_path.resolve() / normal
    assert tmp_path.resolve() in target.parents


@pytest.fixture
def root_with_links(tmp_path: Path) -> Path:
    root = tmp_path / "root"
    (root / "inside").mkdir(parents=True)
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret").write_text("s")
    (root / "to_outside_dir").symlink_to(outside)
    (root / "to_outside_file").symlink_to(outside / "secret")
    (root / "to_parent").symlink_to("..")
    (root / "dangling_out").symlink_to(tmp_path / "nowhere")
    (root / "to_inside").symlink_to(root / "inside")
    return root


@pytest.mark.parametrize(
    "name",
    [
        "to_outside_dir/secret",
        "to_outside_dir",
        "to_outside_file",
        "to_parent/outside/secret",
        "dangling_out",
        "dangling_out/new.txt",
    ],
)
def test_symlinks_inside_the_root_cannot_lead_out(root_with_links: Path, name: str) -> None:
    assert safe_name(name) == name  # nothing wrong with the name itself
    with pytest.raises(PathEscapeError):
        safe_join(root_with_links, name)


def test_symlinks_that_stay_inside_are_followed(root_with_links: Path) -> None:
    target = safe_join(root_with_links, "to_inside/file.txt")
    assert target == root_with_links.resolve() / "inside" / "file.txt"


def test_root_given_through_a_symlink_still_works(root_with_links: Path, tmp_path: Path) -> None:
    alias = tmp_path / "alias"
    alias.symlink_to(root_with_links)
    assert safe_join(alias, "inside/x") == root_with_links.resolve() / "inside" / "x"


def test_random_names_never_leave_the_root(tmp_path: Path) -> None:
    """Any string built from path-ish pieces is either refused or lands inside the root."""
    pieces = ["..", ".", "a", "b.txt", "", "/", "\\", "\x00", "C:", "%2e", "~", " ", "...", ":"]
    rng = random.Random(20261126)
    base = tmp_path.resolve()
    accepted = 0
    for _ in range(5_000):
        name = "/".join(rng.choice(pieces) for _ in range(rng.randint(1, 6)))
        try:
            target = safe_join(tmp_path, name)
        except PathEscapeError:
            continue
        accepted += 1
        assert base in target.parents, name
        assert os.path.commonpath([base, target]) == str(base)
    assert accepted > 100  # the generator produced plenty of legal names too


def test_path_escape_error_says_what_is_allowed() -> None:
    with pytest.raises(PathEscapeError) as info:
        safe_name("../../etc/passwd", root="/srv/artifacts")
    text = str(info.value)
    assert "'../../etc/passwd'" in text and "/srv/artifacts" in text
    assert info.value.hint and ".." in info.value.hint
