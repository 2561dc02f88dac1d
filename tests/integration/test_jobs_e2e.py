"""Jobs end to end on the one-host farm: the real CLI, API, Celery worker, Redis and Docker engine."""

from __future__ import annotations

import json
import uuid

import httpx
import pytest

from benchfarm.client import ApiClient
from tests.integration.jobs_support import busybox_spec, cli, dump, event_types, wait_final, wait_status, write_spec

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def api(farm, settings) -> ApiClient:
    return ApiClient.from_settings(settings)


def test_submit_wait_json_returns_parsed_metrics_and_the_digest(api, busybox_image, tmp_path, docker_client):
    spec = busybox_spec(busybox_image, 'echo "{\\"value\\": 41.5}"; echo noise >&2', warmup=1, repetitions=3)
    res = cli("submit", str(write_spec(tmp_path, spec)), "--wait", "--json")
    assert res.returncode == 0, res.stderr
    job = json.loads(res.stdout)
    assert job["status"] == "succeeded", dump(job)
    assert job["image_digest"] == docker_client.images.get(busybox_image).id
    measured = [r for r in job["repetitions"] if not r["warmup"]]
    assert len(measured) == 3 and len(job["repetitions"]) == 4
    assert all(r["metrics"] == {"value": 41.5} for r in measured)
    assert len({r["container_id"] for r in job["repetitions"]}) == 4  # a fresh container per repetition
    assert all(r["exit_code"] == 0 and r["started_at"] and r["finished_at"] for r in job["repetitions"])
    assert "noise" in job["repetitions"][0]["logs"]
    types = event_types(api, job["id"])
    assert types[:3] == ["submitted", "queued", "started"]
    assert types.count("repetition_finished") == 4 and types[-1] == "finished"
    # no container is left behind
    assert docker_client.containers.list(all=True, filters={"label": f"benchfarm.job_id={job['id']}"}) == []


def test_results_from_a_json_file_in_results_dir(api, busybox_image, tmp_path):
    spec = busybox_spec(busybox_image, 'echo "{\\"value\\": 7}" > /results/out.json',
                        results={"format": "json-file", "path": "/results/out.json",
                                 "metrics": {"value": {"unit": "ops", "direction": "higher"}}})
    job = wait_final(api, api.submit(spec)["id"])
    assert job["status"] == "succeeded", dump(job)
    assert job["repetitions"][0]["metrics"] == {"value": 7.0}


def test_container_is_locked_down(api, busybox_image, tmp_path):
    script = ('touch /rootfile 2>/dev/null && ro=0 || ro=1; touch /tmp/x && tmp=1 || tmp=0; '
              'ifaces=$(ls /sys/class/net | wc -l); '
              'caps=$(grep CapEff /proc/self/status | tr -d "\\t" | cut -d: -f2); '
              'nnp=$(grep NoNewPrivs /proc/self/status | tr -d "\\t" | cut -d: -f2); '
              'echo "{\\"value\\": 1, \\"ro\\": $ro, \\"tmp\\": $tmp, \\"ifaces\\": $ifaces, \\"nnp\\": $nnp, '
              '\\"capzero\\": $([ "$caps" = 0000000000000000 ] && echo 1 || echo 0)}"')
    spec = busybox_spec(busybox_image, script, results={"format": "json-lines", "metrics": {
        m: {"unit": "flag", "direction": "higher"} for m in ("value", "ro", "tmp", "ifaces", "nnp", "capzero")}})
    job = wait_final(api, api.submit(spec)["id"])
    assert job["status"] == "succeeded", dump(job)
    m = job["repetitions"][0]["metrics"]
    assert m["ro"] == 1, "root filesystem must be read-only"
    assert m["tmp"] == 1, "/tmp must be a writable tmpfs"
    assert m["ifaces"] == 1, "network none: only the loopback interface"
    assert m["nnp"] == 1, "no-new-privileges must be set"
    assert m["capzero"] == 1, "all capabilities dropped"


def test_gpu_example_is_refused_naming_the_gpu_requirement(farm, settings):
    res = cli("submit", str(settings.repo_root / "examples" / "gpu-matmul.yaml"))
    assert res.returncode == 2, (res.stdout, res.stderr)
    assert "GPU" in res.stderr and "Traceback" not in res.stderr


def test_malformed_spec_file_names_the_field_and_line(farm, tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text("name: bad\nimage: x\nresources:\n  memory: lots\n")
    res = cli("submit", str(path))
    assert res.returncode == 2
    assert "resources.memory" in res.stderr and "line 4" in res.stderr, res.stderr


def test_requests_without_a_valid_token_get_401_and_touch_nothing(api, settings, busybox_image):
    before = len(api.jobs(limit=1000))
    spec = busybox_spec(busybox_image, "echo '{\"value\": 1}'")
    for headers in ({}, {"Authorization": "Bearer wrong"}):
        r = httpx.post(f"{settings.effective_api_url}/jobs", json=spec, headers=headers)
        assert r.status_code == 401
        assert httpx.get(f"{settings.effective_api_url}/jobs", headers=headers).status_code == 401
    assert len(api.jobs(limit=1000)) == before


def test_malformed_request_body_is_a_clear_422(api, settings):
    token = settings.resolved_api_token()
    r = httpx.post(f"{settings.effective_api_url}/jobs", json={"name": "x", "repetitions": "many"},
                   headers={"Authorization": f"Bearer {token}"})
    assert r.status_code == 422
    assert "repetitions" in r.json()["error"] or "image" in r.json()["error"]


def test_unknown_image_is_refused_with_what_to_do(api, tmp_path):
    res = cli("submit", str(write_spec(tmp_path, busybox_spec(f"benchfarm/no-such-image:{uuid.uuid4().hex[:6]}",
                                                                "true"))))
    assert res.returncode == 2, res.stderr
    assert "not found" in res.stderr and "benchfarm image build" in res.stderr


def test_device_outside_the_allow_list_is_refused_at_submit(api, busybox_image, tmp_path, docker_client):
    spec = busybox_spec(busybox_image, "cat /dev/fpga0", devices=[{"host_path": "/dev/zero",
                                                                    "container_path": "/dev/fpga0"}])
    before = len(docker_client.containers.list(all=True))
    res = cli("submit", str(write_spec(tmp_path, spec)))
    assert res.returncode == 2, res.stderr
    assert "/dev/zero" in res.stderr and "allow" in res.stderr
    assert len(docker_client.containers.list(all=True)) == before


def test_timeout_kills_the_container_and_fails_with_reason_timeout(api, busybox_image, docker_client):
    job = wait_final(api, api.submit(busybox_spec(busybox_image, "sleep 60", timeout_s=2))["id"])
    assert job["status"] == "failed" and job["reason"] == "timeout", dump(job)
    assert job["repetitions"][0]["timed_out"] is True
    assert docker_client.containers.list(all=True, filters={"label": f"benchfarm.job_id={job['id']}"}) == []


def test_non_zero_exit_fails_the_job_with_the_exit_code(api, busybox_image):
    job = wait_final(api, api.submit(busybox_spec(busybox_image, "echo broken >&2; exit 3"))["id"])
    assert job["status"] == "failed" and job["reason"] == "exit code 3", dump(job)
    assert "broken" in job["repetitions"][0]["logs"]


def test_oom_kill_is_recorded(api, busybox_image):
    # a shell string doubling in size: memory grows until the cgroup limit kills it
    spec = busybox_spec(busybox_image, 'a=xxxxxxxxxxxxxxxx; while true; do a="$a$a"; done',
                        resources={"memory": "16m"})
    job = wait_final(api, api.submit(spec)["id"])
    assert job["status"] == "failed" and job["reason"] == "oom-killed", dump(job)
    assert job["repetitions"][0]["oom_killed"] is True


def test_cancel_mid_run_stops_the_container(api, busybox_image, docker_client):
    job_id = api.submit(busybox_spec(busybox_image, "sleep 120", timeout_s=300))["id"]
    wait_status(api, job_id, "running")
    # wait for the container to exist, then cancel
    import time

    deadline = time.monotonic() + 30
    while not docker_client.containers.list(filters={"label": f"benchfarm.job_id={job_id}"}):
        assert time.monotonic() < deadline
        time.sleep(0.2)
    started = time.monotonic()
    assert api.cancel(job_id)["cancel_requested"] is True
    job = wait_final(api, job_id, timeout_s=60)
    assert job["status"] == "cancelled", dump(job)
    assert time.monotonic() - started < 30
    assert docker_client.containers.list(all=True, filters={"label": f"benchfarm.job_id={job_id}"}) == []


def test_cancel_of_a_queued_job_means_it_never_starts(api, busybox_image, farm):
    # the worker is busy with a long job, so the second one waits in the queue
    blocker = api.submit(busybox_spec(busybox_image, "sleep 120", timeout_s=300))["id"]
    wait_status(api, blocker, "running")
    queued = api.submit(busybox_spec(busybox_image, "echo '{\"value\": 1}'"))["id"]
    assert api.job(queued)["status"] == "queued"
    assert api.cancel(queued)["status"] == "cancelled"
    api.cancel(blocker)
    wait_final(api, blocker)
    job = api.job(queued)
    assert job["status"] == "cancelled" and job["repetitions"] == []
    assert "started" not in event_types(api, queued)


def test_events_stream_over_sse_until_the_job_ends(api, busybox_image):
    job_id = api.submit(busybox_spec(busybox_image, "echo '{\"value\": 1}'", repetitions=2))["id"]
    types = [ev["type"] for ev in api.follow(job_id)]
    assert types[0] == "submitted" and types[-1] == "finished"
    assert types.count("repetition_finished") == 2


def test_hosts_lists_this_host_with_its_capabilities(api, settings):
    hosts = {h["host_id"]: h for h in api.hosts()}
    me = hosts[settings.minion_id]
    assert me["alive"] is True and me["pool"] == settings.pool
    assert me["cpu_count"] >= 1 and me["memory_bytes"] > 0 and me["gpus"] == []


def test_jobs_list_show_logs_events_cli(api, busybox_image, tmp_path):
    job = wait_final(api, api.submit(busybox_spec(busybox_image, "echo '{\"value\": 3}'; echo hello-log >&2"))["id"])
    res = cli("jobs", "list", "--json")
    assert res.returncode == 0 and job["id"] in [j["id"] for j in json.loads(res.stdout)]
    res = cli("jobs", "show", job["id"])
    assert res.returncode == 0 and "succeeded" in res.stdout
    res = cli("jobs", "logs", job["id"])
    assert res.returncode == 0 and "hello-log" in res.stdout
    res = cli("jobs", "events", job["id"], "--json")
    assert res.returncode == 0 and json.loads(res.stdout)[-1]["type"] == "finished"
    res = cli("jobs", "show", "job-does-not-exist")
    assert res.returncode == 2 and "no job with id" in res.stderr


def test_a_job_can_opt_out_of_a_fresh_container_per_repetition(api, busybox_image, docker_client):
    spec = busybox_spec(busybox_image, 'echo "run at $(cat /proc/uptime)"; echo "{\\"value\\": 1}"', warmup=1,
                        repetitions=3, fresh_container_per_repetition=False)
    job = wait_final(api, api.submit(spec)["id"])
    assert job["status"] == "succeeded", dump(job)
    assert len({r["container_id"] for r in job["repetitions"]}) == 1  # one container, started 4 times
    for r in job["repetitions"]:  # each repetition's logs hold only its own run
        assert r["logs"].count("run at") == 1 and r["metrics"] == {"value": 1.0}
    assert docker_client.containers.list(all=True, filters={"label": f"benchfarm.job_id={job['id']}"}) == []
