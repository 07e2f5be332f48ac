"""The manifest is validated once, and a bundle must hold exactly what it lists."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest

from shipyard.bundle import Bundle, Manifest, UnlistedFileError, build_bundle
from shipyard.errors import BundleError, IntegrityError


@pytest.fixture(scope="module")
def source(tmp_path_factory: pytest.TempPathFactory, ridge_pipeline, housing) -> Bundle:
    frame, _ = housing
    out = tmp_path_factory.mktemp("manifest") / "bundle"
    return build_bundle(
        ridge_pipeline,
        out,
        name="housing",
        input_example=frame.head(3),
        convert_onnx=False,
        test_results={"passed": 12, "failed": 0},
    )


@pytest.fixture
def bundle_dir(source: Bundle, tmp_path: Path) -> Path:
    copy = tmp_path / "bundle"
    shutil.copytree(source.path, copy)
    return copy


def _edit_manifest(bundle_dir: Path, change) -> None:
    path = bundle_dir / "manifest.json"
    data = json.loads(path.read_text())
    change(data)
    path.write_text(json.dumps(data))


def test_manifest_round_trips_through_json(source: Bundle) -> None:
    again = Manifest.from_json(source.manifest.to_json())
    assert again == source.manifest
    assert again.signature == source.manifest.signature


def test_open_refuses_an_unlisted_file(bundle_dir: Path) -> None:
    (bundle_dir / "model" / "model.pkl").write_bytes(b"\x80\x05N.")
    with pytest.raises(UnlistedFileError, match=r"model/model\.pkl"):
        Bundle.open(bundle_dir)


def test_open_refuses_a_symlink_even_to_a_listed_file(bundle_dir: Path) -> None:
    os.symlink(bundle_dir / "input_example.json", bundle_dir / "link.json")
    with pytest.raises(UnlistedFileError, match="symbolic link"):
        Bundle.open(bundle_dir)


def test_open_refuses_a_listed_file_replaced_by_a_symlink(bundle_dir: Path, tmp_path: Path) -> None:
    outside = tmp_path / "outside.json"
    shutil.copy(bundle_dir / "test_results.json", outside)
    (bundle_dir / "test_results.json").unlink()
    os.symlink(outside, bundle_dir / "test_results.json")
    with pytest.raises(UnlistedFileError, match="symbolic link"):
        Bundle.open(bundle_dir)


def test_open_refuses_a_changed_document(bundle_dir: Path) -> None:
    (bundle_dir / "test_results.json").write_text('{"passed": 12, "failed": 3}')
    with pytest.raises(IntegrityError) as error:
        Bundle.open(bundle_dir)
    assert error.value.path == "test_results.json"


def test_a_directory_without_manifest_is_not_a_bundle(tmp_path: Path) -> None:
    with pytest.raises(BundleError, match=r"no manifest\.json"):
        Bundle.open(tmp_path)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda d: d["files"].update({"../outside": d["files"]["input_example.json"]}), "escape"),
        (lambda d: d["files"].update({"/etc/passwd": d["files"]["input_example.json"]}), "escape"),
        (lambda d: d.update(flavor="pickle"), "not one of the forms"),
        (lambda d: d["forms"]["sklearn"].update(files=["model/other.skops"]), "not in 'files'"),
        (lambda d: d.update(unexpected=True), "unexpected"),
        (lambda d: d["files"]["input_example.json"].update(sha256="abc"), "sha256"),
        (lambda d: d["signature"]["inputs"][0].update(datatype="PICKLE"), "datatype"),
    ],
)
def test_invalid_manifests_are_refused_with_the_field_named(
    bundle_dir: Path, change, message
) -> None:
    _edit_manifest(bundle_dir, change)
    with pytest.raises(BundleError, match=message):
        Bundle.open(bundle_dir)


def test_a_newer_format_version_asks_for_an_upgrade(bundle_dir: Path) -> None:
    _edit_manifest(bundle_dir, lambda d: d.update(format_version=2))
    with pytest.raises(BundleError, match="upgrade shipyard"):
        Bundle.open(bundle_dir)


def test_nan_in_the_manifest_is_refused(bundle_dir: Path) -> None:
    path = bundle_dir / "manifest.json"
    path.write_text(path.read_text().replace('"run_id": null', '"run_id": NaN'))
    with pytest.raises(BundleError, match="not valid JSON"):
        Bundle.open(bundle_dir)


def test_read_bytes_refuses_names_the_manifest_does_not_list(source: Bundle) -> None:
    with pytest.raises(BundleError, match="not listed"):
        source.read_bytes("../../etc/passwd")


def test_read_bytes_checks_the_hash_of_what_it_returns(bundle_dir: Path) -> None:
    bundle = Bundle.open(bundle_dir)
    (bundle_dir / "input_example.json").write_text("{}")  # swapped after verification
    with pytest.raises(IntegrityError):
        bundle.read_bytes("input_example.json")


def test_digest_names_the_manifest_bytes(source: Bundle) -> None:
    import hashlib

    raw = (source.path / "manifest.json").read_bytes()
    assert source.digest == hashlib.sha256(raw).hexdigest()
