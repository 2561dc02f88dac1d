"""How many repetitions catch a change of a given size: the power table ``bench/verdict_power.py`` measured.

The table gives, for the farm's verdict (:func:`benchfarm.analysis.compare.compare_metric`), the rate of
"regressed" verdicts when a candidate is slower than its baseline by ``effect_pct``, per threshold, per
noise level (the standard deviation of one repetition's value, in percent of the level) and per
repetition count on each side; and the rate when both sides are the same (A/A false alarms). The noise
has the shape measured on real jobs of this farm, scaled to each level. Adaptive repetitions read it to
stop as soon as the repetitions run so far would catch the change a spec asks to catch, at the noise
they show; ``bench/verdict_power.py --write-table`` writes it again.
"""

from __future__ import annotations

import bisect
import json
from functools import cache
from importlib import resources

from pydantic import BaseModel, ConfigDict, Field

from benchfarm.errors import UserInputError

TABLE_RESOURCE = "power_table.json"
DEFAULT_POWER = 0.9


class PowerCase(BaseModel):
    """One (change, threshold) pair: ``detected[i][j]`` is the rate at ``noise_pct[i]`` with ``counts[j]``."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    effect_pct: float = Field(gt=0)
    threshold_pct: float = Field(ge=0)
    detected: list[list[float]]
    false_alarms: list[list[float]]


class PowerTable(BaseModel):
    """The whole table, with where it came from."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    source: str = Field(description="the command and the run whose noise shape the table used")
    alpha: float
    trials: int = Field(gt=0, description="simulated comparisons per cell")
    noise_pct: list[float] = Field(min_length=1, description="ascending")
    counts: list[int] = Field(min_length=1, description="repetitions on each side, ascending")
    cases: list[PowerCase] = Field(min_length=1)

    def case(self, effect_pct: float, threshold_pct: float) -> PowerCase:
        """The pair's rates.

        Raises:
            UserInputError: the table has no such pair (the message lists those it has).
        """
        for c in self.cases:
            if abs(c.effect_pct - effect_pct) < 1e-9 and abs(c.threshold_pct - threshold_pct) < 1e-9:
                return c
        pairs = ", ".join(f"{c.effect_pct:g}% at a {c.threshold_pct:g}% threshold" for c in self.cases)
        raise UserInputError(
            f"the power table has no row for catching a {effect_pct:g}% change at a {threshold_pct:g}% threshold",
            hint=f"it has: {pairs}; use one of them, or add yours with "
                 "`python bench/verdict_power.py --write-table ... --table-case EFFECT:THRESHOLD`",
        )

    def repetitions_needed(self, cv: float, effect_pct: float, threshold_pct: float,
                           power: float = DEFAULT_POWER) -> int | None:
        """The fewest repetitions per side that catch ``effect_pct`` with at least ``power`` at noise ``cv``.

        ``cv`` (a fraction: 0.02 is 2%) is rounded up to the table's next noise level, so the answer errs
        towards more repetitions. None when no count in the table is enough, or the noise is beyond it.
        """
        case = self.case(effect_pct, threshold_pct)
        row = bisect.bisect_left(self.noise_pct, cv * 100 - 1e-12)
        if row >= len(self.noise_pct):
            return None
        for n, rate in zip(self.counts, case.detected[row], strict=True):
            if rate >= power:
                return n
        return None


@cache
def load_power_table() -> PowerTable:
    """The table shipped with the package (``benchfarm/power/power_table.json``)."""
    text = resources.files("benchfarm.power").joinpath(TABLE_RESOURCE).read_text(encoding="utf-8")
    return PowerTable.model_validate(json.loads(text))
