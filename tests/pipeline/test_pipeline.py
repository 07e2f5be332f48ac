"""Pipelines end to end on a tiny user project: caching, failures, overrides, parallelism."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from shipyard import load_pipeline
from shipyard.errors import ConfigError, PipelineError, StepFailed
from shipyard.project import Project
from shipyard.store.runs import RunStore

TINY = Path(__file__).parents[1] / "resources" / "projects" / "tiny"


@pytest.fixture
def tiny(tmp_path: Path) -> Path:
    shutil.copy(TINY / "flow.py", tmp_path / "flow.py")
    return tmp_path


def run(root: Path, name: str = "classify", overrides: tuple[str, ...] = (), **params):
    project = Project.open(root, overrides=overrides)
    return load_pipeline(f"flow.py:{name}", root).run(
        params, project=project, raise_on_failure=False
    )


def test_second_run_is_all_cache_hits_with_same_outputs(tiny: Path) -> None:
    first = run(tiny)
    second = run(tiny)
    assert first.status == second.status == "succeeded"
    assert first.cached == []
    assert second.cached == ["make_data", "split", "fit", "score"]
    assert second.outputs == first.outputs
    assert 0.5 < first.outputs["accuracy"] <= 1.0


def test_cached_run_carries_over_params_and_metrics(tiny: Path) -> None:
    first = run(tiny).record()
    second = run(tiny).record()
    assert second.metrics == first.metrics
    assert second.params == first.params
    assert second.metrics["loss"] == pytest.approx(0.1)
    assert RunStore(Project.open(tiny).db).metric_history(second.id, "loss")[0].value == 1.0


def test_changing_a_step_parameter_reruns_only_that_step_and_downstream(tiny: Path) -> None:
    run(tiny)
    again = run(tiny, overrides=("fit.c=0.01",))
    assert again.cached == ["make_data", "split"]
    assert again.record().params["fit.c"] == 0.01


def test_pipeline_parameter_change_invalidates_everything_downstream_of_it(tiny: Path) -> None:
    run(tiny)
    assert run(tiny, rows=300).cached == []


def test_failing_step_records_traceback_and_rerun_resumes_from_cache(tiny: Path) -> None:
    failed = run(tiny, fail=True)
    assert failed.status == "failed"
    record = failed.record()
    assert record.status == "failed"
    assert "scoring was told to fail" in (record.error or "")
    assert "Traceback" in (record.error or "")
    assert [s.status for s in record.steps] == ["succeeded", "succeeded", "succeeded", "failed"]
    resumed = run(tiny)
    assert resumed.status == "succeeded"
    assert resumed.cached == ["make_data", "split", "fit"]


def test_failure_raises_step_failed_by_default(tiny: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tiny)
    pipe = load_pipeline("flow.py:classify", tiny)
    with pytest.raises(StepFailed, match="step 'score' failed"):
        pipe(fail=True)


def test_independent_steps_run_in_parallel(tiny: Path) -> None:
    # left and right each wait at a two-party barrier: run one after the other, they time out
    result = run(tiny, name="diamond")
    assert result.status == "succeeded", result.error
    assert result.outputs == 3


def test_unknown_step_parameter_in_config_names_the_parameters(tiny: Path) -> None:
    with pytest.raises(
        ConfigError, match=r"steps.fit.gamma: step 'fit' has no parameter 'gamma'.*c"
    ):
        run(tiny, overrides=("fit.gamma=1",))


def test_unknown_pipeline_parameter_is_refused(tiny: Path) -> None:
    project = Project.open(tiny)
    with pytest.raises(PipelineError, match="has no parameter 'colour'"):
        load_pipeline("flow.py:classify", tiny).run({"colour": 1}, project=project)


def test_run_records_code_environment_and_lineage(tiny: Path) -> None:
    record = run(tiny).record()
    assert record.environment["python"].count(".") == 2
    assert "scikit-learn" in record.environment["packages"]
    assert record.params["rows"] == 400
    assert all(s.output_digest and len(s.output_digest) == 64 for s in record.steps)
    assert record.config["runner"] == "local"


def test_step_outside_a_pipeline_is_the_plain_function() -> None:
    import importlib.util

    spec = importlib.util.spec_from_file_location("tiny_flow_plain", TINY / "flow.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    assert module.add(2, 3) == 5


def test_load_pipeline_errors_are_clear(tiny: Path) -> None:
    with pytest.raises(PipelineError, match="does not exist"):
        load_pipeline("nope.py:classify", tiny)
    with pytest.raises(PipelineError, match=r"has no 'missing'.*classify"):
        load_pipeline("flow.py:missing", tiny)
    with pytest.raises(PipelineError, match="not a pipeline"):
        load_pipeline("flow.py:BARRIER", tiny)
    with pytest.raises(PipelineError, match=r"path/file\.py:function"):
        load_pipeline("flow.py", tiny)


@pytest.mark.ray
@pytest.mark.e2e
def test_ray_runner_runs_steps_as_ray_tasks_and_shares_the_cache(tiny: Path) -> None:
    ray = pytest.importorskip("ray")
    try:
        on_ray = run(tiny, overrides=("runner=ray",))
        assert on_ray.status == "succeeded", on_ray.error
        assert ray.is_initialized()
        assert on_ray.record().metrics["loss"] == pytest.approx(0.1)
        local = run(tiny)
        assert local.cached == ["make_data", "split", "fit", "score"]
        assert local.outputs == on_ray.outputs
    finally:
        ray.shutdown()
