"""Bulk submit against the real farm: Redis (appendfsync always), Celery, the worker and Docker.

The API under test is this tree's app, served by uvicorn in this process on a free port over the
stack's real services (the stack's own API process may run an older build, and is never restarted
by a test). Jobs run on the stack's worker or are cancelled; every job made here ends final.
"""

from __future__ import annotations

import contextlib
import json
import socket
import threading
import time
import uuid
from collections.abc import Iterator

import pytest

from benchfarm.client import ApiClient
from benchfarm.errors import UserInputError
from tests.integration.jobs_support import FINAL, busybox_spec, cli, event_types, wait_final, write_spec


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def api_url(farm, settings) -> Iterator[str]:
    import uvicorn

    from benchfarm.api.app import create_app
    from benchfarm.composition import build_api_deps

    port = _free_port()
    server = uvicorn.Server(uvicorn.Config(create_app(settings, build_deps=build_api_deps), host="127.0.0.1",
                                           port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, name="c16-bulk-api", daemon=True)
    thread.start()
    deadline = time.monotonic() + 60
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "the in-process API did not start"
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(timeout=30)


@pytest.fixture
def api(api_url, settings) -> Iterator[ApiClient]:
    client = ApiClient(api_url, settings.resolved_api_token())
    made: list[str] = []
    client.made = made  # type: ignore[attr-defined]
    yield client
    for job_id in made:  # nothing left queued or running behind the test
        if client.job(job_id)["status"] not in FINAL:
            client.cancel(job_id)
    for job_id in made:
        wait_final(client, job_id)


def _burst(api: ApiClient, specs: list[dict]) -> list[dict]:
    accepted = api.submit_many(specs)
    api.made.extend(j["id"] for j in accepted)  # type: ignore[attr-defined]
    return accepted


def test_a_burst_is_stored_queued_and_runs_or_is_cancelled(api, busybox_image, settings):
    from benchfarm.composition import Farm

    tag = f"c16-{uuid.uuid4().hex[:8]}"
    specs = [busybox_spec(busybox_image, f"echo '{{\"value\": {i}}}'", labels={"burst": tag}) for i in range(8)]
    accepted = _burst(api, specs)
    assert len(accepted) == 8 and {j["status"] for j in accepted} <= {"queued", "running", "succeeded"}
    repo = Farm(settings).repository
    assert not set(repo.kv.zrange_by_score(repo.dispatching_key, float("inf"), 10_000)) & {j["id"] for j in accepted}
    for job in accepted[:2]:  # both events were written with the batch, the worker's follow them
        assert event_types(api, job["id"])[:2] == ["submitted", "queued"]
    for job in accepted[3:]:  # queued ones never start; one the worker took already stops or has finished
        with contextlib.suppress(UserInputError):  # 409: it finished before the cancel came
            api.cancel(job["id"])
    outcomes = {j["id"]: wait_final(api, j["id"]) for j in accepted}
    for i, job in enumerate(accepted):
        done = outcomes[job["id"]]
        if i < 3:
            assert done["status"] == "succeeded", done.get("reason")
            assert done["repetitions"][0]["metrics"] == {"value": float(i)}
        else:
            assert done["status"] in ("cancelled", "succeeded"), done.get("reason")
            assert done["status"] == "succeeded" or done["started_at"] is None or done["cancel_requested"]
    assert {j["id"] for j in api.jobs(label=f"burst={tag}", limit=100)} == {j["id"] for j in accepted}


def test_an_invalid_burst_stores_nothing(api, busybox_image):
    tag = f"c16-{uuid.uuid4().hex[:8]}"
    good = busybox_spec(busybox_image, "true", labels={"burst": tag})
    with pytest.raises(UserInputError, match=r"jobs\[1\]"):
        _burst(api, [good, {**good, "repetitions": 0}])
    with pytest.raises(UserInputError, match="job 1"):
        _burst(api, [good, {**good, "requirements": {"pool": f"{tag}-nowhere"}}])
    assert api.jobs(label=f"burst={tag}") == []


def test_cli_count_submits_n_copies_in_one_request(api, api_url, busybox_image, tmp_path):
    tag = f"c16-{uuid.uuid4().hex[:8]}"
    spec = write_spec(tmp_path, busybox_spec(busybox_image, "sleep 30"))
    res = cli("submit", str(spec), "--count", "3", "--label", f"burst={tag}", "--json",
              env={"BENCHFARM_API_URL": api_url})
    assert res.returncode == 0, res.stderr
    accepted = json.loads(res.stdout)
    api.made.extend(j["id"] for j in accepted)  # type: ignore[attr-defined]
    assert len({j["id"] for j in accepted}) == 3
    assert {j["labels"]["burst"] for j in (api.job(a["id"]) for a in accepted)} == {tag}
    for job in accepted:  # torn down by the fixture: cancelled queued or mid-run
        api.cancel(job["id"])


def test_a_single_submit_stores_in_one_transaction_and_runs(api, busybox_image, settings):
    """``POST /jobs`` goes the same way as a burst of one: both events with the record, then the message."""
    from benchfarm.composition import Farm

    accepted = api.submit(busybox_spec(busybox_image, "echo '{\"value\": 7}'"))
    api.made.append(accepted["id"])  # type: ignore[attr-defined]
    assert accepted["status"] in ("queued", "running", "succeeded")
    repo = Farm(settings).repository
    assert accepted["id"] not in repo.kv.zrange_by_score(repo.dispatching_key, float("inf"), 10_000)
    job = wait_final(api, accepted["id"])
    assert job["status"] == "succeeded" and job["repetitions"][0]["metrics"] == {"value": 7.0}
    assert job["repetitions_run"] == 1 and job["hardware_class"]
    types = event_types(api, accepted["id"])
    assert types[:3] == ["submitted", "queued", "started"] and types[-1] == "finished"


def test_a_logged_change_runs_again_when_another_client_emits_meanwhile(settings):
    """``RedisKV.transact_logged`` on the real Redis: the record and its event in one transaction, and an event
    appended by another client between the read and the write makes the change run again on the new sequence."""
    from benchfarm.adapters.redis_store import RedisKV

    kv, other = RedisKV.from_settings(settings), RedisKV.from_settings(settings)
    key, seq_key, log = (f"benchfarm:c16-test:{uuid.uuid4().hex[:8]}{s}" for s in ("", ":seq", ":log"))
    seen: list[int] = []

    def change(old, seq):
        seen.append(seq)
        if len(seen) == 1:
            other.incr(seq_key)  # another emitter takes sequence 1 meanwhile
        return "v2", [], [(log, f"{log}:channel", f"event {seq + 1}")], seq + 1, seq + 1

    try:
        assert kv.transact_logged(key, seq_key, change) == 2
        assert seen == [0, 1] and kv.get(key) == "v2" and kv.get(seq_key) == "2"
        assert kv.lrange(log) == ["event 2"]
    finally:
        kv.delete(key, seq_key, log)
        kv.close()
        other.close()
