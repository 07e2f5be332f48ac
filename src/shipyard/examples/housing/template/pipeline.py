"""The housing pipeline: load -> validate -> split -> train -> evaluate -> package.

House prices on synthetic data (see ``shipyard.examples.housing.data`` for how they
are made). ``train.model`` picks the estimator: ``ridge`` is the baseline, ``hgb``
(gradient-boosted trees) the stronger candidate. The preprocessing is part of the
model, so the bundle serves exactly what was trained.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import HistGradientBoostingRegressor
from sklearn.linear_model import Ridge
from sklearn.metrics import mean_absolute_error, mean_squared_error, r2_score
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

import shipyard
from shipyard.data import DataSchema, profile_frame
from shipyard.examples.housing import FEATURES, REGIONS, TARGET, generate

HERE = Path(__file__).parent
SCHEMA = DataSchema.from_yaml(
    HERE / "schema.yaml"
)  # declared once: checked here, served with the bundle
NUMERIC = [c for c in FEATURES if c != "region"]
MONOTONE = {"sqft": 1, "bathrooms": 1, "age": -1}  # +1 rises with, -1 falls with


@shipyard.step
def load(
    rows: int = 5000, seed: int = 0, bathrooms_effect: float = 1.0, dataset: str | None = None
) -> pd.DataFrame:
    """Generate the houses (a real project would read its warehouse here).

    ``dataset`` (a stored dataset's digest or name) reads those rows instead: the
    continuous-training controller passes the training set it built.
    """
    if dataset is not None:
        return shipyard.Dataset.load(dataset, shipyard.current_project()).to_pandas()
    frame = generate(rows, seed, bathrooms_effect=bathrooms_effect)
    shipyard.log_dataset(frame, "housing-raw")
    return frame


@shipyard.step
def validate(frame: pd.DataFrame) -> pd.DataFrame:
    """Stop the run before training when a row breaks the schema."""
    SCHEMA.check(frame)
    return frame


@shipyard.step
def split(
    frame: pd.DataFrame, test_share: float = 0.2, seed: int = 0
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """A seeded split; the test rows become the frozen evaluation dataset."""
    test = frame.sample(frac=test_share, random_state=seed).sort_index()
    train = frame.drop(test.index)
    shipyard.log_dataset(test.reset_index(drop=True), "housing-eval")
    return train.reset_index(drop=True), test.reset_index(drop=True)


@shipyard.step
def train(
    train: pd.DataFrame,
    model: str = "hgb",
    alpha: float = 1.0,
    max_iter: int = 200,
    monotone: bool = True,
) -> Pipeline:
    """Preprocessing and estimator as one scikit-learn Pipeline.

    ``monotone`` tells the trees what we know of houses: price never falls with size or
    bathrooms and never rises with age. Trees fitted on a few thousand rows otherwise
    make small steps the wrong way, which the behavioural tests catch.
    """
    if model == "ridge":
        estimator = Ridge(alpha=alpha)
    elif model == "hgb":
        constraints = (
            [MONOTONE.get(c, 0) for c in NUMERIC] + [0] * len(REGIONS) if monotone else None
        )
        estimator = HistGradientBoostingRegressor(
            max_iter=max_iter,
            max_leaf_nodes=15,
            min_samples_leaf=40,
            random_state=0,
            monotonic_cst=constraints,
        )
    else:
        raise ValueError(f"train.model must be 'ridge' or 'hgb', got {model!r}")
    pre = ColumnTransformer(
        [
            ("numeric", StandardScaler(), NUMERIC),
            # fixed categories: the model's columns (and its constraints) never depend
            # on which regions a training set happens to hold
            (
                "region",
                OneHotEncoder(categories=[list(REGIONS)], handle_unknown="ignore"),
                ["region"],
            ),
        ]
    )
    pipe = Pipeline([("preprocess", pre), ("model", estimator)])
    shipyard.log_params(
        model=model, alpha=alpha, max_iter=max_iter, monotone=monotone, rows=len(train)
    )
    return pipe.fit(train[FEATURES], train[TARGET])


@shipyard.step
def evaluate(model: Pipeline, test: pd.DataFrame) -> dict:
    """Held-out metrics, logged with the run."""
    predicted = model.predict(test[FEATURES])
    metrics = {
        "rmse": float(np.sqrt(mean_squared_error(test[TARGET], predicted))),
        "mae": float(mean_absolute_error(test[TARGET], predicted)),
        "r2": float(r2_score(test[TARGET], predicted)),
    }
    shipyard.log_metrics(metrics)
    return metrics


@shipyard.step
def package(
    model: Pipeline, train: pd.DataFrame, test: pd.DataFrame, metrics: dict
) -> shipyard.Bundle:
    """The deployable bundle: model + preprocessing, signature, profile, schema, metrics."""
    return shipyard.build_bundle(
        model,
        shipyard.scratch_dir("bundle"),
        name="housing",
        task="regression",
        input_example=train[FEATURES].head(5),
        profile=profile_frame(train[FEATURES]).to_dict(),
        data_schema=SCHEMA.to_dict(),
        eval_frame=test[FEATURES],
        metadata={
            "target": TARGET,
            "metrics": metrics,
            "evaluation_dataset": shipyard.log_dataset(test, "housing-eval").digest,
        },
    )


@shipyard.pipeline(model="housing")
def housing(
    rows: int = 5000, seed: int = 0, bathrooms_effect: float = 1.0, dataset: str | None = None
):
    frame = validate(load(rows=rows, seed=seed, bathrooms_effect=bathrooms_effect, dataset=dataset))
    train_rows, test_rows = split(frame)
    model = train(train_rows)
    return package(model, train_rows, test_rows, evaluate(model, test_rows))
