"""DriftDetector: statistics equal scipy's to 1e-9, verdicts name the drifted feature, false alarms stay rare."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from monitoring_helpers import make_event, reference_frame
from scipy import stats
from scipy.spatial.distance import jensenshannon

from shipyard.config import MonitoringSpec
from shipyard.data.profile import Profile, profile_frame
from shipyard.monitoring.drift import DriftDetector
from shipyard.monitoring.drift_stats import adjust_pvalues
from shipyard.monitoring.events import event_row
from shipyard.monitoring.window import window_from_columns, window_from_events
from shipyard.store.events import EventRecord

TOL = 1e-9


@pytest.fixture(scope="module")
def reference() -> pd.DataFrame:
    return reference_frame(5000)


@pytest.fixture(scope="module")
def profile(reference: pd.DataFrame) -> Profile:
    return profile_frame(reference)


def _live(n: int, seed: int, *, area_shift: float = 0.0) -> dict[str, np.ndarray]:
    frame = reference_frame(n, seed=seed)
    frame["area"] = frame["area"] + area_shift
    return {c: frame[c].to_numpy() for c in frame.columns}


def _psi(ref: np.ndarray, cur: np.ndarray, eps: float = 1e-4) -> float:
    p = np.maximum(ref / ref.sum(), eps)
    q = np.maximum(cur / cur.sum(), eps)
    return float(np.sum((q - p) * np.log(q / p)))


def test_numeric_statistics_equal_scipy(profile: Profile) -> None:
    live = _live(1000, seed=7, area_shift=15.0)
    report = DriftDetector(profile, MonitoringSpec(correction="none")).check(
        window_from_columns(live)
    )
    numeric = [c.name for c in profile if c.kind == "numeric"]
    assert len(numeric) >= 2  # each its own p-value, though computed in one call
    for name in numeric:
        sample = np.asarray(profile[name].sample)
        expected = stats.ks_2samp(sample, live[name], method="asymp")
        ks = report.feature(name).statistic("ks")
        assert ks is not None
        assert ks.value == pytest.approx(expected.statistic, abs=TOL)
        assert ks.pvalue == pytest.approx(expected.pvalue, abs=TOL)
        assert ks.adjusted_pvalue == ks.pvalue  # no correction
    area = report.feature("area")
    counts = profile["area"].bin_counts(live["area"])
    assert list(area.current_counts) == counts.tolist()
    ref_counts = np.asarray(profile["area"].counts, dtype=float)
    assert area.statistic("psi").value == pytest.approx(_psi(ref_counts, counts), abs=TOL)
    assert area.statistic("jensen_shannon").value == pytest.approx(
        jensenshannon(ref_counts, counts, base=2), abs=TOL
    )


def test_categorical_statistics_equal_scipy(profile: Profile) -> None:
    live = _live(800, seed=8)
    live["region"] = np.where(np.arange(800) < 40, "west", live["region"])  # an unseen category
    report = DriftDetector(profile).check(window_from_columns(live))
    region = report.feature("region")
    column = profile["region"]
    ref = np.asarray(column.counts, dtype=float)
    cur = column.bin_counts(live["region"])
    keep = (ref + cur) > 0
    chi2, p, _dof, _ = stats.chi2_contingency(np.stack([ref[keep], cur[keep]]), correction=False)
    test = region.statistic("chi2")
    assert test.value == pytest.approx(chi2, abs=TOL)
    assert test.pvalue == pytest.approx(p, abs=TOL)
    assert region.statistic("psi").value == pytest.approx(_psi(ref, cur), abs=TOL)
    assert region.statistic("jensen_shannon").value == pytest.approx(
        jensenshannon(ref, cur, base=2), abs=TOL
    )
    assert region.drifted and region.bin_labels[-1] == "(other)" and region.current_counts[-1] == 40


def test_outputs_are_compared_with_a_reference_window_as_scipy_does() -> None:
    rng = np.random.default_rng(3)
    baseline = {"prediction": rng.normal(100, 10, 2000), "label": rng.choice(["a", "b"], 2000)}
    current = {
        "prediction": rng.normal(104, 10, 1000),
        "label": rng.choice(["a", "b"], 1000, p=[0.6, 0.4]),
    }
    window = window_from_columns({}, current)
    report = DriftDetector(None, MonitoringSpec(correction="none")).check(
        window, output_reference=baseline
    )
    pred = report.feature("prediction")
    expected = stats.ks_2samp(baseline["prediction"], current["prediction"], method="asymp")
    assert pred.statistic("ks").value == pytest.approx(expected.statistic, abs=TOL)
    assert pred.statistic("ks").pvalue == pytest.approx(expected.pvalue, abs=TOL)
    assert pred.role == "output" and pred.drifted
    # PSI and Jensen-Shannon over the reference's deciles
    edges = np.quantile(baseline["prediction"], np.arange(1, 10) / 10)
    ref_counts = np.bincount(np.searchsorted(edges, baseline["prediction"], "right"), minlength=10)
    cur_counts = np.bincount(np.searchsorted(edges, current["prediction"], "right"), minlength=10)
    assert list(pred.current_counts) == cur_counts.tolist()
    assert pred.statistic("psi").value == pytest.approx(_psi(ref_counts, cur_counts), abs=TOL)
    assert pred.statistic("jensen_shannon").value == pytest.approx(
        jensenshannon(ref_counts, cur_counts, base=2), abs=TOL
    )
    label = report.feature("label")
    table = [[np.sum(baseline["label"] == c), np.sum(current["label"] == c)] for c in ("a", "b")]
    _chi2, p, _, _ = stats.chi2_contingency(np.array(table).T, correction=False)
    assert label.statistic("chi2").pvalue == pytest.approx(p, abs=TOL)
    assert report.drifted_outputs == ["prediction", "label"]
    assert "no reference profile" in " ".join(report.notes)


def test_a_new_output_reference_is_used_once_passed() -> None:
    # the detector prepares a reference once and keeps it while the same one is passed
    rng = np.random.default_rng(4)
    current = {"prediction": rng.normal(100, 10, 500)}
    detector = DriftDetector(None, MonitoringSpec(correction="none"))
    for baseline in (
        {"prediction": rng.normal(100, 10, 700)},
        {"prediction": rng.normal(90, 5, 900)},
    ):
        for _ in range(2):
            report = detector.check(window_from_columns({}, current), output_reference=baseline)
            ks = report.feature("prediction").statistic("ks")
            expected = stats.ks_2samp(baseline["prediction"], current["prediction"], method="asymp")
            assert (ks.value, ks.pvalue) == pytest.approx(
                (expected.statistic, expected.pvalue), abs=TOL
            )
            assert report.feature("prediction").n_reference == len(baseline["prediction"])


@pytest.mark.parametrize("method", ["bonferroni", "holm", "bh"])
def test_p_values_are_adjusted_over_the_features(profile: Profile, method: str) -> None:
    live = _live(500, seed=11, area_shift=5.0)
    report = DriftDetector(profile, MonitoringSpec(correction=method)).check(
        window_from_columns(live)
    )
    raw = np.array([f.statistics[0].pvalue for f in report.features])
    adjusted = np.array([f.statistics[0].adjusted_pvalue for f in report.features])
    np.testing.assert_allclose(adjusted, adjust_pvalues(raw, method=method), atol=TOL)
    if method == "bonferroni":
        np.testing.assert_allclose(adjusted, np.minimum(raw * 3, 1.0), atol=TOL)


def test_injected_drift_in_one_feature_is_detected_and_named(profile: Profile) -> None:
    live = _live(1000, seed=21, area_shift=0.25 * 78.0)  # a quarter of area's std
    report = DriftDetector(profile).check(
        window_from_columns(live), endpoint="housing", model="housing:1"
    )
    assert report.drifted
    assert report.drifted_features == ["area"]
    ks = report.feature("area").statistic("ks")
    assert ks.exceeded and ks.excess > 1
    assert "area" in report.to_dict()["drifted_features"]


@pytest.mark.parametrize("rows", [100, 1000])
def test_unshifted_windows_raise_no_more_false_alarms_than_alpha_allows(
    profile: Profile, rows: int
) -> None:
    spec = MonitoringSpec(drift_alpha=0.01, correction="bonferroni", psi_threshold=0.2)
    detector = DriftDetector(profile, spec)
    alarms = sum(
        detector.check(window_from_columns(_live(rows, seed=1000 + k))).drifted for k in range(100)
    )
    # Bonferroni keeps P(any feature flagged in a window) <= alpha: expect ~1 in 100.
    # Failing needs more than the binomial's 99.9th percentile.
    assert alarms <= stats.binom.ppf(0.999, 100, spec.drift_alpha)


def test_psi_is_judged_only_where_chance_alone_stays_under_its_threshold(profile: Profile) -> None:
    spec = MonitoringSpec(drift_alpha=0.01, psi_threshold=0.2)
    small = DriftDetector(profile, spec).check(window_from_columns(_live(100, seed=3)))
    area = small.feature("area")
    bins = len(area.reference_counts)
    noise = stats.chi2.ppf(0.99, bins - 1) * (1 / 100 + 1 / area.n_reference)
    assert noise > 0.2  # so PSI is reported, not judged
    psi = area.statistic("psi")
    assert psi.threshold is None and not psi.exceeded
    assert area.note and "PSI not judged" in area.note and f"{noise:.2g}" in area.note
    assert area.statistic("ks").threshold == 0.01  # the test still judges
    large = DriftDetector(profile, spec).check(window_from_columns(_live(1000, seed=3)))
    assert large.feature("area").statistic("psi").threshold == 0.2
    assert large.feature("area").note is None


def test_a_missing_reference_profile_checks_outputs_only_and_says_why() -> None:
    report = DriftDetector(None).check(window_from_columns(_live(100, seed=1)))
    assert report.features == () and not report.drifted
    assert report.notes == ("no reference profile: input drift was not checked",)


def test_missing_values_are_counted_and_left_out(profile: Profile) -> None:
    live = _live(300, seed=5)
    live["area"] = live["area"].astype(float)
    live["area"][:30] = np.nan
    live["region"] = live["region"].astype(object)
    live["region"][:10] = None
    report = DriftDetector(profile).check(window_from_columns(live))
    assert report.feature("area").missing == 30 and report.feature("area").n_current == 270
    assert report.feature("region").missing == 10


def test_features_absent_from_events_or_profile_are_noted(profile: Profile) -> None:
    live = _live(200, seed=2)
    live.pop("rooms")
    live["extra"] = np.ones(200)
    report = DriftDetector(profile).check(window_from_columns(live))
    notes = " ".join(report.notes)
    assert "'rooms' is in the profile but not in the events" in notes
    assert "extra" in notes
    assert [f.feature for f in report.features] == ["area", "region"]


def test_domain_classifier_finds_a_joint_shift_the_marginals_hide() -> None:
    rng = np.random.default_rng(4)
    x = rng.normal(size=3000)
    ref = pd.DataFrame({"x": x, "y": x + rng.normal(0, 0.3, 3000)})
    x2 = rng.normal(size=1000)
    cur = {"x": x2, "y": -x2 + rng.normal(0, 0.3, 1000)}  # same marginals, opposite correlation
    profile = profile_frame(ref)
    report = DriftDetector(profile).check(window_from_columns(cur), reference_rows=dict(ref))
    assert report.multivariate is not None and report.multivariate.drifted
    assert report.multivariate.auc > 0.8


def test_window_from_events_concatenates_batches_in_order() -> None:
    rows = [event_row(make_event(i, at=100.0 + i)) for i in range(5)]
    records = [
        EventRecord(
            r["request_id"], r["at"], r["endpoint"], r["model_name"], r["model_version"], r["variant"],
            {k: v.tolist() for k, v in r["inputs"].items()},
            {k: v.tolist() for k, v in r["outputs"].items()}, r["latency_ms"],
        )
        for r in rows
    ]  # fmt: skip
    window = window_from_events(records)
    assert (window.events, window.rows, window.start, window.end) == (5, 5, 100.0, 104.0)
    assert window.inputs["area"].dtype == float and window.inputs["region"].dtype == object
    np.testing.assert_allclose(window.inputs["area"], [float(r["inputs"]["area"][0]) for r in rows])
