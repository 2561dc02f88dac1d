"""Hosts made by salt-cloud, both field paths, for real: nodes of this machine enrolled with the farm's master.

* cloud: ``salt-cloud -p benchfarm-node-<pool> NAME`` through the farm's driver (salt/_clouds/benchfarm_nodes.py)
  makes the node and deploys its minion, with the key salt-cloud generated and accepted;
* bare metal: a node started with only its engine and sshd (and the farm's public key) is enrolled by
  ``salt-cloud -p <a saltify profile> NAME`` over SSH, by the project's deploy script.

Both minions answer the farm's master; the minion-start reactor provisions them (sync, highstate with the
node's service runner, register, health check) and a second highstate changes nothing; ``salt-cloud -d``
of the cloud node retires its host, deletes its key and removes its container and volume, and of the
bare-metal one unenrolls its minion. Nodes, keys, profiles and registry entries are removed in finalisers.
"""

from __future__ import annotations

import contextlib
import json
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import docker
import pytest

from benchfarm.adapters.salt_master import SaltMaster
from benchfarm.composition import Farm
from benchfarm.errors import NotFoundError
from benchfarm.inventory.inventory import REASONS_KEY
from benchfarm.nodes.image import NodeImageBuilder
from benchfarm.nodes.manager import NodeManager
from benchfarm.nodes.model import NodeSpec, volume_name
from benchfarm.settings import Settings
from benchfarm.stack import salt_cloud
from benchfarm.stack.salt_config import master_config_dir
from tests.integration.salt_minions import apply_states, changed, poll

pytestmark = [pytest.mark.integration, pytest.mark.slow]

SESSION = uuid.uuid4().hex[:6]
CLOUD_NODE, METAL_NODE = f"sc{SESSION}-c", f"sc{SESSION}-m"
CLOUD_POOL, METAL_POOL = f"sc{SESSION}-a", f"sc{SESSION}-b"
BIN = Path(sys.executable).parent


def _progress(message: str) -> None:
    sys.stderr.write(f"[salt-cloud] {message}\n")


@dataclass
class CloudRun:
    returncode: int
    data: Any
    output: str


def _salt_cloud(settings: Settings, *args: str, timeout: int = 600) -> CloudRun:
    """``salt-cloud -c <farm> ARGS --out json``; the JSON document it printed (after any chatter)."""
    argv, env = salt_cloud.salt_cloud_command(settings, *args, "--out", "json", "--no-color", "-y")
    started = time.monotonic()
    res = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=timeout, check=False)
    _progress(f"{' '.join(args)}: exit {res.returncode} in {time.monotonic() - started:.1f} s")
    # the document is the last thing printed; nested objects are indented, so "{" alone on a line starts it
    start = 0 if res.stdout.startswith("{\n") else res.stdout.rfind("\n{\n") + 1
    try:
        data = json.loads(res.stdout[start:]) if start >= 0 else None
    except json.JSONDecodeError:
        data = None
    return CloudRun(res.returncode, data, res.stdout + res.stderr)


@pytest.fixture(scope="module")
def farm_objects(farm, settings: Settings) -> Farm:
    return Farm(settings)


@pytest.fixture(scope="module")
def master(farm, settings: Settings) -> SaltMaster:
    return SaltMaster(master_config_dir(settings))


@pytest.fixture(scope="module")
def nodes(farm_objects: Farm) -> NodeManager:
    return farm_objects.nodes


@pytest.fixture(scope="module")
def node_image(farm, catalogue_image, farm_objects: Farm) -> str:
    """benchfarm-node:<version> (the golden base first when missing); reused when nothing changed."""
    catalogue_image("base")
    return NodeImageBuilder(farm_objects.images, farm_objects.nodes.config).ensure(_progress).ref


@pytest.fixture(scope="module")
def cloud_config(farm, settings: Settings) -> Iterator[Path]:
    """The farm's salt-cloud config, plus this module's pool profile (no `image`: the driver finds its own)."""
    conf = salt_cloud.render_cloud(settings)
    name = salt_cloud.pool_profile_name(CLOUD_POOL)
    salt_cloud.write_profile(settings, name, salt_cloud.node_profile(CLOUD_POOL, "0", "1g"))
    yield conf
    salt_cloud.remove_profile(settings, name)
    salt_cloud.remove_profile(settings, salt_cloud.baremetal_profile_name(METAL_NODE))


@pytest.fixture(scope="module")
def cleanup(farm, settings: Settings, nodes: NodeManager, farm_objects: Farm) -> Iterator[None]:
    """Whatever happens: both nodes (containers, volumes), their keys and their registry entries go."""
    yield
    for name in (CLOUD_NODE, METAL_NODE):
        with contextlib.suppress(Exception):
            nodes.remove(name, _progress)
        subprocess.run([str(BIN / "salt-key"), "-c", str(master_config_dir(settings)), "-d", name, "-y"],
                       capture_output=True, text=True, timeout=60, check=False)
        farm_objects.host_registry.remove(name)
        farm_objects.kv.hdel(REASONS_KEY, name)


@pytest.fixture(scope="module")
def cloud_node(cloud_config: Path, cleanup, node_image: str, settings: Settings) -> dict[str, Any]:
    """A node made and enrolled by the cloud driver."""
    run = _salt_cloud(settings, "-p", salt_cloud.pool_profile_name(CLOUD_POOL), CLOUD_NODE)
    assert run.returncode == 0, run.output[-4000:]
    return run.data[CLOUD_NODE]


@pytest.fixture(scope="module")
def metal_node(cloud_config: Path, cleanup, node_image: str, nodes: NodeManager, settings: Settings) -> str:
    """A node started like a racked machine (its engine, sshd and the farm's key only), enrolled by saltify."""
    node = nodes.create(NodeSpec.parse(METAL_NODE, METAL_POOL, "0", "1g"), node_image, _progress,
                        services=("dockerd", "sshd"), authorized_keys=salt_cloud.ensure_ssh_key(settings))
    bare = nodes.exec(METAL_NODE, ["sh", "-c", "benchfarm-node-service status sshd && test ! -e /etc/salt/minion "
                                               "&& ! benchfarm-node-service status salt-minion"])
    assert bare.exit_code == 0, f"not a bare machine before enrolment: {bare.output}"
    profile = salt_cloud.baremetal_profile_name(METAL_NODE)
    salt_cloud.write_profile(settings, profile, salt_cloud.baremetal_profile(METAL_POOL, node.address))
    run = _salt_cloud(settings, "-p", profile, METAL_NODE)
    assert run.returncode == 0, run.output[-4000:]
    assert run.data[METAL_NODE]["deployed"] is True, run.output[-4000:]
    return METAL_NODE


def _provisioned(master: SaltMaster, farm_objects: Farm, minion: str) -> bool:
    """The minion-start reactor's work is over: the worker runs under the node's runner, the host is
    registered, and no job runs on the minion."""
    try:
        farm_objects.host_registry.get(minion)
    except NotFoundError:
        return False
    worker = master.cmd(minion, "service.status", ["worker"], timeout=15).get(minion)
    return worker is True and master.cmd(minion, "saltutil.running", timeout=15).get(minion) == []


def test_the_cloud_driver_made_and_enrolled_its_node(cloud_node: dict[str, Any], nodes: NodeManager,
                                                     master: SaltMaster, settings: Settings) -> None:
    assert cloud_node["deployed"] is True
    assert (cloud_node["pool"], cloud_node["cpus"], cloud_node["memory_bytes"]) == (CLOUD_POOL, "0", 1 << 30)
    # salt-cloud's way: the key it generated was accepted before the minion first connected
    assert (settings.state_dir / "salt" / "master" / "pki" / "master" / "minions" / CLOUD_NODE).is_file()
    listed = _salt_cloud(settings, "-Q")
    assert listed.returncode == 0, listed.output[-2000:]
    assert CLOUD_NODE in listed.data["benchfarm-nodes"]["benchfarm_nodes"]


def test_both_minions_answer_the_farm_master(cloud_node, metal_node: str, master: SaltMaster) -> None:
    for minion in (CLOUD_NODE, METAL_NODE):
        poll(lambda m=minion: m in master.accepted_minions() and master.ping(m, timeout=5), 120,
             f"minion {minion} to answer test.ping")
    grains = master.cmd(f"sc{SESSION}-*", "grains.item", ["benchfarm_pool", "benchfarm_service_manager",
                                                          "salt-cloud"], timeout=30)
    assert grains[CLOUD_NODE]["benchfarm_pool"] == CLOUD_POOL
    assert grains[METAL_NODE]["benchfarm_pool"] == METAL_POOL
    assert {g["benchfarm_service_manager"] for g in grains.values()} == {"node"}
    assert grains[CLOUD_NODE]["salt-cloud"]["driver"] == "benchfarm_nodes"
    assert grains[METAL_NODE]["salt-cloud"]["driver"] == "saltify"


def test_the_reactor_provisions_nodes_with_their_service_runner(cloud_node, metal_node: str, master: SaltMaster,
                                                               farm_objects: Farm, nodes: NodeManager) -> None:
    for minion in (CLOUD_NODE, METAL_NODE):
        poll(lambda m=minion: _provisioned(master, farm_objects, m), 240,
             f"the minion-start provisioning of {minion} (worker running, host registered)")
        # the runner, not systemd, runs the node's daemons, and the highstate asked it to start them at boot
        out = nodes.exec(minion, ["sh", "-c", "benchfarm-node-service status worker && "
                                              "ls /etc/benchfarm-node/enabled && cat /etc/benchfarm/config.yaml"])
        assert out.exit_code == 0, out.output
        assert "salt-minion" in out.output and "worker" in out.output and f"minion_id: {minion}" in out.output
        # a highstate again changes nothing, and test=True says so too
        assert changed(apply_states(master, minion)) == {}
        assert changed(apply_states(master, minion, test=True)) == {}
        ret = apply_states(master, minion)
        assert ret and all(s["result"] is True for s in ret.values())
        assert {s["__id__"] for s in ret.values()} >= {"benchfarm-docker-service-running",
                                                       "benchfarm-worker-service-running"}


def test_destroying_the_cloud_node_retires_it_everywhere(cloud_node, metal_node: str, master: SaltMaster,
                                                         farm_objects: Farm, docker_client, settings: Settings,
                                                         nodes: NodeManager) -> None:
    poll(lambda: _provisioned(master, farm_objects, CLOUD_NODE), 240, f"{CLOUD_NODE} to be registered")
    run = _salt_cloud(settings, "-d", CLOUD_NODE)
    assert run.returncode == 0, run.output[-4000:]
    result = run.data["benchfarm-nodes"]["benchfarm_nodes"][CLOUD_NODE]
    assert result["Destroyed"] == f"{CLOUD_NODE} was destroyed." and result["host"] == "retired"
    assert CLOUD_NODE not in master.accepted_minions()
    assert farm_objects.host_registry.get(CLOUD_NODE).status == "retired"
    assert CLOUD_NODE not in {h.host_id for h in farm_objects.host_registry.hosts()}
    assert nodes.find(CLOUD_NODE) is None
    with pytest.raises(docker.errors.NotFound):
        docker_client.volumes.get(volume_name(CLOUD_NODE))
    # the bare-metal node is another provider's: untouched
    assert master.ping(METAL_NODE, timeout=10)


def test_destroying_the_bare_metal_host_unenrolls_its_minion(metal_node: str, master: SaltMaster,
                                                            nodes: NodeManager, settings: Settings) -> None:
    run = _salt_cloud(settings, "-d", METAL_NODE)
    assert run.returncode == 0, run.output[-4000:]
    assert run.data["benchfarm-nodes-ssh"]["saltify"][METAL_NODE]["Destroyed"] == f"{METAL_NODE} was destroyed."
    assert METAL_NODE not in master.accepted_minions()
    # saltify leaves the machine running (shutdown_on_destroy: false) with its minion unconfigured
    out = nodes.exec(METAL_NODE, ["sh", "-c", "test ! -e /etc/salt/minion && test ! -e "
                                              "/etc/benchfarm-node/enabled/salt-minion"])
    assert out.exit_code == 0, out.output
    assert nodes.find(METAL_NODE) is not None
