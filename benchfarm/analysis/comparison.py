"""Side-by-side comparison of a campaign's results across hardware classes.

Why it groups by *class*, not host: two hosts of the same hardware in the same pool are
one sample of that hardware, and a renamed or replaced host keeps its history. A group is
(pool, hardware class): the pool carries the price, the class the hardware; a pool whose
hosts differ shows one group per class.

Per metric and parameter point, each group gets:

- the median of all its measured repetitions with a percentile-bootstrap 95% CI;
- the ratio of its median to the reference group's at the same point, with a bootstrap CI
  (resampling both groups, as :mod:`benchfarm.analysis.compare` does for verdicts);
- for a higher-is-better metric and a pool with a price, performance per dollar: the
  median divided by the price of one host-hour (e.g. events/s per USD/h), CI likewise.

For a sweep (a numeric matrix axis such as ``SYSBENCH_THREADS``) each group and
higher-is-better metric gets a scaling curve: the median at each value of the axis, and
ideal linear scaling from the smallest value (``ideal(x) = median(x0) * x / x0``) with the
efficiency ``median / ideal``. Pure numpy/scipy, seeded: the same input gives the same output.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from benchfarm.analysis.statistics import bootstrap_ci
from benchfarm.errors import UserInputError

UNKNOWN_CLASS = "unknown hardware"


@dataclass(frozen=True)
class RunResult:
    """One job of the campaign as the comparison sees it."""

    job_id: str | None
    target: str
    pool: str | None
    hardware_class: str | None
    point: str  # the point's key, e.g. "SYSBENCH_THREADS=2"
    status: str  # the job's status, or "refused"
    reason: str | None = None
    host_id: str | None = None
    values: dict[str, list[float]] = field(default_factory=dict)  # metric -> measured repetitions


@dataclass(frozen=True)
class MetricInfo:
    name: str
    unit: str = ""
    direction: str = "higher"  # higher | lower


@dataclass
class Cell:
    """One group at one point for one metric."""

    group: str
    point: str
    n: int
    median: float | None
    ci: tuple[float, float] | None
    ratio: float | None = None
    ratio_ci: tuple[float, float] | None = None
    per_dollar: float | None = None
    per_dollar_ci: tuple[float, float] | None = None


@dataclass
class CurvePoint:
    x: float
    median: float
    ci: tuple[float, float] | None
    ideal: float
    efficiency: float


@dataclass
class ScalingCurve:
    group: str
    metric: str
    axis: str
    rest: str  # the other axes' values, "" with one axis
    points: list[CurvePoint]


@dataclass
class Group:
    key: str
    pool: str | None
    hardware_class: str
    hosts: list[str]
    price_per_hour: float | None
    price_source: str | None


@dataclass
class CampaignComparison:
    campaign_id: str
    name: str
    reference: str
    groups: list[Group]
    points: list[str]
    metrics: list[MetricInfo]
    cells: dict[str, list[Cell]]  # metric -> cells
    scaling: list[ScalingCurve]
    failures: list[dict[str, Any]]
    succeeded: int
    total: int

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready (tuples as two-item lists, no NaN)."""
        return {
            "campaign_id": self.campaign_id, "name": self.name, "reference": self.reference,
            "groups": [asdict(g) for g in self.groups], "points": self.points,
            "metrics": [{**asdict(m), "cells": [asdict(c) for c in self.cells.get(m.name, [])]} for m in self.metrics],
            "scaling": [asdict(s) for s in self.scaling], "failures": self.failures,
            "succeeded": self.succeeded, "total": self.total,
        }


def group_key(pool: str | None, hardware_class: str | None) -> str:
    """``pool / class`` (just the class for a job that named no pool)."""
    cls = hardware_class or UNKNOWN_CLASS
    return f"{pool} / {cls}" if pool else cls


def _median(x: np.ndarray, axis: int = -1) -> np.ndarray:
    return np.median(x, axis=axis)


def _ratio_of_medians(cand: np.ndarray, base: np.ndarray, axis: int = -1) -> np.ndarray:
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.median(cand, axis=axis) / np.median(base, axis=axis)


def _finite(values: Sequence[float]) -> np.ndarray:
    arr = np.asarray([float(v) for v in values], dtype=float)
    return arr[np.isfinite(arr)]


def _scaled(ci: tuple[float, float] | None, factor: float) -> tuple[float, float] | None:
    return None if ci is None else (ci[0] * factor, ci[1] * factor)


def choose_reference(groups: list[Group], wanted: str | None) -> str:
    """The reference group's key: the first group, or the one ``wanted`` names (its key, pool or class).

    Raises:
        UserInputError: ``wanted`` names no group, or more than one.
    """
    if not groups:
        raise UserInputError("the campaign has no results to compare yet",
                             hint="wait for its jobs (`benchfarm campaign show ID`)")
    if not wanted:
        return groups[0].key
    found = [g.key for g in groups if wanted in (g.key, g.pool, g.hardware_class)]
    if len(found) != 1:
        raise UserInputError(f"reference {wanted!r} names {'no' if not found else 'more than one'} group",
                             hint="name one of: " + "; ".join(g.key for g in groups))
    return found[0]


def _numeric_axis(points: list[dict[str, str]]) -> str | None:
    """The first matrix axis whose values are all numbers and that has at least two of them."""
    if not points:
        return None
    for axis in points[0]:
        values = {p.get(axis) for p in points}
        try:
            if len(values) >= 2 and all(v is not None and math.isfinite(float(v)) and float(v) > 0 for v in values):
                return axis
        except ValueError:
            continue
    return None


def _parse_point(key: str) -> dict[str, str]:
    return dict(part.split("=", 1) for part in key.split(",")) if key and key != "-" else {}


def compare_campaign(campaign_id: str, name: str, runs: list[RunResult], metrics: list[MetricInfo],
                     points: list[str], *, prices: dict[str, tuple[float, str]] | None = None,
                     reference: str | None = None, seed: int = 0) -> CampaignComparison:
    """The side-by-side comparison of a campaign's runs.

    Args:
        campaign_id, name: what the comparison is of.
        runs: every job of the campaign (failed and refused ones are listed, not measured).
        metrics: the metrics to compare (from the spec's results), in order.
        points: the parameter points' keys in matrix order.
        prices: pool -> (USD per host-hour, where the price came from).
        reference: the group every other is divided by (its key, pool or class; default the first).
        seed: seed of the bootstraps.

    Raises:
        UserInputError: no run succeeded, or ``reference`` names no single group.
    """
    prices = prices or {}
    ok = [r for r in runs if r.status == "succeeded"]
    groups: dict[str, Group] = {}
    for r in ok:
        key = group_key(r.pool, r.hardware_class)
        g = groups.setdefault(key, Group(key, r.pool, r.hardware_class or UNKNOWN_CLASS, [],
                                         *(prices.get(r.pool or "") or (None, None))))
        if r.host_id and r.host_id not in g.hosts:
            g.hosts.append(r.host_id)
    group_list = list(groups.values())
    ref = choose_reference(group_list, reference)
    pooled: dict[tuple[str, str, str], np.ndarray] = {}
    for r in ok:
        for metric, values in r.values.items():
            k = (metric, group_key(r.pool, r.hardware_class), r.point)
            pooled[k] = np.concatenate([pooled.get(k, np.empty(0)), _finite(values)])
    cells: dict[str, list[Cell]] = {}
    for m in metrics:
        rows = cells.setdefault(m.name, [])
        for point in points:
            base = pooled.get((m.name, ref, point))
            for g in group_list:
                vals = pooled.get((m.name, g.key, point))
                if vals is None or vals.size == 0:
                    continue
                rows.append(_cell(g, point, vals, base, m, seed))
    scaling = _scaling(cells, metrics, [_parse_point(p) for p in points], points)
    failures = [{"job_id": r.job_id, "target": r.target, "point": r.point, "status": r.status, "reason": r.reason,
                 "host_id": r.host_id} for r in runs if r.status != "succeeded"]
    return CampaignComparison(campaign_id, name, ref, group_list, points, metrics, cells, scaling, failures,
                              len(ok), len(runs))


def _cell(g: Group, point: str, vals: np.ndarray, base: np.ndarray | None, m: MetricInfo, seed: int) -> Cell:
    med = float(np.median(vals))
    ci = bootstrap_ci((vals,), _median, seed=seed) if vals.size >= 2 else None
    cell = Cell(g.key, point, int(vals.size), med, ci)
    if base is not None and base.size:
        base_med = float(np.median(base))
        cell.ratio = med / base_med if base_med else None
        if vals.size >= 2 and base.size >= 2 and base_med:
            cell.ratio_ci = bootstrap_ci((vals, base), _ratio_of_medians, seed=seed)
    if g.price_per_hour and m.direction == "higher":
        cell.per_dollar = med / g.price_per_hour
        cell.per_dollar_ci = _scaled(ci, 1 / g.price_per_hour)
    return cell


def _scaling(cells: dict[str, list[Cell]], metrics: list[MetricInfo], parsed: list[dict[str, str]],
             keys: list[str]) -> list[ScalingCurve]:
    axis = _numeric_axis(parsed)
    if axis is None:
        return []
    curves: list[ScalingCurve] = []
    for m in metrics:
        if m.direction != "higher":
            continue
        series: dict[tuple[str, str], list[tuple[float, Cell]]] = {}
        for c in cells.get(m.name, []):
            p = parsed[keys.index(c.point)]
            rest = ",".join(f"{k}={v}" for k, v in p.items() if k != axis)
            if c.median is not None:
                series.setdefault((c.group, rest), []).append((float(p[axis]), c))
        for (group, rest), pts in series.items():
            if len(pts) < 2:
                continue
            pts.sort(key=lambda t: t[0])
            x0, c0 = pts[0]
            assert c0.median is not None
            curve = []
            for x, c in pts:
                assert c.median is not None
                ideal = c0.median * x / x0
                curve.append(CurvePoint(x, c.median, c.ci, ideal, c.median / ideal if ideal else 0.0))
            curves.append(ScalingCurve(group, m.name, axis, rest, curve))
    return curves
