"""How long a new node takes to join the farm and run its first job, for each way of adding one.

Needs the one-host farm up (`benchfarm stack up`, with its node-gateway) and the node image (built on
the first `benchfarm nodes add` when missing). For each path and repetition a node is made in a pool of
its own; a no-op job requiring that pool is submitted right after the command that adds the node returns
(``queue_anyway``: on the Salt paths the host registers later, when the minion-start reactor has run), and
the script records, from the moment the command started:

- ``add``: the command itself (`benchfarm nodes add NAME --pool P`, or `salt-cloud -p PROFILE NAME`);
- ``started``: the job's container started on the node (the job record's ``started_at``);
- ``finished``: the job finished (``finished_at``).

Paths: ``nodes-add`` (`benchfarm nodes add`, which starts the worker itself), ``cloud`` (`salt-cloud -p
benchfarm-node-<pool>` through the farm's driver; the reactor provisions the minion), ``saltify`` (a node
started with only its engine and sshd, then `salt-cloud -p <saltify profile>` over SSH; the time to
start that "machine" is not counted). Every node, key, profile and host record is removed afterwards.

Usage: python bench/nodes_join.py [--repetitions 3] [--paths nodes-add,cloud,saltify] [--cpus 0] [--memory 1g]
       [--job-timeout 300]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import statistics
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from datetime import datetime
from pathlib import Path

from benchfarm.client import ApiClient
from benchfarm.composition import Farm
from benchfarm.errors import ServiceUnavailableError
from benchfarm.inventory.inventory import REASONS_KEY
from benchfarm.nodes.image import NodeImageBuilder
from benchfarm.nodes.model import NodeSpec
from benchfarm.settings import Settings, get_settings
from benchfarm.stack import salt_cloud
from benchfarm.stack.salt_config import master_config_dir

IMAGE = "benchfarm-test/busybox:latest"  # the test suite's static busybox, built when missing
PATHS = ("nodes-add", "cloud", "saltify")


def _say(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def _ts(value: str) -> float:
    return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()


def _noop(pool: str) -> dict:
    return {"name": "bench-nodes-join", "image": IMAGE, "command": ["sh", "-c", "echo '{\"noop\": 1}'"],
            "warmup": 0, "repetitions": 1, "timeout_s": 60, "requirements": {"pool": pool},
            "results": {"format": "json-lines", "metrics": {"noop": {"unit": "count", "direction": "higher"}}}}


def _run(argv: list[str], env: dict[str, str] | None = None, timeout: float = 900) -> None:
    res = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=timeout, check=False)
    if res.returncode != 0:
        raise RuntimeError(f"{' '.join(argv[:4])}... exited {res.returncode}:\n{(res.stdout + res.stderr)[-3000:]}")


class Bench:
    def __init__(self, settings: Settings, cpus: str, memory: str, job_timeout_s: float) -> None:
        self.settings = settings
        self.farm = Farm(settings)
        self.api = ApiClient.from_settings(settings)
        self.cpus = cpus
        self.memory = memory
        self.job_timeout_s = job_timeout_s

    # the ways of adding a node: each runs its command and returns when that command returned ----------------
    def nodes_add(self, name: str, pool: str) -> None:
        _run([sys.executable, "-m", "benchfarm.cli.main", "nodes", "add", name, "--pool", pool,
              "--cpus", self.cpus, "--memory", self.memory, "--json"])

    def cloud(self, name: str, pool: str) -> None:
        salt_cloud.write_profile(self.settings, salt_cloud.pool_profile_name(pool),
                                 salt_cloud.node_profile(pool, self.cpus, self.memory))
        argv, env = salt_cloud.salt_cloud_command(self.settings, "-p", salt_cloud.pool_profile_name(pool), name,
                                                  "--no-color", "-y")
        _run(argv, env)

    def saltify_machine(self, name: str, pool: str) -> None:
        """The "racked machine": a node with only its engine and sshd (not timed)."""
        image = NodeImageBuilder(self.farm.images, self.farm.nodes.config).ensure(_say).ref
        self.farm.nodes.create(NodeSpec.parse(name, pool, self.cpus, self.memory), image,
                               services=("dockerd", "sshd"),
                               authorized_keys=salt_cloud.ensure_ssh_key(self.settings))
        salt_cloud.write_profile(self.settings, salt_cloud.baremetal_profile_name(name),
                                 salt_cloud.baremetal_profile(pool, self.farm.nodes.get(name).address))

    def saltify(self, name: str, pool: str) -> None:
        argv, env = salt_cloud.salt_cloud_command(self.settings, "-p", salt_cloud.baremetal_profile_name(name),
                                                  name, "--no-color", "-y")
        _run(argv, env)

    # one measurement ------------------------------------------------------------------------------------------
    def once(self, path: str) -> dict[str, float]:
        tag = uuid.uuid4().hex[:6]
        name, pool = f"nj{tag}", f"nj{tag}"
        add: Callable[[str, str], None] = {"nodes-add": self.nodes_add, "cloud": self.cloud,
                                           "saltify": self.saltify}[path]
        try:
            if path == "saltify":
                self.saltify_machine(name, pool)
            began_wall, began = time.time(), time.monotonic()
            add(name, pool)
            added = time.monotonic() - began
            job_id = self.api.submit(_noop(pool), queue_anyway=True)["id"]
            deadline = time.monotonic() + self.job_timeout_s
            while (job := self._job(job_id, deadline))["status"] not in ("succeeded", "failed", "cancelled"):
                if time.monotonic() > deadline:
                    self.api.cancel(job_id)
                    raise RuntimeError(f"{path}: job {job_id} still {job['status']} after {self.job_timeout_s:.0f} s")
                time.sleep(0.2)
            if job["status"] != "succeeded" or job["host_id"] != name:
                raise RuntimeError(f"{path}: job {job_id} {job['status']} on {job['host_id']}: {job['reason']}")
            return {"add": added, "started": _ts(job["started_at"]) - began_wall,
                    "finished": _ts(job["finished_at"]) - began_wall}
        finally:
            self.cleanup(path, name, pool)

    def _job(self, job_id: str, deadline: float) -> dict:
        """The job's record; an API restarting meanwhile (not answering for a while) is waited for."""
        while True:
            try:
                return self.api.job(job_id)
            except ServiceUnavailableError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(1)

    def cleanup(self, path: str, name: str, pool: str) -> None:
        if path in ("cloud", "saltify"):
            argv, env = salt_cloud.salt_cloud_command(self.settings, "-d", name, "--no-color", "-y")
            subprocess.run(argv, env=env, capture_output=True, text=True, timeout=300, check=False)
        with contextlib.suppress(Exception):
            self.farm.nodes.remove(name)
        subprocess.run([str(Path(sys.executable).parent / "salt-key"), "-c", str(master_config_dir(self.settings)),
                        "-d", name, "-y"], capture_output=True, text=True, timeout=60, check=False)
        self.farm.host_registry.remove(name)
        self.farm.kv.hdel(REASONS_KEY, name)
        salt_cloud.remove_profile(self.settings, salt_cloud.pool_profile_name(pool))
        salt_cloud.remove_profile(self.settings, salt_cloud.baremetal_profile_name(name))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repetitions", type=int, default=3)
    parser.add_argument("--paths", default=",".join(PATHS), help=f"comma-separated, of {', '.join(PATHS)}")
    parser.add_argument("--cpus", default="0")
    parser.add_argument("--memory", default="1g")
    parser.add_argument("--job-timeout", type=float, default=300.0,
                        help="seconds from the add command's return to the first job's end before giving up")
    args = parser.parse_args()
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the repository root: the tests' image helper
    import docker

    from tests.support.busybox import ensure_busybox_image

    ensure_busybox_image(docker.from_env())
    paths = [p for p in args.paths.split(",") if p]
    if unknown := set(paths) - set(PATHS):
        sys.exit(f"unknown path(s): {', '.join(sorted(unknown))}")
    settings = get_settings()
    bench = Bench(settings, args.cpus, args.memory, args.job_timeout)
    if {"cloud", "saltify"} & set(paths):
        salt_cloud.render_cloud(settings)
    medians: dict[str, dict[str, float]] = {}
    for path in paths:
        runs = []
        for i in range(args.repetitions):
            r = bench.once(path)
            runs.append(r)
            print(f"{path:9s} run {i + 1}: add {r['add']:6.1f} s  first job started {r['started']:6.1f} s  "
                  f"finished {r['finished']:6.1f} s  (from the add command's start)", flush=True)
        medians[path] = {k: statistics.median(r[k] for r in runs) for k in ("add", "started", "finished")}
    print(f"\nmedians over {args.repetitions} run(s) per path (seconds from the add command's start):")
    for path, m in medians.items():
        print(f"  {path:9s} add {m['add']:6.1f}  first job started {m['started']:6.1f}  finished {m['finished']:6.1f}")
    print(json.dumps({p: {k: round(v, 2) for k, v in m.items()} for p, m in medians.items()}))


if __name__ == "__main__":
    main()
