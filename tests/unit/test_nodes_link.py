"""How a node reaches the farm: which service ports are relayed, and the settings its worker runs with."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from benchfarm.nodes.config import NodeFarmConfig
from benchfarm.nodes.link import ForwardedPort, forwarded_ports, shared_settings, worker_config_yaml
from benchfarm.settings import Settings


def _settings(**values: object) -> Settings:
    return Settings(state_dir=Path("/var/lib/benchfarm"), **values)  # type: ignore[arg-type]


def test_the_farm_services_on_loopback_are_relayed() -> None:
    ports = forwarded_ports(_settings())
    assert [(f.service, f.port, f.target) for f in ports] == [
        ("redis", 16379, "127.0.0.1"), ("elasticsearch", 19200, "127.0.0.1"), ("salt-publish", 14505, "127.0.0.1"),
        ("salt-ret", 14506, "127.0.0.1"), ("registry", 15000, "127.0.0.1"), ("api", 18787, "127.0.0.1")]
    assert ports[0].as_arg() == "16379:127.0.0.1:16379"


@pytest.mark.parametrize(("values", "left_out"), [
    ({"elasticsearch_url": "https://es.example:9200"}, "elasticsearch"),   # an external cluster: not relayed
    ({"redis_url": "redis://10.0.0.5:6379/0"}, "redis"),
    ({"registry_host": "10.0.0.7"}, "registry"),
])
def test_a_service_that_is_not_on_loopback_is_not_relayed(values: dict[str, object], left_out: str) -> None:
    services = [f.service for f in forwarded_ports(_settings(**values))]
    assert left_out not in services and len(services) == 5


def test_an_explicit_loopback_url_is_still_relayed() -> None:
    assert "redis" in [f.service for f in forwarded_ports(_settings(redis_url="redis://127.0.0.1:16379/0"))]


def test_the_node_config_carries_the_hosts_settings() -> None:
    config = NodeFarmConfig.from_settings(_settings(node_network="nodes-x", node_bridge="bf-x", index_prefix="bfx"))
    assert config.network == "nodes-x" and config.bridge == "bf-x"
    assert config.forward == forwarded_ports(_settings())
    assert config.node_services == ("forward", "dockerd")
    assert config.worker_settings["index_prefix"] == "bfx"
    assert "minion_id" not in config.worker_settings and "state_dir" not in config.worker_settings


def test_a_nodes_config_file_loads_as_the_same_settings_with_its_own_identity(tmp_path: Path,
                                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    host = _settings(redis_port=26379, elasticsearch_url="http://127.0.0.1:29200", worker_lease_s=7.5,
                     minion_id="the-host", pool="default", allowed_devices=["/dev/fpga0"])
    path = tmp_path / "config.yaml"
    path.write_text(worker_config_yaml(shared_settings(host), node="n1", pool="nodes-a"))
    for name in list(os.environ):
        if name.startswith("BENCHFARM_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("BENCHFARM_CONFIG", str(path))
    node = Settings()
    assert (node.minion_id, node.pool) == ("n1", "nodes-a")
    # the node's worker gets the farm's worker credentials (when the stack has generated any)
    assert node.effective_redis_url == host.redis_url_for("benchfarm-worker")
    assert node.effective_elasticsearch_url == host.elasticsearch_url_for("benchfarm-writer")
    assert node.effective_elasticsearch_url.endswith("127.0.0.1:29200")
    assert node.registry_address == host.registry_address and node.worker_lease_s == 7.5
    assert node.state_dir == Path("/var/lib/benchfarm") and node.docker_url == "unix:///var/run/docker.sock"
    assert node.allowed_devices == []  # per-host: a node gets no device of the host's


def test_a_forwarded_port_names_its_service() -> None:
    assert ForwardedPort("redis", 1).as_arg() == "1:127.0.0.1:1"
