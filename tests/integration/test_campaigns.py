"""Campaigns on real nodes: a sysbench thread sweep across two pools, compared side by side, and a campaign
with a failing job.

Two nodes (one CPU and 1 GiB each, CPUs 0 and 1) are added with `benchfarm nodes add` (each starts its
worker), one per pool, once for the module, as in test_nodes_jobs.py; both are removed (container,
volume, registry entry) in the finaliser. Not `--via cloud` here: a cloud-enrolled node runs the
farm's health check at enrolment, whose load check reads this whole shared machine's load average, so
while other tests run it quarantines the node, stops its worker and the add fails after 300 s (seen
here); test_salt_cloud_nodes.py covers that path. Jobs, results and the dashboard query are the real thing: the CLI
submits through the API, the nodes' workers run sysbench, the results reach Elasticsearch.
"""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
import time
import uuid
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from benchfarm.adapters.elasticsearch import EsClient
from benchfarm.client import ApiClient
from benchfarm.composition import Farm
from benchfarm.dashboards.panels import panel
from benchfarm.dashboards.queries import panel_request
from benchfarm.settings import Settings
from tests.integration.jobs_support import busybox_spec, cli, dump, write_spec

pytestmark = [pytest.mark.integration, pytest.mark.slow]

SESSION = uuid.uuid4().hex[:6]
POOL_A, POOL_B = f"h14-{SESSION}-a", f"h14-{SESSION}-b"
NODES = {POOL_A: ("0", f"h14-{SESSION}-n1"), POOL_B: ("1", f"h14-{SESSION}-n2")}  # pool -> (cpus, node)
PRICES = {POOL_A: 0.10, POOL_B: 0.25}


def _progress(message: str) -> None:
    sys.stderr.write(f"[campaigns] {message}\n")


@pytest.fixture(scope="module")
def node_farm(farm, settings: Settings) -> Farm:
    return Farm(settings)


@pytest.fixture(scope="module")
def nodes(node_farm: Farm, catalogue_image) -> Iterator[dict[str, str]]:
    """pool -> node: two nodes added at once, removed (with their registry entries) whatever happens."""
    catalogue_image("base")
    try:
        procs = {pool: subprocess.Popen([sys.executable, "-m", "benchfarm.cli.main", "nodes", "add", name, "--pool",
                                         pool, "--cpus", cpus, "--memory", "1g", "--json"],
                                        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
                 for pool, (cpus, name) in NODES.items()}
        for pool, proc in procs.items():
            out, err = proc.communicate(timeout=480)
            assert proc.returncode == 0, f"nodes add for {pool} failed ({proc.returncode}):\n{err[-3000:]}"
            added = json.loads(out)
            assert added["pool"] == pool and added["worker"] is True, added
            _progress(f"node {added['name']} ready with its worker in {added['seconds']} s")
        yield {pool: name for pool, (_, name) in NODES.items()}
    finally:
        for _, name in NODES.values():
            res = cli("nodes", "remove", name, timeout=300)
            if res.returncode != 0:
                _progress(f"removing {name} failed: {res.stderr[-1000:]}")
            node_farm.host_registry.remove(name)


@pytest.fixture(scope="module")
def api(farm, settings: Settings) -> ApiClient:
    return ApiClient.from_settings(settings)


@pytest.fixture(scope="module")
def sweep(nodes, catalogue_image, tmp_path_factory) -> dict:
    """`benchfarm submit --across pool:A,pool:B --matrix SYSBENCH_THREADS=1,2 --wait --json`: the campaign and
    its comparison."""
    spec = {"name": f"h14-sweep-{SESSION}", "image": catalogue_image("sysbench"),
            "env": {"SYSBENCH_THREADS": "1", "SYSBENCH_TIME": "1"}, "warmup": 0, "repetitions": 3, "timeout_s": 60,
            "results": {"format": "json-lines",
                        "metrics": {"events_per_second": {"unit": "events/s", "direction": "higher"},
                                    "latency_avg_ms": {"unit": "ms", "direction": "lower"}}}}
    path = write_spec(tmp_path_factory.mktemp("campaign"), spec)
    res = cli("submit", str(path), "--across", f"pool:{POOL_A},pool:{POOL_B}", "--matrix", "SYSBENCH_THREADS=1,2",
              "--price", f"{POOL_A}={PRICES[POOL_A]}/h", "--price", f"{POOL_B}={PRICES[POOL_B]}", "--wait", "--json",
              timeout=600)
    assert res.returncode == 0, res.stderr[-3000:]
    return json.loads(res.stdout)


def _medians(api: ApiClient, campaign: dict) -> dict[tuple[str, str], float]:
    """(pool, point) -> median events/s of that job's repetitions, from the job records."""
    medians = {}
    for j in campaign["jobs"]:
        record = api.job(j["job_id"])
        values = [r["metrics"]["events_per_second"] for r in record["repetitions"] if not r["warmup"]]
        assert len(values) == 3, dump(record)
        medians[(j["pool"], f"SYSBENCH_THREADS={j['point']['SYSBENCH_THREADS']}")] = statistics.median(values)
    return medians


def test_a_sweep_across_two_pools_runs_each_point_on_its_pools_node(sweep, nodes):
    campaign = sweep["campaign"]
    assert campaign["status"] == "succeeded" and campaign["counts"] == {"succeeded": 4}, dump(campaign)
    placed = {(j["pool"], j["point"]["SYSBENCH_THREADS"]): j["host_id"] for j in campaign["jobs"]}
    assert placed == {(POOL_A, "1"): nodes[POOL_A], (POOL_A, "2"): nodes[POOL_A],
                      (POOL_B, "1"): nodes[POOL_B], (POOL_B, "2"): nodes[POOL_B]}
    assert all(j["hardware_class"] for j in campaign["jobs"])


def test_the_comparison_groups_by_pool_and_class_with_ratios_and_perf_per_dollar(sweep, api):
    data, campaign = sweep["comparison"], sweep["campaign"]
    classes = {j["pool"]: j["hardware_class"] for j in campaign["jobs"]}
    assert [(g["pool"], g["hardware_class"], g["price_per_hour"]) for g in data["groups"]] == [
        (POOL_A, classes[POOL_A], PRICES[POOL_A]), (POOL_B, classes[POOL_B], PRICES[POOL_B])]
    assert data["reference"] == data["groups"][0]["key"]
    medians = _medians(api, campaign)
    eps = next(m for m in data["metrics"] if m["name"] == "events_per_second")
    cells = {(c["group"].split(" / ")[0], c["point"]): c for c in eps["cells"]}
    assert set(cells) == set(medians)
    for (pool, point), cell in cells.items():
        assert cell["n"] == 3 and cell["median"] == pytest.approx(medians[(pool, point)])
        assert cell["ci"][0] <= cell["median"] <= cell["ci"][1]
        assert cell["ratio"] == pytest.approx(medians[(pool, point)] / medians[(POOL_A, point)])
        assert cell["per_dollar"] == pytest.approx(medians[(pool, point)] / PRICES[pool])
    latency = next(m for m in data["metrics"] if m["name"] == "latency_avg_ms")
    assert all(c["per_dollar"] is None for c in latency["cells"])  # lower is better: no perf/$


def test_the_sweep_has_a_scaling_curve_per_group_against_ideal_scaling(sweep, api):
    medians = _medians(api, sweep["campaign"])
    curves = {c["group"].split(" / ")[0]: c for c in sweep["comparison"]["scaling"]}
    assert set(curves) == {POOL_A, POOL_B}
    for pool, curve in curves.items():
        assert curve["axis"] == "SYSBENCH_THREADS" and curve["metric"] == "events_per_second"
        one, two = curve["points"]
        assert (one["x"], two["x"]) == (1.0, 2.0)
        assert two["ideal"] == pytest.approx(2 * medians[(pool, "SYSBENCH_THREADS=1")])
        assert two["efficiency"] == pytest.approx(medians[(pool, "SYSBENCH_THREADS=2")] / two["ideal"])
        # one CPU per node: two threads share it, far from ideal scaling
        assert two["efficiency"] < 0.8


def test_the_cli_table_and_the_html_report_show_the_comparison(sweep, tmp_path):
    cid = sweep["campaign"]["id"]
    res = cli("campaign", "compare", cid, "--price", f"{POOL_A}={PRICES[POOL_A]}", "--price",
              f"{POOL_B}={PRICES[POOL_B]}")
    assert res.returncode == 0, res.stderr
    first = next(m for m in sweep["comparison"]["metrics"] if m["name"] == "events_per_second")["cells"][0]
    for shown in ("perf/$", "×", "efficiency", f"{first['median']:.4g} [", f"n={first['n']}"):
        assert shown in res.stdout, res.stdout  # (the table is 160 columns wide here: long headers wrap)
    html = tmp_path / "c.html"
    res = cli("campaign", "report", cid, "-o", str(html))
    assert res.returncode == 0, res.stderr
    page = html.read_text()
    assert "scaling of events_per_second" in page and page.count("data:image/png;base64,") >= 3


def test_the_dashboard_panel_query_gives_the_same_medians(sweep, api, settings):
    campaign = sweep["campaign"]
    medians = _medians(api, campaign)
    es = EsClient.from_settings(settings)
    try:
        submitted = datetime.fromisoformat(campaign["submitted_at"])
        window = {"from": (submitted - timedelta(seconds=5)).isoformat(),
                  "to": (datetime.now(submitted.tzinfo) + timedelta(seconds=30)).isoformat()}
        index, body = panel_request(panel("campaign-median-by-class"), settings.index_prefix,
                                    campaign_id=campaign["id"], metric="events_per_second", **window)
        deadline = time.monotonic() + 90
        while True:
            es.refresh(index)
            res = es.search(index, body)
            if res["hits"]["total"]["value"] >= 12 or time.monotonic() > deadline:
                break
            time.sleep(1)
    finally:
        es.close()
    assert res["hits"]["total"]["value"] == 12  # 4 jobs x 3 measured repetitions
    got = {}
    for point in res["aggregations"]["by_labels.benchfarm_point"]["buckets"]:
        for pool in point["by_pool"]["buckets"]:
            (cls,) = pool["by_hardware.class"]["buckets"]
            got[(pool["key"], point["key"])] = cls["median_m.events_per_second"]["values"]["50.0"]
            assert cls["key"] == next(j["hardware_class"] for j in campaign["jobs"] if j["pool"] == pool["key"])
    assert got.keys() == medians.keys()
    for key, value in got.items():
        assert value == pytest.approx(medians[key], rel=0.02)  # Elasticsearch's percentiles are estimates


def test_a_campaign_with_a_failing_job_reports_the_others_and_names_the_failure(nodes, api, busybox_image,
                                                                               tmp_path: Path):
    script = 'if [ "$MODE" = bad ]; then echo broken >&2; exit 3; fi; echo \'{"value": 7}\''
    spec = busybox_spec(busybox_image, script, name=f"h14-fail-{SESSION}", env={"MODE": "ok"}, repetitions=2)
    res = cli("submit", str(write_spec(tmp_path, spec)), "--across", f"pool:{POOL_A}", "--matrix", "MODE=ok,bad",
              "--wait", timeout=300)
    assert res.returncode == 5, res.stdout + res.stderr
    cid = next(c["id"] for c in api.campaigns(limit=20) if c["name"] == spec["name"])
    view = api.campaign(cid)
    bad = next(j for j in view["jobs"] if j["point"] == {"MODE": "bad"})
    good = next(j for j in view["jobs"] if j["point"] == {"MODE": "ok"})
    assert view["status"] == "partial" and bad["status"] == "failed" and good["status"] == "succeeded", dump(view)
    assert bad["job_id"] in res.stderr and "value" in res.stdout  # the failure named, the others' table shown
    data = api.compare_campaign(cid)
    (cell,) = data["metrics"][0]["cells"]
    assert cell["point"] == "MODE=ok" and cell["median"] == 7 and cell["n"] == 2
    assert [(f["job_id"], f["status"]) for f in data["failures"]] == [(bad["job_id"], "failed")]
    junit = ET.fromstring(api.campaign_junit(cid))
    assert (junit.get("tests"), junit.get("failures")) == ("2", "1")
    (failure,) = junit.iter("failure")
    assert bad["job_id"] in (failure.text or "")
