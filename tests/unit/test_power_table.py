"""The power table and the adaptive rule that reads it (benchfarm.power.table, .adaptive)."""

from __future__ import annotations

import pytest

from benchfarm.analysis.adaptive import CvTarget, PowerTarget, adaptive_state
from benchfarm.errors import UserInputError
from benchfarm.power.table import PowerTable, load_power_table
from benchfarm.spec.model import JobSpec


def _table() -> PowerTable:
    return PowerTable.model_validate({
        "source": "test", "alpha": 0.05, "trials": 100, "noise_pct": [1.0, 2.0, 5.0], "counts": [3, 5, 10],
        "cases": [{"effect_pct": 5.0, "threshold_pct": 3.0,
                   "detected": [[0.5, 0.95, 1.0], [0.2, 0.6, 0.92], [0.1, 0.2, 0.4]],
                   "false_alarms": [[0.0, 0.01, 0.02]] * 3}]})


@pytest.mark.parametrize(("cv", "needed"), [
    (0.005, 5),   # rounded up to the 1% row: 5 repetitions reach 0.95
    (0.01, 5),    # exactly on a row
    (0.015, 10),  # rounded up to 2%: only 10 reach 0.92
    (0.04, None),  # the 5% row never reaches 0.9
    (0.08, None),  # noisier than any row
])
def test_repetitions_needed_rounds_the_noise_up(cv, needed):
    assert _table().repetitions_needed(cv, 5.0, 3.0) == needed


def test_a_lower_power_needs_fewer_repetitions():
    assert _table().repetitions_needed(0.02, 5.0, 3.0, power=0.6) == 5


def test_an_unknown_pair_names_the_pairs_the_table_has():
    with pytest.raises(UserInputError) as err:
        _table().repetitions_needed(0.01, 7.0, 3.0)
    assert "no row for catching a 7% change at a 3% threshold" in err.value.message
    assert "5% at a 3% threshold" in (err.value.hint or "")


def test_power_target_stops_when_the_table_says_the_values_are_enough():
    rule = PowerTarget(_table(), 5.0, lambda metric: 3.0)
    quiet = [100.0, 101.0, 99.0, 100.5, 99.5]  # cv 0.8% -> the 1% row -> 5 needed
    assert rule.needed("ms", quiet[:3]) == 5 and not rule.enough("ms", quiet[:4])
    assert rule.enough("ms", quiet)
    state = adaptive_state({"ms": quiet[:4]}, rule=rule, min_n=3, max_n=20, measured=4)
    assert tuple(state) == (True, False)
    assert tuple(adaptive_state({"ms": quiet}, rule=rule, min_n=3, max_n=20, measured=5)) == (False, True)


def test_power_target_gives_up_at_the_maximum_when_the_noise_is_beyond_the_table():
    rule = PowerTarget(_table(), 5.0, lambda metric: 3.0)
    noisy = [100.0, 130.0, 80.0, 120.0]
    assert rule.needed("ms", noisy) is None
    assert tuple(adaptive_state({"ms": noisy}, rule=rule, min_n=3, max_n=5, measured=4)) == (True, False)
    assert tuple(adaptive_state({"ms": [*noisy, 90.0]}, rule=rule, min_n=3, max_n=5, measured=5)) == (False, False)


def test_the_cv_rule_is_unchanged():
    assert tuple(adaptive_state({"a": [10.0, 10.1, 9.9]}, rule=CvTarget(0.02), min_n=3, max_n=5, measured=3)) == (
        False, True)


def test_the_shipped_table_loads_and_answers_for_its_default_rows():
    table = load_power_table()
    assert {(c.effect_pct, c.threshold_pct) for c in table.cases} >= {(2.0, 1.0), (5.0, 3.0), (10.0, 5.0)}
    for case in table.cases:
        assert len(case.detected) == len(table.noise_pct) and all(len(r) == len(table.counts) for r in case.detected)
    # less noise never needs more repetitions (rows are rounded up, so this holds cell by cell)
    needs = [table.repetitions_needed(p / 100, 5.0, 3.0) for p in table.noise_pct]
    known = [n for n in needs if n is not None]
    assert known == sorted(known) and known, needs
    assert table.repetitions_needed(0.005, 10.0, 5.0) is not None


def _spec(**adaptive) -> dict:
    return {"name": "x", "image": "busybox:latest", "adaptive": adaptive,
            "results": {"format": "json-lines", "metrics": {"ms": {"direction": "lower"}}}}


def test_a_spec_asks_for_power_at_its_own_threshold():
    spec = JobSpec.model_validate(_spec(detect_change_pct=10.0, max_repetitions=20))
    assert spec.adaptive and spec.adaptive.power == 0.9 and spec.threshold_pct("ms") == 5.0


def test_a_spec_whose_threshold_has_no_row_is_refused_with_the_rows_there_are():
    raw = _spec(detect_change_pct=7.0) | {"thresholds": {"max_regression_pct": 3.0}}
    with pytest.raises(Exception) as err:
        JobSpec.model_validate(raw)
    text = str(err.value)
    assert "adaptive.detect_change_pct" in text and "no row for catching a 7% change at a 3% threshold" in text
    assert "5% at a 3% threshold" in text
