"""The report's history section: the series drawn with its change points, the changes' table naming the jobs
on either side, and the empty cases."""

from __future__ import annotations

import numpy as np

from benchfarm.analysis.changepoints import DetectorConfig, detect
from benchfarm.analysis.history import HistoryPoint, SeriesKey
from benchfarm.report import history_sections
from benchfarm.report.html import history_section


def _points(values) -> list[HistoryPoint]:
    return [HistoryPoint(f"2026-01-01T{i // 60:02d}:{i % 60:02d}:00+00:00", f"job{i:02d}", float(v), f"ref{i:02d}")
            for i, v in enumerate(values)]


def test_a_step_is_drawn_and_tabled_with_the_jobs_on_either_side():
    rng = np.random.default_rng(2)
    points = _points(np.concatenate([np.full(20, 50.0), np.full(20, 45.0)]) + rng.normal(0, 0.3, 40))
    changes = detect([p.value for p in points])
    assert [c.index for c in changes] == [20]
    html = history_section("b|ops|any|branch=*", points, changes, DetectorConfig())
    assert "40 jobs" in html and "1 change point(s)" in html
    assert html.count("data:image/png;base64,") == 1
    assert "<code>job19</code>" in html and "<code>job20</code> (ref20)" in html
    assert f"{changes[0].magnitude:+.1%}" in html and changes[0].magnitude < 0


def test_no_change_and_no_jobs_say_so():
    flat = _points(np.full(12, 10.0))
    assert "no change points" in history_section("s", flat, [], DetectorConfig())
    empty = history_section("s", [], [], DetectorConfig())
    assert "no succeeded jobs in this series" in empty and "data:image" not in empty


class Store:
    def __init__(self, docs: list[dict]) -> None:
        self.docs, self.queries = docs, []

    def job_summaries(self, query: dict) -> list[dict]:
        self.queries.append(query)
        return self.docs


def test_history_sections_query_the_series_key_and_detect():
    docs = [{"@timestamp": f"2026-01-01T00:{i:02d}:00+00:00", "job_id": f"j{i:02d}",
             "m": {"ops": 100.0 + 10 * (i >= 15)}} for i in range(30)]
    store = Store(docs)
    (section,) = history_sections([SeriesKey("b", "ops", branch="main")], store)
    assert {"term": {"labels.git_branch": "main"}} in store.queries[0]["bool"]["filter"]
    assert "30 jobs" in section and "<code>j15</code>" in section
