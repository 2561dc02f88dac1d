"""Is a revision good or bad? Judged against both ends, with the farm's verdict test, or left undecided.

Pinpoint's rule, in the farm's statistics: the two ends must differ (the bad end significantly worse than
the good one, by ``compare_metric``'s Mann-Whitney test), and a middle revision is

- *bad* when its median lies nearer the bad end's and it differs significantly from the good end;
- *good* when its median lies nearer the good end's and it differs significantly from the bad end;
- *undecided* otherwise: the caller runs more repetitions of it (and the test gets its chance again).

Being "nearer" one end alone never decides: with few repetitions a noisy median can land anywhere.
"""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from benchfarm.analysis.compare import compare_metric

Side = Literal["good", "bad", "undecided"]


@dataclass(frozen=True)
class Judgement:
    """A revision's side and the evidence: its median's position between the ends (0 = good, 1 = bad) and the
    p-values against each end."""

    side: Side
    position: float
    p_vs_good: float | None
    p_vs_bad: float | None


def _p(base: Sequence[float], cand: Sequence[float], direction: str, seed: int) -> float | None:
    return compare_metric(base, cand, direction=direction, max_regression_pct=0.0, seed=seed).p_value


def ends_differ(good: Sequence[float], bad: Sequence[float], direction: str, alpha: float,
                seed: int = 0) -> tuple[bool, float | None]:
    """(whether the bad end is significantly worse than the good end, the p-value)."""
    cmp = compare_metric(good, bad, direction=direction, max_regression_pct=0.0, alpha=alpha, seed=seed)
    return cmp.verdict == "regressed", cmp.p_value


def judge(good: Sequence[float], bad: Sequence[float], mid: Sequence[float], direction: str, alpha: float,
          seed: int = 0) -> Judgement:
    """The side of ``mid`` given the ends' values (which must differ: see :func:`ends_differ`)."""
    g, b, m = statistics.median(good), statistics.median(bad), statistics.median(mid)
    position = (m - g) / (b - g) if b != g else 0.5
    p_good, p_bad = _p(good, mid, direction, seed), _p(bad, mid, direction, seed)
    side: Side = "undecided"
    if position > 0.5 and p_good is not None and p_good < alpha:
        side = "bad"
    elif position <= 0.5 and p_bad is not None and p_bad < alpha:
        side = "good"
    return Judgement(side, position, p_good, p_bad)
