"""Pure helpers the console's pages use: number formats, paging, a job's progress and metric table,
chart data for timelines and histories. No I/O here, so each is unit-tested on plain data."""

from __future__ import annotations

import math
import statistics
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlencode

from benchfarm.dashboards.timelines import SCALE, TIMELINES, fmt  # noqa: F401 (fmt: the pages' number format)
from benchfarm.jobs.model import JobRecord


def fmt_bytes(n: int | None) -> str:
    """``8.0 GiB``, ``512 MiB``; '-' when unknown (0 or None)."""
    if not n:
        return "-"
    return f"{n / (1 << 30):.1f} GiB" if n >= 1 << 30 else f"{n >> 20} MiB"


def fmt_seconds(s: float | None) -> str:
    """``2.41 s``, ``3 min 5 s``; '-' for None."""
    if s is None:
        return "-"
    if s < 60:
        return f"{s:.3g} s"
    minutes, sec = divmod(round(s), 60)
    return f"{minutes} min {sec} s"


def fmt_time(at: datetime | str | None) -> str:
    """A timestamp to the second: ``2026-12-01 11:02:03Z`` in UTC, else with its offset; '-' for None."""
    if at is None or at == "":
        return "-"
    if isinstance(at, str):
        try:
            at = datetime.fromisoformat(at.replace("Z", "+00:00"))
        except ValueError:
            return str(at)
    offset = at.utcoffset()
    if offset is None:
        zone = ""
    elif offset == timedelta(0):
        zone = "Z"
    else:
        z = at.strftime("%z")
        zone = f"{z[:3]}:{z[3:]}"
    return at.strftime("%Y-%m-%d %H:%M:%S") + zone


@dataclass(frozen=True)
class Paging:
    """Where a page of a listing is, and the links to its neighbours (None: there is none)."""

    page: int
    per_page: int
    prev_url: str | None
    next_url: str | None

    @property
    def offset(self) -> int:
        return (self.page - 1) * self.per_page


def paging(base: str, page: int, per_page: int, more: bool, params: dict[str, str | None]) -> Paging:
    """The links of page ``page`` (1-based) of a listing at ``base``, keeping the filter ``params``."""
    kept = {k: v for k, v in params.items() if v}

    def link(n: int) -> str:
        return base + "?" + urlencode({**kept, "page": n, "per_page": per_page})

    return Paging(page, per_page, link(page - 1) if page > 1 else None, link(page + 1) if more else None)


@dataclass(frozen=True)
class Progress:
    """A job's progress: measured repetitions done of those asked."""

    status: str
    done: int
    total: int | None
    final: bool

    @property
    def percent(self) -> int:
        if self.final and self.status == "succeeded":
            return 100
        if not self.total:
            return 0
        return min(100, round(100 * self.done / self.total))

    def as_dict(self) -> dict[str, Any]:
        return {"status": self.status, "done": self.done, "total": self.total, "final": self.final,
                "percent": self.percent}


def progress(job: JobRecord) -> Progress:
    """The job's :class:`Progress` (adaptive jobs may stop before ``total``)."""
    return Progress(job.status.value, len(job.measured()), job.planned_repetitions, job.status.final)


@dataclass(frozen=True)
class MetricRow:
    """One metric over a job's measured repetitions."""

    name: str
    unit: str
    values: list[float]

    @property
    def n(self) -> int:
        return len(self.values)

    @property
    def median(self) -> float:
        return statistics.median(self.values)

    @property
    def low(self) -> float:
        return min(self.values)

    @property
    def high(self) -> float:
        return max(self.values)


def metric_rows(job: JobRecord) -> list[MetricRow]:
    """Each metric of the job's measured repetitions, by name, with the unit its spec declares."""
    declared = (job.spec.get("results") or {}).get("metrics") or {}
    values: dict[str, list[float]] = {}
    for rep in job.measured():
        for name, value in rep.metrics.items():
            values.setdefault(name, []).append(float(value))
    return [MetricRow(name, str((declared.get(name) or {}).get("unit") or ""), v) for name, v in sorted(values.items())]


@dataclass
class Chart:
    """A uPlot chart: x values and one series per legend (None where a series has no point)."""

    title: str
    unit: str
    x_label: str
    legends: list[str] = field(default_factory=list)
    x: list[float] = field(default_factory=list)
    ys: list[list[float | None]] = field(default_factory=list)
    markers: list[float] = field(default_factory=list)  # x positions to mark (change points)

    def as_dict(self) -> dict[str, Any]:
        return {"title": self.title, "unit": self.unit, "x_label": self.x_label, "legends": self.legends,
                "data": [self.x, *self.ys], "markers": self.markers}


def _seconds(ts: str) -> float:
    return datetime.fromisoformat(ts.replace("Z", "+00:00")).timestamp()


def timeline_charts(samples: Iterable[dict[str, Any]], t0: datetime | None) -> list[Chart]:
    """Charts of the report's panels from sample documents (``@timestamp``, ``collector``, ``m``).

    x is seconds since ``t0`` (the job's start); series are aligned on the union of their sample
    times, None where a collector has no sample at that time. Panels with no field are left out.
    """
    start = t0.timestamp() if t0 else None
    points: dict[tuple[str, str], dict[float, float]] = {}
    for doc in samples:
        at = _seconds(str(doc["@timestamp"]))
        rel = round(at - start, 3) if start is not None else at
        for name, value in (doc.get("m") or {}).items():
            if isinstance(value, int | float) and math.isfinite(value):
                points.setdefault((str(doc.get("collector")), name), {})[rel] = float(value)
    charts = []
    for title, (unit, fields) in TIMELINES.items():
        present = [(c, f, legend) for c, f, legend in fields if (c, f) in points]
        if not present:
            continue
        xs = sorted({t for c, f, _ in present for t in points[(c, f)]})
        scale = SCALE.get(unit, 1.0)
        ys = [[(points[(c, f)][t] * scale if t in points[(c, f)] else None) for t in xs] for c, f, _ in present]
        charts.append(Chart(title, unit, "seconds since start", [legend for _, _, legend in present], xs, ys))
    return charts


def history_chart(title: str, values: list[float], change_indexes: list[int]) -> Chart:
    """A history as a chart: x is the job's position (oldest first), change points marked between jobs."""
    return Chart(title, "", "job (oldest first)", ["median per job"], [float(i) for i in range(len(values))],
                 [list(values)], [i - 0.5 for i in change_indexes])


def distribution_chart(metric: str, unit: str, baseline: list[float], candidate: list[float]) -> Chart:
    """Both distributions of a comparison: each repetition's value by its position, one series per job."""
    n = max(len(baseline), len(candidate))
    pad: list[float | None] = [None] * n

    def padded(values: list[float]) -> list[float | None]:
        return [*values, *pad][:n]

    return Chart(metric, unit, "repetition", ["baseline", "candidate"], [float(i) for i in range(n)],
                 [padded(baseline), padded(candidate)])


def scaling_chart(curve: dict[str, Any]) -> Chart:
    """A campaign's scaling curve (``GET /campaigns/{id}/compare``'s ``scaling`` item): the median at each value
    of the swept axis, and ideal linear scaling from the smallest value."""
    title = f"{curve['metric']} of {curve['group']} over {curve['axis']}" + (f" ({curve['rest']})" if curve.get(
        "rest") else "")
    pts = curve.get("points") or []
    return Chart(title, "", str(curve["axis"]), ["median", "ideal (linear)"], [float(p["x"]) for p in pts],
                 [[p["median"] for p in pts], [p["ideal"] for p in pts]])
