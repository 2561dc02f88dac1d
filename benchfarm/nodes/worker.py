"""A node's benchfarm worker: its settings file, its start, and the wait for its first heartbeat.

On a host in the field the Salt states write ``/etc/benchfarm/config.yaml`` and start
the worker; ``benchfarm nodes add`` does the same for a node directly (the salt-cloud
paths reuse ``benchfarm.nodes.link.worker_config_yaml``). The settings are the host's
own service settings, unchanged: the node's ``forward`` service relays its 127.0.0.1
ports to the stack's ``node-gateway`` (``benchfarm.nodes.link``). Before starting the
worker, every forwarded port is tried from inside the node on the gateway, so a stack
without its ``node-gateway`` gives one clear error instead of a worker that retries
Redis forever.

The worker registers the node with the capabilities it reads from its own cgroup (the
node's CPU set and memory limit) and consumes its pool's queue; it is ready for jobs
when its heartbeat is in the registry.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from benchfarm.errors import BenchfarmError
from benchfarm.nodes.errors import NodeStartError
from benchfarm.nodes.link import NODE_CONFIG_FILE, worker_config_yaml
from benchfarm.nodes.manager import HostRoster, NodeManager, Progress
from benchfarm.nodes.model import Node

LOG_DIR = "/var/log/benchfarm-node"
HEARTBEAT_EVERY_S = 10.0  # the worker's housekeeping (benchfarm.worker.service.HOUSEKEEPING_EVERY_S)


def _quiet(_: str) -> None:
    return None


class NodeWorkers:
    """Starts and stops the workers of the nodes ``manager`` holds; waits on ``hosts`` for their heartbeats."""

    def __init__(self, manager: NodeManager, hosts: HostRoster | None, *,
                 clock: Callable[[], float] = time.monotonic, sleep: Callable[[float], None] = time.sleep,
                 wall: Callable[[], float] = time.time) -> None:
        self.manager = manager
        self.hosts = hosts
        self.clock = clock
        self.sleep = sleep
        self.wall = wall

    def start(self, name: str, progress: Progress = _quiet) -> float:
        """Write node ``name``'s worker settings, start its worker and wait until it heartbeats.

        The settings file (``/etc/benchfarm/config.yaml``) holds the host's service settings
        unchanged (``NodeFarmConfig.worker_settings``), the node's name as its host id and its
        pool. Idempotent: a worker already running is left as it is (its heartbeat is still
        awaited).

        Returns the seconds from starting the worker to its heartbeat (0 without a host registry,
        which is then not waited for).

        Raises:
            NodeNotFoundError: no such node.
            NodeStartError: the node is not running, cannot reach a farm service through the
                gateway, or its worker did not heartbeat within ``worker_timeout_s`` (the message
                carries the worker's log).
        """
        config = self.manager.config
        node = self._running(name)
        self.check_gateway(node)
        text = worker_config_yaml(config.worker_settings, node=name, pool=node.pool)
        directory = NODE_CONFIG_FILE.rsplit("/", 1)[0]
        written = self.manager.engine.exec(node.container_name, [
            # umask 077: the file carries the worker's service passwords
            "bash", "-c", f"umask 077 && mkdir -p {directory} && cat > {NODE_CONFIG_FILE}.new && "
                          f"mv {NODE_CONFIG_FILE}.new {NODE_CONFIG_FILE}"], stdin=[text.encode()], timeout=30)
        if written.exit_code != 0:
            raise NodeStartError(f"node {name}: writing {NODE_CONFIG_FILE} failed: {written.output.strip()[-300:]}",
                                 hint="is the node's disk full?")
        progress(f"node {name}: starting its worker (pool {node.pool})")
        started_wall, started = self.wall(), self.clock()
        begun = self.manager.engine.exec(node.container_name, ["benchfarm-node-service", "start", "worker"],
                                         timeout=30)
        if begun.exit_code != 0:
            raise NodeStartError(f"node {name}: its worker did not start: {begun.output.strip()[-300:]}",
                                 hint=f"read {LOG_DIR}/worker.log in the node")
        if self.hosts is None:
            return 0.0
        # a fresh worker heartbeats at once; one that already ran heartbeats every HEARTBEAT_EVERY_S
        since = started_wall - (HEARTBEAT_EVERY_S * 3 if "already running" in begun.output else 1.0)
        deadline = started + config.worker_timeout_s
        while True:
            # the registry's clock is the hosts' wall clock; a node shares the host's kernel clock
            if self.hosts.workers_seen().get(name, 0.0) >= since:
                seconds = self.clock() - started
                progress(f"node {name}: worker registered in {seconds:.1f} s")
                return seconds
            if self.clock() > deadline:
                raise NodeStartError(
                    f"node {name}: its worker sent no heartbeat within {config.worker_timeout_s:.0f} s"
                    + self._service_log(node, "worker"),
                    hint="read the worker's log above; `benchfarm stack status` shows whether Redis is up")
            self.sleep(0.25)

    def stop(self, name: str) -> None:
        """Stop node ``name``'s worker (a running job gets the node supervisor's 20 s to finish).

        Raises:
            NodeNotFoundError: no such node.
            NodeStartError: the node is not running.
        """
        node = self._running(name)
        self.manager.engine.exec(node.container_name, ["benchfarm-node-service", "stop", "worker"], timeout=60)

    def check_gateway(self, node: Node) -> None:
        """Connect from inside ``node`` to each forwarded port on the gateway.

        Raises:
            NodeStartError: names the ports that do not answer (the host's end of the relay, the
                stack's ``node-gateway`` service, is not up, or the node is on another network).
        """
        config = self.manager.config
        if not config.forward:
            return
        network = self.manager.engine.network(config.network)
        gateway = network.gateway if network is not None else ""
        ports = " ".join(str(f.port) for f in config.forward)
        probe = self.manager.engine.exec(node.container_name, [
            "bash", "-c", f"for p in {ports}; do timeout 3 bash -c \"exec 3<>/dev/tcp/{gateway}/$p\" "
                          "2>/dev/null || echo \"$p\"; done"], timeout=60)
        closed = {int(p) for p in probe.output.split() if p.isdigit()}
        if probe.exit_code != 0 or closed:
            names = ", ".join(f"{f.service} ({gateway}:{f.port})" for f in config.forward
                              if f.port in closed) or probe.output.strip()[-200:]
            raise NodeStartError(f"node {node.name} cannot reach the farm's services through the gateway: {names}",
                                 hint="start the host's end of the relay with `benchfarm stack up` (its service "
                                      f"node-gateway); nodes must be on its network {config.network}")

    def _running(self, name: str) -> Node:
        node = self.manager.get(name)
        if not node.running:
            raise NodeStartError(f"node {name} is {node.status}, not running",
                                 hint=f"`benchfarm nodes add {name}` with its spec starts it again")
        return node

    def _service_log(self, node: Node, service: str, lines: int = 25) -> str:
        try:
            tail = self.manager.engine.exec(node.container_name,
                                            ["tail", "-n", str(lines), f"{LOG_DIR}/{service}.log"], timeout=10)
        except BenchfarmError:
            return ""
        return f"\n--- {service}.log\n{tail.output.strip()}" if tail.output.strip() else ""
