"""Train the two benchmark models once and make them servable by Shipyard (runs in the project venv).

* ``housing``: the housing example's own pipeline (``shipyard init --template housing``
  then ``shipyard run housing``): ColumnTransformer(StandardScaler, OneHotEncoder) +
  HistGradientBoostingRegressor, bundled with its data schema (ranges and categories
  enforced at serving) and registered as ``housing:1`` by the run itself.
* ``hgb``: a plain HistGradientBoostingRegressor on the six numeric housing features,
  same data and split, bundled with ``shipyard.build_bundle`` and registered as ``hgb:1``.
  ``build_bundle`` converts the bare estimator to ONNX with one ``[N, 6]`` double matrix
  input (the ONNX flavor stacks the request's columns) and keeps that form only if it
  matches scikit-learn on the test rows, so ``hgb:1`` serves through onnxruntime.
  ``hgb:2`` is the same fitted model bundled with ``convert_onnx=False``: its
  scikit-learn form, for comparison.

The housing bundle keeps the scikit-learn form and the ONNX form (which serves). For the peers,
each fitted scikit-learn model is pickled beside a few rows and their predictions, so
the peers' venv can check it reproduces them before logging it to MLflow and BentoML;
the ONNX graph is copied out for the bare FastAPI + onnxruntime floor.

    .venv/bin/python benchmarks/serving/prepare.py WORKDIR
"""

from __future__ import annotations

import argparse
import json
import pickle
import shutil
import subprocess
import sys
from pathlib import Path

ROWS, SEED = 5000, 0  # the housing pipeline's defaults, so both models see the same rows


def shipyard(*args: str) -> None:
    exe = Path(sys.executable).with_name("shipyard")
    subprocess.run([str(exe), *args], check=True, stdout=subprocess.DEVNULL)


def housing_frames():  # type: ignore[no-untyped-def]
    """The pipeline's rows and its split (``split`` step: 20% test, seed 0)."""
    from shipyard.examples.housing import generate

    frame = generate(ROWS, SEED)
    test = frame.sample(frac=0.2, random_state=SEED).sort_index()
    return frame.drop(test.index).reset_index(drop=True), test.reset_index(drop=True)


def train_hgb(project_dir: Path, work: Path):  # type: ignore[no-untyped-def]
    """The plain HGB on numeric features: ``hgb:1`` (ONNX form), ``hgb:2`` (scikit-learn form)."""
    from sklearn.ensemble import HistGradientBoostingRegressor

    from shipyard import build_bundle
    from shipyard.data import DataSchema, profile_frame
    from shipyard.examples.housing import FEATURES, TARGET
    from shipyard.project import Project
    from shipyard.registry import Registry

    numeric = [c for c in FEATURES if c != "region"]
    train, test = housing_frames()
    model = HistGradientBoostingRegressor(max_iter=200, random_state=0)
    model.fit(train[numeric], train[TARGET])
    schema = DataSchema.from_yaml(project_dir / "schema.yaml").to_dict()
    schema["columns"] = {k: v for k, v in schema["columns"].items() if k in numeric}
    registry = Registry(Project.open(project_dir))
    for convert, directory in ((True, "hgb-bundle"), (False, "hgb-sklearn-bundle")):
        bundle = build_bundle(
            model,
            work / directory,
            name="hgb",
            task="regression",
            input_example=train[numeric].head(5),
            profile=profile_frame(train[numeric]).to_dict(),
            data_schema=schema,
            eval_frame=test[numeric],
            convert_onnx=convert,
        )
        registry.register("hgb", bundle.path)
        if convert:
            onnx = bundle.manifest.forms.get("onnx")
            if bundle.manifest.flavor != "onnx" or onnx is None:
                reason = bundle.manifest.metadata.get("onnx")
                raise SystemExit(f"hgb:1 serves {bundle.manifest.flavor}, not ONNX: {reason}")
            check = onnx.options["equivalence"]
            print(f"hgb:1 (ONNX, {onnx.options['inputs']} input) matches scikit-learn within "
                  f"{check['max_rel_error']:.1e} (relative) on {check['rows']} rows")  # fmt: skip
            onnx_file = work / "hgb.onnx"
            shutil.copyfile(bundle.path / onnx.files[0], onnx_file)
    return model, test[numeric], onnx_file


def export(name: str, model, rows, onnx_file: Path, work: Path) -> dict[str, str]:  # type: ignore[no-untyped-def]
    """Pickle the scikit-learn model with check rows; name the ONNX graph the floor serves."""
    check = rows.head(200).reset_index(drop=True)
    with open(work / f"{name}.pkl", "wb") as f:
        # our own object, made seconds ago, read back by our own script: pickle is fine here
        pickle.dump({"model": model, "rows": check, "expected": model.predict(check)}, f)
    return {"pickle": str(work / f"{name}.pkl"), "onnx": str(onnx_file)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("workdir", type=Path)
    args = parser.parse_args()
    work: Path = args.workdir.resolve()
    project_dir = work / "project"
    # bundles are immutable: rebuild (hgb-onnx-bundle is an older layout's)
    for old in ("project", "hgb-bundle", "hgb-onnx-bundle", "hgb-sklearn-bundle"):
        shutil.rmtree(work / old, ignore_errors=True)
    work.mkdir(parents=True, exist_ok=True)
    shipyard("init", str(project_dir), "--template", "housing")
    shipyard("-C", str(project_dir), "run", "housing")  # registers housing:1

    from shipyard.bundle import Bundle, load_bundle
    from shipyard.examples.housing import FEATURES
    from shipyard.project import Project
    from shipyard.registry import Registry

    registry = Registry(Project.open(project_dir))
    path = registry.bundle_path("housing:1")
    bundle = Bundle.open(path)
    if bundle.manifest.flavor != "onnx":
        raise SystemExit(f"housing:1 serves {bundle.manifest.flavor}, not ONNX: see its manifest")
    housing_onnx = work / "housing.onnx"
    shutil.copyfile(path / bundle.manifest.forms["onnx"].files[0], housing_onnx)
    housing = load_bundle(path, prefer="native").model
    _, test = housing_frames()
    hgb, hgb_rows, hgb_onnx = train_hgb(project_dir, work)
    prepared = {
        "project": str(project_dir),
        "models": {
            "housing": export("housing", housing, test[FEATURES], housing_onnx, work),
            "hgb": export("hgb", hgb, hgb_rows, hgb_onnx, work),
        },
    }
    (work / "prepared.json").write_text(json.dumps(prepared, indent=2))
    print(f"prepared {', '.join(prepared['models'])} in {work}")


if __name__ == "__main__":
    main()
