"""The campaign's CLI tables and HTML section render the comparison the API answers."""

from __future__ import annotations

import json

from rich.console import Console

from benchfarm.analysis.comparison import MetricInfo, RunResult, compare_campaign
from benchfarm.cli.campaign_tables import failures_lines, groups_table, metric_table, scaling_table
from benchfarm.report.campaign import campaign_page


def _data() -> dict:
    runs = [RunResult(f"j{i}", f"pool:{pool}", pool, cls, f"T={t}", "succeeded", None, f"{pool}-1",
                      {"eps": [base * t * f for f in (0.99, 1.0, 1.01)]})
            for i, (pool, cls, base, t) in enumerate([("a", "Xeon", 100, 1), ("a", "Xeon", 100, 2),
                                                      ("b", "EPYC", 150, 1), ("b", "EPYC", 150, 2)])]
    runs.append(RunResult("j9", "pool:b", "b", "EPYC", "T=4", "failed", "exit code 1", "b-1"))
    result = compare_campaign("camp-1", "bench", runs, [MetricInfo("eps", "events/s")], ["T=1", "T=2", "T=4"],
                              prices={"a": (0.1, "given")})
    return json.loads(json.dumps(result.to_dict()))  # as it comes over HTTP


def _text(*renderables) -> str:
    console = Console(record=True, width=250)
    for r in renderables:
        console.print(r)
    return console.export_text()


def test_side_by_side_table_has_median_ratio_and_perf_per_dollar_per_group():
    data = _data()
    text = _text(groups_table(data), metric_table(data, data["metrics"][0]), scaling_table(data))
    assert "a (reference)" in text and "0.1 (given)" in text
    for column in ("a median", "a ×a", "a perf/$", "b median", "b ×a", "b perf/$"):
        assert column in text
    assert "1000 [" in text  # a at T=1: 100 events/s for 0.1 USD/h
    assert "1.5 [" in text  # b/a at T=1
    assert "scaling over T" in text and "100%" in text


def test_failures_are_named_one_per_line():
    (line,) = failures_lines(_data())
    assert line == "failed: job j9 (pool:b, T=4) on b-1: exit code 1"


def test_html_report_has_tables_and_plots():
    data = _data()
    page = campaign_page({"status": "partial", "targets": ["pool:a", "pool:b"]}, data)
    assert "Campaign bench" in page and "exit code 1" in page
    assert page.count("data:image/png;base64,") == 2  # one medians plot, one scaling plot


def test_campaign_options_without_a_campaign_and_baseline_with_one_are_refused(capsys):
    from benchfarm.cli.main import main

    spec = "examples/cpu-sysbench.yaml"
    assert main(["submit", spec, "--pool", "a"]) == 2
    assert "apply to campaigns" in capsys.readouterr().err
    assert main(["submit", spec, "--across", "pool:a", "--baseline", "latest"]) == 2
    assert "not a campaign" in capsys.readouterr().err
