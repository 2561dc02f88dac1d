"""A job whose broker message a worker took and never acknowledged (the worker died before its claim: SIGKILL,
its node killed or cut off) runs within the broker's visibility timeout, not an hour later; one whose message
vanished without being recorded as taken is sent again by the reaper.

Found by the fault campaign (bench/faults.py, issue 12): a worker SIGKILLed right after it took a message left
the job ``queued``, its message in kombu's unacked set until the visibility timeout, then 3600 s. Here the
dying worker is a process that takes the message from the pool's queue the way a Celery worker does (no ack)
and ends with ``os._exit``; the node's worker, started afterwards, must bring the message back and run the
job. The second loss, also seen in the campaign: Redis hands a message to a BRPOP whose client is already gone
(the node was killed or cut off, its relay still holds the connection), so it is in no queue and in no worker's
unacknowledged set; here the message is simply popped off its queue. Everything is real: the node (`benchfarm
nodes add --no-worker`), Redis, the API, the node's worker and its reaper.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator

import pytest

from benchfarm.client import ApiClient
from benchfarm.composition import Farm
from benchfarm.nodes.image import NodeImage
from benchfarm.settings import Settings
from tests.integration.jobs_support import busybox_spec, cli, dump, wait_final

pytestmark = [pytest.mark.integration, pytest.mark.slow]

NODE = f"f12-{uuid.uuid4().hex[:6]}-r"
POOL = NODE

# takes one message of the pool's queue as a Celery worker would (into kombu's unacked set), then dies at once
TAKE_AND_DIE = f"""
import os
from benchfarm.adapters.celery_app import app, configure
from benchfarm.settings import get_settings
configure(get_settings())
with app.connection_for_read() as conn:
    for _ in range(100):
        message = conn.default_channel.basic_get("pool.{POOL}", no_ack=False)
        if message is not None:
            print(message.headers.get("id"), flush=True)
            os._exit(0)
        import time; time.sleep(0.1)
os._exit(3)
"""


def _progress(message: str) -> None:
    sys.stderr.write(f"[redelivery] {message}\n")


@pytest.fixture
def node(farm, settings: Settings, node_image: NodeImage) -> Iterator[Farm]:
    """A node of its own pool with its engine only (its worker is started by the test)."""
    node_farm = Farm(settings)
    try:
        res = cli("nodes", "add", NODE, "--pool", POOL, "--cpus", "0", "--memory", "1g", "--no-worker")
        assert res.returncode == 0, res.stderr
        yield node_farm
    finally:
        node_farm.nodes.remove(NODE, _progress)
        node_farm.host_registry.remove(NODE)
        node_farm.close()


def test_a_message_whose_worker_died_before_the_claim_runs_within_the_visibility_timeout(
        node: Farm, settings: Settings, busybox_image: str) -> None:
    api = ApiClient.from_settings(settings)
    spec = busybox_spec(busybox_image, "echo '{\"value\": 3}'", requirements={"pool": POOL})
    job_id = api.submit(spec, queue_anyway=True)["id"]  # no worker of the pool has registered yet
    taken = subprocess.run([sys.executable, "-c", TAKE_AND_DIE], capture_output=True, text=True, timeout=60,
                           check=False)
    assert taken.returncode == 0 and taken.stdout.strip() == job_id, (taken.stdout, taken.stderr[-2000:])
    died = time.monotonic()
    node.node_workers.start(NODE, _progress)
    assert api.job(job_id)["status"] == "queued"
    # the visibility timeout, then the next restore sweep of an idle worker (every 10 s) and the run
    job = wait_final(api, job_id, timeout_s=settings.visibility_timeout_s + 60)
    _progress(f"job {job['status']} {time.monotonic() - died:.0f} s after the worker holding it died "
              f"(visibility timeout {settings.visibility_timeout_s} s)")
    assert job["status"] == "succeeded" and job["attempts"] == 1 and job["host_id"] == NODE, dump(job)


def test_a_message_lost_off_its_queue_is_sent_again_by_the_reaper(node: Farm, settings: Settings,
                                                                    busybox_image: str) -> None:
    from benchfarm.adapters.celery_app import PRIORITY_STEPS, app, configure

    api = ApiClient.from_settings(settings)
    job_id = api.submit(busybox_spec(busybox_image, "echo '{\"value\": 4}'", requirements={"pool": POOL}),
                        queue_anyway=True)["id"]
    configure(settings)
    popped = None
    with app.connection_for_read() as conn:
        client = conn.default_channel.client
        for key in [f"pool.{POOL}"] + [f"pool.{POOL}:{step}" for step in PRIORITY_STEPS[1:]]:
            if (raw := client.rpop(key)) is not None:
                popped = json.loads(raw)["headers"]["id"]
    assert popped == job_id, f"the job's message was not in its queue (popped {popped})"
    repo = node.repository
    if job_id not in {j.id for j in repo.queued_before(float("inf"))}:
        # an API process started before the index of queued jobs existed wrote the record without its entry
        # (a shared stack whose API was not restarted since): index it as that API's successor would have
        _progress("the API did not index the queued job (it predates the index): indexing it here")
        repo.reindex(job_id)
    lost = time.monotonic()
    node.node_workers.start(NODE, _progress)
    # the reaper's grace (60 s after submission), its look at the queues (every 30 s), the worker's sweep (10 s)
    job = wait_final(api, job_id, timeout_s=150)
    _progress(f"job {job['status']} {time.monotonic() - lost:.0f} s after its message was lost")
    assert job["status"] == "succeeded" and job["attempts"] == 1, dump(job)
    reasons = [e["data"].get("reason") for e in api.events(job_id) if e["type"] == "queued"]
    assert "its message was lost; sent again" in reasons, dump(api.events(job_id))
