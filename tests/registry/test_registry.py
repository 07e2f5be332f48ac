"""Registering bundles, resolving references, moving aliases and loading versions."""

from __future__ import annotations

import shutil
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from shipyard.bundle import pack
from shipyard.errors import IntegrityError, RegistryError
from shipyard.registry import (
    AliasNotFoundError,
    InvalidReferenceError,
    ModelNotFoundError,
    Registry,
    VersionNotFoundError,
)
from shipyard.registry import registry as registry_module


def test_register_stores_the_bundle_by_digest_and_records_the_manifest(
    registry: Registry, bundles: dict[str, Path]
) -> None:
    mv = registry.register("housing", bundles["champion"], run_id="run1", tags={"team": "a"})
    assert (mv.name, mv.version, mv.ref, mv.run_id) == ("housing", 1, "housing:1", "run1")
    assert mv.flavor == "sklearn"
    assert registry.project.artifacts.exists(mv.bundle_digest)
    files = [p for p in bundles["champion"].rglob("*") if p.is_file() and p.name != "manifest.json"]
    assert mv.size_bytes == sum(p.stat().st_size for p in files)
    assert mv.details["target"] == "y"
    assert mv.details["task"] == "regression"
    assert mv.details["archive_bytes"] > 0
    assert mv.tags == {"team": "a"}


def test_an_archive_registers_as_the_same_bundle_as_its_directory(
    registry: Registry, bundles: dict[str, Path], tmp_path: Path
) -> None:
    archive = pack(bundles["better"], tmp_path / "better.tar.gz")
    from_dir = registry.register("housing", bundles["better"])
    from_archive = registry.register("housing", archive, target="y")
    assert from_archive.version == 2
    assert from_archive.bundle_digest == from_dir.bundle_digest  # pack is deterministic


def test_register_refuses_a_missing_or_tampered_bundle_and_a_bad_name(
    registry: Registry, bundles: dict[str, Path], tmp_path: Path
) -> None:
    with pytest.raises(RegistryError, match="no bundle at"):
        registry.register("housing", tmp_path / "nowhere")
    tampered = tmp_path / "tampered"
    shutil.copytree(bundles["champion"], tampered)
    (tampered / "input_example.json").write_text('{"x1": [0.0]}')
    with pytest.raises(IntegrityError, match=r"input_example\.json"):
        registry.register("housing", tampered)
    with pytest.raises(InvalidReferenceError):
        registry.register("bad name", bundles["champion"])
    assert registry.models() == []


def test_references_resolve_by_version_alias_latest_and_bare_name(
    registry: Registry, bundles: dict[str, Path]
) -> None:
    for kind in ("champion", "better", "worse"):
        registry.register("housing", bundles[kind])
    assert registry.get("housing").version == 3  # no champion yet: the latest
    registry.set_alias("housing:1", "champion", actor="ana", forced=True, reason="first")
    registry.set_alias("housing:2", "challenger", actor="ana")
    assert registry.get("housing").version == 1  # the champion
    assert registry.get("housing:3").version == 3
    assert registry.get("housing@challenger").version == 2
    assert registry.get("housing@latest").version == 3
    assert registry.get("housing:2").aliases == ("challenger",)


def test_unknown_model_version_and_alias_each_say_what_exists(
    registry: Registry, bundles: dict[str, Path]
) -> None:
    registry.register("housing", bundles["champion"])
    registry.register("housing", bundles["better"])
    registry.set_alias("housing:2", "blue", actor="ana")
    with pytest.raises(ModelNotFoundError, match=r"model 'hosuing' is not registered.*housing"):
        registry.get("hosuing:1")
    with pytest.raises(VersionNotFoundError, match=r"no version 7.*known versions: 1, 2"):
        registry.get("housing:7")
    with pytest.raises(AliasNotFoundError, match=r"no alias 'green'.*its aliases: blue"):
        registry.get("housing@green")
    with pytest.raises(AliasNotFoundError, match="promote"):
        registry.get("housing@champion")  # never set: the hint says how to set it
    with pytest.raises(InvalidReferenceError):
        registry.get("housing:one")
    with pytest.raises(ModelNotFoundError, match="hosuing"):
        registry.versions("hosuing")
    with pytest.raises(ModelNotFoundError):
        registry.history("hosuing")
    with pytest.raises(LookupError):  # every lookup error is also a LookupError
        registry.get("housing:9")


def test_empty_registry_says_nothing_is_registered(registry: Registry) -> None:
    with pytest.raises(ModelNotFoundError, match="no model is registered yet"):
        registry.get("housing")


def test_champion_moves_only_with_evidence_or_a_forced_reason(
    registry: Registry, bundles: dict[str, Path]
) -> None:
    registry.register("housing", bundles["champion"])
    with pytest.raises(RegistryError, match="only through the promotion gate"):
        registry.set_alias("housing:1", "champion", actor="ana")
    with pytest.raises(RegistryError, match="needs a reason"):
        registry.set_alias("housing:1", "champion", actor="ana", forced=True)
    with pytest.raises(InvalidReferenceError, match="reserved"):
        registry.set_alias("housing:1", "latest", actor="ana")
    event = registry.set_alias(
        "housing:1", "champion", actor="ana", forced=True, reason="bootstrap"
    )
    assert (event.forced, event.reason, event.to_version) == (True, "bootstrap", 1)


def test_history_records_every_alias_move_and_removal(
    registry: Registry, bundles: dict[str, Path]
) -> None:
    registry.register("housing", bundles["champion"])
    registry.register("housing", bundles["better"])
    registry.set_alias("housing:1", "challenger", actor="ana", reason="try it")
    registry.set_alias("housing:2", "challenger", actor="bo")
    registry.remove_alias("housing", "challenger", actor="cy", reason="done")
    moves = [(e.actor, e.from_version, e.to_version, e.reason) for e in registry.history("housing")]
    assert moves == [("ana", None, 1, "try it"), ("bo", 1, 2, None), ("cy", 2, None, "done")]
    with pytest.raises(AliasNotFoundError):
        registry.remove_alias("housing", "challenger", actor="cy")


def test_load_unpacks_once_verifies_and_predicts_like_the_model(
    registry: Registry, bundles: dict[str, Path], eval_rows: pd.DataFrame
) -> None:
    mv = registry.register("housing", bundles["better"])
    path = registry.bundle_path("housing:1")
    assert path == registry.project.root / ".shipyard" / "cache" / "bundles" / mv.bundle_digest
    model = registry.load("housing:1")
    assert registry.load("housing") is model  # loaded once per process
    predicted = model.predict_frame(eval_rows)
    assert predicted.shape == (len(eval_rows),)
    # the same bundle straight from its directory predicts the same numbers
    from shipyard.bundle import load_bundle

    np.testing.assert_allclose(predicted, load_bundle(bundles["better"]).predict_frame(eval_rows))


def test_a_tampered_cache_is_refused_on_load(
    registry: Registry, bundles: dict[str, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    registry.register("housing", bundles["worse"])
    path = registry.bundle_path("housing:1")
    (path / "input_example.json").write_text('{"x2": [1.0]}')
    monkeypatch.setattr(registry_module, "_LOADED", type(registry_module._LOADED)())
    with pytest.raises(IntegrityError):
        registry.load("housing:1")


def test_a_deleted_cache_is_fetched_again(registry: Registry, bundles: dict[str, Path]) -> None:
    registry.register("housing", bundles["worse"])
    path = registry.bundle_path("housing:1")
    shutil.rmtree(path)
    assert registry.bundle_path("housing:1") == path
    assert (path / "manifest.json").is_file()


def test_test_results_and_tags_are_recorded_on_the_version(
    registry: Registry, bundles: dict[str, Path]
) -> None:
    registry.register("housing", bundles["champion"])
    registry.record_test_results("housing", "smoke", True, {"cases": 3})
    mv = registry.record_test_results("housing:1", "slices", False, {"failed": ["north"]})
    assert mv.details["tests"]["smoke"]["passed"] is True
    assert mv.details["tests"]["slices"]["summary"] == {"failed": ["north"]}
    tagged = registry.set_tags("housing:1", {"stage": "qa"})
    assert tagged.tags == {"stage": "qa"}
    assert registry.get("housing:1").bundle_digest == mv.bundle_digest


def test_models_list_latest_version_and_aliases(
    registry: Registry, bundles: dict[str, Path]
) -> None:
    registry.register("housing", bundles["champion"])
    registry.register("housing", bundles["better"])
    registry.register("churn", bundles["worse"])
    registry.set_alias("housing:2", "blue", actor="ana")
    listed = {m.name: m for m in registry.models()}
    assert set(listed) == {"churn", "housing"}
    assert (listed["housing"].latest_version, listed["housing"].aliases) == (2, {"blue": 2})
    assert [v.version for v in registry.versions("housing")] == [1, 2]


def test_concurrent_registrations_get_distinct_versions(
    registry: Registry, bundles: dict[str, Path]
) -> None:
    with ThreadPoolExecutor(max_workers=4) as pool:
        made = list(pool.map(lambda _: registry.register("race", bundles["worse"]), range(8)))
    assert sorted(m.version for m in made) == list(range(1, 9))
