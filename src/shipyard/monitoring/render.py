"""A MonitorReport -> one self-contained HTML page (figures as inline SVG; nothing fetched).

Rendered from the report's JSON form (``MonitorReport.to_dict()``), so the page and
``--json`` never disagree. Figures use matplotlib's object API (no pyplot, no global
backend); text stays text in the SVG, which matplotlib escapes.
"""

from __future__ import annotations

import io
import re
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import jinja2
import matplotlib
import matplotlib.dates as mdates
import numpy as np
from matplotlib.figure import Figure

from shipyard.monitoring.drift import StatisticResult
from shipyard.monitoring.report import MonitorReport

_TEMPLATES = Path(__file__).with_name("templates")
_REFERENCE, _CURRENT, _ALERT = "#8a9bb0", "#1f5fa8", "#d1495b"
_STYLE: dict[str, Any] = {
    "svg.fonttype": "none",
    "svg.hashsalt": "shipyard-monitor",
    "font.size": 9,
    "font.family": "DejaVu Sans",
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.grid": True,
    "axes.axisbelow": True,
    "grid.color": "#e3e6ea",
    "legend.frameon": False,
    "legend.fontsize": 8,
}
_MAX_TICKS = 12


def render_html(report: MonitorReport) -> str:
    """The report as one HTML page."""
    data = report.to_dict()
    drift = data["drift"]
    figures: dict[str, str] = {}
    with matplotlib.rc_context(_STYLE):  # type: ignore[arg-type]
        for feature in (*drift["features"], *drift["outputs"]):
            if feature["current_counts"]:
                figures[f"{feature['role']}:{feature['feature']}"] = _svg(_histogram(feature))
        if data["latency"]:
            figures["latency"] = _svg(_latency(data["latency"]))
        if data["resources"]:
            figures["resources"] = _svg(_resources(data["resources"]))
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(_TEMPLATES),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
    )
    env.filters["ts"] = _timestamp
    template = env.get_template("report.html.j2")
    return template.render(
        r=data,
        d=drift,
        figures=_Figures(figures),
        window_text=report.window.describe(),
        notes=data["notes"],
        describe=_describe,
    )


def write_html(report: MonitorReport, path: str | Path) -> Path:
    """Render and write the page; returns the path."""
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(render_html(report), encoding="utf-8")
    return out


class _Figures(dict[str, str]):
    def __getitem__(self, key: str) -> str:
        return self.get(key, "")

    def __getattr__(self, key: str) -> str:
        return self.get(key, "")


def _describe(stat: Mapping[str, Any]) -> str:
    fields = ("name", "value", "threshold", "pvalue", "adjusted_pvalue", "exceeded")
    return StatisticResult(**{k: stat[k] for k in fields}).describe()


def _timestamp(value: float | None) -> str:
    if value is None:
        return "-"
    return datetime.fromtimestamp(float(value), UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def _svg(fig: Figure) -> str:
    buf = io.StringIO()
    fig.savefig(buf, format="svg", bbox_inches="tight", metadata={"Date": None})
    svg = buf.getvalue()
    svg = re.sub(r"<\?xml[^>]*\?>\s*", "", svg)
    svg = re.sub(r"<!DOCTYPE[^>]*>\s*", "", svg)
    return re.sub(r"<metadata>.*?</metadata>\s*", "", svg, flags=re.DOTALL)


def _histogram(feature: Mapping[str, Any]) -> Figure:
    ref = np.asarray(feature["reference_counts"], dtype=float)
    cur = np.asarray(feature["current_counts"], dtype=float)
    labels = list(feature["bin_labels"]) or [str(i) for i in range(len(cur))]
    ref_p = ref / ref.sum() if ref.sum() else ref
    cur_p = cur / cur.sum() if cur.sum() else cur
    x = np.arange(len(cur))
    fig = Figure(figsize=(5.4, 2.5), layout="constrained")
    ax = fig.add_subplot()
    ax.bar(x - 0.2, ref_p, width=0.4, color=_REFERENCE, label="reference")
    ax.bar(
        x + 0.2, cur_p, width=0.4, color=_ALERT if feature["drifted"] else _CURRENT, label="current"
    )
    step = max(1, int(np.ceil(len(x) / _MAX_TICKS)))
    ax.set_xticks(
        x[::step], [_short(lbl) for lbl in labels[::step]], rotation=35, ha="right", fontsize=7
    )
    ax.set_ylabel("share of rows")
    ax.legend(loc="lower right", bbox_to_anchor=(1.0, 1.0), ncols=2)
    return fig


def _latency(buckets: list[Mapping[str, float]]) -> Figure:
    t: Any = [datetime.fromtimestamp(b["start"], UTC) for b in buckets]
    fig = Figure(figsize=(10.5, 2.8), layout="constrained")
    ax = fig.add_subplot()
    ax.plot(
        t, [b["p50_ms"] for b in buckets], marker="o", ms=3, color=_CURRENT, label="p50 latency"
    )
    ax.plot(t, [b["p99_ms"] for b in buckets], marker="o", ms=3, color=_ALERT, label="p99 latency")
    ax.set_ylabel("ms")
    ax.set_ylim(bottom=0)
    rate = ax.twinx()
    rate.bar(t, [b["requests"] / max(b["seconds"], 1e-9) for b in buckets],
             width=(buckets[0]["seconds"] / 86400.0) * 0.8, color=_REFERENCE, alpha=0.35, label="requests/s")  # fmt: skip
    rate.set_ylabel("requests/s")
    rate.grid(False)
    rate.set_zorder(ax.get_zorder() - 1)
    ax.patch.set_visible(False)
    lines = ax.get_legend_handles_labels()
    bars = rate.get_legend_handles_labels()
    ax.legend(
        lines[0] + bars[0], lines[1] + bars[1], loc="lower left", bbox_to_anchor=(0, 1), ncols=3
    )
    _time_axis(ax)
    return fig


def _resources(samples: list[Mapping[str, Any]]) -> Figure:
    t: Any = [datetime.fromtimestamp(s["at"], UTC) for s in samples]
    fig = Figure(figsize=(10.5, 2.6), layout="constrained")
    ax = fig.add_subplot()
    ax.plot(
        t,
        [s.get("cpu_ratio", 0.0) * 100 for s in samples],
        color=_CURRENT,
        label="CPU % (of one core)",
    )
    ax.set_ylabel("CPU %")
    ax.set_ylim(bottom=0)
    mem = ax.twinx()
    mem.plot(
        t,
        [s.get("rss_bytes", 0.0) / 2**20 for s in samples],
        color=_ALERT,
        label="resident memory MiB",
    )
    mem.set_ylabel("MiB")
    mem.grid(False)
    a, b = ax.get_legend_handles_labels(), mem.get_legend_handles_labels()
    ax.legend(a[0] + b[0], a[1] + b[1], loc="lower left", bbox_to_anchor=(0, 1), ncols=2)
    _time_axis(ax)
    return fig


def _time_axis(ax: Any) -> None:
    locator = mdates.AutoDateLocator(minticks=3, maxticks=8)
    ax.xaxis.set_major_locator(locator)
    ax.xaxis.set_major_formatter(mdates.ConciseDateFormatter(locator))


def _short(label: str, width: int = 18) -> str:
    return label if len(label) <= width else label[: width - 1] + "…"
