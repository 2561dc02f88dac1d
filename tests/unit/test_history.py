"""The change-point detector wrapper and history series building (no services)."""

from __future__ import annotations

import numpy as np
import pytest

from benchfarm.analysis.changepoints import DetectorConfig, detect
from benchfarm.analysis.history import SeriesKey, build_series, changepoint_docs, changepoint_id


def _steps(levels: list[tuple[int, float]], noise: float = 0.5, seed: int = 7) -> list[float]:
    rng = np.random.default_rng(seed)
    x = np.concatenate([np.full(n, v) for n, v in levels])
    return (x + rng.normal(0, noise, len(x))).tolist()


@pytest.mark.parametrize(("case", "values", "config", "expected"), [
    ("flat", _steps([(60, 100.0)]), DetectorConfig(), []),
    ("one step up", _steps([(30, 100.0), (30, 110.0)]), DetectorConfig(), [30]),
    ("one step down", _steps([(25, 100.0), (35, 90.0)]), DetectorConfig(), [25]),
    ("up then down", _steps([(40, 100.0), (25, 110.0), (40, 100.0)]), DetectorConfig(), [40, 65]),
    ("below the magnitude floor", _steps([(30, 100.0), (30, 101.5)], noise=0.1), DetectorConfig(), []),
    ("floor lowered", _steps([(30, 100.0), (30, 101.5)], noise=0.1), DetectorConfig(min_magnitude=0.01), [30]),
    ("too short a segment", _steps([(30, 100.0), (4, 120.0)]), DetectorConfig(), []),
    ("too short for any split", [1.0, 2.0, 3.0], DetectorConfig(), []),
])
def test_detect(case, values, config, expected):
    assert [c.index for c in detect(values, config)] == expected, case


def test_detect_ignores_outliers_and_reports_medians():
    values = _steps([(30, 100.0), (30, 110.0)])
    values[10] = 1000.0  # one wild outlier before the step
    (c,) = detect(values)
    assert c.index == 30
    assert c.before == pytest.approx(100.0, abs=0.5) and c.after == pytest.approx(110.0, abs=0.5)
    assert c.magnitude == pytest.approx(0.10, abs=0.01)
    assert c.p_value <= 0.001


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"min_segment": 1}, "min_segment"),
    ({"min_magnitude": -0.1}, "min_magnitude"),
    ({"max_p_value": 0.0}, "max_p_value"),
])
def test_config_rejects(kwargs, message):
    with pytest.raises(ValueError, match=message):
        DetectorConfig(**kwargs)


def test_detect_rejects_nan():
    with pytest.raises(ValueError, match="NaN"):
        detect([1.0, float("nan")] * 10)


def _summary(job: str, at: str, value, metric: str = "ops") -> dict:
    return {"job_id": job, "@timestamp": at, "m": {metric: value}, "git_ref": "abc"}


@pytest.mark.parametrize(("case", "docs", "expected"), [
    ("sorted by time", [_summary("b", "2026-01-02", 2.0), _summary("a", "2026-01-01", 1.0)], [("a", 1.0), ("b", 2.0)]),
    ("metric missing", [_summary("a", "2026-01-01", 1.0), _summary("b", "2026-01-02", 5.0, "other")], [("a", 1.0)]),
    ("not a number", [_summary("a", "2026-01-01", "x"), _summary("b", "2026-01-02", None)], []),
    ("not finite", [_summary("a", "2026-01-01", float("inf"))], []),
    ("job twice keeps latest", [_summary("a", "2026-01-01", 1.0), _summary("a", "2026-01-03", 3.0)], [("a", 3.0)]),
    ("no job id", [{"@timestamp": "2026-01-01", "m": {"ops": 1.0}}], []),
])
def test_build_series(case, docs, expected):
    assert [(p.job_id, p.value) for p in build_series(docs, "ops")] == expected, case


@pytest.mark.parametrize(("key", "name", "filters"), [
    (SeriesKey("bench", "ops"), "bench|ops|any|branch=*", []),
    (SeriesKey("bench", "ops", host_id="h1", branch="main"), "bench|ops|host=h1|branch=main",
     [{"term": {"host_id": "h1"}}, {"term": {"labels.git_branch": "main"}}]),
    (SeriesKey("bench", "ops", hardware_class="Xeon"), "bench|ops|class=Xeon|branch=*",
     [{"term": {"hardware.class": "Xeon"}}]),
])
def test_series_key(key, name, filters):
    assert key.name() == name
    got = key.query()["bool"]["filter"]
    assert {"term": {"doc_type": "summary"}} in got and {"exists": {"field": "m.ops"}} in got
    assert all(f in got for f in filters)


def test_series_key_host_and_class_exclusive():
    with pytest.raises(ValueError, match="not both"):
        SeriesKey("b", "m", host_id="h", hardware_class="c")


def test_changepoint_docs_name_jobs_on_either_side():
    values = _steps([(20, 100.0), (20, 120.0)])
    series = build_series([_summary(f"j{i:02d}", f"2026-01-{i + 1:02d}T00:00:00", v) for i, v in enumerate(values)],
                          "ops")
    key = SeriesKey("bench", "ops", branch="main")
    ((doc_id, doc),) = changepoint_docs(key, series, detect([p.value for p in series]))
    assert doc_id == changepoint_id(key, "j20")
    assert (doc["job_before"], doc["job_after"], doc["index"]) == ("j19", "j20", 20)
    assert doc["series"] == key.name() and doc["branch"] == "main" and doc["magnitude"] > 0.15
