"""The farm's salt-cloud configuration: its two node providers, its SSH key, per-node profiles.

salt-cloud runs on the master's host with the master's config dir, as on a real master
whose ``/etc/salt`` holds ``master`` beside ``cloud``, ``cloud.providers.d/`` and
``cloud.profiles.d/``: ``salt-cloud -c <state_dir>/salt/etc-master`` reads the farm's
``master`` there, so it accepts a new minion's key in the master's pki dir and fires
its ``salt/cloud/*`` events on the master's bus. What this module writes there:

``cloud``
    the farm's driver directory (``cloud_dirs``: ``salt/_clouds``, loaded as it is, no
    ``saltutil.sync_clouds`` needed), the deploy scripts (``salt/cloud/deploy``), its log
    and cache under the master's root dir (``<state_dir>/salt/master/log/salt-cloud.log``).
``cloud.providers.d/benchfarm.conf``
    ``benchfarm-nodes``: nodes as a cloud (the ``benchfarm_nodes`` driver), and
    ``benchfarm-nodes-ssh``: saltify over SSH with the farm's key (the bare-metal path).
    Both point the new minion at the farm's master the way a node reaches it: its own
    127.0.0.1 and the farm's Salt ports (relayed to the host by the node's forward service).
``cloud.profiles``
    includes the repository's pool profiles (``salt/cloud/cloud.profiles.d/benchfarm-nodes.conf``);
    profiles written for one pool or one node (``write_profile``) go to ``cloud.profiles.d/``.

The farm's SSH key pair (ed25519, private key 0600) lives under ``<state_dir>/salt/cloud/ssh``;
its public half goes into a bare-metal node's ``authorized_keys`` when the node is made.

Rendering is idempotent: ``benchfarm stack up`` does it when it starts the master, and
anything about to run salt-cloud may do it again.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import yaml

from benchfarm.errors import SetupError
from benchfarm.settings import Settings
from benchfarm.stack.salt_config import master_config_dir, salt_root

NODE_PROVIDER = "benchfarm-nodes"        # the benchfarm_nodes driver: nodes as a cloud
SSH_PROVIDER = "benchfarm-nodes-ssh"     # saltify: enrol a machine that runs sshd (bare metal)
DEPLOY_SCRIPT = "benchfarm-node"         # salt/cloud/deploy/benchfarm-node.sh
POOL_PROFILES = Path("salt") / "cloud" / "cloud.profiles.d" / "benchfarm-nodes.conf"
_HEADER = "# Rendered by benchfarm (benchfarm/stack/salt_cloud.py); rewritten by `benchfarm stack up`.\n"


def cloud_config_dir(settings: Settings) -> Path:
    """The directory to give salt-cloud (``-c``): the master's config dir."""
    return master_config_dir(settings)


def ssh_key_file(settings: Settings) -> Path:
    """The farm's private SSH key (the public key is beside it, ``.pub``)."""
    return salt_root(settings) / "cloud" / "ssh" / "benchfarm-farm"


def pool_profile_name(pool: str) -> str:
    """The cloud profile of a pool: ``benchfarm-node-<pool>``."""
    return f"benchfarm-node-{pool}"


def baremetal_profile_name(node: str) -> str:
    """The saltify profile of one bare-metal node (saltify profiles name their host): ``benchfarm-baremetal-<node>``."""
    return f"benchfarm-baremetal-{node}"


def ensure_ssh_key(settings: Settings) -> str:
    """Make the farm's SSH key pair when missing (ed25519, no passphrase, private key 0600); returns the public key.

    Raises:
        SetupError: ssh-keygen is not installed or failed.
    """
    key = ssh_key_file(settings)
    pub = key.with_name(key.name + ".pub")
    if not (key.is_file() and pub.is_file()):
        keygen = shutil.which("ssh-keygen")
        if keygen is None:
            raise SetupError("ssh-keygen is not installed", hint="apt-get install openssh-client")
        key.parent.mkdir(parents=True, exist_ok=True)
        os.chmod(key.parent, 0o700)
        key.unlink(missing_ok=True)
        pub.unlink(missing_ok=True)
        res = subprocess.run([keygen, "-q", "-t", "ed25519", "-N", "", "-C", "benchfarm-farm", "-f", str(key)],
                             capture_output=True, text=True, timeout=60, check=False)
        if res.returncode != 0:
            raise SetupError(f"ssh-keygen failed: {res.stderr.strip()}", hint=f"check that {key.parent} is writable")
    os.chmod(key, 0o600)
    return pub.read_text().strip()


def minion_settings(settings: Settings) -> dict[str, Any]:
    """The ``minion:`` of both providers: the farm's master as a node reaches it, quick first contact."""
    return {"master": settings.salt_master_host, "master_port": settings.salt_ret_port,
            "publish_port": settings.salt_publish_port,
            # a new host's first contact: retry its key quickly, no random delay before re-auth
            "acceptance_wait_time": 2, "random_reauth_delay": 0}


def providers(settings: Settings) -> dict[str, Any]:
    """The farm's two providers (see the module docstring)."""
    def common() -> dict[str, Any]:
        # tmp_dir: where the deploy script and keys land on the host; /tmp is noexec on nodes (as on many hosts)
        return {"script": DEPLOY_SCRIPT, "deploy": True, "keysize": 2048, "tmp_dir": "/var/tmp/.saltcloud",
                "minion": minion_settings(settings)}

    return {
        NODE_PROVIDER: {"driver": "benchfarm_nodes", **common()},
        SSH_PROVIDER: {"driver": "saltify", **common(), "ssh_username": "root",
                       "key_filename": str(ssh_key_file(settings)),
                       # `salt-cloud -d` on a saltified host: unconfigure its minion, leave the machine running
                       "remove_config_on_destroy": True, "shutdown_on_destroy": False},
    }


def _write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    if not path.is_file() or path.read_text() != text:
        path.write_text(text)


def render_cloud(settings: Settings) -> Path:
    """Write the farm's salt-cloud config beside the master's (and its SSH key when missing); returns the dir.

    Raises:
        SetupError: the SSH key could not be made.
    """
    ensure_ssh_key(settings)
    conf_dir = cloud_config_dir(settings)
    repo = settings.repo_root.resolve()
    cloud = {
        "cloud_dirs": [str(repo / "salt" / "_clouds")],
        "deploy_scripts_search_path": [str(repo / "salt" / "cloud" / "deploy")],
        # under the master's root_dir: salt-cloud prefixes any other absolute path with it
        "cachedir": str(salt_root(settings) / "master" / "cache" / "cloud"),
        "log_file": str(salt_root(settings) / "master" / "log" / "salt-cloud.log"),
        "log_level": "warning",
        "log_level_logfile": "info",
    }
    _write(conf_dir / "cloud", _HEADER + yaml.safe_dump(cloud, sort_keys=False))
    _write(conf_dir / "cloud.providers.d" / "benchfarm.conf",
           _HEADER + yaml.safe_dump(providers(settings), sort_keys=False))
    _write(conf_dir / "cloud.profiles",
           _HEADER + "# one profile per pool, from the repository; per-node profiles: cloud.profiles.d/\n"
           + yaml.safe_dump({"include": [str(repo / POOL_PROFILES)]}, sort_keys=False))
    (conf_dir / "cloud.profiles.d").mkdir(exist_ok=True)
    return conf_dir


def node_profile(pool: str, cpuset: str, memory: str | int) -> dict[str, Any]:
    """A cloud profile for the ``benchfarm-nodes`` provider: a node of ``pool`` with a CPU set and memory limit."""
    return {"provider": NODE_PROVIDER, "cpuset": str(cpuset), "memory": memory,
            "grains": {"benchfarm": {"pool": pool}}}


def baremetal_profile(pool: str, address: str) -> dict[str, Any]:
    """A saltify profile for the machine at ``address`` (its pool as a grain), through ``benchfarm-nodes-ssh``."""
    return {"provider": SSH_PROVIDER, "ssh_host": address, "grains": {"benchfarm": {"pool": pool}}}


def profile_file(settings: Settings, name: str) -> Path:
    return cloud_config_dir(settings) / "cloud.profiles.d" / f"{name}.conf"


def write_profile(settings: Settings, name: str, profile: dict[str, Any]) -> Path:
    """Write profile ``name`` into the farm's ``cloud.profiles.d/``; returns its file."""
    path = profile_file(settings, name)
    _write(path, _HEADER + yaml.safe_dump({name: profile}, sort_keys=False))
    return path


def remove_profile(settings: Settings, name: str) -> bool:
    """Remove a profile written by ``write_profile``; False when there was none."""
    path = profile_file(settings, name)
    if not path.exists():
        return False
    path.unlink()
    return True


def salt_cloud_command(settings: Settings, *args: str) -> tuple[list[str], dict[str, str]]:
    """``salt-cloud -c <farm dir> ARGS`` and the environment to run it with.

    ``SALT_MASTER_CONFIG`` points Salt's default client at the farm's master: saltify's
    ``list_nodes`` and ``destroy`` build a ``LocalClient()`` without a config path.
    """
    exe = Path(sys.executable).parent / "salt-cloud"
    env = {**os.environ, "SALT_MASTER_CONFIG": str(cloud_config_dir(settings) / "master")}
    return [str(exe), "-c", str(cloud_config_dir(settings)), *args], env
