"""Building a bundle: the model with its preprocessing, and everything that vouches for it.

``build_bundle`` writes into a staging directory beside ``out_dir`` and renames it into
place only once it verifies and loads, so a half-built bundle is never visible. A
scikit-learn model is also converted to ONNX; that form serves only when it matches
the scikit-learn form on the evaluation rows within ``onnx_tolerance``, and the
measured error is written into the manifest either way.
"""

from __future__ import annotations

import json
import math
import os
import platform
import shutil
import tempfile
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from functools import partial
from importlib import metadata as importlib_metadata
from pathlib import Path
from typing import Any

import numpy as np

from shipyard.bundle.convert import ConversionError, Equivalence, compare, to_onnx
from shipyard.bundle.flavors import Flavor, flavor_for, get_flavor
from shipyard.bundle.flavors.base import frame_columns
from shipyard.bundle.manifest import (
    INPUT_EXAMPLE_FILE,
    MANIFEST_FILE,
    Bundle,
    Manifest,
    ModelForm,
    hash_tree,
)
from shipyard.bundle.signature import Signature, TensorSpec, datatype_of, infer_inputs
from shipyard.errors import BundleError

PROFILE_FILE = "profile.json"
DATA_SCHEMA_FILE = "data_schema.json"
TEST_RESULTS_FILE = "test_results.json"
REPORT_FILE = "report.html"
EXAMPLE_ROWS = 100  # an input example documents the input; it is not a dataset


def build_bundle(
    model: Any,
    out_dir: str | Path,
    *,
    name: str,
    input_example: Any,
    signature: Signature | None = None,
    task: str | None = None,
    profile: Mapping[str, Any] | None = None,
    data_schema: Mapping[str, Any] | None = None,
    test_results: Mapping[str, Any] | None = None,
    report_html: str | None = None,
    run_id: str | None = None,
    metadata: Mapping[str, Any] | None = None,
    convert_onnx: bool = True,
    eval_frame: Any | None = None,
    onnx_tolerance: float = 1e-4,
    flavor: str | None = None,
    flavor_options: Mapping[str, Any] | None = None,
    trust: Sequence[str] = (),
) -> Bundle:
    """Write a fitted model and its evidence as a bundle directory at ``out_dir``.

    Args:
        model: the fitted model, preprocessing included (a scikit-learn Pipeline, a
            torch module, an ONNX ModelProto, a LightGBM or XGBoost model).
        input_example: a pandas DataFrame of a few input rows; its columns are the
            model's inputs (first ``EXAMPLE_ROWS`` rows are stored).
        signature: inferred from ``input_example`` and the model when not given.
        task: ``regression`` or ``classification``; inferred from the model (a
            ``classes_`` attribute) when not given.
        eval_frame: rows on which the ONNX form must match the scikit-learn form;
            the input example when not given.
        onnx_tolerance: largest |onnx - sklearn| / max(|sklearn|, 1) allowed.
        flavor: force a flavor instead of choosing one from the model's type.
        flavor_options: the flavor's settings, e.g. torch's ``format``/``init_kwargs``.
        trust: type or module names the build's load check may trust (see load_bundle).

    Returns:
        the verified Bundle.

    Raises:
        BundleError: ``out_dir`` is not empty, no flavor fits, or the saved model
            does not load back.

    Example:
        >>> bundle = build_bundle(pipeline, "out/housing", name="housing",
        ...                       input_example=X.head(5), eval_frame=X_test)
    """
    out = Path(out_dir)
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise BundleError(
            f"{out} already exists", hint="bundles are immutable: build into a new directory"
        )
    native = get_flavor(flavor) if flavor else flavor_for(model)
    if signature is None:
        signature = infer_signature(model, input_example, task=task, flavor=native)
        if data_schema is not None:
            signature = _with_schema_rules(signature, data_schema)
    out.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(dir=out.parent, prefix=f".{out.name}.building-"))
    write = partial(
        _write_manifest,
        staging,
        name=name,
        run_id=run_id,
        signature=signature,
        metadata=metadata or {},
    )
    try:
        forms = {native.name: native.save(model, staging, signature, flavor_options or {})}
        notes: dict[str, Any] = {}  # why a form is absent, for the manifest's metadata
        if convert_onnx and native.name == "sklearn":
            try:
                forms["onnx"] = _save_onnx(model, staging, signature)
            except ConversionError as exc:
                notes["onnx"] = {"served": False, "reason": exc.message}
        _write_documents(
            staging,
            example=input_example,
            signature=signature,
            documents={
                PROFILE_FILE: profile,
                DATA_SCHEMA_FILE: data_schema,
                TEST_RESULTS_FILE: test_results,
            },
            report_html=report_html,
        )
        bundle = write(forms, notes)
        source = native.load(bundle, trust=trust)  # a bundle that cannot load is no bundle
        if "onnx" in forms:
            rows = eval_frame if eval_frame is not None else input_example
            check = _check_onnx(bundle, source, rows, onnx_tolerance)
            _keep_onnx_if_equivalent(staging, check, forms, notes)
            bundle = write(forms, notes)
        os.replace(staging, out)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return Bundle(path=out, manifest=bundle.manifest, digest=bundle.digest)


def _write_manifest(
    root: Path,
    forms: dict[str, ModelForm],
    notes: Mapping[str, Any],
    *,
    name: str,
    run_id: str | None,
    signature: Signature,
    metadata: Mapping[str, Any],
) -> Bundle:
    """Hash every file under ``root`` into a new manifest; the ONNX form serves if kept."""
    native = next(flavor for flavor, form in forms.items() if form.converted_from is None)
    manifest = Manifest(
        name=name,
        flavor="onnx" if "onnx" in forms else native,
        created_at=datetime.now(UTC),
        run_id=run_id,
        files=hash_tree(root),
        signature=signature,
        forms=forms,
        environment=_environment(forms),
        metadata=_jsonable({**metadata, **notes}),
    )
    (root / MANIFEST_FILE).write_bytes(manifest.to_json())
    return Bundle.open(root)


def _keep_onnx_if_equivalent(
    root: Path, check: Equivalence, forms: dict[str, ModelForm], notes: dict[str, Any]
) -> None:
    """Record the check on the ONNX form, or delete the form and say why."""
    if check.passed:
        options = {**forms["onnx"].options, "equivalence": check.to_dict()}
        forms["onnx"] = forms["onnx"].model_copy(update={"options": options})
        return
    for file in forms.pop("onnx").files:
        (root / file).unlink()
    notes["onnx"] = {
        "served": False,
        "reason": "predictions differ from scikit-learn beyond the tolerance",
        "equivalence": check.to_dict(),
    }


def _with_schema_rules(signature: Signature, data_schema: Mapping[str, Any]) -> Signature:
    """The inferred signature, with the data schema's value rules on each input it names.

    Datatypes stay as inferred (what the model takes); categories, ranges and
    nullability come from the schema, so the server refuses at the door what the
    pipeline would have refused before training.
    """
    import dataclasses

    from shipyard.data.schema import DataSchema

    schema = DataSchema.from_dict(data_schema)
    names = [t.name for t in signature.inputs if t.name in schema.names]
    rules = {t.name: t for t in schema.to_signature_inputs(names)}
    inputs = tuple(
        dataclasses.replace(
            t, categories=r.categories, minimum=r.minimum, maximum=r.maximum, nullable=r.nullable
        )
        if (r := rules.get(t.name)) is not None
        else t
        for t in signature.inputs
    )
    return dataclasses.replace(signature, inputs=inputs)


def infer_signature(
    model: Any, frame: Any, *, task: str | None = None, flavor: Flavor | None = None
) -> Signature:
    """A signature from an input DataFrame and the fitted model.

    Inputs are the frame's columns, ordered as the model was fitted when it records
    feature names; outputs are ``prediction`` (regression) or ``label`` and
    ``probabilities`` (classification, with the model's ``classes_``).
    """
    flavor = flavor or flavor_for(model)
    try:
        inputs = infer_inputs(frame)
    except ValueError as exc:
        raise BundleError(str(exc)) from None
    fitted = flavor.feature_names(model)
    if fitted is not None:
        given = [t.name for t in inputs]
        if set(fitted) != set(given):
            raise BundleError(
                f"the model was fitted on columns {fitted}, the input example has {given}",
                hint="pass an input example with exactly the model's input columns",
            )
        by_name = {t.name: t for t in inputs}
        inputs = tuple(by_name[n] for n in fitted)
    classes = flavor.classes(model)
    task = task or ("classification" if classes is not None else "regression")
    if task == "regression":
        return Signature(inputs=inputs, outputs=(TensorSpec("prediction", "FP64"),), task=task)
    if task != "classification":
        raise BundleError(f"unknown task {task!r}", hint="use 'regression' or 'classification'")
    if classes is None:
        raise BundleError(
            f"cannot tell the classes of a {type(model).__name__}",
            hint="pass signature= with its classes",
        )
    outputs = (
        TensorSpec("label", datatype_of(classes.dtype)),
        TensorSpec("probabilities", "FP64", shape=(-1, len(classes))),
    )
    return Signature(
        inputs=inputs, outputs=outputs, task=task, classes=tuple(str(c) for c in classes)
    )


def _save_onnx(model: Any, root: Path, signature: Signature) -> ModelForm:
    """Convert a scikit-learn model and save its ONNX form; raises ConversionError."""
    conversion = to_onnx(model, signature)
    form = get_flavor("onnx").save(
        conversion.model,
        root,
        signature,
        {
            "outputs": conversion.outputs,
            "float_type": conversion.float_type,
            "inputs": conversion.layout,
        },
    )
    return form.model_copy(update={"converted_from": "sklearn"})


def _check_onnx(bundle: Bundle, source: Any, frame: Any, tolerance: float) -> Equivalence:
    converted = get_flavor("onnx").load(bundle)
    columns = frame_columns(frame, bundle.signature)
    return compare(source.predict(columns), converted.predict(columns), tolerance=tolerance)


def _write_documents(
    root: Path,
    *,
    example: Any,
    signature: Signature,
    documents: Mapping[str, Mapping[str, Any] | None],
    report_html: str | None,
) -> None:
    head = example.head(EXAMPLE_ROWS)
    columns = {n: head[n].tolist() for n in signature.input_names}
    _write_json(root / INPUT_EXAMPLE_FILE, columns)
    for file, document in documents.items():
        if document is not None:
            _write_json(root / file, document)
    if report_html is not None:
        (root / REPORT_FILE).write_text(report_html, encoding="utf-8")


def _write_json(path: Path, value: Any) -> None:
    text = json.dumps(_jsonable(value), indent=2, sort_keys=True, allow_nan=False)
    path.write_text(text + "\n", encoding="utf-8")


def _jsonable(value: Any) -> Any:
    """Plain JSON values: numpy scalars and arrays unwrapped, NaN and infinities as null."""
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple | np.ndarray):
        return [_jsonable(v) for v in value]
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, datetime):
        return value.isoformat()
    if value is None or isinstance(value, str | int | float | bool):
        return value
    if _is_missing(value):
        return None
    return str(value)


def _is_missing(value: Any) -> bool:
    try:
        import pandas as pd

        return bool(pd.isna(value))
    except (TypeError, ValueError):
        return False


def _environment(forms: Mapping[str, ModelForm]) -> dict[str, str]:
    """Python and the versions of every library a stored form needs to load."""
    names: list[str] = []
    for flavor, form in forms.items():
        names += get_flavor(flavor).distributions
        if form.converted_from == "sklearn":
            names.append("skl2onnx")
    env = {"python": platform.python_version()}
    for dist in sorted(set(names)):
        try:
            env[dist] = importlib_metadata.version(dist)
        except importlib_metadata.PackageNotFoundError:
            continue
    return env
