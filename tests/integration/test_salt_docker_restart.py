"""dockerd restarts while the farm runs: the benchfarm_docker_events engine reconnects
(events reach the Salt bus again) and reconciles a benchmark container that died in the gap.
Restarts the farm's real dockerd once (running containers die with it)."""

from __future__ import annotations

import contextlib
import threading
import time

import docker
import pytest

from benchfarm.composition import Farm
from benchfarm.jobs.model import EventType, JobStatus
from benchfarm.stack.stack import Stack
from tests.integration.test_salt_reactors import _poll, orphan_running_job

pytestmark = pytest.mark.integration


def _inner(event: dict) -> dict:
    """The data a minion fired (the master wraps it as {"id", "cmd", "data"})."""
    data = event.get("data") or {}
    return data.get("data") if isinstance(data.get("data"), dict) else data


class BusRecorder:
    """Records master events whose tag starts with a prefix, in a thread."""

    def __init__(self, master, prefix: str) -> None:
        self.events: list[dict] = []
        self._stop = False
        self._thread = threading.Thread(target=self._run, args=(master, prefix), daemon=True)
        self._thread.start()
        time.sleep(1)  # subscribed before the test acts

    def _run(self, master, prefix):
        for ev in master.events(prefix, timeout=600):
            self.events.append(ev)
            if self._stop:
                return

    def tags(self) -> list[str]:
        return [e["tag"] for e in self.events]


def test_stream_survives_dockerd_restart_and_reconciles(farm, settings, busybox_image):
    repo = Farm(settings).repository
    master = Farm(settings).salt
    bus = BusRecorder(master, "")
    job = orphan_running_job(settings, "salt-docker-restart")
    client = docker.DockerClient(base_url=settings.docker_url)
    # dies with the engine (exit 3 on SIGTERM, 137 on SIGKILL) while no event stream listens
    victim = client.containers.run(busybox_image, ["sh", "-c", "trap 'exit 3' TERM; while true; do sleep 1; done"],
                                   detach=True, network_mode="none", labels={"benchfarm.job_id": job.id})
    victim_id = victim.id
    client.close()
    stack = Stack(settings)
    stack.down(lambda m: None, only=["docker"])
    stack.up(lambda m: None, only=["docker"])

    _poll(lambda: any(e["tag"] == "benchfarm/docker/stream/connected" and _inner(e).get("reconnect")
                      for e in bus.events), 120, "the engine to reconnect")
    client = docker.DockerClient(base_url=settings.docker_url)
    try:
        probe = client.containers.run(busybox_image, ["true"], detach=True, network_mode="none",
                                      labels={"benchfarm.test": "after-restart"})
        _poll(lambda: any(e["tag"].startswith("salt/engines/docker_events/")
                          and (_inner(e).get("Actor") or {}).get("ID") == probe.id for e in bus.events),
              60, "a Docker event of a new container on the Salt bus")
        probe.remove(force=True)
        final = _poll(lambda: (j := repo.get(job.id)).status == JobStatus.FAILED and j, 90,
                      "the reconciled job to be failed")
        code = client.containers.get(victim_id).attrs["State"]["ExitCode"]
        assert code != 0 and final.reason == f"exited {code}"  # 3 (its TERM trap) or 137 if dockerd killed it
        events = [e for e in repo.events(job.id) if e.type == EventType.CONTAINER_EVENT]
        assert [e.data["container_id"] for e in events] == [victim_id]
        # dockerd may still stream the die before its API closes; either way reconciliation on
        # reconnect found the container in the engine's list and reported it (the API deduplicates)
        assert events[0].data["source"] in ("stream", "reconcile")
        reconciled = _poll(lambda: [e for e in bus.events if e["tag"] == "benchfarm/docker/stream/reconciled"], 30,
                           "the engine's reconciliation report")
        assert victim_id in {r["container_id"] for e in reconciled for r in _inner(e)["reported"]}
    finally:
        with contextlib.suppress(docker.errors.NotFound):
            client.containers.get(victim_id).remove(force=True)
        client.close()
        bus._stop = True
