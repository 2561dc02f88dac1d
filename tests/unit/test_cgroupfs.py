"""cgroupfs readers: /proc/<pid>/cgroup, CPU lists, and where a cgroup path lies under a mount."""

from __future__ import annotations

from pathlib import Path

import pytest

from benchfarm import cgroupfs


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("4:cpu,cpuacct:/docker/x\n3:memory:/docker/x\n1:name=systemd:/docker/x\n0::/docker/x\n",
         {"cpu": "/docker/x", "cpuacct": "/docker/x", "memory": "/docker/x", "name=systemd": "/docker/x",
          "": "/docker/x"}),
        ("0::/system.slice/docker-abc.scope\n", {"": "/system.slice/docker-abc.scope"}),
        ("", {}),
        ("junk\n", {}),
    ],
)
def test_parse_proc_cgroup(text: str, expected: dict[str, str]) -> None:
    assert cgroupfs.parse_proc_cgroup(text) == expected


@pytest.mark.parametrize(
    ("text", "cpus", "canonical"),
    [("0", {0}, "0"), ("0-3\n", {0, 1, 2, 3}, "0-3"), ("0,2-3,7", {0, 2, 3, 7}, "0,2-3,7"), ("\n", set(), "")],
)
def test_cpu_lists_round_trip(text: str, cpus: set[int], canonical: str) -> None:
    assert cgroupfs.parse_cpu_list(text) == cpus
    assert cgroupfs.format_cpu_list(cpus) == canonical


def test_resolve_prefers_the_full_path_then_drops_leading_parts(tmp_path: Path) -> None:
    nested = tmp_path / "docker" / "n" / "nested" / "c"
    nested.mkdir(parents=True)
    assert cgroupfs.resolve(tmp_path, "/docker/n/nested/c") == nested
    assert cgroupfs.resolve(tmp_path / "docker" / "n", "/docker/n/nested/c") == nested
    assert cgroupfs.resolve(tmp_path, "/") == tmp_path
    assert cgroupfs.resolve(tmp_path, "/gone/x") == tmp_path  # a process's own cgroup mounted as the root
    assert cgroupfs.resolve(tmp_path, "/gone/x", keep=1) is None  # ... but never for a named cgroup


def test_v1_mounts_prefer_real_comounted_dirs_over_symlinks(tmp_path: Path) -> None:
    (tmp_path / "cpu,cpuacct").mkdir()
    (tmp_path / "memory").mkdir()
    (tmp_path / "cpu").symlink_to("cpu,cpuacct")
    (tmp_path / "net_cls").symlink_to("memory")  # a symlink naming a controller no real dir serves
    mounts = cgroupfs.v1_mounts(tmp_path)
    assert mounts["cpu"] == mounts["cpuacct"] == tmp_path / "cpu,cpuacct"
    assert mounts["net_cls"] == tmp_path / "net_cls"
    assert cgroupfs.v1_mounts(tmp_path / "absent") == {}


def test_unreadable_process_gives_no_limits(tmp_path: Path) -> None:
    assert cgroupfs.effective_cpus(12345, root=tmp_path, proc_root=tmp_path) is None
    assert cgroupfs.memory_limit(12345, root=tmp_path, proc_root=tmp_path) is None
    with pytest.raises(OSError):
        cgroupfs.process_cgroups(12345, tmp_path)
