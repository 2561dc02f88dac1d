"""The host's end of the relay that lets nodes use the farm's services: socat on the node network's gateway.

The farm's services listen on loopback only, and stay so. For nodes (containers on the
farm's internal network ``benchfarm-nodes``, see ``benchfarm.nodes``) this service

1. makes sure the node network exists (so its gateway address is on the host);
2. runs one Debian ``socat`` per relayed port, listening on the gateway address only
   (``TCP4-LISTEN:<port>,bind=<gateway>,fork,reuseaddr``) and forwarding to the
   service on 127.0.0.1 — a well-kept relay rather than a hand-written proxy; one
   bash parent holds them, so the stack starts, tracks and stops them as one process;
3. fences the node bridge with iptables (``benchfarm.stack.firewall``): from nodes, the
   host accepts only those ports on the gateway, whatever else listens on the host.

Inside each node, its ``forward`` service relays the node's own 127.0.0.1 to the
gateway, so a node runs with the host's settings unchanged (``benchfarm.nodes.link``).
Healthy means: the network is there, every relay listens and the fence is in place.
``stack down`` stops the relays; the fence and the network go too unless nodes are still
attached (then they stay, so a node never sees the host unfenced).
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from contextlib import contextmanager

from benchfarm.errors import BenchfarmError, ServiceUnavailableError
from benchfarm.nodes.config import NodeFarmConfig
from benchfarm.nodes.engine import NetworkFacts
from benchfarm.nodes.manager import NodeManager
from benchfarm.settings import Settings
from benchfarm.stack.firewall import NodeFirewall
from benchfarm.stack.ports import port_open
from benchfarm.stack.prereqs import ensure_debian_packages
from benchfarm.stack.services.base import Progress, Service

# $1: the gateway address; then PORT:TARGET_HOST:TARGET_PORT per relay. When one socat dies the others are
# stopped and the script exits, so the stack sees the service down and `stack up` starts it afresh.
GATEWAY_SCRIPT = r"""
socat=$1; gateway=$2; shift 2
pids=()
for spec in "$@"; do
  port=${spec%%:*}; target=${spec#*:}
  "$socat" -d "TCP4-LISTEN:$port,bind=$gateway,fork,reuseaddr,backlog=128" "TCP4:$target" &
  pids+=($!)
  echo "node-gateway: $gateway:$port -> $target (pid $!)"
done
trap 'kill "${pids[@]}" 2>/dev/null; wait; exit 0' TERM INT
wait -n
echo "node-gateway: a relay exited; stopping the others" >&2
kill "${pids[@]}" 2>/dev/null
wait
exit 1
"""


class NodeGatewayService(Service):
    name = "node-gateway"
    ready_timeout = 20.0

    def __init__(self, settings: Settings) -> None:
        super().__init__(settings)
        self.config = NodeFarmConfig.from_settings(settings)
        self.firewall = NodeFirewall(self.config.bridge)

    # the node network --------------------------------------------------------------
    @contextmanager
    def _nodes(self) -> Iterator[NodeManager]:
        """The node manager on this machine's engine, for one step (its client closed after)."""
        from benchfarm.adapters.docker_nodes import NodeEngine

        engine = NodeEngine.from_settings(self.settings)
        try:
            yield NodeManager(engine, self.config)
        finally:
            engine.close()

    def _network(self) -> NetworkFacts | None:
        with self._nodes() as nodes:
            return nodes.engine.network(self.config.network)

    @property
    def relay_ports(self) -> list[int]:
        return [f.port for f in self.config.forward]

    # Service -------------------------------------------------------------------------
    def address(self) -> str:
        try:
            net = self._network()
        except BenchfarmError:
            net = None
        where = net.gateway if net is not None and net.gateway else f"<gateway of {self.config.network}>"
        return f"{where}:{','.join(str(p) for p in self.relay_ports)} -> 127.0.0.1"

    def ports(self) -> list[tuple[str, int]]:
        try:
            net = self._network()
        except BenchfarmError:
            return []
        return [] if net is None or not net.gateway else [(net.gateway, p) for p in self.relay_ports]

    def healthy(self) -> tuple[bool, str]:
        if not self.config.forward:
            return True, "no farm service on loopback to relay"
        try:
            net = self._network()
        except BenchfarmError as exc:
            return False, exc.message
        if net is None or not net.gateway:
            return False, f"the node network {self.config.network} does not exist"
        closed = [p for p in self.relay_ports if not port_open(net.gateway, p)]
        if closed:
            return False, f"no relay listens on {net.gateway} for port(s) {', '.join(map(str, closed))}"
        if self.settings.node_firewall:
            try:
                if not self.firewall.in_place(net.gateway, self.relay_ports):
                    return False, f"the fence of {self.config.bridge} (iptables chain BENCHFARM-NODES) is not in place"
            except BenchfarmError as exc:
                return False, exc.message
        return True, ""

    def ensure_installed(self, progress: Progress) -> None:
        ensure_debian_packages(["socat", "iptables"] if self.settings.node_firewall else ["socat"],
                               progress=progress)

    def configure(self, progress: Progress) -> None:
        with self._nodes() as nodes:
            net = nodes.ensure_network()
        if self.settings.node_firewall and self.config.forward:
            self.firewall.apply(net.gateway, self.relay_ports)
            progress(f"node-gateway: {self.config.bridge} fenced: nodes reach only "
                     f"{net.gateway}:{','.join(map(str, self.relay_ports))}")

    def command(self) -> tuple[list[str], dict[str, str], str | None]:
        net = self._network()
        if net is None or not net.gateway:  # configure() made it a moment ago
            raise BenchfarmError(f"the node network {self.config.network} vanished",
                                 hint="run `benchfarm stack up` again")
        socat = shutil.which("socat") or "/usr/bin/socat"
        relays = [f.as_arg() for f in self.config.forward]
        return ["/bin/bash", "-c", GATEWAY_SCRIPT, "node-gateway", socat, net.gateway, *relays], {}, None

    def _up(self, progress: Progress) -> str:
        if not self.config.forward:
            return "nothing to relay (no farm service on loopback)"
        ok, detail = self.healthy()
        if not ok and self.process.pid is not None:
            # ours, but not right (the network was made afresh with another gateway, a relay died, the fence went)
            progress(f"node-gateway: restarting ({detail})")
            self.process.stop(timeout=5)
        return super()._up(progress)

    def down(self) -> bool:
        with self._lock():
            if self.process.pid is not None:
                self.stopped_marker.touch()
            stopped = self.process.stop(timeout=5)
            try:
                with self._nodes() as nodes:
                    if not any(n.address for n in nodes.list()):
                        if self.settings.node_firewall:
                            self.firewall.remove()
                        nodes.remove_network()
            except ServiceUnavailableError:
                pass  # the engine is down (stopped before us?): the next `up` puts the network right
            return stopped
