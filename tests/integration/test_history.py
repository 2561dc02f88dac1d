"""`benchfarm history --changes` and `benchfarm report --history` against the real Elasticsearch: a planted
step is found, stored with the jobs on either side, and drawn in the HTML report."""

from __future__ import annotations

import json
import statistics

import pytest

from benchfarm.adapters.elasticsearch import EsClient
from benchfarm.cli.main import main
from benchfarm.store.templates import index_names
from tests.integration.history_support import STEP_AT, planted_history

pytestmark = pytest.mark.integration


@pytest.fixture
def es(farm, settings):
    client = EsClient.from_settings(settings)
    yield client
    client.close()


@pytest.fixture
def planted(es, settings):
    with planted_history(es, settings.index_prefix) as p:
        yield p


def test_history_finds_and_stores_a_planted_change(es, settings, planted, capsys):
    names = index_names(settings.index_prefix)
    rc = main(["history", planted.spec, "ops_per_s", "--class", "test cpu", "--branch", "main", "--changes",
               "--json"])
    data = json.loads(capsys.readouterr().out)
    assert rc == 0
    assert len(data["points"]) == 50
    (change,) = data["changes"]
    assert change["index"] == STEP_AT
    assert (change["job_before"], change["job_after"]) == (planted.job(STEP_AT - 1), planted.job(STEP_AT))
    es.refresh(names["changepoints"])
    stored = [h["_source"] for h in es.scan(names["changepoints"], {"term": {"spec_name": planted.spec}})]
    assert [(d["job_after"], d["series"]) for d in stored] == [(planted.job(STEP_AT), data["series"])]
    assert stored[0]["magnitude"] == pytest.approx(0.08, abs=0.02)


def test_report_history_section_marks_the_change_between_the_right_jobs(planted, tmp_path, capsys):
    out = tmp_path / "history.html"
    rc = main(["report", "--history", f"{planted.spec}:ops_per_s", "--history-class", "test cpu",
               "--history-branch", "main", "-o", str(out)])
    assert rc == 0, capsys.readouterr().err
    html = out.read_text()
    section = html[html.index('<section class="history">'):]
    assert f"{planted.spec}|ops_per_s|class=test cpu|branch=main" in section
    assert "50 jobs" in section and "1 change point(s)" in section
    assert '<img alt="history of' in section and "data:image/png;base64," in section
    row = section[section.index("<td class"):section.index("</tr>", section.index("<td class"))]
    assert f"<code>{planted.job(STEP_AT - 1)}</code>" in row and f"<code>{planted.job(STEP_AT)}</code>" in row
    before, after = statistics.median(planted.values[:STEP_AT]), statistics.median(planted.values[STEP_AT:])
    assert f"(ref{STEP_AT:02d})" in row and f"{(after - before) / before:+.1%}" in row


def test_report_history_of_an_unknown_benchmark_says_so(es, settings, tmp_path):
    out = tmp_path / "none.html"
    assert main(["report", "--history", "h15-no-such-benchmark:ops_per_s", "-o", str(out)]) == 0
    assert "no succeeded jobs in this series" in out.read_text()
