"""The report's figures: matplotlib (object API, no pyplot) drawn to SVG ``data:`` URIs.

Each ``*_figure`` function takes the JSON form of one part of a report and returns a
Figure; ``figures_for`` picks the figures a report needs and serializes them. No
global matplotlib state is changed: the style applies inside ``rc_context`` only.
"""

from __future__ import annotations

import base64
import io
import math
import re
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import matplotlib
from matplotlib.figure import Figure

from shipyard.evaluation.scorecard import LABELS

_COLORS = (
    "#1f5fa8",
    "#d1495b",
    "#2a9d8f",
    "#e9a23b",
    "#6a4c93",
    "#8d6e63",
    "#00798c",
    "#c44536",
    "#5c946e",
    "#7f7f7f",
)
_MAX_CURVES = 10
_STYLE: dict[Any, Any] = {
    "svg.fonttype": "none",  # text stays text: smaller, and searchable in the page
    "svg.hashsalt": "shipyard",  # stable element ids, so equal inputs give equal files
    "font.size": 10,
    "font.family": "DejaVu Sans",  # ships with matplotlib
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.grid": True,
    "axes.axisbelow": True,
    "grid.color": "#e3e6ea",
    "grid.linewidth": 0.8,
    "axes.edgecolor": "#8a929a",
    "axes.titlesize": 11,
    "axes.titleweight": "bold",
    "legend.fontsize": 8.5,
    "legend.frameon": False,
}


def figure_to_data_uri(fig: Figure) -> str:
    """Serialize a figure to SVG and return it as a ``data:image/svg+xml`` URI."""
    buf = io.StringIO()
    with matplotlib.rc_context(_STYLE):
        fig.savefig(buf, format="svg", bbox_inches="tight", metadata={"Date": None})
    svg = buf.getvalue()
    # Drop the XML prolog, DOCTYPE and RDF metadata: none is needed to draw it.
    svg = re.sub(r"<\?xml[^>]*\?>\s*", "", svg)
    svg = re.sub(r"<!DOCTYPE[^>]*>\s*", "", svg)
    svg = re.sub(r"<metadata>.*?</metadata>\s*", "", svg, flags=re.DOTALL)
    return "data:image/svg+xml;base64," + base64.b64encode(svg.encode()).decode("ascii")


def _figure(width: float = 5.2, height: float = 4.0) -> Figure:
    return Figure(figsize=(width, height), layout="constrained")


def _axes(fig: Figure) -> Any:
    return fig.add_subplot()


def _draw(build: Callable[..., Figure | None], *args: Any) -> str | None:
    # Artists read rcParams when made and when drawn, so both happen in the style.
    with matplotlib.rc_context(_STYLE):
        fig = build(*args)
        return None if fig is None else figure_to_data_uri(fig)


def roc_figure(
    curves: Sequence[Mapping[str, Any]], champion: Sequence[Mapping[str, Any]] = ()
) -> Figure:
    fig = _figure()
    ax = _axes(fig)
    ax.plot([0, 1], [0, 1], color="#9aa1a8", lw=1, ls=":", label="chance")
    for i, curve in enumerate(curves[:_MAX_CURVES]):
        ax.plot(
            curve["fpr"],
            curve["tpr"],
            color=_COLORS[i % len(_COLORS)],
            lw=1.8,
            label=f"{curve['label']} (AUC {curve['auc']:.3f})",
        )
    for curve in champion[:1] if len(curves) == 1 else ():
        ax.plot(
            curve["fpr"],
            curve["tpr"],
            color="#555",
            lw=1.2,
            ls="--",
            label=f"champion (AUC {curve['auc']:.3f})",
        )
    ax.set(
        xlim=(0, 1),
        ylim=(0, 1.01),
        xlabel="false positive rate",
        ylabel="true positive rate",
        title="ROC curve",
    )
    ax.legend(loc="lower right")
    return fig


def pr_figure(
    curves: Sequence[Mapping[str, Any]], champion: Sequence[Mapping[str, Any]] = ()
) -> Figure:
    fig = _figure()
    ax = _axes(fig)
    for i, curve in enumerate(curves[:_MAX_CURVES]):
        color = _COLORS[i % len(_COLORS)]
        ax.plot(
            curve["recall"],
            curve["precision"],
            color=color,
            lw=1.8,
            drawstyle="steps-post",
            label=f"{curve['label']} (AP {curve['average_precision']:.3f})",
        )
        if len(curves) == 1:
            ax.axhline(
                curve["prevalence"],
                color="#9aa1a8",
                lw=1,
                ls=":",
                label=f"prevalence {curve['prevalence']:.3f}",
            )
    for curve in champion[:1] if len(curves) == 1 else ():
        ax.plot(
            curve["recall"],
            curve["precision"],
            color="#555",
            lw=1.2,
            ls="--",
            drawstyle="steps-post",
            label=f"champion (AP {curve['average_precision']:.3f})",
        )
    ax.set(
        xlim=(0, 1),
        ylim=(0, 1.01),
        xlabel="recall",
        ylabel="precision",
        title="Precision-recall curve",
    )
    ax.legend(loc="lower left")
    return fig


def calibration_figure(calibration: Mapping[str, Any]) -> Figure:
    fig = _figure()
    ax = _axes(fig)
    ax.plot([0, 1], [0, 1], color="#9aa1a8", lw=1, ls=":", label="perfectly calibrated")
    mean_pred = calibration["mean_predicted"]
    observed = calibration["observed"]
    counts = calibration["count"]
    total = max(sum(counts), 1)
    ax.plot(mean_pred, observed, color=_COLORS[0], lw=1.8, marker="o", ms=4, label="model")
    ax.set(
        xlim=(0, 1),
        ylim=(0, 1.01),
        xlabel=calibration["x_label"],
        ylabel=calibration["y_label"],
        title="Calibration (reliability)",
    )
    share = ax.twinx()
    bins = calibration.get("bins") or 10
    share.bar(
        calibration.get("bin_center") or mean_pred,
        [c / total for c in counts],
        width=0.9 / bins,
        color=_COLORS[0],
        alpha=0.15,
        label="share of rows",
    )
    share.set_ylim(0, 1)
    share.set_ylabel("share of rows in bin", color="#6b737b")
    share.grid(False)
    share.spines["right"].set_visible(True)
    ax.set_zorder(share.get_zorder() + 1)
    ax.patch.set_visible(False)
    ax.legend(loc="upper left")
    return fig


def confusion_figure(labels: Sequence[str], matrix: Sequence[Sequence[int]]) -> Figure:
    n = len(labels)
    size = min(3.2 + 0.45 * n, 9.0)
    fig = _figure(size + 0.8, size)
    ax = _axes(fig)
    ax.grid(False)
    rows = [sum(r) or 1 for r in matrix]
    share = [[v / rows[i] for v in r] for i, r in enumerate(matrix)]
    image = ax.imshow(share, cmap="Blues", vmin=0, vmax=1)
    ax.set_xticks(
        range(n),
        labels=[_short(x) for x in labels],
        rotation=45 if n > 4 else 0,
        ha="right" if n > 4 else "center",
    )
    ax.set_yticks(range(n), labels=[_short(x) for x in labels])
    ax.set(xlabel="predicted", ylabel="actual", title="Confusion matrix")
    if n <= 15:
        for i in range(n):
            for j in range(n):
                ax.text(
                    j,
                    i,
                    f"{matrix[i][j]:,}\n{share[i][j]:.0%}",
                    ha="center",
                    va="center",
                    fontsize=8 if n > 6 else 9,
                    color="white" if share[i][j] > 0.55 else "#1d2329",
                )
    fig.colorbar(image, ax=ax, fraction=0.046, pad=0.04, label="share of actual row")
    return fig


def predicted_vs_actual_figure(residuals: Mapping[str, Any]) -> Figure:
    fig = _figure()
    ax = _axes(fig)
    actual, predicted = residuals["actual"], residuals["predicted"]
    ax.scatter(
        actual, predicted, s=7, alpha=0.45, color=_COLORS[0], lw=0, rasterized=len(actual) > 2000
    )
    lo = min(min(actual), min(predicted))
    hi = max(max(actual), max(predicted))
    ax.plot([lo, hi], [lo, hi], color="#d1495b", lw=1.2, ls="--", label="predicted = actual")
    ax.set(xlabel="actual", ylabel="predicted", title="Predicted vs actual")
    ax.legend(loc="upper left")
    _sample_note(ax, residuals)
    return fig


def residuals_figure(residuals: Mapping[str, Any]) -> Figure:
    fig = _figure()
    ax = _axes(fig)
    predicted = residuals["predicted"]
    errors = [p - a for p, a in zip(predicted, residuals["actual"], strict=True)]
    ax.scatter(
        predicted, errors, s=7, alpha=0.45, color=_COLORS[0], lw=0, rasterized=len(errors) > 2000
    )
    ax.axhline(0, color="#d1495b", lw=1.2, ls="--")
    ax.set(
        xlabel="predicted", ylabel="residual (predicted - actual)", title="Residuals vs predicted"
    )
    _sample_note(ax, residuals)
    return fig


def residual_histogram_figure(residuals: Mapping[str, Any]) -> Figure:
    fig = _figure()
    ax = _axes(fig)
    errors = [p - a for p, a in zip(residuals["predicted"], residuals["actual"], strict=True)]
    ax.hist(errors, bins=min(50, max(10, int(math.sqrt(len(errors))))), color=_COLORS[0], alpha=0.8)
    ax.axvline(0, color="#d1495b", lw=1.2, ls="--")
    ax.set(xlabel="residual (predicted - actual)", ylabel="rows", title="Residual distribution")
    _sample_note(ax, residuals)
    return fig


def slice_figure(slice_: Mapping[str, Any], metric: str, overall: float | None) -> Figure | None:
    rows = [r for r in slice_["rows"] if metric in r["metrics"]]
    if not rows:
        return None
    fig = _figure(5.2, 1.2 + 0.32 * len(rows))
    ax = _axes(fig)
    ys = list(range(len(rows)))[::-1]
    for y, row in zip(ys, rows, strict=True):
        est = row["metrics"][metric]
        value, low, high = est["value"], est.get("low"), est.get("high")
        if _finite(low) and _finite(high):
            ax.plot([low, high], [y, y], color=_COLORS[0], lw=2, alpha=0.55)
        ax.plot([value], [y], "o", color=_COLORS[0], ms=5)
    label = LABELS.get(metric, metric)
    if _finite(overall):
        ax.axvline(overall, color="#d1495b", lw=1, ls="--")
        label += "  (dashed line: all rows)"
    ax.set_yticks(ys, labels=[f"{_short(str(r['value']), 22)}  (n={r['n']:,})" for r in rows])
    ax.set(xlabel=label, title=f"{LABELS.get(metric, metric)} by {slice_['feature']}")
    ax.grid(axis="y", visible=False)
    return fig


def _sample_note(ax: Any, residuals: Mapping[str, Any]) -> None:
    shown, total = len(residuals["actual"]), residuals.get("n_rows", len(residuals["actual"]))
    if shown < total:
        ax.text(
            0.99,
            0.01,
            f"random sample of {shown:,} of {total:,} rows",
            transform=ax.transAxes,
            ha="right",
            va="bottom",
            fontsize=7.5,
            color="#6b737b",
        )


def _short(text: str, limit: int = 18) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _finite(x: Any) -> bool:
    return isinstance(x, int | float) and math.isfinite(x)


def figures_for(report: Mapping[str, Any]) -> list[dict[str, str]]:
    """The report's figures, each ``{"title", "uri"}``, in page order."""
    ev = report["evaluation"]
    champion = ((report.get("comparison") or {}).get("champion_curves")) or {}
    curves = ev.get("curves") or {}
    planned: list[tuple[str, Callable[..., Figure | None], tuple[Any, ...]]] = []
    if ev["task"] == "classification":
        if curves.get("roc"):
            planned.append(("ROC curve", roc_figure, (curves["roc"], champion.get("roc", ()))))
        if curves.get("pr"):
            planned.append(
                ("Precision-recall curve", pr_figure, (curves["pr"], champion.get("pr", ())))
            )
        if curves.get("calibration"):
            planned.append(("Calibration", calibration_figure, (curves["calibration"],)))
        cm = ev.get("confusion_matrix")
        if cm:
            planned.append(("Confusion matrix", confusion_figure, (cm["labels"], cm["matrix"])))
    else:
        res = ev.get("residuals")
        if res and res["actual"]:
            planned.append(("Predicted vs actual", predicted_vs_actual_figure, (res,)))
            planned.append(("Residuals vs predicted", residuals_figure, (res,)))
            planned.append(("Residual distribution", residual_histogram_figure, (res,)))
    out = []
    for title, build, args in planned:
        uri = _draw(build, *args)
        if uri is not None:
            out.append({"title": title, "uri": uri})
    return out


def slice_figures_for(report: Mapping[str, Any]) -> dict[str, str]:
    """One forest plot of the headline metric per slice feature, keyed by feature."""
    ev = report["evaluation"]
    metric = ev.get("headline_metric")
    overall = next((m["value"] for m in ev["metrics"] if m["name"] == metric), None)
    out: dict[str, str] = {}
    for slice_ in ev.get("slices") or ():
        uri = _draw(slice_figure, slice_, metric, overall) if metric else None
        if uri is not None:
            out[slice_["feature"]] = uri
    return out
