"""cgroup collector on a recorded real v1 container tree and a recorded v2 layout."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from benchfarm.collectors.cgroup import (
    CgroupCollector,
    CgroupLocation,
    locate_cgroup,
    parse_blkio_v1,
    parse_flat_keyed,
    parse_io_stat_v2,
)
from benchfarm.errors import NotFoundError

FIX = Path(__file__).resolve().parents[1] / "fixtures" / "collectors"
V1 = FIX / "cgroup_v1"
V2 = FIX / "cgroup_v2"
NODE = FIX / "cgroup_v1_node"  # recorded inside a farm node: <ctrl>/docker/<node>/nested/<container>, proc/<pid>
V1_ID = next((V1 / "cpuacct" / "docker").iterdir()).name
V2_ID = next((V2 / "system.slice").iterdir()).name.removeprefix("docker-").removesuffix(".scope")
NODE_ID = next((NODE / "cpuacct" / "docker").iterdir()).name
NESTED_ID = next((NODE / "cpuacct" / "docker" / NODE_ID / "nested").iterdir()).name
NESTED_PID = int(next((NODE / "proc").iterdir()).name)


class FakeClock:
    def __init__(self) -> None:
        self.t = 500.0

    def __call__(self) -> float:
        return self.t


def _v1(ctrl: str, name: str) -> Path:
    return V1 / ctrl / "docker" / V1_ID / name


def _int(path: Path) -> int:
    return int(path.read_text())


# ---- locating --------------------------------------------------------------------------------------


def test_locate_v1_cgroupfs_layout() -> None:
    loc = locate_cgroup(V1_ID, V1)
    assert loc.version == 1
    assert {"cpuacct", "cpu", "memory", "blkio", "pids"} <= set(loc.dirs)
    assert loc.dirs["memory"] == V1 / "memory" / "docker" / V1_ID


def test_locate_accepts_a_unique_short_id() -> None:
    assert locate_cgroup(V1_ID[:12], V1).dirs["cpuacct"].name == V1_ID
    assert locate_cgroup(V2_ID[:12], V2).dirs["unified"].name == f"docker-{V2_ID}.scope"


def test_locate_v2_systemd_layout() -> None:
    loc = locate_cgroup(V2_ID, V2)
    assert loc.version == 2
    assert loc.dirs == {"unified": V2 / "system.slice" / f"docker-{V2_ID}.scope"}


def test_locate_v2_cgroupfs_layout(tmp_path: Path) -> None:
    (tmp_path / "cgroup.controllers").write_text("cpu io memory pids\n")
    shutil.copytree(V2 / "system.slice" / f"docker-{V2_ID}.scope", tmp_path / "docker" / V2_ID)
    loc = locate_cgroup(V2_ID, tmp_path)
    assert (loc.version, loc.dirs["unified"]) == (2, tmp_path / "docker" / V2_ID)


def test_locate_v1_comounted_cpu_cpuacct(tmp_path: Path) -> None:
    for src, dst in (("cpuacct", "cpu,cpuacct"), ("memory", "memory")):
        shutil.copytree(V1 / src, tmp_path / dst)
    shutil.copytree(V1 / "cpu" / "docker" / V1_ID, tmp_path / "cpu,cpuacct" / "docker" / V1_ID, dirs_exist_ok=True)
    loc = locate_cgroup(V1_ID, tmp_path)
    assert loc.dirs["cpu"] == loc.dirs["cpuacct"] == tmp_path / "cpu,cpuacct" / "docker" / V1_ID
    col = CgroupCollector(V1_ID, root=tmp_path)
    assert col.available()
    assert col.sample()["cpu_nr_throttled"] == parse_flat_keyed(_v1("cpu", "cpu.stat").read_bytes())[b"nr_throttled"]


def test_locate_v1_systemd_driver_layout(tmp_path: Path) -> None:
    for ctrl in ("cpuacct", "memory"):
        shutil.copytree(V1 / ctrl / "docker" / V1_ID, tmp_path / ctrl / "system.slice" / f"docker-{V1_ID}.scope")
    loc = locate_cgroup(V1_ID, tmp_path)
    assert loc.dirs["memory"].name == f"docker-{V1_ID}.scope"


@pytest.mark.parametrize("root", [V1, V2])
def test_locate_unknown_container_raises_not_found_with_hint(root: Path) -> None:
    with pytest.raises(NotFoundError) as err:
        locate_cgroup("0" * 64, root)
    assert err.value.hint and "docker ps" in err.value.hint


def test_unknown_container_makes_the_collector_unavailable_not_crash() -> None:
    col = CgroupCollector("f" * 64, root=V1)
    av = col.available()
    assert not av and "no cgroup" in av.reason


# ---- a farm node's nested engine, and finding a cgroup through the container's process ---------------


def _proc(tmp_path: Path, pid: int, text: str) -> Path:
    """A procfs root where ``pid``'s cgroup file says ``text``."""
    (tmp_path / "proc" / str(pid)).mkdir(parents=True)
    (tmp_path / "proc" / str(pid) / "cgroup").write_text(text)
    return tmp_path / "proc"


def test_locate_nested_node_container_through_its_pid() -> None:
    loc = locate_cgroup(NESTED_ID, NODE, pid=NESTED_PID, proc_root=NODE / "proc")
    assert loc.version == 1
    assert {"cpuacct", "cpu", "memory", "blkio", "pids"} <= set(loc.dirs)
    assert loc.dirs["memory"] == NODE / "memory" / "docker" / NODE_ID / "nested" / NESTED_ID


def test_locate_nested_node_container_by_search_without_a_pid() -> None:
    assert locate_cgroup(NESTED_ID, NODE) == locate_cgroup(NESTED_ID, NODE, pid=NESTED_PID, proc_root=NODE / "proc")
    assert locate_cgroup(NESTED_ID[:12], NODE).dirs["cpuacct"].name == NESTED_ID


def test_the_node_itself_is_still_found_at_docker_id() -> None:
    assert locate_cgroup(NODE_ID, NODE).dirs["memory"] == NODE / "memory" / "docker" / NODE_ID


def test_nested_container_sample_reads_the_recorded_files() -> None:
    d = NODE / "cpuacct" / "docker" / NODE_ID / "nested" / NESTED_ID
    col = CgroupCollector(NESTED_ID, pid=NESTED_PID, proc_root=NODE / "proc", root=NODE, clock=FakeClock())
    assert col.available()
    s = col.sample()
    assert s["cpu_usage_seconds"] == _int(d / "cpuacct.usage") / 1e9 > 0  # recorded after a busy loop
    mem = NODE / "memory" / "docker" / NODE_ID / "nested" / NESTED_ID
    assert s["memory_usage_bytes"] == _int(mem / "memory.usage_in_bytes")
    assert s["pids_current"] == 1


@pytest.mark.parametrize("pid_text", [
    "",  # no such process: the container exited before the collector started
    "4:memory:/docker/{other}\n2:cpuacct:/docker/{other}\n",  # a recycled pid, now another container's
    "4:memory:/user.slice\n2:cpuacct:/user.slice\n",  # a recycled pid, now a host process
])
def test_a_pid_that_does_not_name_the_container_falls_back_to_the_search(tmp_path: Path, pid_text: str) -> None:
    proc = tmp_path / "proc"
    if pid_text:
        proc = _proc(tmp_path, 4242, pid_text.format(other="ab" * 32))
    loc = locate_cgroup(V1_ID, V1, pid=4242, proc_root=proc)
    assert loc.dirs["memory"] == V1 / "memory" / "docker" / V1_ID


def test_pid_in_a_sub_cgroup_of_the_container_is_cut_at_the_container(tmp_path: Path) -> None:
    (tmp_path / "cg").mkdir()
    (tmp_path / "cg" / "cgroup.controllers").write_text("cpu io memory pids\n")
    scope = tmp_path / "cg" / "system.slice" / f"docker-{V2_ID}.scope"
    shutil.copytree(V2 / "system.slice" / f"docker-{V2_ID}.scope", scope)
    (scope / "init.scope").mkdir()  # e.g. systemd running inside the container
    proc = _proc(tmp_path, 7, f"0::/system.slice/docker-{V2_ID}.scope/init.scope\n")
    assert locate_cgroup(V2_ID, tmp_path / "cg", pid=7, proc_root=proc).dirs == {"unified": scope}


def test_v2_custom_cgroup_parent_found_through_the_pid_only(tmp_path: Path) -> None:
    root = tmp_path / "cg"
    root.mkdir()
    (root / "cgroup.controllers").write_text("cpu io memory pids\n")
    d = root / "benchfarm.slice" / "jobs" / V2_ID  # a layout no search covers
    shutil.copytree(V2 / "system.slice" / f"docker-{V2_ID}.scope", d)
    with pytest.raises(NotFoundError):
        locate_cgroup(V2_ID, root)
    proc = _proc(tmp_path, 99, f"0::/benchfarm.slice/jobs/{V2_ID}\n")
    assert locate_cgroup(V2_ID, root, pid=99, proc_root=proc) == CgroupLocation(2, {"unified": d})
    col = CgroupCollector(V2_ID, pid=99, proc_root=proc, root=root, clock=FakeClock())
    assert col.available() and col.sample()["pids_current"] == _int(d / "pids.current")


def test_v2_nested_node_layout_by_search(tmp_path: Path) -> None:
    (tmp_path / "cgroup.controllers").write_text("cpu io memory pids\n")
    d = tmp_path / "docker" / NODE_ID / "nested" / V2_ID
    shutil.copytree(V2 / "system.slice" / f"docker-{V2_ID}.scope", d)
    (tmp_path / "docker" / NODE_ID / "init").mkdir()  # the node's own processes on v2
    assert locate_cgroup(V2_ID[:12], tmp_path).dirs == {"unified": d}


def test_mount_rooted_at_the_node_drops_the_leading_path(tmp_path: Path) -> None:
    # a worker whose cgroupfs shows only its own subtree: /proc names /docker/<node>/nested/<id>, the mount
    # holds nested/<id>
    for ctrl in ("cpuacct", "memory"):
        shutil.copytree(NODE / ctrl / "docker" / NODE_ID, tmp_path / "cg" / ctrl)
    loc = locate_cgroup(NESTED_ID, tmp_path / "cg", pid=NESTED_PID, proc_root=NODE / "proc")
    assert loc.dirs["memory"] == tmp_path / "cg" / "memory" / "nested" / NESTED_ID


def test_a_pid_whose_cgroup_is_gone_never_yields_the_mount_root(tmp_path: Path) -> None:
    for ctrl in ("cpuacct", "memory"):
        (tmp_path / "cg" / ctrl / "docker").mkdir(parents=True)
    with pytest.raises(NotFoundError) as err:
        locate_cgroup(NESTED_ID, tmp_path / "cg", pid=NESTED_PID, proc_root=NODE / "proc")
    assert f"process {NESTED_PID}" in err.value.message


# ---- reading ---------------------------------------------------------------------------------------


def test_v1_sample_reads_the_recorded_files() -> None:
    col = CgroupCollector(V1_ID, root=V1, clock=FakeClock())
    assert col.available()
    s = col.sample()
    stat = parse_flat_keyed(_v1("cpu", "cpu.stat").read_bytes())
    ticks = parse_flat_keyed(_v1("cpuacct", "cpuacct.stat").read_bytes())
    assert s["cpu_usage_seconds"] == _int(_v1("cpuacct", "cpuacct.usage")) / 1e9
    per_cpu = _v1("cpuacct", "cpuacct.usage_percpu").read_text().split()
    assert s["cpu_usage_seconds"] == pytest.approx(sum(int(x) for x in per_cpu) / 1e9)
    assert s["cpu_user_seconds"] == ticks[b"user"] / 100
    assert s["cpu_nr_periods"] == stat[b"nr_periods"]
    assert s["cpu_nr_throttled"] == stat[b"nr_throttled"] > 0  # recorded with --cpus 0.5
    assert s["cpu_throttled_seconds"] == stat[b"throttled_time"] / 1e9
    assert s["memory_usage_bytes"] == _int(_v1("memory", "memory.usage_in_bytes")) > 0
    assert s["memory_peak_bytes"] == _int(_v1("memory", "memory.max_usage_in_bytes")) >= s["memory_usage_bytes"]
    io_bytes = parse_blkio_v1(_v1("blkio", "blkio.throttle.io_service_bytes").read_bytes())
    assert (s["io_read_bytes"], s["io_write_bytes"]) == io_bytes
    assert s["pids_current"] == _int(_v1("pids", "pids.current"))
    assert set(s) <= {f.name for f in col.fields()}


def test_v2_sample_reads_the_recorded_layout() -> None:
    d = V2 / "system.slice" / f"docker-{V2_ID}.scope"
    stat = parse_flat_keyed((d / "cpu.stat").read_bytes())
    col = CgroupCollector(V2_ID, root=V2, clock=FakeClock())
    assert col.available()
    s = col.sample()
    assert s["cpu_usage_seconds"] == stat[b"usage_usec"] / 1e6
    assert s["cpu_user_seconds"] + s["cpu_system_seconds"] == pytest.approx(s["cpu_usage_seconds"])
    assert (s["cpu_nr_periods"], s["cpu_nr_throttled"]) == (stat[b"nr_periods"], stat[b"nr_throttled"])
    assert s["cpu_throttled_seconds"] == stat[b"throttled_usec"] / 1e6
    assert s["memory_usage_bytes"] == _int(d / "memory.current")
    assert s["memory_peak_bytes"] == _int(d / "memory.peak")
    assert (s["io_read_bytes"], s["io_write_bytes"]) == parse_io_stat_v2((d / "io.stat").read_bytes())[:2]
    assert s["pids_current"] == _int(d / "pids.current")


def test_v2_without_memory_peak_omits_the_field(tmp_path: Path) -> None:
    shutil.copytree(V2, tmp_path / "cg")
    (tmp_path / "cg" / "system.slice" / f"docker-{V2_ID}.scope" / "memory.peak").unlink()  # kernels before 5.19
    col = CgroupCollector(V2_ID, root=tmp_path / "cg", clock=FakeClock())
    assert col.available()
    assert "memory_peak_bytes" not in col.sample()


def test_cpu_utilisation_and_io_rates_between_samples(tmp_path: Path) -> None:
    shutil.copytree(V2, tmp_path / "cg")
    d = tmp_path / "cg" / "system.slice" / f"docker-{V2_ID}.scope"
    clock = FakeClock()
    col = CgroupCollector(V2_ID, root=tmp_path / "cg", clock=clock)
    assert col.available()
    stat = (d / "cpu.stat").read_text()
    usage = parse_flat_keyed(stat.encode())[b"usage_usec"]
    with open(d / "cpu.stat", "w") as f:  # 1.5 CPU-seconds more over 1 s: 150 % of one CPU
        f.write(stat.replace(f"usage_usec {usage}", f"usage_usec {usage + 1_500_000}"))
    with open(d / "io.stat", "w") as f:
        f.write("8:0 rbytes=1459200 wbytes=315822080 rios=192 wios=354 dbytes=0 dios=0\n"
                "253:0 rbytes=40960 wbytes=8192 rios=10 wios=2 dbytes=0 dios=0\n")
    clock.t += 1.0
    s = col.sample()
    assert s["cpu_util_pct"] == pytest.approx(150.0)
    assert s["io_write_bytes_per_s"] == pytest.approx(315822080 - 314773504)
    assert s["io_read_bytes_per_s"] == 0


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (b"8:0 rbytes=10 wbytes=20 rios=1 wios=2 dbytes=0 dios=0\n"
         b"8:16 rbytes=5 wbytes=7 rios=3 wios=4\n", (15, 27, 4, 6)),
        (b"", (0, 0, 0, 0)),
        (b"259:0 rbytes=4096 wbytes=0 rios=1 wios=0 dbytes=0 dios=0\n", (4096, 0, 1, 0)),
    ],
)
def test_parse_io_stat_v2(text: bytes, expected: tuple[int, int, int, int]) -> None:
    assert parse_io_stat_v2(text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (b"8:0 Read 4096\n8:0 Write 8192\n8:0 Sync 0\n8:0 Async 12288\n8:0 Total 12288\nTotal 12288\n", (4096, 8192)),
        (b"8:0 Read 1\n8:0 Write 2\n8:16 Read 10\n8:16 Write 20\nTotal 33\n", (11, 22)),
        (b"Total 0\n", (0, 0)),
    ],
)
def test_parse_blkio_v1(text: bytes, expected: tuple[int, int]) -> None:
    assert parse_blkio_v1(text) == expected
