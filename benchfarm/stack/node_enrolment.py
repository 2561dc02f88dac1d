"""`benchfarm nodes add --via saltify|cloud`: a node enrolled the Salt way, by salt-cloud, for people and tests.

Both paths end where `benchfarm nodes add` (direct) ends: the node's worker heartbeats in the host registry.
On the Salt paths it is not this process that starts the worker: salt-cloud deploys the minion, the
master's minion-start reactor syncs, highstates (which writes the worker's settings and starts it),
registers and health-checks the host; this module waits for that worker's heartbeat.

- ``cloud``: a profile for this one node (``benchfarm-nodeadd-<name>``: the provider ``benchfarm-nodes``,
  its CPU set, memory, image and pool grain) is written into the farm's ``cloud.profiles.d/``, then
  ``salt-cloud -p <it> NAME`` creates the node through the farm's driver; the profile goes afterwards
  (``salt-cloud -d`` does not need it).
- ``saltify``: the node is started like a racked machine (its engine and sshd, the farm's public key in
  root's ``authorized_keys``), a saltify profile names its address, and ``salt-cloud -p`` enrols it
  over SSH with the project's deploy script.

Removing (``remove``) undoes both: ``salt-cloud -d NAME`` when the master holds a key for the node
(the cloud driver retires the host and removes the node; saltify unconfigures the minion), then the
node itself (``NodeManager.remove``), then any key left.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from benchfarm.errors import BenchfarmError
from benchfarm.nodes.errors import NodeStartError
from benchfarm.nodes.manager import HostRoster, NodeManager, Progress
from benchfarm.nodes.model import NodeSpec
from benchfarm.settings import Settings
from benchfarm.stack import salt_cloud
from benchfarm.stack.salt_config import master_config_dir, salt_root

VIAS = ("saltify", "cloud")
JOIN_TIMEOUT_S = 300.0  # from salt-cloud's return to the worker's heartbeat (reactor: sync, highstate, register)
SALT_CLOUD_TIMEOUT_S = 900


def _quiet(_: str) -> None:
    return None


@dataclass
class CloudRun:
    returncode: int
    data: Any
    output: str


def node_profile_name(node: str) -> str:
    """The cloud profile `nodes add --via cloud` writes for one node: ``benchfarm-nodeadd-<node>``."""
    return f"benchfarm-nodeadd-{node}"


def _parse(stdout: str) -> Any:
    """The JSON document salt-cloud printed last (``--out json``), or None."""
    start = 0 if stdout.startswith("{\n") else stdout.rfind("\n{\n") + 1
    try:
        return json.loads(stdout[start:]) if start >= 0 else None
    except json.JSONDecodeError:
        return None


class SaltNodeEnrolment:
    """Adds and removes nodes through salt-cloud (see the module docstring)."""

    def __init__(self, settings: Settings, nodes: NodeManager, hosts: HostRoster, *,
                 run: Callable[..., subprocess.CompletedProcess] = subprocess.run,
                 clock: Callable[[], float] = time.monotonic, sleep: Callable[[float], None] = time.sleep,
                 wall: Callable[[], float] = time.time, join_timeout_s: float = JOIN_TIMEOUT_S) -> None:
        self.settings = settings
        self.nodes = nodes
        self.hosts = hosts
        self.run = run
        self.clock = clock
        self.sleep = sleep
        self.wall = wall
        self.join_timeout_s = join_timeout_s

    def salt_cloud(self, *args: str) -> CloudRun:
        """``salt-cloud -c <farm> ARGS --out json -y``."""
        argv, env = salt_cloud.salt_cloud_command(self.settings, *args, "--out", "json", "--no-color", "-y")
        res = self.run(argv, env=env, capture_output=True, text=True, timeout=SALT_CLOUD_TIMEOUT_S, check=False)
        return CloudRun(res.returncode, _parse(res.stdout), res.stdout + res.stderr)

    def add(self, spec: NodeSpec, via: str, image: str, progress: Progress = _quiet) -> float:
        """Create node ``spec`` through salt-cloud (``via``: saltify or cloud) and wait for its worker's heartbeat.

        Returns the seconds from salt-cloud's start to that heartbeat.

        Raises:
            UserInputError: ``via`` is not a salt-cloud path.
            NodeStartError: salt-cloud failed (sshd not answering, the key refused, the deploy failed: the
                message says which and carries salt-cloud's output), or no worker heartbeat came in time.
            NodeSpecError, NodeNameTakenError: as ``NodeManager.create``.
        """
        from benchfarm.errors import UserInputError

        if via not in VIAS:
            raise UserInputError(f"unknown way to add a node: {via!r}", hint=f"use one of {', '.join(VIAS)}")
        salt_cloud.render_cloud(self.settings)
        if via == "cloud":
            profile = node_profile_name(spec.name)
            salt_cloud.write_profile(self.settings, profile,
                                     {**salt_cloud.node_profile(spec.pool, spec.cpuset, spec.memory),
                                      "image": image})
        else:
            progress(f"starting node {spec.name} as a bare machine (engine and sshd, the farm's key)")
            node = self.nodes.create(spec, image, progress, services=("dockerd", "sshd"),
                                     authorized_keys=salt_cloud.ensure_ssh_key(self.settings))
            profile = salt_cloud.baremetal_profile_name(spec.name)
            salt_cloud.write_profile(self.settings, profile, salt_cloud.baremetal_profile(spec.pool, node.address))
        started_wall, started = self.wall(), self.clock()
        progress(f"salt-cloud -p {profile} {spec.name}")
        try:
            run = self.salt_cloud("-p", profile, spec.name)
        finally:
            if via == "cloud":
                salt_cloud.remove_profile(self.settings, profile)
        self._check_created(spec.name, via, run)
        progress(f"node {spec.name}: minion deployed in {self.clock() - started:.1f} s; waiting for the "
                 "minion-start reactor to provision it and for its worker's heartbeat")
        return self._wait_worker(spec.name, since=started_wall - 1.0, started=started)

    def create_from_profile(self, name: str, profile: str, progress: Progress = _quiet) -> float:
        """``salt-cloud -p PROFILE NAME`` with a profile already in the farm's config (a pool's), then wait for
        the new host's worker heartbeat; returns the seconds from salt-cloud's start to it.

        Raises:
            NodeStartError: salt-cloud failed, or no worker heartbeat came in time.
        """
        salt_cloud.render_cloud(self.settings)
        started_wall, started = self.wall(), self.clock()
        progress(f"salt-cloud -p {profile} {name}")
        run = self.salt_cloud("-p", profile, name)
        self._check_created(name, "cloud", run)
        return self._wait_worker(name, since=started_wall - 1.0, started=started)

    def remove(self, name: str, progress: Progress = _quiet) -> bool:
        """Remove node ``name`` everywhere: ``salt-cloud -d`` when the master has its key, then the node, then
        the key. False when there was nothing to remove."""
        removed = False
        if self.has_key(name):
            progress(f"salt-cloud -d {name}")
            run = self.salt_cloud("-d", name)
            if run.returncode != 0:
                progress(f"salt-cloud -d {name} exited {run.returncode}: {run.output.strip()[-300:]}")
            removed = True
        removed = self.nodes.remove(name, progress) or removed
        if self.has_key(name):
            self.run([str(Path(sys.executable).parent / "salt-key"), "-c", str(master_config_dir(self.settings)),
                      "-d", name, "-y"], capture_output=True, text=True, timeout=60, check=False)
            progress(f"minion key {name} deleted")
            removed = True
        return removed

    def has_key(self, name: str) -> bool:
        """Whether the farm's master holds an accepted key for minion ``name``."""
        return (salt_root(self.settings) / "master" / "pki" / "master" / "minions" / name).is_file()

    # -------------------------------------------------------------------------------------------------
    def _check_created(self, name: str, via: str, run: CloudRun) -> None:
        data = run.data.get(name) if isinstance(run.data, dict) else None
        if run.returncode == 0 and isinstance(data, dict) and data.get("deployed") is True:
            return
        text = run.output
        if via == "saltify" and ("Permission denied" in text or "Authentication failed" in text):
            what, hint = "the node refused the farm's SSH key", "check root's authorized_keys on the machine"
        elif via == "saltify" and any(s in text for s in ("Connection refused", "timed out", "No route to host",
                                                          "Failed to authenticate against remote")):
            what, hint = "sshd on the node is not answering", "is sshd running and reachable from this host?"
        else:
            what, hint = "salt-cloud could not create and deploy it", "read salt-cloud's output above"
        raise NodeStartError(f"node {name} ({via}): {what} (salt-cloud exit {run.returncode})\n"
                             f"{text.strip()[-3000:]}",
                             hint=f"{hint}; `benchfarm nodes remove {name}` removes what was made")

    def _wait_worker(self, name: str, *, since: float, started: float) -> float:
        deadline = started + self.join_timeout_s
        while True:
            try:
                seen = self.hosts.workers_seen().get(name, 0.0)
            except BenchfarmError:
                seen = 0.0
            if seen >= since:
                return self.clock() - started
            try:
                refused = self.hosts.refusal(name)
            except BenchfarmError:
                refused = None
            if refused and "quarantined" in refused:  # its health check failed: the worker was stopped
                raise NodeStartError(
                    f"node {name}: it joined, but its first health check failed and it was quarantined "
                    f"({refused}), so its worker was stopped",
                    hint=f"`benchfarm hosts list` says which check failed (a machine too loaded for its "
                         f"max_load_per_cpu, a full disk); fix that, then `benchfarm nodes remove {name}` "
                         f"and add it again")
            if self.clock() > deadline:
                raise NodeStartError(
                    f"node {name}: its minion was deployed but its worker sent no heartbeat within "
                    f"{self.join_timeout_s:.0f} s",
                    hint=f"the minion-start reactor provisions it: see the master's log, and `benchfarm nodes "
                         f"remove {name}` to start again")
            self.sleep(0.5)
