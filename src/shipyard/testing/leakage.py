"""Pre-train checks on the data: no feature that gives the target away, no row in both splits."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from shipyard.errors import ModelTestError
from shipyard.testing.checks import MAX_EXAMPLES, CheckResult, Task, task_of
from shipyard.testing.examples import row_dicts

_FOLDS = 3


def check_label_leakage(
    frame: pd.DataFrame,
    target: str,
    *,
    threshold: float = 0.98,
    task: Task | None = None,
    max_rows: int = 20_000,
    seed: int = 0,
) -> CheckResult:
    """No single feature predicts the target almost perfectly on its own.

    Each feature alone is scored out of fold (3 folds), so a row id or a free-text
    column cannot score by memorising rows: a numeric feature by a depth-4 tree (and,
    for regression, |Spearman|), a categorical one by its per-category target mean or
    majority. The score is R² for regression, ROC AUC for a binary target and balanced
    accuracy otherwise. A feature at or above ``threshold`` is usually computed from
    the target or recorded after it.
    """
    name = "label-leakage"
    if target not in frame.columns:
        raise ModelTestError(
            f"the target column '{target}' is not in the frame "
            f"(columns: {', '.join(map(str, frame.columns))})",
            hint="name the column the model will learn to predict",
        )
    frame = frame[frame[target].notna()]
    if len(frame) > max_rows:
        frame = frame.sample(n=max_rows, random_state=seed)
    y = frame[target].reset_index(drop=True)
    task = task or task_of(y)
    scores: dict[str, float] = {}
    methods: dict[str, str] = {}
    for column in frame.columns.drop(target):
        x = frame[column].reset_index(drop=True)
        scores[str(column)], methods[str(column)] = _feature_score(x, y, task, seed)
    leaking = sorted((c for c, s in scores.items() if s >= threshold), key=lambda c: -scores[c])
    examples = tuple(
        {"feature": c, "score": round(scores[c], 6), "method": methods[c]} for c in leaking
    )
    if leaking:
        top = leaking[0]
        details = (
            f"feature '{top}' predicts '{target}' alone with {methods[top]} {scores[top]:.4f} "
            f"(threshold {threshold}); {len(leaking)} feature(s) leak: {', '.join(leaking)}"
        )
    else:
        best = max(scores, key=lambda c: scores[c], default=None)
        details = (
            "no features"
            if best is None
            else (
                f"no feature predicts '{target}' alone; the best is '{best}' "
                f"with {methods[best]} {scores[best]:.3f} (threshold {threshold})"
            )
        )
    return CheckResult(name, not leaking, details, examples, {"scores": scores})


def _feature_score(x: pd.Series, y: pd.Series, task: Task, seed: int) -> tuple[float, str]:
    from sklearn.model_selection import KFold, StratifiedKFold

    known = x.notna().to_numpy()
    if x.nunique(dropna=True) < 2 or known.sum() < 2 * _FOLDS:
        return 0.0, "constant"
    x, y = x[known].reset_index(drop=True), y[known].reset_index(drop=True)
    stratify = task == "classification" and y.value_counts().min() >= _FOLDS
    splitter = (StratifiedKFold if stratify else KFold)(_FOLDS, shuffle=True, random_state=seed)
    numeric = pd.api.types.is_numeric_dtype(x) or pd.api.types.is_datetime64_any_dtype(x)
    binary = task == "classification" and y.nunique() == 2
    positive = y == sorted(y.unique(), key=str)[-1] if binary else None
    oof = np.zeros(len(y)) if task == "regression" or binary else np.empty(len(y), dtype=object)
    for train, test in splitter.split(np.zeros(len(y)), y):
        if numeric:
            oof[test] = _tree_fold(x, y, positive, train, test, task, seed)
        else:
            oof[test] = _lookup_fold(x, y, positive, train, test, task)
    return _score(oof, y, positive, task, x if numeric and task == "regression" else None)


def _tree_fold(
    x: pd.Series,
    y: pd.Series,
    positive: pd.Series | None,
    train: Any,
    test: Any,
    task: Task,
    seed: int,
) -> np.ndarray:
    from sklearn.tree import DecisionTreeClassifier, DecisionTreeRegressor

    values = x.astype("int64") if pd.api.types.is_datetime64_any_dtype(x) else x.astype(float)
    column = values.to_numpy().reshape(-1, 1)
    if task == "regression":
        tree = DecisionTreeRegressor(max_depth=4, min_samples_leaf=5, random_state=seed)
        return tree.fit(column[train], y.iloc[train]).predict(column[test])
    labels = positive if positive is not None else y.astype(str)
    tree = DecisionTreeClassifier(max_depth=4, min_samples_leaf=5, random_state=seed)
    tree.fit(column[train], labels.iloc[train])
    if positive is None:
        return tree.predict(column[test])
    proba = tree.predict_proba(column[test])
    return (
        proba[:, list(tree.classes_).index(True)] if True in tree.classes_ else np.zeros(len(test))
    )


def _lookup_fold(
    x: pd.Series, y: pd.Series, positive: pd.Series | None, train: Any, test: Any, task: Task
) -> np.ndarray:
    keys = x.astype(str)
    if task == "regression" or positive is not None:
        values = (y if positive is None else positive).astype(float)
        means = values.iloc[train].groupby(keys.iloc[train]).mean()
        return keys.iloc[test].map(means).fillna(values.iloc[train].mean()).to_numpy()
    labels = y.astype(str)
    majority = labels.iloc[train].groupby(keys.iloc[train]).agg(lambda s: s.mode().iloc[0])
    return keys.iloc[test].map(majority).fillna(labels.iloc[train].mode().iloc[0]).to_numpy()


def _score(
    oof: np.ndarray,
    y: pd.Series,
    positive: pd.Series | None,
    task: Task,
    numeric_x: pd.Series | None,
) -> tuple[float, str]:
    from sklearn.metrics import balanced_accuracy_score, r2_score, roc_auc_score

    if positive is not None:
        return float(roc_auc_score(positive, oof)), "ROC AUC"
    if task == "classification":
        return float(balanced_accuracy_score(y.astype(str), oof.astype(str))), "balanced accuracy"
    score, method = max(0.0, float(r2_score(y, oof))), "R²"
    if numeric_x is not None:
        rho = abs(float(numeric_x.astype(float).corr(y.astype(float), method="spearman")))
        if np.isfinite(rho) and rho > score:
            score, method = rho, "|Spearman|"
    return score, method


def check_no_shared_rows(
    train: pd.DataFrame,
    test: pd.DataFrame,
    *,
    columns: list[str] | None = None,
    max_examples: int = MAX_EXAMPLES,
) -> CheckResult:
    """No row of ``test`` also appears in ``train`` (same values in ``columns``).

    Rows are compared by a 64-bit hash of their values, numbers as float64, so an
    integer 3 in one split matches a 3.0 in the other. Default columns: those both
    frames have.
    """
    name = "no-shared-rows"
    columns = columns or [c for c in train.columns if c in test.columns]
    missing = [c for c in columns if c not in train.columns or c not in test.columns]
    if not columns or missing:
        raise ModelTestError(
            f"cannot compare rows on columns {missing or columns}: "
            "train and test must both have them",
            hint="pass columns= that both splits share",
        )
    train_hashes = _row_hashes(train[columns])
    test_hashes = _row_hashes(test[columns])
    shared = np.flatnonzero(np.isin(test_hashes, train_hashes))
    first_in_train = pd.Series(np.arange(len(train)), index=train_hashes)
    first_in_train = first_in_train[~first_in_train.index.duplicated()]
    shown = shared[:max_examples]
    examples = tuple(
        {
            "test_index": _label(test.index[i]),
            "train_index": _label(train.index[first_in_train[test_hashes[i]]]),
            "row": row,
        }
        for i, row in zip(shown, row_dicts(test[columns], shown), strict=True)
    )
    metrics = {"shared": len(shared), "test_rows": len(test), "train_rows": len(train)}
    if len(shared):
        share = len(shared) / len(test)
        details = f"{len(shared)} of {len(test)} test rows ({share:.1%}) are also in train"
        return CheckResult(name, False, details, examples, metrics)
    return CheckResult(name, True, f"none of {len(test)} test rows is in train", (), metrics)


def _row_hashes(frame: pd.DataFrame) -> np.ndarray:
    normal = {}
    for column in frame.columns:
        values = frame[column]
        if pd.api.types.is_bool_dtype(values) or pd.api.types.is_numeric_dtype(values):
            normal[column] = values.astype("float64")
        else:
            normal[column] = values.astype(object).where(values.notna(), None).astype(str)
    return pd.util.hash_pandas_object(pd.DataFrame(normal), index=False).to_numpy()


def _label(value: Any) -> Any:
    return value.item() if isinstance(value, np.generic) else value
