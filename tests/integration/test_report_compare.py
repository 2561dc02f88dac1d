"""`benchfarm report --baseline`: the HTML report gains a comparison section, on real jobs."""

from __future__ import annotations

import pytest

from benchfarm.client import ApiClient
from tests.integration.jobs_support import busybox_spec, cli, dump, wait_final

pytestmark = pytest.mark.integration


def test_report_with_a_baseline_shows_the_verdict_and_both_distributions(farm, settings, busybox_image, tmp_path):
    api = ApiClient.from_settings(settings)
    spec = busybox_spec(busybox_image, 'echo "{\\"value\\": 10}"', name="report-compare", warmup=0, repetitions=3)
    ids = []
    for _ in range(2):
        job = wait_final(api, api.submit(spec)["id"])
        assert job["status"] == "succeeded", dump(job)
        ids.append(job["id"])
    out = tmp_path / "report.html"
    res = cli("report", ids[1], "--baseline", ids[0], "-o", str(out))
    assert res.returncode == 0, res.stderr
    page = out.read_text()
    assert f"<code>{ids[1]}</code> against baseline <code>{ids[0]}</code>" in page
    assert "no change" in page  # identical values on both sides
    comparison = page[page.index("against baseline"):]
    assert "<img" in comparison  # the side-by-side plot of baseline and candidate repetitions
