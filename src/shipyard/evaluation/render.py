"""Evaluation report -> one self-contained HTML page (no network: figures inline).

The page is rendered from the report's JSON form (``EvaluationReport.to_dict()``), so
the HTML and the JSON can never disagree. Figures are SVG ``data:`` URIs (see
``figures``); the stylesheet is inline; no script, font or image is fetched.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import jinja2

from shipyard.evaluation.figures import figures_for, slice_figures_for
from shipyard.evaluation.scorecard import LABELS


def fmt_cell(value: Any) -> str:
    """A data cell: ints as written (ids, years), floats to 4 significant figures."""
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    return fmt_number(value)


def fmt_number(value: Any, digits: int = 4) -> str:
    """A number for a table: ints with separators, floats to ``digits`` significant figures."""
    if value is None:
        return "—"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        if math.isnan(value):
            return "n/a"
        if math.isinf(value):
            return "∞" if value > 0 else "-∞"
        if value == 0:
            return "0"
        if abs(value) >= 10**digits:
            return f"{value:,.0f}"
        if abs(value) < 10 ** (-digits + 1):
            return f"{value:.{digits - 1}e}"
        return f"{value:.{digits}g}"
    return str(value)


def fmt_plain(value: Any) -> str:
    """A recorded value (hyperparameter, version) as written: no rounding, no separators."""
    if value is None:
        return "—"
    if isinstance(value, bool):
        return "yes" if value else "no"
    return str(value)


TEST_NAMES = {
    "mcnemar": "McNemar",
    "t": "paired t-test",
    "wilcoxon": "Wilcoxon",
    "bootstrap": "paired bootstrap",
    "paired bootstrap": "paired bootstrap interval",
}


def fmt_test(name: Any) -> str:
    return TEST_NAMES.get(str(name), str(name)) if name else ""


def fmt_bytes(value: Any) -> str:
    if value is None:
        return "not measured"
    size = float(value)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if abs(size) < 1024 or unit == "GiB":
            return f"{size:,.0f} {unit}" if unit == "B" else f"{size:,.1f} {unit}"
        size /= 1024
    return f"{size:,.1f} GiB"


def fmt_p(value: Any) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "n/a"
    return "< 0.0001" if value < 1e-4 else f"{value:.4f}"


def _environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("shipyard.evaluation", "templates"),
        autoescape=jinja2.select_autoescape(["html", "j2"], default=True),
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["num"] = fmt_number
    env.filters["bytes"] = fmt_bytes
    env.filters["pvalue"] = fmt_p
    env.filters["plain"] = fmt_plain
    env.filters["cell"] = fmt_cell
    env.filters["test"] = fmt_test
    return env


def render_html(report: Mapping[str, Any]) -> str:
    """Render a report dict (the JSON form) to a self-contained HTML page."""
    template = _environment().get_template("report.html.j2")
    comparison = report.get("comparison")
    return template.render(
        r=report,
        ev=report["evaluation"],
        cmp=comparison,
        deltas={d["name"]: d for d in (comparison or {}).get("deltas", ())},
        view=page_text(report),
        figures=figures_for(report),
        slice_figures=slice_figures_for(report),
    )


def page_text(report: Mapping[str, Any]) -> dict[str, Any]:
    """Words and column choices for the page, derived from the report's data."""
    ev = report["evaluation"]
    cmp = report.get("comparison")
    level = f"{ev['confidence']:.0%}"
    view: dict[str, Any] = {
        "labels": LABELS,
        "interval_note": (
            f"Each interval is a {level} percentile bootstrap interval: the rows were "
            f"resampled with replacement {ev['n_bootstrap']:,} times (seed {ev['seed']}) and "
            "the metric recomputed on each resample. It assumes the rows are independent "
            "draws from the population the model will serve; grouped rows (one customer, "
            "one day) make it too narrow."
            if ev["n_bootstrap"]
            else "No intervals: the evaluation ran without bootstrap resamples."
        ),
        "slice_metrics": _slice_metrics(ev),
        "worst": _worst_view(ev),
        "operational_note": (
            "Measured in the process that made this report, on this machine, with rows of the "
            "evaluation data: each call timed alone after a warm-up call. p50/p99 are per-call "
            "percentiles (few calls make p99 close to the maximum). Serving adds HTTP and "
            "batching overhead; a different host gives different numbers."
        ),
    }
    if cmp:
        view["paired_note"] = (
            f"Δ intervals are {cmp['confidence']:.0%} paired percentile bootstrap intervals: "
            f"both models are rescored on the same {cmp['n_bootstrap']:,} resamples of rows, so "
            "row-to-row difficulty cancels out. Δ judged uses each metric's paired test "
            f"(McNemar for accuracy, paired t on per-row loss, bootstrap otherwise) at "
            f"alpha = {cmp['alpha']}; metrics without a test are judged by whether their interval "
            f"excludes 0. Only {LABELS.get(cmp['headline_metric'], cmp['headline_metric'])} "
            "decides the verdict."
        )
    return view


def _slice_metrics(ev: Mapping[str, Any]) -> list[str]:
    wanted = (
        ["accuracy", "f1", "roc_auc", "log_loss"]
        if ev["task"] == "classification"
        else ["mae", "rmse", "r2"]
    )
    head = ev.get("headline_metric")
    if head and head not in wanted:
        wanted.insert(0, head)
    present = {name for s in ev.get("slices") or () for r in s["rows"] for name in r["metrics"]}
    return [m for m in wanted if m in present]


def _worst_view(ev: Mapping[str, Any]) -> dict[str, Any] | None:
    rows = ev.get("worst_examples") or []
    if not rows:
        return None
    outcome_columns = list(rows[0]["outcome"])
    input_columns = list(rows[0]["inputs"])
    if ev["task"] == "classification":
        confident = "P(predicted)" in outcome_columns
        title = "Most confidently wrong examples" if confident else "Misclassified examples"
        note = (
            f"The {len(rows)} wrongly classified rows to which the model gave the highest "
            "probability for its (wrong) answer. Check them for label errors, missing "
            "features or a segment the model has not learned."
            if confident
            else f"{len(rows)} wrongly classified rows (the model gives no probabilities)."
        )
    else:
        title = "Largest errors"
        note = (
            f"The {len(rows)} rows with the largest absolute error (error = predicted - "
            "actual). Check them for data errors, outliers or a segment the model has not "
            "learned."
        )
    return {
        "title": title,
        "note": note,
        "outcome_columns": outcome_columns,
        "input_columns": input_columns,
    }
