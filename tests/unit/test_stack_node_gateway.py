"""The stack's side of nodes: the iptables fence (calls recorded, no iptables run), the relay's command,
and the switch that turns this machine's own worker off."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from benchfarm.errors import SetupError
from benchfarm.settings import Settings
from benchfarm.stack.firewall import CHAIN, NodeFirewall
from benchfarm.stack.services.farm import WorkerService
from benchfarm.stack.services.node_gateway import GATEWAY_SCRIPT, NodeGatewayService


class FakeIptables:
    """Keeps chains as lists of rules; answers -N/-F/-X/-A/-I/-D/-C/-S/-L like iptables (as far as the fence goes)."""

    def __init__(self) -> None:
        self.chains: dict[str, list[list[str]]] = {"INPUT": [["-i", "eth0", "-p", "tcp", "-j", "ACCEPT"]]}
        self.calls: list[list[str]] = []

    def __call__(self, argv: list[str]) -> subprocess.CompletedProcess[str]:
        assert argv[1] == "-w"  # always waits for the xtables lock Docker takes too
        args = argv[2:]
        self.calls.append(args)
        op, rest = args[0], args[1:]
        if op == "-n":  # numeric output: no difference here
            op, rest = rest[0], rest[1:]
        ok = subprocess.CompletedProcess(argv, 0, "", "")
        bad = subprocess.CompletedProcess(argv, 1, "", "iptables: No chain/target/match by that name.\n")
        if op == "-L":
            return ok if rest[-1] in self.chains else bad
        if op == "-N":
            self.chains[rest[0]] = []
            return ok
        if rest and rest[0] not in self.chains:
            return bad
        chain = self.chains[rest[0]]
        if op == "-F":
            chain.clear()
        elif op == "-X":
            del self.chains[rest[0]]
        elif op == "-A":
            chain.append(rest[1:])
        elif op == "-I":
            chain.insert(int(rest[1]) - 1, rest[2:])
        elif op == "-D":
            chain.remove(rest[1:])
        elif op == "-C":
            return ok if rest[1:] in chain else bad
        elif op == "-S":
            lines = [f"-N {rest[0]}"] + [" ".join(["-A", rest[0], *r]) for r in chain]
            return subprocess.CompletedProcess(argv, 0, "\n".join(lines) + "\n", "")
        return ok


def test_the_fence_lets_nodes_reach_only_the_relayed_ports_on_the_gateway() -> None:
    tables = FakeIptables()
    fence = NodeFirewall("bf-nodes", run=tables)
    fence.apply("172.30.0.1", [16379, 15000])
    assert tables.chains[CHAIN] == [
        ["-i", "lo", "-j", "RETURN"],
        ["-i", "bf-nodes", "-d", "172.30.0.1/32", "-p", "tcp", "-m", "multiport", "--dports", "16379,15000",
         "-j", "ACCEPT"],
        ["-i", "bf-nodes", "-m", "conntrack", "--ctstate", "ESTABLISHED,RELATED", "-j", "ACCEPT"],
        ["-j", "DROP"],
    ]
    # jumps first in INPUT: node traffic, and traffic for the gateway address from any interface
    assert tables.chains["INPUT"][:2] == [["-i", "bf-nodes", "-j", CHAIN], ["-d", "172.30.0.1/32", "-j", CHAIN]]
    assert fence.in_place("172.30.0.1", [16379, 15000])
    assert not fence.in_place("172.30.0.1", [16379])
    assert not fence.in_place("172.31.0.1", [16379, 15000])


def test_applying_again_replaces_the_fence_for_a_new_gateway() -> None:
    tables = FakeIptables()
    fence = NodeFirewall("bf-nodes", run=tables)
    fence.apply("172.30.0.1", [16379])
    fence.apply("172.31.0.1", [16379])
    jumps = [r for r in tables.chains["INPUT"] if r[-1] == CHAIN]
    assert jumps == [["-i", "bf-nodes", "-j", CHAIN], ["-d", "172.31.0.1/32", "-j", CHAIN]]
    assert len(tables.chains[CHAIN]) == 4 and fence.in_place("172.31.0.1", [16379])


def test_removing_the_fence_leaves_other_rules_alone() -> None:
    tables = FakeIptables()
    fence = NodeFirewall("bf-nodes", run=tables)
    fence.apply("172.30.0.1", [16379])
    assert fence.remove() is True
    assert CHAIN not in tables.chains
    assert tables.chains["INPUT"] == [["-i", "eth0", "-p", "tcp", "-j", "ACCEPT"]]
    assert fence.remove() is False


def test_a_refused_rule_is_a_setup_error_with_the_way_out() -> None:
    def refuse(argv: list[str]) -> subprocess.CompletedProcess[str]:
        return subprocess.CompletedProcess(argv, 4, "", "iptables v1.8.9 (nf_tables): Could not fetch rule set "
                                                        "generation id: Permission denied (you must be root)\n")

    with pytest.raises(SetupError) as err:
        NodeFirewall("bf-nodes", run=refuse).apply("172.30.0.1", [16379])
    assert "Permission denied" in err.value.message and "BENCHFARM_NODE_FIREWALL=0" in (err.value.hint or "")


def test_the_fence_takes_at_most_fifteen_ports() -> None:
    with pytest.raises(SetupError, match="1 to 15 ports"):
        NodeFirewall("bf-nodes", run=FakeIptables()).rules("172.30.0.1", list(range(1, 17)))


def _settings(tmp_path: Path, **values: object) -> Settings:
    return Settings(state_dir=tmp_path / "state", cache_dir=tmp_path / "cache", **values)  # type: ignore[arg-type]


def test_the_relay_listens_on_the_gateway_only_and_forwards_to_loopback(tmp_path: Path,
                                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    svc = NodeGatewayService(_settings(tmp_path))
    from benchfarm.nodes.engine import NetworkFacts

    monkeypatch.setattr(svc, "_network", lambda: NetworkFacts(id="n", name="benchfarm-nodes", subnet="172.30.0.0/16",
                                                              gateway="172.30.0.1", internal=True))
    argv, env, user = svc.command()
    assert argv[:3] == ["/bin/bash", "-c", GATEWAY_SCRIPT] and user is None and env == {}
    assert argv[5:] == ["172.30.0.1", "16379:127.0.0.1:16379", "19200:127.0.0.1:19200", "14505:127.0.0.1:14505",
                        "14506:127.0.0.1:14506", "15000:127.0.0.1:15000", "18787:127.0.0.1:18787"]
    assert "bind=$gateway" in GATEWAY_SCRIPT and "TCP4:$target" in GATEWAY_SCRIPT
    assert svc.ports() == [("172.30.0.1", p) for p in (16379, 19200, 14505, 14506, 15000, 18787)]


def test_a_switched_off_local_worker_counts_as_healthy_and_is_not_started(tmp_path: Path) -> None:
    # a Redis port nothing listens on: the switch must not need Redis to say "off"
    svc = WorkerService(_settings(tmp_path, local_worker=False, redis_port=1))
    assert svc.healthy() == (True, "switched off")
    assert svc.up(lambda _: None) == "switched off (local_worker is false)"
    assert svc.process.pid is None
    assert svc.status().healthy


def test_the_local_worker_switch_reads_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BENCHFARM_LOCAL_WORKER", "0")
    assert Settings().local_worker is False
