"""The salt-cloud driver for nodes (salt/_clouds/benchfarm_nodes.py), loaded as salt-cloud loads it,
against a fake node provider with the NodeManager calls the driver makes (no Docker, no master).

What is checked: the node asked for comes from the profile (CPU set, memory, the pool grain), the
driver marks the nodes it made and lists only those, the deploy it runs in the node carries what
salt-cloud prepared (its own deploy script, minion config, grains, the accepted key pair), a failed
create takes the accepted key back, and destroy retires the host before removing the node.
"""

from __future__ import annotations

import copy
import importlib.util
import io
import tarfile
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
import yaml
from salt.exceptions import SaltCloudConfigError, SaltCloudSystemExit

from benchfarm.errors import BenchfarmError
from benchfarm.nodes.config import NodeFarmConfig
from benchfarm.nodes.engine import ContainerFacts, ExecResult
from benchfarm.nodes.errors import NodeNameTakenError
from benchfarm.nodes.model import LABEL_NODE, Node, NodeSpec
from benchfarm.scheduler.capabilities import HostCapabilities
from benchfarm.scheduler.host_registry import HostRegistry
from tests.support.memory_kv import MemoryKV

REPO = Path(__file__).resolve().parents[2]
PROVIDER = "benchfarm-nodes"
IMAGE = "benchfarm-node:0.1.0"
PROFILE = "benchfarm-node-pool-a"
PROFILE_DEF = {"provider": f"{PROVIDER}:benchfarm_nodes", "cpuset": "1", "memory": "1g", "image": IMAGE,
               "grains": {"benchfarm": {"pool": "pool-a"}}}
PROVIDER_DEF = {"driver": "benchfarm_nodes", "script": "benchfarm-node",
                "minion": {"master": "127.0.0.1", "master_port": 14506, "publish_port": 14505}}


@dataclass
class FakeEngine:
    """The engine calls the driver makes itself: listing by label, exec with stdin, image ids."""

    manager: FakeManager
    execs: list[tuple[str, list[str], bytes]] = field(default_factory=list)
    exec_result: ExecResult = field(default_factory=lambda: ExecResult(0, "benchfarm-node deploy: salt-minion runs\n"))

    def containers(self, label: str) -> list[ContainerFacts]:
        return [ContainerFacts(id=n.container_id, name=n.container_name, status=n.status,
                               labels=self.manager.labels[n.name], image=n.image, pid=1, addresses={},
                               cpuset=n.cpuset, memory=n.memory, exit_code=None, oom_killed=False)
                for n in self.manager.nodes.values() if label in self.manager.labels[n.name]]

    def exec(self, name_or_id: str, argv: list[str], *, stdin: Iterable[bytes] | None = None,
             timeout: float = 120.0, environment: dict[str, str] | None = None) -> ExecResult:
        self.execs.append((name_or_id, argv, b"".join(stdin or [])))
        return self.exec_result

    def image_id(self, ref: str) -> str | None:
        return "sha256:abc" if ref.startswith("benchfarm-node:") else None


@dataclass
class FakeManager:
    """NodeManager's interface as the driver uses it, nodes kept in a dict."""

    nodes: dict[str, Node] = field(default_factory=dict)
    labels: dict[str, dict[str, str]] = field(default_factory=dict)
    removed: list[str] = field(default_factory=list)
    config: NodeFarmConfig = field(default_factory=NodeFarmConfig)
    engine: FakeEngine = field(init=False)
    create_error: BenchfarmError | None = None

    def __post_init__(self) -> None:
        self.engine = FakeEngine(self)

    def machine_cpus(self) -> frozenset[int]:
        return frozenset({0, 1})

    def check(self, spec: NodeSpec) -> Node | None:
        spec.check_fits(self.machine_cpus())
        return self.nodes.get(spec.name)

    def create(self, spec: NodeSpec, image: str, progress: Any = None, *, services: Any = None,
               authorized_keys: str = "", labels: dict[str, str] | None = None) -> Node:
        if self.create_error is not None:
            raise self.create_error
        node = Node(name=spec.name, pool=spec.pool, cpuset=spec.cpuset, memory=spec.memory,
                    container_id=f"{spec.name}-id", container_name=spec.container_name, status="running",
                    image=image, address="172.30.0.5", volume=spec.volume_name)
        self.nodes[spec.name] = node
        self.labels[spec.name] = {**spec.labels(), **(labels or {})}
        return node

    def add_plain(self, name: str) -> None:
        """A node made without the driver (e.g. the bare-metal path): no cloud label."""
        spec = NodeSpec.parse(name, "p", "0", "1g")
        self.create(spec, IMAGE)
        self.labels[name] = spec.labels()

    def list(self) -> list[Node]:
        return sorted(self.nodes.values(), key=lambda n: n.name)

    def find(self, name: str) -> Node | None:
        return self.nodes.get(name)

    def remove(self, name: str, progress: Any = None) -> bool:
        self.removed.append(name)
        return self.nodes.pop(name, None) is not None


@pytest.fixture
def farm() -> SimpleNamespace:
    kv = MemoryKV()
    return SimpleNamespace(nodes=FakeManager(), kv=kv, host_registry=HostRegistry(kv))


@pytest.fixture
def events() -> list[tuple[str, dict]]:
    return []


@pytest.fixture
def driver(farm, events, tmp_path, monkeypatch):
    spec = importlib.util.spec_from_file_location("bf_cloud_driver_under_test",
                                                  REPO / "salt" / "_clouds" / "benchfarm_nodes.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    mod.__opts__ = {
        "providers": {PROVIDER: {"benchfarm_nodes": {**PROVIDER_DEF, "profiles": {PROFILE: PROFILE_DEF}}}},
        "profiles": {PROFILE: PROFILE_DEF},
        "pki_dir": str(tmp_path / "pki"),
        "sock_dir": str(tmp_path / "sock"),
        "transport": "zeromq",
        "deploy_scripts_search_path": (str(REPO / "salt" / "cloud" / "deploy"),),
        "query.selection": ["id", "state", "pool"],
    }
    mod.__utils__ = {
        "cloud.fire_event": lambda kind, desc, tag, args=None, **kw: events.append((tag, args)),
        # salt.utils.cloud.filter_event without a cloud config's `filter_events`: the default keys
        "cloud.filter_event": lambda tag, data, defaults: {k: data.get(k) for k in defaults},
    }
    mod.__active_provider_name__ = f"{PROVIDER}:benchfarm_nodes"
    monkeypatch.setattr(mod, "_farm", lambda: farm)
    return mod


def _vm(name: str = "node-a", **extra: Any) -> dict[str, Any]:
    """What salt-cloud's Cloud.create hands the driver for `salt-cloud -p PROFILE NAME` (keys generated)."""
    priv, pub = "-----BEGIN RSA PRIVATE KEY-----\nprivate\n", "-----BEGIN PUBLIC KEY-----\npublic\n"
    # Cloud.vm_config: the provider's settings, then the profile's, then the name and overrides
    return {**copy.deepcopy(PROVIDER_DEF), **copy.deepcopy(PROFILE_DEF), "name": name, "profile": PROFILE,
            "os": "benchfarm-node", "pub_key": pub, "priv_key": priv, "deploy": True, **extra}


def _deployed(farm) -> tuple[list[str], dict[str, tarfile.TarInfo], dict[str, bytes]]:
    (_, argv, stdin), = farm.nodes.engine.execs
    with tarfile.open(fileobj=io.BytesIO(stdin)) as tar:
        members = {m.name: m for m in tar.getmembers()}
        data = {name: tar.extractfile(m).read() for name, m in members.items()}
    return argv, members, data


def test_virtual_needs_a_configured_provider(driver) -> None:
    assert driver.__virtual__() == "benchfarm_nodes"
    driver.__opts__["providers"] = {}
    assert driver.__virtual__()[0] is False


def test_create_makes_the_node_of_the_profile_and_marks_it(driver, farm, events) -> None:
    ret = driver.create(_vm())
    node = farm.nodes.nodes["node-a"]
    assert (node.pool, node.cpuset, node.memory, node.image) == ("pool-a", "1", 1 << 30, IMAGE)
    assert farm.nodes.labels["node-a"][driver.LABEL_CLOUD] == PROVIDER
    assert ret["deployed"] is True and ret["pool"] == "pool-a" and ret["private_ips"] == ["172.30.0.5"]
    assert [tag for tag, _ in events] == ["salt/cloud/node-a/creating", "salt/cloud/node-a/requesting",
                                          "salt/cloud/node-a/deploying", "salt/cloud/node-a/created"]


def test_the_deploy_carries_what_salt_cloud_prepared(driver, farm) -> None:
    driver.create(_vm())
    argv, members, data = _deployed(farm)
    assert argv[:2] == ["sh", "-c"] and '"$d/deploy.sh"' in argv[2] and 'rm -rf "$d"' in argv[2]
    assert set(data) == {"deploy.sh", "minion", "grains", "minion.pem", "minion.pub"}
    # the project's own deploy script, through salt-cloud's renderer (it has no Jinja in it)
    script = (REPO / "salt" / "cloud" / "deploy" / "benchfarm-node.sh").read_text()
    assert data["deploy.sh"].decode().rstrip("\n") == script.rstrip("\n")
    assert members["deploy.sh"].mode == 0o700 and members["minion.pem"].mode == 0o600
    minion = yaml.safe_load(data["minion"])
    assert minion["id"] == "node-a"
    assert (minion["master"], minion["master_port"], minion["publish_port"]) == ("127.0.0.1", 14506, 14505)
    assert minion["grains"] == {"salt-cloud": {"driver": "benchfarm_nodes", "provider": f"{PROVIDER}:benchfarm_nodes",
                                               "profile": PROFILE}}
    assert yaml.safe_load(data["grains"]) == {"benchfarm": {"pool": "pool-a"}}
    assert data["minion.pem"].decode().startswith("-----BEGIN RSA PRIVATE KEY-----")
    assert data["minion.pub"].decode().startswith("-----BEGIN PUBLIC KEY-----")


def test_without_deploy_no_minion_is_installed(driver, farm) -> None:
    ret = driver.create(_vm(deploy=False, pub_key=None, priv_key=None))
    assert ret["deployed"] is False and farm.nodes.engine.execs == []


def test_script_args_reach_the_deploy_script(driver, farm) -> None:
    driver.create(_vm(script_args="-w /srv/wheels"))
    argv, _, _ = _deployed(farm)
    assert '"$d/deploy.sh" -w /srv/wheels;' in argv[2]


def _accepted_key(driver, name: str) -> Path:
    key = Path(driver.__opts__["pki_dir"]) / "minions" / name
    key.parent.mkdir(parents=True, exist_ok=True)
    key.write_text("public")  # what salt-cloud's Cloud.create did before calling the driver
    return key


def test_a_failed_deploy_takes_the_accepted_key_back(driver, farm) -> None:
    key = _accepted_key(driver, "node-a")
    farm.nodes.engine.exec_result = ExecResult(4, "benchfarm-node deploy: error: salt-minion did not start\n")
    with pytest.raises(SaltCloudSystemExit, match=r"(?s)failed \(exit 4\).*salt-cloud -d node-a.*did not start"):
        driver.create(_vm())
    assert not key.exists()


def test_a_node_made_by_other_means_is_not_adopted(driver, farm) -> None:
    farm.nodes.add_plain("metal-1")
    key = _accepted_key(driver, "metal-1")
    with pytest.raises(SaltCloudSystemExit, match="a node named metal-1 exists already"):
        driver.create(_vm("metal-1", cpuset="0"))
    assert farm.nodes.engine.execs == [] and not key.exists()


@pytest.mark.parametrize(("extra", "error", "match"), [
    ({"cpuset": None}, SaltCloudConfigError, "needs `cpuset` and `memory`"),
    ({"memory": "64m"}, SaltCloudConfigError, "too little for a node"),
    ({"cpuset": "7"}, SaltCloudSystemExit, "outside this machine's CPUs"),
    ({"name": "Bad_Name"}, SaltCloudConfigError, "not a valid node name"),
])
def test_a_bad_profile_is_refused_before_a_node_is_made(driver, farm, extra, error, match) -> None:
    vm = _vm(**extra)
    key = _accepted_key(driver, vm["name"])
    with pytest.raises(error, match=match):
        driver.create(vm)
    assert farm.nodes.nodes == {} and not key.exists()


def test_a_provider_error_reads_as_a_salt_cloud_error_with_its_hint(driver, farm) -> None:
    farm.nodes.create_error = NodeNameTakenError("the name node-a was taken", hint="choose another name")
    with pytest.raises(SaltCloudSystemExit, match=r"creating node node-a: the name node-a was taken \(choose"):
        driver.create(_vm())


def test_lists_only_the_nodes_it_made(driver, farm) -> None:
    driver.create(_vm("node-a"))
    farm.nodes.add_plain("metal-1")
    assert set(driver.list_nodes()) == {"node-a"}
    summary = driver.list_nodes()["node-a"]
    assert summary == {"id": "node-a-id", "image": IMAGE, "size": "CPUs 1, 1GiB", "state": "running",
                       "private_ips": ["172.30.0.5"], "public_ips": []}
    full = driver.list_nodes_full()["node-a"]
    assert full["pool"] == "pool-a" and full["volume"] == "benchfarm-node-node-a-docker"
    assert driver.list_nodes_select() == {"node-a": {"id": "node-a-id", "state": "running", "pool": "pool-a"}}
    # another alias of the same driver lists its own nodes only
    driver.__active_provider_name__ = "other-nodes:benchfarm_nodes"
    assert driver.list_nodes() == {}


def test_calls_are_checked_as_salt_cloud_expects(driver) -> None:
    with pytest.raises(SaltCloudSystemExit, match="-f or --function"):
        driver.list_nodes(call="action")
    with pytest.raises(SaltCloudSystemExit, match="-a or --action"):
        driver.show_instance("node-a")
    with pytest.raises(SaltCloudSystemExit, match="-d, --destroy"):
        driver.destroy("node-a", call="function")
    with pytest.raises(SaltCloudSystemExit, match="no node named node-x"):
        driver.show_instance("node-x", call="action")


def test_show_instance_and_the_avail_functions(driver, farm) -> None:
    driver.create(_vm())
    assert driver.show_instance("node-a", call="action")["cpus"] == "1"
    assert driver.avail_sizes() == {"cpuset": {"machine_cpus": "0-1"}, "memory": {"minimum": "512MiB"}}
    assert driver.avail_locations() == {"local": {"docker_url": "unix:///var/run/docker.sock",
                                                  "network": "benchfarm-nodes"}}
    assert driver.avail_images() == {"benchfarm-node:latest": {"id": "sha256:abc"}}


def test_destroy_retires_the_host_then_removes_the_node(driver, farm, events) -> None:
    driver.create(_vm())
    farm.host_registry.register(HostCapabilities(host_id="node-a", pool="pool-a", status="good"))
    events.clear()
    ret = driver.destroy("node-a")
    assert ret == {"Destroyed": "node-a was destroyed.", "container_removed": True, "host": "retired"}
    assert farm.host_registry.get("node-a").status == "retired"
    assert farm.nodes.removed == ["node-a"] and farm.nodes.nodes == {}
    assert [tag for tag, _ in events] == ["salt/cloud/node-a/destroying", "salt/cloud/node-a/destroyed"]


def test_destroy_of_a_node_never_registered(driver, farm) -> None:
    driver.create(_vm())
    assert driver.destroy("node-a")["host"] == "was not registered"
    assert farm.nodes.nodes == {}


def test_the_node_name_label_is_the_one_the_manager_uses(driver) -> None:
    assert LABEL_NODE == "benchfarm.node" and driver.LABEL_CLOUD.startswith("benchfarm.")
