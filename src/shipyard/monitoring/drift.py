"""Drift of live inputs and outputs against a reference: one window in, one DriftReport out.

Inputs are compared with the bundle's reference profile (``shipyard.data.profile``):
numeric features by a KS test against the profile's bounded raw sample and by PSI
and Jensen-Shannon distance over the profile's own bins; categorical features by a
chi-square test, PSI and Jensen-Shannon distance over the profile's categories (the
rest counted as other). Outputs have no profile: they are compared with a reference
window of outputs (the model version's first window), over reference-quantile bins.
A domain classifier checks all inputs together when reference rows are given.

Verdicts: a test's p-value is adjusted over the features of one window (the
configured correction) and compared with ``drift_alpha``; PSI is compared with
``psi_threshold`` where the window is large enough for that to mean something;
Jensen-Shannon distance is reported, not judged. PSI has no p-value, and on a small
window it is large by chance alone: without drift, ``PSI * n m / (n + m)`` follows a
chi-square with ``bins - 1`` degrees of freedom (asymptotically, for independent rows
and expected counts of about 5 or more per bin; Yurdakul 2018). When that null
distribution's ``1 - drift_alpha`` quantile is above the threshold, PSI is reported
but not judged, and the feature says so. A feature drifts when any of its judged
statistics crosses its threshold. Missing values are left out of the tests and
counted.
"""

from __future__ import annotations

import functools
import itertools
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from shipyard.config import MonitoringSpec
from shipyard.data.profile import CATEGORICAL, NUMERIC, ColumnProfile, Profile
from shipyard.errors import MonitoringError
from shipyard.monitoring import drift_stats
from shipyard.monitoring.window import Window, column_array

INPUT = "input"
OUTPUT = "output"
MAX_OUTPUT_COLUMNS = 10  # columns of a 2-D output (class probabilities) checked one by one
OUTPUT_BINS = 10


class ReferenceMissingError(MonitoringError, LookupError):
    """There is no reference profile to compare a model version's inputs with."""

    def __init__(self, model: str, why: str) -> None:
        self.model = model
        super().__init__(
            f"no reference profile for {model}: {why}",
            hint="build the bundle with profile=Dataset.profile (or pass --reference DATASET)",
        )


TINY_P = 1e-300  # p-values below this have underflowed


def below(pvalue: float, alpha: float) -> str:
    """``6.1e-07 < 0.01 (1.6e+04x below)``; a p-value that underflowed reads ``< 1e-300``
    (a ratio to it would only measure the float's limit)."""
    if pvalue < TINY_P:
        return f"< {TINY_P:g}, far below {alpha:g}"
    return f"{pvalue:.3g} < {alpha:g} ({alpha / pvalue:.3g}x below)"


@dataclass(frozen=True)
class StatisticResult:
    """One statistic of one feature, and its verdict.

    ``threshold`` is alpha for a test (compared with the adjusted p-value), the PSI
    threshold for PSI, None when the statistic is reported but not judged.
    """

    name: str
    value: float
    threshold: float | None = None
    pvalue: float | None = None
    adjusted_pvalue: float | None = None
    exceeded: bool = False

    @property
    def excess(self) -> float | None:
        """How far beyond its threshold: ``alpha / p`` for a test, ``value / threshold`` else."""
        if self.threshold is None:
            return None
        if self.adjusted_pvalue is not None:
            return self.threshold / max(self.adjusted_pvalue, TINY_P)
        return self.value / self.threshold

    def describe(self) -> str:
        """e.g. ``psi 0.41 > 0.2 (2.1x)`` or ``ks p=3e-08 < 0.01 (3.3e+05x below)``."""
        if self.adjusted_pvalue is not None:
            alpha, p = float(self.threshold or 0.0), self.adjusted_pvalue
            verdict = f" {below(p, alpha)}" if self.exceeded else f"={p:.3g} >= {alpha:g}"
            return f"{self.name} {self.value:.4g}, adjusted p{verdict}"
        if self.threshold is None:
            return f"{self.name} {self.value:.4g}"
        rel = ">" if self.exceeded else "<="
        return f"{self.name} {self.value:.4g} {rel} {self.threshold:g}" + (
            f" ({self.excess:.3g}x)" if self.exceeded else ""
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "value": _num(self.value),
            "threshold": self.threshold,
            "pvalue": _num(self.pvalue),
            "adjusted_pvalue": _num(self.adjusted_pvalue),
            "exceeded": self.exceeded,
            "excess": _num(self.excess),
        }


@dataclass(frozen=True)
class FeatureDrift:
    """Every statistic of one input feature or output, with the histograms compared."""

    feature: str
    kind: str
    role: str
    n_reference: int
    n_current: int
    missing: int
    statistics: tuple[StatisticResult, ...] = ()
    bin_labels: tuple[str, ...] = ()
    reference_counts: tuple[float, ...] = ()
    current_counts: tuple[int, ...] = ()
    note: str | None = None

    @property
    def drifted(self) -> bool:
        return any(s.exceeded for s in self.statistics)

    def statistic(self, name: str) -> StatisticResult | None:
        return next((s for s in self.statistics if s.name == name), None)

    def to_dict(self) -> dict[str, Any]:
        return {
            "feature": self.feature,
            "kind": self.kind,
            "role": self.role,
            "drifted": self.drifted,
            "n_reference": self.n_reference,
            "n_current": self.n_current,
            "missing": self.missing,
            "statistics": [s.to_dict() for s in self.statistics],
            "bin_labels": list(self.bin_labels),
            "reference_counts": list(self.reference_counts),
            "current_counts": list(self.current_counts),
            "note": self.note,
        }


@dataclass(frozen=True)
class MultivariateDrift:
    """The domain classifier's verdict over all inputs at once."""

    auc: float
    threshold: float
    pvalue: float
    drifted: bool
    n_reference: int
    n_current: int
    features: tuple[str, ...]

    def to_dict(self) -> dict[str, Any]:
        return {**self.__dict__, "features": list(self.features)}


@dataclass(frozen=True)
class DriftReport:
    """The drift verdict of one window of one endpoint's model version."""

    endpoint: str
    model: str
    window: Window
    features: tuple[FeatureDrift, ...]
    outputs: tuple[FeatureDrift, ...] = ()
    multivariate: MultivariateDrift | None = None
    alpha: float = 0.01
    correction: str = "bonferroni"
    psi_threshold: float = 0.2
    notes: tuple[str, ...] = field(default_factory=tuple)

    @property
    def drifted(self) -> bool:
        return any(f.drifted for f in (*self.features, *self.outputs)) or bool(
            self.multivariate and self.multivariate.drifted
        )

    @property
    def drifted_features(self) -> list[str]:
        return [f.feature for f in self.features if f.drifted]

    @property
    def drifted_outputs(self) -> list[str]:
        return [f.feature for f in self.outputs if f.drifted]

    def feature(self, name: str) -> FeatureDrift:
        for f in (*self.features, *self.outputs):
            if f.feature == name:
                return f
        raise KeyError(f"no feature {name!r} in this report")

    def to_dict(self) -> dict[str, Any]:
        return {
            "endpoint": self.endpoint,
            "model": self.model,
            "drifted": self.drifted,
            "drifted_features": self.drifted_features,
            "drifted_outputs": self.drifted_outputs,
            "window": self.window.to_dict(),
            "config": {
                "alpha": self.alpha,
                "correction": self.correction,
                "psi_threshold": self.psi_threshold,
            },
            "features": [f.to_dict() for f in self.features],
            "outputs": [f.to_dict() for f in self.outputs],
            "multivariate": self.multivariate.to_dict() if self.multivariate else None,
            "notes": list(self.notes),
        }


class DriftDetector:
    """Checks windows of live data against one model version's reference.

    Args:
        profile: the reference profile (the bundle's ``profile.json``); None checks
            outputs only and says so in the report's notes.
        spec: thresholds, alpha and the multiple-testing correction.
        features: the inputs to check (default: every profiled numeric or categorical
            column that the window holds).

    Example:
        >>> detector = DriftDetector(profile, settings.monitoring)
        >>> report = detector.check(window)
        >>> report.drifted_features
        ['area']
    """

    def __init__(
        self,
        profile: Profile | None,
        spec: MonitoringSpec | None = None,
        *,
        features: Sequence[str] | None = None,
    ) -> None:
        self.profile = profile
        self.spec = spec or MonitoringSpec()
        self.features = None if features is None else tuple(features)
        # the output reference last checked against, and what its columns are made
        # into once (sorted values, bins): the watcher passes the same one every window
        self._outputs_of: tuple[Mapping[str, Any], dict[str, np.ndarray | _Reference]] | None
        self._outputs_of = None

    def check(
        self,
        window: Window,
        *,
        endpoint: str = "",
        model: str = "",
        output_reference: Mapping[str, Any] | None = None,
        reference_rows: Mapping[str, Any] | None = None,
    ) -> DriftReport:
        """Compare one window with the reference.

        Args:
            window: the current rows (:func:`window_from_events` or :func:`window_from_columns`).
            output_reference: raw output values to compare outputs with (a baseline window).
                Sorted and binned once per mapping passed: give a new mapping for a new
                baseline rather than changing one in place.
            reference_rows: reference input rows (column -> values) for the domain classifier.
        """
        notes: list[str] = []
        features = self._inputs(window, notes)
        outputs = self._outputs(window, output_reference, notes)
        multivariate = None
        if reference_rows is not None and self.spec.multivariate:
            multivariate = self._multivariate(window, reference_rows, notes)
        return DriftReport(
            endpoint=endpoint,
            model=model,
            window=window,
            features=tuple(features),
            outputs=tuple(outputs),
            multivariate=multivariate,
            alpha=self.spec.drift_alpha,
            correction=self.spec.correction,
            psi_threshold=self.spec.psi_threshold,
            notes=tuple(notes),
        )

    # ------------------------------------------------------------------ inputs
    def _inputs(self, window: Window, notes: list[str]) -> list[FeatureDrift]:
        if self.profile is None:
            notes.append("no reference profile: input drift was not checked")
            return []
        names = self.features or [c.name for c in self.profile if c.kind in (NUMERIC, CATEGORICAL)]
        results: list[
            tuple[FeatureDrift, drift_stats.KSResult | drift_stats.CategoricalDrift | None]
        ] = []
        for name in names:
            if name not in window.inputs:
                notes.append(f"feature {name!r} is in the profile but not in the events")
                continue
            try:
                column = self.profile[name]
            except KeyError:
                notes.append(f"feature {name!r} has no reference in the profile")
                continue
            results.append(_column_drift(column, window.inputs[name]))
        unprofiled = sorted(set(window.inputs) - set(self.profile.names))
        if unprofiled:
            notes.append(
                f"inputs without a reference profile, not checked: {', '.join(unprofiled)}"
            )
        return self._judge(results)

    def _judge(self, results: list[tuple[FeatureDrift, Any]]) -> list[FeatureDrift]:
        """Adjust the tests' p-values over the features, then set every verdict."""
        spec = self.spec
        results = _with_ks_pvalues(results)
        tested = [i for i, (_, test) in enumerate(results) if test is not None]
        adjusted: dict[int, float] = {}
        if tested:
            raw = np.array([results[i][1].pvalue for i in tested])
            method = spec.correction
            adj = raw if method == "none" else drift_stats.adjust_pvalues(raw, method=method)
            adjusted = dict(zip(tested, map(float, adj), strict=True))
        judged = []
        for i, (feature, test) in enumerate(results):
            stats = []
            if test is not None:
                name = "ks" if isinstance(test, drift_stats.KSResult) else "chi2"
                value = test.statistic if name == "ks" else test.chi2
                stats.append(
                    StatisticResult(
                        name, float(value), spec.drift_alpha, float(test.pvalue), adjusted[i],
                        exceeded=adjusted[i] < spec.drift_alpha,
                    )
                )  # fmt: skip
            note = None
            for s in feature.statistics:
                if s.name != "psi":
                    stats.append(s)
                    continue
                noise = psi_noise(feature, spec.drift_alpha)
                if noise < spec.psi_threshold:
                    exceeded = s.value > spec.psi_threshold
                    stats.append(
                        StatisticResult("psi", s.value, spec.psi_threshold, exceeded=exceeded)
                    )
                else:
                    stats.append(s)  # reported, not judged
                    note = feature.note or (
                        f"PSI not judged: with {feature.n_current} rows it reaches {noise:.2g} "
                        f"without drift (1 in {1 / spec.drift_alpha:g}), above its threshold "
                        f"{spec.psi_threshold:g}"
                    )
            judged.append(_replace_stats(feature, stats, note=note))
        return judged

    # ------------------------------------------------------------------ outputs
    def _outputs(
        self, window: Window, reference: Mapping[str, Any] | None, notes: list[str]
    ) -> list[FeatureDrift]:
        if not window.outputs:
            return []
        if reference is None:
            notes.append("no output reference window: output drift was not checked")
            return []
        if self._outputs_of is None or self._outputs_of[0] is not reference:
            prepared = {n: _Reference.of(v) for n, v in _output_columns(reference).items()}
            self._outputs_of = (reference, prepared)
        references = self._outputs_of[1]
        results = []
        for name, current in _output_columns(window.outputs).items():
            ref = references.get(name)
            if ref is None:
                notes.append(f"output {name!r} is not in the output reference")
                continue
            results.append(_sample_drift(name, ref, current))
        return self._judge(results)

    # ------------------------------------------------------------------ multivariate
    def _multivariate(
        self, window: Window, reference: Mapping[str, Any], notes: list[str]
    ) -> MultivariateDrift | None:
        names = [
            n
            for n in (self.features or list(window.inputs))
            if n in window.inputs and n in reference
        ]
        if not names:
            notes.append(
                "multivariate check skipped: no input in both the window and the reference"
            )
            return None
        ref = np.column_stack(
            [_encoded(reference[n], window.inputs[n], self.profile, n)[0] for n in names]
        )
        cur = np.column_stack(
            [_encoded(reference[n], window.inputs[n], self.profile, n)[1] for n in names]
        )
        try:
            result = drift_stats.domain_classifier_drift(ref, cur, alpha=self.spec.drift_alpha)
        except drift_stats.DriftInputError as exc:
            notes.append(f"multivariate check skipped: {exc}")
            return None
        return MultivariateDrift(
            auc=result.auc,
            threshold=result.threshold,
            pvalue=result.pvalue,
            drifted=result.drifted,
            n_reference=result.n_reference,
            n_current=result.n_current,
            features=tuple(names),
        )


# ---------------------------------------------------------------------- one column
def _column_drift(column: ColumnProfile, values: Any) -> tuple[FeatureDrift, Any]:
    if column.kind == NUMERIC:
        return _numeric_drift(column, values)
    return _categorical_drift(column, values)


def _numeric_drift(column: ColumnProfile, values: Any) -> tuple[FeatureDrift, Any]:
    x = _as_float(values)
    present = x[~np.isnan(x)]
    base = FeatureDrift(
        column.name, NUMERIC, INPUT, column.count, int(present.size), int(x.size - present.size),
        bin_labels=tuple(column.bin_labels), reference_counts=tuple(map(float, column.counts)),
    )  # fmt: skip
    if present.size == 0 or not column.counts:
        why = "no values in this window" if present.size == 0 else "the reference has no values"
        return _replace_stats(base, [], note=why), None
    binned = drift_stats.profile_drift(column.edges, column.counts, present)
    stats = [
        StatisticResult("psi", binned.psi),
        StatisticResult("jensen_shannon", binned.jensen_shannon),
    ]
    finite = present[np.isfinite(present)]
    ks: _KSStatistic | drift_stats.KSResult | None = None
    note: str | None = None
    reference = column.sorted_sample
    if column.sample and finite.size:
        if np.isfinite(reference[[0, -1]]).all():  # sorted: NaN last, -inf first
            statistic = drift_stats.ks_sorted(reference, np.sort(finite))
            ks = _KSStatistic(statistic, reference.size, finite.size)
        else:
            ks = drift_stats.ks_test(reference, finite)  # says what is wrong with it
    else:
        note = "the profile keeps no raw sample: KS test skipped"
    feature = FeatureDrift(
        **{**base.__dict__, "statistics": tuple(stats), "note": note,
           "current_counts": tuple(int(c) for c in binned.current_counts)}
    )  # fmt: skip
    return feature, ks


def _categorical_drift(column: ColumnProfile, values: Any) -> tuple[FeatureDrift, Any]:
    labels = _labels(values)
    missing = len(_flat(values)) - labels.size
    base = FeatureDrift(
        column.name, CATEGORICAL, INPUT, column.count, int(labels.size), int(missing),
        bin_labels=tuple(column.bin_labels), reference_counts=tuple(map(float, column.counts)),
    )  # fmt: skip
    if labels.size == 0 or not sum(column.counts):
        note = "no values in this window" if labels.size == 0 else "the reference has no values"
        return _replace_stats(base, [], note=note), None
    current = column.bin_counts(labels)
    result = drift_stats.categorical_drift(column.counts, current)
    stats = [
        StatisticResult("psi", result.psi),
        StatisticResult("jensen_shannon", result.jensen_shannon),
    ]
    feature = FeatureDrift(
        **{**base.__dict__, "statistics": tuple(stats),
           "current_counts": tuple(int(c) for c in current)}
    )  # fmt: skip
    return feature, result


@dataclass(frozen=True)
class _KSStatistic:
    """A KS statistic whose p-value is computed with the window's others (one scipy call)."""

    statistic: float
    n_reference: int
    n_current: int


def _with_ks_pvalues(results: list[tuple[FeatureDrift, Any]]) -> list[tuple[FeatureDrift, Any]]:
    """``results`` with each ``_KSStatistic`` made a KSResult, one ``kstwo.sf`` call per
    pair of sample sizes (a window's features usually share theirs)."""
    sizes: dict[tuple[int, int], list[int]] = {}
    for i, (_, test) in enumerate(results):
        if isinstance(test, _KSStatistic):
            sizes.setdefault((test.n_reference, test.n_current), []).append(i)
    if not sizes:
        return results
    results = list(results)
    for (n1, n2), indexes in sizes.items():
        pvalues = drift_stats.ks_pvalues([results[i][1].statistic for i in indexes], n1, n2)
        for i, pvalue in zip(indexes, pvalues, strict=True):
            feature, test = results[i]
            results[i] = (feature, drift_stats.KSResult(test.statistic, float(pvalue), n1, n2))
    return results


@dataclass(frozen=True)
class _Reference:
    """A numeric output reference made ready to compare windows with: its finite values
    sorted, its quantile bins and their counts."""

    raw: np.ndarray
    values: np.ndarray
    edges: np.ndarray
    counts: np.ndarray

    @staticmethod
    def of(values: np.ndarray) -> np.ndarray | _Reference:
        """Prepared if numeric; other values (categories) are kept as they are."""
        if values.dtype.kind not in "fiub":
            return values
        ref = values.astype(float)
        ref = np.sort(ref[np.isfinite(ref)])
        if ref.size == 0:
            return _Reference(values, ref, np.empty(0), np.empty(0))
        edges = drift_stats.quantile_edges(ref, n_bins=OUTPUT_BINS)
        return _Reference(values, ref, edges, drift_stats.bin_counts(ref, edges))


def _sample_drift(
    name: str, reference: np.ndarray | _Reference, current: np.ndarray
) -> tuple[FeatureDrift, Any]:
    """Drift of raw values against raw reference values (outputs): numeric or categorical."""
    if isinstance(reference, _Reference) and current.dtype.kind in "fiub":
        ref = reference.values
        cur = current.astype(float)
        cur = np.sort(cur[np.isfinite(cur)])
        base = FeatureDrift(
            name, NUMERIC, OUTPUT, int(ref.size), int(cur.size), int(current.size - cur.size)
        )
        if ref.size == 0 or cur.size == 0:
            return _replace_stats(base, [], note="no finite values to compare"), None
        cur_counts = drift_stats.bin_counts(cur, reference.edges)
        stats = [
            StatisticResult("psi", drift_stats.psi(reference.counts, cur_counts)),
            StatisticResult(
                "jensen_shannon", drift_stats.jensen_shannon(reference.counts, cur_counts)
            ),
        ]
        feature = FeatureDrift(
            **{**base.__dict__, "statistics": tuple(stats),
               "bin_labels": _interval_labels(reference.edges),
               "reference_counts": tuple(map(float, reference.counts)),
               "current_counts": tuple(int(c) for c in cur_counts)}
        )  # fmt: skip
        return feature, _KSStatistic(drift_stats.ks_sorted(ref, cur), ref.size, cur.size)
    if isinstance(reference, _Reference):
        reference = reference.raw  # numbers against categories: compared as labels
    ref_labels, cur_labels = _labels(reference), _labels(current)
    base = FeatureDrift(
        name, CATEGORICAL, OUTPUT, int(ref_labels.size), int(cur_labels.size),
        int(current.size - cur_labels.size),
    )  # fmt: skip
    if ref_labels.size == 0 or cur_labels.size == 0:
        return _replace_stats(base, [], note="no values to compare"), None
    counts = drift_stats.category_counts(ref_labels, cur_labels)
    result = drift_stats.categorical_drift(counts.reference, counts.current)
    stats = [
        StatisticResult("psi", result.psi),
        StatisticResult("jensen_shannon", result.jensen_shannon),
    ]
    feature = FeatureDrift(
        **{**base.__dict__, "statistics": tuple(stats),
           "bin_labels": tuple(str(c) for c in counts.categories),
           "reference_counts": tuple(map(float, counts.reference)),
           "current_counts": tuple(int(c) for c in counts.current)}
    )  # fmt: skip
    return feature, result


def psi_noise(feature: FeatureDrift, alpha: float) -> float:
    """The PSI a window of this size exceeds by chance with probability ``alpha``, drift
    or not: the chi-square approximation of PSI's null distribution (module docstring)."""
    bins = len(feature.reference_counts) or len(feature.current_counts)
    n, m = feature.n_current, feature.n_reference
    if bins < 2 or n <= 0 or m <= 0:
        return math.inf
    return _chi2_quantile(1 - alpha, bins - 1) * (1 / n + 1 / m)


@functools.lru_cache(maxsize=256)
def _chi2_quantile(q: float, df: int) -> float:
    # the same few (alpha, bins) pairs for every window: scipy's ppf costs ~0.15 ms a call
    from scipy import stats

    return float(stats.chi2.ppf(q, df))


def _replace_stats(
    feature: FeatureDrift, stats: Sequence[StatisticResult], *, note: str | None = None
) -> FeatureDrift:
    values = {**feature.__dict__, "statistics": tuple(stats)}
    if note is not None:
        values["note"] = note
    return FeatureDrift(**values)


def _output_columns(outputs: Mapping[str, Any]) -> dict[str, np.ndarray]:
    """1-D outputs as they are; 2-D outputs (probabilities) one column each, at most 10."""
    columns = {}
    for name, values in outputs.items():
        x = column_array(values)
        if x.ndim == 2:
            for j in range(min(x.shape[1], MAX_OUTPUT_COLUMNS)):
                columns[f"{name}[{j}]"] = x[:, j]
        elif x.ndim == 1:
            columns[name] = x
    return columns


def _as_float(values: Any) -> np.ndarray:
    if isinstance(values, np.ndarray) and values.dtype.kind in "fiub":
        return values.astype(float).reshape(-1)
    try:
        return np.asarray([np.nan if v is None else v for v in _flat(values)], dtype=float)
    except (TypeError, ValueError):
        raise MonitoringError(
            "a numeric feature holds values that are not numbers",
            hint="check that the model's signature matches its reference profile",
        ) from None


def _flat(values: Any) -> list[Any]:
    if isinstance(values, np.ndarray):
        return values.reshape(-1).tolist()
    if hasattr(values, "tolist"):
        return list(values.tolist())
    return list(values)


def _labels(values: Any) -> np.ndarray:
    kept = [
        str(v) for v in _flat(values)
        if v is not None and not (isinstance(v, float) and math.isnan(v))
    ]  # fmt: skip
    return np.asarray(kept, dtype=object)


def _encoded(
    reference: Any, current: Any, profile: Profile | None, name: str
) -> tuple[np.ndarray, np.ndarray]:
    """Reference and current values of one input as numbers (categories as codes)."""
    ref, cur = column_array(list(_flat(reference))), column_array(_flat(current))
    if ref.dtype.kind in "fiub" and cur.dtype.kind in "fiub":
        return ref.astype(float), cur.astype(float)
    ref_l, cur_l = [str(v) for v in ref.tolist()], [str(v) for v in cur.tolist()]
    known = list(profile[name].categories) if profile is not None and name in profile.names else []
    codes = {c: i for i, c in enumerate(dict.fromkeys([*known, *ref_l, *cur_l]))}
    return (
        np.array([codes[v] for v in ref_l], dtype=float),
        np.array([codes[v] for v in cur_l], dtype=float),
    )


def _interval_labels(edges: np.ndarray) -> tuple[str, ...]:
    e = [f"{v:.4g}" for v in np.asarray(edges).reshape(-1)]
    if not e:
        return ("(all)",)
    return (f"< {e[0]}", *(f"[{a}, {b})" for a, b in itertools.pairwise(e)), f">= {e[-1]}")


def _num(value: float | None) -> float | None:
    if value is None:
        return None
    value = float(value)
    return value if math.isfinite(value) else None
