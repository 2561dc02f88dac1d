"""Adaptive repetitions over all of a job's metrics (the rule per metric is in :mod:`.statistics`)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import NamedTuple

from benchfarm.analysis.statistics import adaptive_converged, adaptive_should_continue


class AdaptiveState(NamedTuple):
    """Whether to run another repetition, and whether every metric has converged so far."""

    should_continue: bool
    converged: bool


def adaptive_state(values: Mapping[str, Sequence[float]], *, target_cv: float, min_n: int, max_n: int,
                   measured: int) -> AdaptiveState:
    """Decide for a job: go on while any metric wants more repetitions (up to ``max_n``).

    Args:
        values: metric name -> measured values so far (warm-up excluded).
        target_cv, min_n, max_n: the spec's ``adaptive`` settings.
        measured: measured repetitions run so far (a run may report no metric at all).

    Raises:
        UserInputError: inconsistent bounds or a non-finite value.
    """
    if measured >= max_n:
        return AdaptiveState(False, _all_converged(values, target_cv))
    if measured < min_n or not values:
        return AdaptiveState(True, False)
    go_on = any(adaptive_should_continue(v, target_cv, min_n, max_n).should_continue for v in values.values())
    return AdaptiveState(go_on, _all_converged(values, target_cv))


def _all_converged(values: Mapping[str, Sequence[float]], target_cv: float) -> bool:
    return bool(values) and all(adaptive_converged(v, target_cv) for v in values.values())
