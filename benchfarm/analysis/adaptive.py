"""Adaptive repetitions over all of a job's metrics: when a job has run enough repetitions.

Two rules decide when one metric's values are enough: :class:`CvTarget` (the coefficient of variation is
at most a target; the per-metric rule is in :mod:`.statistics`) and :class:`PowerTarget` (the power table
says the values so far, at the noise they show, catch a given change; :mod:`.power`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import NamedTuple, Protocol

from benchfarm.analysis.statistics import adaptive_converged, coefficient_of_variation
from benchfarm.power.table import DEFAULT_POWER, PowerTable


class AdaptiveState(NamedTuple):
    """Whether to run another repetition, and whether every metric has had enough so far."""

    should_continue: bool
    converged: bool


class StopRule(Protocol):
    """Whether one metric's measured values are enough."""

    def enough(self, metric: str, values: Sequence[float]) -> bool: ...


@dataclass(frozen=True)
class CvTarget:
    """Enough once the coefficient of variation is at most ``target_cv``."""

    target_cv: float

    def enough(self, metric: str, values: Sequence[float]) -> bool:
        return adaptive_converged(values, self.target_cv)


@dataclass(frozen=True)
class PowerTarget:
    """Enough once n values catch a change of ``effect_pct`` in at least ``power`` of comparisons.

    The noise is the values' own coefficient of variation, taken as the baseline's too; the number
    needed comes from ``table`` at the metric's threshold (``threshold_pct(metric)``) and is looked up
    again after every repetition, as the noise estimate settles.
    """

    table: PowerTable
    effect_pct: float
    threshold_pct: Callable[[str], float]
    power: float = DEFAULT_POWER

    def needed(self, metric: str, values: Sequence[float]) -> int | None:
        """Repetitions the table asks for at the values' noise (None: none in the table is enough)."""
        cv = coefficient_of_variation(values)
        if cv is None:
            return None
        return self.table.repetitions_needed(cv, self.effect_pct, self.threshold_pct(metric), self.power)

    def enough(self, metric: str, values: Sequence[float]) -> bool:
        needed = self.needed(metric, values)
        return needed is not None and len(values) >= needed


def adaptive_state(values: Mapping[str, Sequence[float]], *, rule: StopRule, min_n: int, max_n: int,
                   measured: int) -> AdaptiveState:
    """Decide for a job: go on while any metric has not had enough (between ``min_n`` and ``max_n``).

    Args:
        values: metric name -> measured values so far (warm-up excluded).
        rule: when one metric's values are enough.
        min_n, max_n: the spec's ``adaptive`` bounds.
        measured: measured repetitions run so far (a run may report no metric at all).

    Raises:
        UserInputError: a non-finite value.
    """
    converged = bool(values) and all(len(v) >= min_n and rule.enough(m, v) for m, v in values.items())
    if measured >= max_n:
        return AdaptiveState(False, converged)
    if measured < min_n or not values:
        return AdaptiveState(True, False)
    return AdaptiveState(not converged, converged)
