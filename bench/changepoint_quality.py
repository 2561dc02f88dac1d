"""Precision and recall of the change-point detector on synthetic series with planted shifts.

Each series has a level of 100 and Gaussian noise of ``noise`` percent of the level (sigma); shifts of
1, 2, 3 and 5 sigma (up or down, at random) are planted at random places at least ``gap`` points apart.
Variants: clean noise; 3% of points replaced by outliers (+/- 8 sigma); and a gradual drift (a ramp of
5 sigma over 30 points, no step), where any alarm is counted separately (a drift is a change, but not a
step a bisection could find).

A detection within +/- TOLERANCE points of a planted shift is a true positive (each shift matched at
most once); any other detection is a false positive. Precision is TP / detections, recall TP / planted.

Run: ``python bench/changepoint_quality.py [--series 200] [--seed 1]``.
"""

from __future__ import annotations

import argparse
import itertools

import numpy as np

from benchfarm.analysis.changepoints import DetectorConfig, detect

SHIFTS_SIGMA = (1.0, 2.0, 3.0, 5.0)
NOISE_PCT = (1.0, 2.0, 4.0)  # 3 sigma >= 3%: above the default 2% magnitude floor
TOLERANCE = 2
LENGTH = 120
GAP = 20


def _planted(rng: np.random.Generator, n_shifts: int) -> list[int]:
    while True:
        where = sorted(rng.choice(np.arange(GAP, LENGTH - GAP), size=n_shifts, replace=False).tolist())
        if all(b - a >= GAP for a, b in itertools.pairwise(where)):
            return where


def _series(rng: np.random.Generator, shift_sigma: float, noise_pct: float, outliers: bool) -> tuple[np.ndarray,
                                                                                                   list[int]]:
    sigma = noise_pct
    where = _planted(rng, int(rng.integers(1, 4)))
    level = np.full(LENGTH, 100.0)
    for w in where:
        level[w:] += rng.choice([-1.0, 1.0]) * shift_sigma * sigma
    x = level + rng.normal(0, sigma, LENGTH)
    if outliers:
        hit = rng.random(LENGTH) < 0.03
        x[hit] += rng.choice([-8.0, 8.0], size=int(hit.sum())) * sigma
    return x, where


def _match(found: list[int], planted: list[int]) -> int:
    left = list(planted)
    tp = 0
    for f in found:
        near = [p for p in left if abs(p - f) <= TOLERANCE]
        if near:
            left.remove(min(near, key=lambda p: abs(p - f)))
            tp += 1
    return tp


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--series", type=int, default=200, help="series per cell (shift size x noise x variant)")
    ap.add_argument("--seed", type=int, default=1)
    args = ap.parse_args()
    rng = np.random.default_rng(args.seed)
    cfg = DetectorConfig()
    print(f"detector: {cfg}; series length {LENGTH}, 1-3 shifts >= {GAP} apart, tolerance +/-{TOLERANCE} points, "
          f"{args.series} series per row, seed {args.seed}")
    print(f"{'variant':<9} {'shift':>6} {'noise%':>6} {'planted':>8} {'detected':>8} {'TP':>6} {'FP':>5} "
          f"{'precision':>9} {'recall':>7}")
    totals: dict[tuple[str, float], list[int]] = {}
    for variant in ("clean", "outliers"):
        for shift in SHIFTS_SIGMA:
            for noise in NOISE_PCT:
                planted = detected = tp = 0
                for _ in range(args.series):
                    x, where = _series(rng, shift, noise, variant == "outliers")
                    found = [c.index for c in detect(x.tolist(), cfg)]
                    planted += len(where)
                    detected += len(found)
                    tp += _match(found, where)
                t = totals.setdefault((variant, shift), [0, 0, 0])
                t[0] += planted
                t[1] += detected
                t[2] += tp
                _row(variant, f"{shift:g}s", f"{noise:g}", planted, detected, tp)
    print("totals per shift size (all noise levels):")
    for (variant, shift), (planted, detected, tp) in totals.items():
        _row(variant, f"{shift:g}s", "all", planted, detected, tp)
    for noise in NOISE_PCT:
        alarms = series_with = 0
        for _ in range(args.series):
            x = 100.0 + rng.normal(0, noise, LENGTH)
            start = int(rng.integers(GAP, LENGTH - GAP - 30))
            x[start:start + 30] += np.linspace(0, 5 * noise, 30)
            x[start + 30:] += 5 * noise
            n = len(detect(x.tolist(), cfg))
            alarms += n
            series_with += n > 0
        print(f"drift     ramp 5s over 30 points, noise {noise:g}%: {series_with}/{args.series} series alarmed, "
              f"{alarms} alarms")
    for noise in NOISE_PCT:
        alarms = series_with = 0
        for _ in range(args.series):
            n = len(detect((100.0 + rng.normal(0, noise, LENGTH)).tolist(), cfg))
            alarms += n
            series_with += n > 0
        print(f"null      no shift, noise {noise:g}%: {series_with}/{args.series} series with a false alarm, "
              f"{alarms} alarms")


def _row(variant: str, shift: str, noise: str, planted: int, detected: int, tp: int) -> None:
    precision = tp / detected if detected else float("nan")
    recall = tp / planted if planted else float("nan")
    print(f"{variant:<9} {shift:>6} {noise:>6} {planted:>8} {detected:>8} {tp:>6} {detected - tp:>5} "
          f"{precision:>9.3f} {recall:>7.3f}")


if __name__ == "__main__":
    main()
