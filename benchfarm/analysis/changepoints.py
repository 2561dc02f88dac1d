"""Change points in a benchmark's history: binary segmentation with a rank test, on scipy.

Why not a library: both maintained packages were checked on PyPI (2026-12-01) and neither fits.

- ``signal-processing-algorithms`` 2.1.6 (MongoDB's E-divisive, Apache-2.0): last release
  2024-12-12; requires ``numpy<2`` (the farm runs numpy 2.4), ``python<3.12``, and pulls in
  ``gevent`` and ``structlog`` for a few hundred lines of arithmetic.
- ``apache-otava`` 0.8.0 (Apache-2.0, released 2026-05-09, Python 3.10-3.14): maintained, but it is
  an application rather than a library: it pins ``numpy==2.2.0.*`` and ``scipy<1.17`` (the farm has
  numpy 2.4 and scipy 1.17) and depends on google-cloud-bigquery, pg8000, slack-sdk and others.

So the detector follows the same idea (Otava's: split where the two sides differ most, keep the split
only if a significance test passes at a small p and both sides are long enough) with scipy's
normal distribution and numpy only:

1. In a segment, for every split that leaves at least ``min_segment`` points on each side, compute
   the Mann-Whitney U statistic of "left vs right" as a z-score (ranks, so a lone outlier moves it
   by one rank, not by its size; ties get mid-ranks and the tie-corrected variance).
2. Do the same in half-overlapping sub-intervals (halves, quarters... down to 4 x ``min_segment``),
   as wild binary segmentation does, so that an up-then-down pair whose effects cancel over the whole
   segment is still seen. Take the split with the largest |z| over all of them; its two-sided p-value
   is Bonferroni-corrected for every split tried (the maximum of many z-scores is not one z-score).
   Keep it when the corrected p <= ``max_p_value``, and recurse into both sides.
3. Then judge magnitude between final neighbours: while some change point's medians (back to the
   previous one, up to the next) differ by less than ``min_magnitude`` (relative to the left median),
   drop the smallest such change point. (Judging it at split time would lose an up-then-down pair,
   whose first split has equal medians on either side.)

The quality of this detector on synthetic series is measured by ``bench/changepoint_quality.py``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy import stats


@dataclass(frozen=True)
class DetectorConfig:
    """Parameters of :func:`detect`.

    Attributes:
        min_segment: fewest points on each side of a change point (and between two of them).
        min_magnitude: smallest relative change of the median that counts (0.02 = 2%).
        max_p_value: largest corrected p-value of a kept change point (Otava uses 0.001).
    """

    min_segment: int = 5
    min_magnitude: float = 0.02
    max_p_value: float = 0.001

    def __post_init__(self) -> None:
        if self.min_segment < 2:
            raise ValueError("min_segment must be at least 2")
        if self.min_magnitude < 0 or not 0 < self.max_p_value <= 1:
            raise ValueError("min_magnitude must be >= 0 and max_p_value in (0, 1]")


@dataclass(frozen=True)
class ChangePoint:
    """A change between ``values[index - 1]`` and ``values[index]``.

    Attributes:
        index: the first point of the new level.
        before: median of the segment before (back to the previous change point).
        after: median of the segment after (up to the next change point).
        magnitude: (after - before) / |before|; positive when the value grew.
        p_value: the Bonferroni-corrected p-value of the split when it was found.
    """

    index: int
    before: float
    after: float
    magnitude: float
    p_value: float


def _best_split(x: np.ndarray, min_segment: int) -> tuple[int, float] | None:
    """The split with the largest Mann-Whitney |z| in ``x`` and its two-sided p-value (uncorrected)."""
    n = len(x)
    if n < 2 * min_segment:
        return None
    ranks = stats.rankdata(x)
    _, counts = np.unique(x, return_counts=True)
    tie = float(np.sum(counts**3 - counts)) / (n * (n - 1))
    taus = np.arange(min_segment, n - min_segment + 1)
    n1 = taus.astype(float)
    n2 = n - n1
    rank_sums = np.cumsum(ranks)[taus - 1]
    u = rank_sums - n1 * (n1 + 1) / 2
    var = n1 * n2 / 12 * ((n + 1) - tie)
    with np.errstate(divide="ignore", invalid="ignore"):
        z = np.where(var > 0, (u - n1 * n2 / 2) / np.sqrt(var), 0.0)
    best = int(np.argmax(np.abs(z)))
    p = float(2 * stats.norm.sf(abs(z[best])))
    return int(taus[best]), p


def _intervals(lo: int, hi: int, min_segment: int) -> list[tuple[int, int]]:
    """The segment itself, then halves, quarters... (half-overlapping) down to 4 x ``min_segment`` points."""
    out = [(lo, hi)]
    width = (hi - lo) // 2
    while width >= 4 * min_segment:
        starts = list(range(lo, hi - width + 1, width // 2))
        if starts[-1] != hi - width:
            starts.append(hi - width)
        out += [(a, a + width) for a in starts]
        width //= 2
    return out


def _best_in_segment(x: np.ndarray, lo: int, hi: int, min_segment: int) -> tuple[int, float] | None:
    """The most significant split of ``x[lo:hi]`` over the segment and its sub-intervals.

    Returns (absolute index, p-value Bonferroni-corrected for every split tried), or None when too short.
    """
    best: tuple[int, float] | None = None
    tries = 0
    for a, b in _intervals(lo, hi, min_segment):
        split = _best_split(x[a:b], min_segment)
        if split is None:
            continue
        tries += (b - a) - 2 * min_segment + 1
        if best is None or split[1] < best[1]:
            best = (a + split[0], split[1])
    return None if best is None else (best[0], min(1.0, best[1] * tries))


def _relative(before: float, after: float) -> float:
    if before == 0:
        return 0.0 if after == 0 else math.copysign(math.inf, after)
    return (after - before) / abs(before)


def detect(values: Sequence[float], config: DetectorConfig | None = None) -> list[ChangePoint]:
    """Change points of ``values`` (in time order), sorted by index.

    Args:
        values: the series, one value per job, oldest first; must be finite.
        config: thresholds; the defaults suit per-job medians of a benchmark metric.

    Raises:
        ValueError: a value is NaN or infinite.
    """
    cfg = config or DetectorConfig()
    x = np.asarray(values, dtype=float)
    if not np.all(np.isfinite(x)):
        raise ValueError("the series holds a NaN or infinite value")
    found: dict[int, float] = {}
    pending = [(0, len(x))]
    while pending:
        lo, hi = pending.pop()
        split = _best_in_segment(x, lo, hi, cfg.min_segment)
        if split is None:
            continue
        tau, p_corrected = split
        if p_corrected > cfg.max_p_value:
            continue
        found[tau] = p_corrected
        pending += [(lo, tau), (tau, hi)]
    # the magnitude is judged between final neighbours (a split of an up-then-down segment can be significant
    # while its two sides have the same median): drop the smallest change below the floor, then look again
    cuts = sorted(found)
    while True:
        points = _points(x, cuts, found)
        small = [c for c in points if abs(c.magnitude) < cfg.min_magnitude]
        if not small:
            return points
        cuts.remove(min(small, key=lambda c: abs(c.magnitude)).index)


def _points(x: np.ndarray, cuts: list[int], p_values: dict[int, float]) -> list[ChangePoint]:
    bounds = [0, *cuts, len(x)]
    points = []
    for k, idx in enumerate(cuts):
        before = float(np.median(x[bounds[k]:idx]))
        after = float(np.median(x[idx:bounds[k + 2]]))
        points.append(ChangePoint(idx, before, after, _relative(before, after), p_values[idx]))
    return points
