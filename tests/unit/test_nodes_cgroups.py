"""Reading a node's cgroups from the host's cgroupfs: /proc/<pid>/cgroup, cpusets, memory limits (v1 and v2)."""

from __future__ import annotations

from pathlib import Path

import pytest

from benchfarm.nodes.cgroups import HostCgroups, parse_proc_cgroup

NODE = "/docker/fa143dac597c74f1f01e10a0dd33cab2f817801b3e29d2eecd027059a8a2fbcf"
NESTED = f"{NODE}/nested/9a8b7c6d5e4f"

# /proc/<pid>/cgroup of a node's PID 1, recorded on this project's cgroup-v1 CI machine (Debian 12,
# dockerd 20.10, cgroupfs driver; the empty unified hierarchy is mounted too)
PROC_V1 = """\
9:name=systemd:/docker/fa143dac597c74f1f01e10a0dd33cab2f817801b3e29d2eecd027059a8a2fbcf
8:pids:/docker/fa143dac597c74f1f01e10a0dd33cab2f817801b3e29d2eecd027059a8a2fbcf
7:blkio:/docker/fa143dac597c74f1f01e10a0dd33cab2f817801b3e29d2eecd027059a8a2fbcf
6:freezer:/docker/fa143dac597c74f1f01e10a0dd33cab2f817801b3e29d2eecd027059a8a2fbcf
5:devices:/docker/fa143dac597c74f1f01e10a0dd33cab2f817801b3e29d2eecd027059a8a2fbcf
4:memory:/docker/fa143dac597c74f1f01e10a0dd33cab2f817801b3e29d2eecd027059a8a2fbcf
3:cpuset:/docker/fa143dac597c74f1f01e10a0dd33cab2f817801b3e29d2eecd027059a8a2fbcf
2:cpuacct:/docker/fa143dac597c74f1f01e10a0dd33cab2f817801b3e29d2eecd027059a8a2fbcf
1:cpu:/docker/fa143dac597c74f1f01e10a0dd33cab2f817801b3e29d2eecd027059a8a2fbcf
0::/docker/fa143dac597c74f1f01e10a0dd33cab2f817801b3e29d2eecd027059a8a2fbcf
"""
PROC_V2 = "0::/system.slice/docker-5f3c0e1d2b4a.scope\n"


def _write(root: Path, rel: str, text: str) -> None:
    path = root / rel.lstrip("/")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


@pytest.fixture
def v1(tmp_path: Path) -> HostCgroups:
    """A v1 tree: the root (both CPUs), the node (CPU 0, 1 GiB) and one nested container (no limit of its own)."""
    root, proc = tmp_path / "cgroup", tmp_path / "proc"
    _write(root, "cpuset/cpuset.effective_cpus", "0-1\n")
    _write(root, "memory/memory.limit_in_bytes", "9223372036854771712\n")
    _write(root, f"cpuset{NODE}/cpuset.effective_cpus", "0\n")
    _write(root, f"memory{NODE}/memory.limit_in_bytes", f"{1 << 30}\n")
    _write(root, f"cpuset{NODE}/nested/cpuset.effective_cpus", "0\n")
    _write(root, f"memory{NODE}/nested/memory.limit_in_bytes", "9223372036854771712\n")
    _write(root, f"cpuset{NESTED}/cpuset.effective_cpus", "0\n")
    _write(root, f"memory{NESTED}/memory.limit_in_bytes", "9223372036854771712\n")
    _write(proc, "4242/cgroup", PROC_V1)
    return HostCgroups(root=root, proc=proc)


@pytest.fixture
def v2(tmp_path: Path) -> HostCgroups:
    root, proc = tmp_path / "cgroup", tmp_path / "proc"
    scope = "system.slice/docker-5f3c0e1d2b4a.scope"
    _write(root, "cgroup.controllers", "cpuset cpu io memory pids\n")
    _write(root, f"{scope}/cpuset.cpus.effective", "1\n")
    _write(root, f"{scope}/memory.max", f"{2 << 30}\n")
    _write(root, f"{scope}/nested/c1/cpuset.cpus.effective", "1\n")
    _write(root, f"{scope}/nested/c1/memory.max", "max\n")
    _write(root, f"{scope}/nested/memory.max", "max\n")
    _write(root, "system.slice/memory.max", "max\n")
    _write(proc, "4242/cgroup", PROC_V2)
    return HostCgroups(root=root, proc=proc)


def test_proc_cgroup_lines_parse_per_controller() -> None:
    paths = parse_proc_cgroup(PROC_V1)
    assert paths["cpuset"] == paths["memory"] == paths["cpu"] == paths["cpuacct"] == NODE
    assert paths["name=systemd"] == paths[""] == NODE
    assert parse_proc_cgroup(PROC_V2) == {"": "/system.slice/docker-5f3c0e1d2b4a.scope"}


def test_v1_node_cgroup_limits_and_nesting(v1: HostCgroups) -> None:
    assert v1.mode == "v1"
    assert v1.of_pid(4242) == NODE
    assert v1.exists(NODE)
    assert v1.cpus(NODE) == {0}
    assert v1.memory_limit(NODE) == 1 << 30
    assert v1.memory_limit(NESTED) is None  # the nested container has no limit of its own ...
    assert v1.effective_memory_limit(NESTED) == 1 << 30  # ... but the node's applies to it
    assert v1.effective_memory_limit("/") is None
    assert v1.find(f"{NODE}/nested", "9a8b7c") == NESTED
    assert v1.find(f"{NODE}/nested", "nope") is None
    assert v1.find("/docker/absent", "9a8b7c") is None


def test_v2_node_cgroup_limits_and_nesting(v2: HostCgroups) -> None:
    scope = "/system.slice/docker-5f3c0e1d2b4a.scope"
    assert v2.mode == "v2"
    assert v2.of_pid(4242) == scope
    assert v2.cpus(scope) == {1}
    assert v2.memory_limit(scope) == 2 << 30
    assert v2.effective_memory_limit(f"{scope}/nested/c1") == 2 << 30
    assert v2.find(scope, "c1") == f"{scope}/nested/c1"


def test_a_vanished_process_raises(v1: HostCgroups) -> None:
    with pytest.raises(FileNotFoundError):
        v1.of_pid(999999)


@pytest.mark.parametrize(("path", "ancestor", "inside"), [
    (NESTED, NODE, True), (NODE, NODE, True), (f"{NODE}/", NODE, True),
    (f"{NODE}0", NODE, False),  # a sibling whose id merely starts the same
    ("/docker/other", NODE, False), (NODE, "/", True),
])
def test_is_within(path: str, ancestor: str, inside: bool) -> None:
    assert HostCgroups.is_within(path, ancestor) is inside
