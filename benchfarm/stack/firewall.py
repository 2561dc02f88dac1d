"""The fence around the node network: from nodes, the host accepts only the relayed service ports.

The stack's ``node-gateway`` relays listen on the node network's gateway address only,
but the host has other listeners (sshd, anything bound to 0.0.0.0) that a node could
reach through the same bridge, and Linux accepts a packet for the gateway address on
any interface (the weak host model). So ``iptables`` rules in a chain of the farm's own,
``BENCHFARM-NODES``, jumped to from ``INPUT`` for packets that come in on the node
bridge or are addressed to the gateway:

    -i lo -j RETURN                                       the host itself: unchanged
    -i <bridge> -d <gateway> -p tcp --dports <ports> -j ACCEPT   a node to a relayed port
    -i <bridge> -m conntrack --ctstate ESTABLISHED,RELATED -j ACCEPT   replies to the host's
                                                           own connections (ssh for saltify)
    -j DROP                                               everything else

Forwarding between nodes and out of the host is Docker's business: the network is
internal (no route out) and inter-container traffic is off. IPv6 is not enabled on the
node network, so there are no ip6tables rules.

``iptables`` runs as a subprocess (``-w``: wait for the xtables lock Docker also takes);
the runner is an argument so the unit tests record the calls.
"""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from benchfarm.errors import SetupError

CHAIN = "BENCHFARM-NODES"
MULTIPORT_MAX = 15  # the multiport match takes at most 15 ports

Runner = Callable[[list[str]], "subprocess.CompletedProcess[str]"]


def _run(argv: list[str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv, capture_output=True, text=True, check=False, timeout=60)


@dataclass
class NodeFirewall:
    """The ``BENCHFARM-NODES`` chain for the node bridge ``bridge``."""

    bridge: str
    run: Runner = _run
    iptables: str = "iptables"

    def rules(self, gateway: str, ports: Sequence[int]) -> list[list[str]]:
        """The chain's rules, in order, as ``iptables -A CHAIN`` arguments."""
        if not ports or len(ports) > MULTIPORT_MAX:
            raise SetupError(f"the node firewall takes 1 to {MULTIPORT_MAX} ports, not {len(ports)}",
                             hint="relay fewer service ports to nodes")
        return [
            ["-i", "lo", "-j", "RETURN"],
            ["-i", self.bridge, "-d", f"{gateway}/32", "-p", "tcp", "-m", "multiport", "--dports",
             ",".join(str(p) for p in ports), "-j", "ACCEPT"],
            ["-i", self.bridge, "-m", "conntrack", "--ctstate", "ESTABLISHED,RELATED", "-j", "ACCEPT"],
            ["-j", "DROP"],
        ]

    def jumps(self, gateway: str) -> list[list[str]]:
        """The ``INPUT`` rules that send node traffic (and traffic for the gateway address) to the chain."""
        return [["-i", self.bridge, "-j", CHAIN], ["-d", f"{gateway}/32", "-j", CHAIN]]

    def apply(self, gateway: str, ports: Sequence[int]) -> None:
        """Install (or replace) the chain and its jumps for ``gateway`` and ``ports``; idempotent.

        Raises:
            SetupError: iptables is missing or refused a rule.
        """
        rules = self.rules(gateway, ports)
        if not self._ok(["-n", "-L", CHAIN]):
            self._must(["-N", CHAIN])
        self._must(["-F", CHAIN])
        for rule in rules:
            self._must(["-A", CHAIN, *rule])
        self._drop_jumps()
        for position, jump in enumerate(self.jumps(gateway), start=1):
            self._must(["-I", "INPUT", str(position), *jump])

    def in_place(self, gateway: str, ports: Sequence[int]) -> bool:
        """True when the chain holds these rules (and no other) and ``INPUT`` jumps to it for this gateway.

        Checked with ``iptables -C`` rule by rule: ``iptables -S`` prints rules in its own
        canonical order of options, which is not the order they were given in.
        """
        listed = self._call(["-S", CHAIN])
        if listed.returncode != 0:
            return False
        count = sum(1 for line in listed.stdout.splitlines() if line.startswith(f"-A {CHAIN} "))
        rules = self.rules(gateway, ports)
        return (count == len(rules) and all(self._ok(["-C", CHAIN, *rule]) for rule in rules)
                and all(self._ok(["-C", "INPUT", *jump]) for jump in self.jumps(gateway)))

    def remove(self) -> bool:
        """Remove the jumps and the chain; False when there was no chain.

        Raises:
            SetupError: iptables is missing or refused.
        """
        if not self._ok(["-n", "-L", CHAIN]):
            return False
        self._drop_jumps()
        self._must(["-F", CHAIN])
        self._must(["-X", CHAIN])
        return True

    # ------------------------------------------------------------------------
    def _drop_jumps(self) -> None:
        listed = self._call(["-S", "INPUT"])
        for line in listed.stdout.splitlines():
            words = line.split()
            if words[:2] == ["-A", "INPUT"] and words[-2:] == ["-j", CHAIN]:
                self._must(["-D", "INPUT", *words[2:]])

    def _call(self, args: list[str]) -> subprocess.CompletedProcess[str]:
        exe = shutil.which(self.iptables) or self.iptables
        try:
            return self.run([exe, "-w", *args])
        except FileNotFoundError as exc:
            raise SetupError("iptables is not installed, so the node network cannot be fenced",
                             hint="apt-get install iptables, or set node_firewall: false "
                                  "(BENCHFARM_NODE_FIREWALL=0) to run nodes unfenced") from exc

    def _ok(self, args: list[str]) -> bool:
        return self._call(args).returncode == 0

    def _must(self, args: list[str]) -> None:
        res = self._call(args)
        if res.returncode != 0:
            raise SetupError(f"iptables {' '.join(args)} failed (exit {res.returncode}): {res.stderr.strip()[-300:]}",
                             hint="the stack needs root and a working iptables to fence the node network; "
                                  "node_firewall: false (BENCHFARM_NODE_FIREWALL=0) runs nodes unfenced")
