"""`benchfarm nodes add --via saltify|cloud` without salt-cloud: the profile it writes, what it calls, the errors
it gives, and the wait for the worker the minion-start reactor starts (fake salt-cloud, fake node manager)."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from benchfarm.nodes.errors import NodeStartError
from benchfarm.nodes.model import NodeSpec
from benchfarm.settings import Settings
from benchfarm.stack import node_enrolment, salt_cloud
from benchfarm.stack.node_enrolment import SaltNodeEnrolment, node_profile_name

IMAGE = "benchfarm-node:0.1.0"


class Clock:
    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t

    def sleep(self, s: float) -> None:
        self.t += s


class Roster:
    def __init__(self) -> None:
        self.seen: dict[str, float] = {}
        self.refused: dict[str, str] = {}
        self.retired: list[str] = []

    def workers_seen(self) -> dict[str, float]:
        return self.seen

    def refusal(self, host_id: str) -> str | None:
        return self.refused.get(host_id)

    def retire(self, host_id: str) -> bool:
        self.retired.append(host_id)
        return True


class Node:
    address = "172.30.0.5"


class FakeNodes:
    def __init__(self) -> None:
        self.created: list[tuple[str, tuple[str, ...], str]] = []
        self.removed: list[str] = []

    def create(self, spec: NodeSpec, image: str, progress: Any, *, services: tuple[str, ...],
               authorized_keys: str) -> Node:
        self.created.append((spec.name, services, authorized_keys))
        return Node()

    def remove(self, name: str, progress: Any) -> bool:
        self.removed.append(name)
        return True


class SaltCloud:
    """Records each call; answers salt-cloud's JSON (or a failure) and lets a test act during the call."""

    def __init__(self, settings: Settings, clock: Clock, roster: Roster) -> None:
        self.settings, self.clock, self.roster = settings, clock, roster
        self.calls: list[list[str]] = []
        self.profiles: list[dict[str, Any]] = []
        self.answer: tuple[int, str] | None = None
        self.heartbeat = True

    def __call__(self, argv: list[str], **_: Any) -> subprocess.CompletedProcess:
        self.calls.append(argv)
        if "-p" in argv:
            profile, name = argv[argv.index("-p") + 1], argv[argv.index("-p") + 2]
            self.profiles.append(yaml.safe_load(salt_cloud.profile_file(self.settings, profile).read_text()))
            self.clock.t += 5
            if self.heartbeat:
                self.roster.seen[name] = 2_000_000_000.0
            code, out = self.answer or (0, "chatter\n" + json.dumps({name: {"deployed": True}}, indent=2))
            return subprocess.CompletedProcess(argv, code, out, "")
        return subprocess.CompletedProcess(argv, 0, "{}", "")


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    settings = Settings(state_dir=tmp_path / "state", repo_root=tmp_path)
    monkeypatch.setattr(node_enrolment.salt_cloud, "render_cloud", lambda s: tmp_path)
    monkeypatch.setattr(node_enrolment.salt_cloud, "ensure_ssh_key", lambda s: "ssh-ed25519 AAAA farm")
    clock, roster, nodes = Clock(), Roster(), FakeNodes()
    cloud = SaltCloud(settings, clock, roster)
    enrol = SaltNodeEnrolment(settings, nodes, roster, run=cloud, clock=clock, sleep=clock.sleep,
                              wall=lambda: 1_700_000_000.0, join_timeout_s=60)
    return settings, enrol, cloud, nodes, clock


def test_cloud_writes_a_profile_for_the_node_runs_salt_cloud_and_waits_for_the_worker(env) -> None:
    settings, enrol, cloud, nodes, _ = env
    seconds = enrol.add(NodeSpec.parse("n1", "gpu", "1", "2g"), "cloud", IMAGE)
    assert seconds == 5
    (argv,) = cloud.calls
    assert argv[argv.index("-p") + 1:argv.index("-p") + 3] == [node_profile_name("n1"), "n1"]
    (profile,) = cloud.profiles
    body = profile[node_profile_name("n1")]
    assert body["provider"] == salt_cloud.NODE_PROVIDER and body["cpuset"] == "1" and body["image"] == IMAGE
    assert body["grains"] == {"benchfarm": {"pool": "gpu"}} and body["memory"] == 2 << 30
    assert not salt_cloud.profile_file(settings, node_profile_name("n1")).exists()  # gone afterwards
    assert nodes.created == []  # the driver makes the node, not this process


def test_saltify_starts_a_bare_machine_with_sshd_and_the_farms_key(env) -> None:
    _, enrol, cloud, nodes, _ = env
    enrol.add(NodeSpec.parse("m1", "a", "0", "1g"), "saltify", IMAGE)
    assert nodes.created == [("m1", ("dockerd", "sshd"), "ssh-ed25519 AAAA farm")]
    (profile,) = cloud.profiles
    assert profile[salt_cloud.baremetal_profile_name("m1")]["ssh_host"] == Node.address


def test_a_refused_key_and_a_silent_sshd_are_named(env) -> None:
    _, enrol, cloud, _, _ = env
    cloud.answer = (1, "Failed to authenticate: Permission denied (publickey)")
    with pytest.raises(NodeStartError, match="refused the farm's SSH key"):
        enrol.add(NodeSpec.parse("m1", "a", "0", "1g"), "saltify", IMAGE)
    cloud.answer = (1, "ssh: connect to host 172.30.0.5 port 22: Connection refused")
    with pytest.raises(NodeStartError, match="sshd on the node is not answering"):
        enrol.add(NodeSpec.parse("m2", "a", "0", "1g"), "saltify", IMAGE)
    cloud.answer = (0, json.dumps({"c1": {"Error": "boom"}}))
    with pytest.raises(NodeStartError, match="could not create and deploy it"):
        enrol.add(NodeSpec.parse("c1", "a", "0", "1g"), "cloud", IMAGE)


def test_no_heartbeat_after_the_deploy_is_an_error_with_a_way_out(env) -> None:
    _, enrol, cloud, _, _ = env
    cloud.heartbeat = False
    with pytest.raises(NodeStartError, match="worker sent no heartbeat within 60 s") as err:
        enrol.add(NodeSpec.parse("c1", "a", "0", "1g"), "cloud", IMAGE)
    assert "benchfarm nodes remove c1" in (err.value.hint or "")


def test_a_node_quarantined_by_its_first_health_check_fails_at_once_saying_so(env) -> None:
    _, enrol, cloud, _, clock = env
    cloud.heartbeat = False
    cloud.roster.refused["n1"] = "host n1 is quarantined"
    started = clock.t
    with pytest.raises(NodeStartError, match="first health check failed and it was quarantined") as err:
        enrol.add(NodeSpec.parse("n1", "a", "1", "1g"), "cloud", IMAGE)
    assert "hosts list" in (err.value.hint or "") and clock.t - started < 60  # not after the join timeout


def test_remove_destroys_through_salt_cloud_when_the_master_has_the_key(env) -> None:
    settings, enrol, cloud, nodes, _ = env
    key = settings.state_dir / "salt" / "master" / "pki" / "master" / "minions" / "c1"
    key.parent.mkdir(parents=True)
    key.write_text("pub")
    assert enrol.remove("c1") is True
    assert any("-d" in argv and "c1" in argv and argv[0].endswith("salt-cloud") for argv in cloud.calls)
    assert any(argv[0].endswith("salt-key") for argv in cloud.calls)  # the key was still there
    assert nodes.removed == ["c1"]
    key.unlink()
    cloud.calls.clear()
    assert enrol.remove("n2") is True and cloud.calls == []  # a node added directly: no salt-cloud
