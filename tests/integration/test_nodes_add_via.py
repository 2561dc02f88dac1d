"""`benchfarm nodes add --via cloud|saltify` and `nodes remove` for real: salt-cloud makes or enrols the node, the
minion-start reactor provisions it, its worker heartbeats and runs a job of its pool; removing it destroys it
through salt-cloud (key deleted, host retired, container and volume gone)."""

from __future__ import annotations

import json
import sys
import uuid
from collections.abc import Iterator

import pytest

from benchfarm.client import ApiClient
from benchfarm.composition import Farm
from benchfarm.nodes.model import volume_name
from benchfarm.settings import Settings
from benchfarm.stack.node_enrolment import SaltNodeEnrolment
from tests.integration.jobs_support import busybox_spec, cli, dump, wait_final

pytestmark = [pytest.mark.integration, pytest.mark.slow]

SESSION = uuid.uuid4().hex[:6]
VIAS = {"cloud": (f"av{SESSION}-c", "0"), "saltify": (f"av{SESSION}-m", "1")}  # via -> (node = pool, cpuset)


def _progress(message: str) -> None:
    sys.stderr.write(f"[nodes-add-via] {message}\n")


@pytest.fixture(scope="module")
def node_farm(farm, catalogue_image, settings: Settings) -> Iterator[Farm]:
    catalogue_image("base")
    f = Farm(settings)
    yield f
    enrolment = SaltNodeEnrolment(settings, f.nodes, f.host_registry)
    for name, _ in VIAS.values():
        try:
            enrolment.remove(name, _progress)
        except Exception as exc:  # a finaliser reports and goes on
            _progress(f"removing {name}: {exc}")
        f.host_registry.remove(name)


@pytest.mark.parametrize("via", sorted(VIAS))
def test_a_node_added_via_salt_cloud_joins_runs_a_job_and_is_removed_everywhere(
        via: str, node_farm: Farm, settings: Settings, busybox_image: str, docker_client) -> None:
    name, cpus = VIAS[via]
    res = cli("nodes", "add", name, "--pool", name, "--cpus", cpus, "--memory", "1g", "--via", via, "--json",
              timeout=600)
    assert res.returncode == 0, res.stderr[-4000:]
    added = json.loads(res.stdout)
    _progress(f"{via}: node {name} joined in {added['seconds']} s (worker heartbeat {added['worker_seconds']} s "
              "after salt-cloud started)")
    assert added["via"] == via and added["pool"] == name and added["cpus"] == cpus
    enrolment = SaltNodeEnrolment(settings, node_farm.nodes, node_farm.host_registry)
    assert enrolment.has_key(name)
    assert node_farm.host_registry.get(name).pool == name
    api = ApiClient.from_settings(settings)
    job = wait_final(api, api.submit(busybox_spec(busybox_image, "echo '{\"value\": 1}'", name=f"via-{via}",
                                                  requirements={"pool": name}))["id"], timeout_s=180)
    assert job["status"] == "succeeded" and job["host_id"] == name, dump(job)

    res = cli("nodes", "remove", name, "--json")
    assert res.returncode == 0, res.stderr[-3000:]
    assert json.loads(res.stdout) == {"name": name, "removed": True}
    assert not enrolment.has_key(name)
    assert node_farm.nodes.find(name) is None
    assert node_farm.host_registry.get(name).status == "retired"
    assert volume_name(name) not in {v.name for v in docker_client.volumes.list()}
