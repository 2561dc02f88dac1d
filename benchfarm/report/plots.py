"""Plots as base64 PNG data URIs (matplotlib, Agg backend): timelines and repetition distributions."""

from __future__ import annotations

import base64
import io
from datetime import datetime

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt

from benchfarm.dashboards.timelines import SCALE, TIMELINES
from benchfarm.report.data import JobData, Series


def _png(fig) -> str:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=90, bbox_inches="tight")
    plt.close(fig)
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode()


def _rep_spans(job: JobData) -> list[tuple[float, float, bool]]:
    t0s = job.record.get("started_at") or job.record.get("submitted_at")
    if not t0s:
        return []
    t0 = datetime.fromisoformat(t0s).timestamp()
    spans = []
    for rep in job.record.get("repetitions", []):
        if rep.get("started_at") and rep.get("finished_at"):
            spans.append((datetime.fromisoformat(rep["started_at"]).timestamp() - t0,
                          datetime.fromisoformat(rep["finished_at"]).timestamp() - t0, bool(rep.get("warmup"))))
    return spans


def timeline(job: JobData, title: str) -> str | None:
    """A timeline PNG for one panel of :data:`TIMELINES`, or None when the job has none of its fields."""
    unit, fields = TIMELINES[title]
    lines: list[tuple[str, Series]] = [(legend, job.samples[c][f]) for c, f, legend in fields
                                       if f in job.samples.get(c, {})]
    if not lines:
        return None
    fig, ax = plt.subplots(figsize=(9, 2.6))
    for i, (start, end, warmup) in enumerate(_rep_spans(job)):
        ax.axvspan(start, end, color="#bbbbbb" if warmup else "#cfe3f7", alpha=0.5, lw=0,
                   label=("repetition" if i == 0 else None))
    scale = SCALE.get(unit, 1.0)
    for legend, s in lines:
        ax.plot(s.t, [v * scale for v in s.v], marker=".", ms=3, lw=1.2, label=legend)
    ax.set_title(f"{title}", loc="left", fontsize=10)
    ax.set_xlabel("seconds since the job started")
    ax.set_ylabel(unit)
    ax.grid(alpha=0.3)
    ax.set_ylim(bottom=0)
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    return _png(fig)


def distribution(name: str, values: list[float], unit: str = "") -> str:
    """A box plot with every repetition drawn as a point over it."""
    fig, ax = plt.subplots(figsize=(4.2, 2.6))
    ax.boxplot([values], orientation="horizontal", widths=0.5, showmeans=False)
    jitter = [1 + 0.08 * ((i % 5) - 2) / 2 for i in range(len(values))]
    ax.scatter(values, jitter, s=18, color="#d62728", zorder=3, label="repetitions")
    ax.set_yticks([])
    ax.set_title(name, loc="left", fontsize=10)
    ax.set_xlabel(unit)
    ax.grid(alpha=0.3, axis="x")
    return _png(fig)


def comparison_plot(metric: str, baseline: list[float], candidate: list[float], unit: str = "") -> str:
    """Baseline and candidate repetitions side by side (box + points)."""
    fig, ax = plt.subplots(figsize=(5, 2.4))
    ax.boxplot([baseline, candidate], orientation="horizontal", widths=0.5)
    for y, vals, color in ((1, baseline, "#1f77b4"), (2, candidate, "#d62728")):
        ax.scatter(vals, [y] * len(vals), s=16, color=color, zorder=3)
    ax.set_yticks([1, 2], ["baseline", "candidate"])
    ax.set_title(metric, loc="left", fontsize=10)
    ax.set_xlabel(unit)
    ax.grid(alpha=0.3, axis="x")
    return _png(fig)


def history_plot(title: str, values: list[float], changes: list[tuple[int, float, float]], unit: str = "") -> str:
    """A history series (one point per job, oldest first) with each change point marked.

    Args:
        title: the series key.
        values: per-job medians in time order.
        changes: (index of the first job of the new level, median before, median after) per change point.
        unit: the y-axis label.
    """
    fig, ax = plt.subplots(figsize=(9, 2.8))
    ax.plot(range(len(values)), values, marker=".", ms=4, lw=1, color="#1f77b4", label="job median")
    bounds = [0, *(c[0] for c in changes), len(values)]
    levels = [changes[0][1]] + [c[2] for c in changes] if changes else []
    for k, (index, _before, _after) in enumerate(changes):
        ax.axvline(index - 0.5, color="#d62728", lw=1.5, ls="--", label="change point" if k == 0 else None)
    for k, level in enumerate(levels):
        ax.hlines(level, bounds[k], bounds[k + 1] - 1, colors="#ff7f0e", lw=2,
                  label="segment median" if k == 0 else "_nolegend_")
    ax.set_title(title, loc="left", fontsize=10)
    ax.set_xlabel("job (oldest first)")
    ax.set_ylabel(unit)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    return _png(fig)
