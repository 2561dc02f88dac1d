"""The farm's salt-cloud configuration (benchfarm/stack/salt_cloud.py), rendered into a scratch state dir
and read back by Salt's own cloud config loader, as `salt-cloud -c <dir>` reads it."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest
import salt.config
import yaml

from benchfarm.settings import Settings
from benchfarm.stack import salt_cloud
from benchfarm.stack.salt_config import render_master

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(state_dir=tmp_path / "state", repo_root=REPO, salt_ret_port=24506, salt_publish_port=24505)


def _cloud_opts(settings: Settings) -> dict:
    conf = salt_cloud.cloud_config_dir(settings)
    return salt.config.cloud_config(str(conf / "cloud"))


def test_rendered_beside_the_master_config_and_loaded_by_salt(settings: Settings) -> None:
    render_master(settings)
    conf = salt_cloud.render_cloud(settings)
    assert conf == settings.state_dir / "salt" / "etc-master"
    opts = _cloud_opts(settings)
    # salt-cloud accepts keys where the farm's master looks, and finds the project's driver and script
    assert opts["pki_dir"] == str(settings.state_dir / "salt" / "master" / "pki" / "master")
    assert opts["cloud_dirs"] == [str(REPO / "salt" / "_clouds")]
    assert str(REPO / "salt" / "cloud" / "deploy") in opts["deploy_scripts_search_path"]
    assert opts["cachedir"] == str(settings.state_dir / "salt" / "master" / "cache" / "cloud")
    providers = opts["providers"]
    nodes = providers["benchfarm-nodes"]["benchfarm_nodes"]
    ssh = providers["benchfarm-nodes-ssh"]["saltify"]
    for provider in (nodes, ssh):
        assert provider["minion"]["master"] == "127.0.0.1"
        assert (provider["minion"]["master_port"], provider["minion"]["publish_port"]) == (24506, 24505)
        assert provider["script"] == "benchfarm-node" and provider["deploy"] is True
    assert ssh["key_filename"] == str(salt_cloud.ssh_key_file(settings)) and ssh["ssh_username"] == "root"
    # the repository's pool profiles
    assert opts["profiles"]["benchfarm-node-default"]["provider"] == "benchfarm-nodes:benchfarm_nodes"
    assert opts["profiles"]["benchfarm-node-cpu"]["cpuset"] == "0-1"


def test_the_farm_key_is_made_once_and_private(settings: Settings) -> None:
    pub = salt_cloud.ensure_ssh_key(settings)
    key = salt_cloud.ssh_key_file(settings)
    assert pub.startswith("ssh-ed25519 ") and pub.endswith(" benchfarm-farm")
    assert stat.S_IMODE(key.stat().st_mode) == 0o600 and stat.S_IMODE(key.parent.stat().st_mode) == 0o700
    key.chmod(0o644)
    assert salt_cloud.ensure_ssh_key(settings) == pub  # the same key, its mode put right
    assert stat.S_IMODE(key.stat().st_mode) == 0o600


def test_profiles_per_pool_and_per_machine(settings: Settings) -> None:
    render_master(settings)
    salt_cloud.render_cloud(settings)
    pool = salt_cloud.pool_profile_name("pool-b")
    metal = salt_cloud.baremetal_profile_name("metal-1")
    salt_cloud.write_profile(settings, pool, salt_cloud.node_profile("pool-b", "1", "2g"))
    salt_cloud.write_profile(settings, metal, salt_cloud.baremetal_profile("pool-a", "172.30.0.7"))
    profiles = _cloud_opts(settings)["profiles"]
    assert profiles[pool]["provider"] == "benchfarm-nodes:benchfarm_nodes"
    assert (profiles[pool]["cpuset"], profiles[pool]["memory"]) == ("1", "2g")
    assert profiles[pool]["grains"] == {"benchfarm": {"pool": "pool-b"}}
    assert profiles[metal]["provider"] == "benchfarm-nodes-ssh:saltify"
    assert profiles[metal]["ssh_host"] == "172.30.0.7"
    assert salt_cloud.remove_profile(settings, metal) is True and salt_cloud.remove_profile(settings, metal) is False
    assert metal not in _cloud_opts(settings)["profiles"]


def test_rendering_twice_changes_nothing(settings: Settings) -> None:
    conf = salt_cloud.render_cloud(settings)
    before = {p: p.read_text() for p in conf.rglob("*") if p.is_file()}
    mtimes = {p: p.stat().st_mtime_ns for p in before}
    salt_cloud.render_cloud(settings)
    assert {p: p.read_text() for p in before} == before
    assert {p: p.stat().st_mtime_ns for p in before} == mtimes
    assert "*id0" not in (conf / "cloud.providers.d" / "benchfarm.conf").read_text()  # no YAML aliases
    assert yaml.safe_load((conf / "cloud.profiles").read_text())["include"] == [
        str(REPO / "salt" / "cloud" / "cloud.profiles.d" / "benchfarm-nodes.conf")]


def test_the_salt_cloud_command_points_salt_at_the_farm_master(settings: Settings) -> None:
    argv, env = salt_cloud.salt_cloud_command(settings, "-p", "benchfarm-node-default", "node-a")
    assert argv[0].endswith("/salt-cloud")
    assert argv[1:] == ["-c", str(settings.state_dir / "salt" / "etc-master"), "-p", "benchfarm-node-default",
                        "node-a"]
    assert env["SALT_MASTER_CONFIG"] == str(settings.state_dir / "salt" / "etc-master" / "master")
