"""Host collector on this machine's recorded /proc files (tests/fixtures/collectors/proc_t0, proc_t1).

Expected values come from psutil reading the same files (psutil.PROCFS_PATH), an independent parser.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import psutil
import pytest

from benchfarm.collectors.host import (
    HostCollector,
    parse_cpuinfo_mhz,
    physical_nics,
    whole_disks,
)

FIX = Path(__file__).resolve().parents[1] / "fixtures" / "collectors"
T0, T1 = FIX / "proc_t0", FIX / "proc_t1"


class FakeClock:
    def __init__(self, t: float = 1000.0) -> None:
        self.t = t

    def __call__(self) -> float:
        return self.t


@pytest.fixture
def proc(tmp_path: Path) -> Path:
    """A writable copy of the t0 recording; ``_advance`` overwrites it in place (same inodes) with t1."""
    dst = tmp_path / "proc"
    shutil.copytree(T0, dst)
    return dst


def _advance(proc: Path) -> None:
    for src in T1.rglob("*"):
        if src.is_file():
            with open(proc / src.relative_to(T1), "wb") as out:  # truncate+write keeps the inode the collector holds
                out.write(src.read_bytes())


@pytest.fixture
def psutil_procfs():
    old = psutil.PROCFS_PATH

    def use(path: Path):
        psutil.PROCFS_PATH = str(path)

    yield use
    psutil.PROCFS_PATH = old


def _psutil_busy_total(t) -> tuple[float, float]:
    total = t.user + t.nice + t.system + t.idle + t.iowait + t.irq + t.softirq + t.steal
    return total - t.idle - t.iowait, total


def test_cpu_utilisation_between_recorded_snapshots_matches_psutil(proc: Path, psutil_procfs) -> None:
    psutil_procfs(T0)
    before = [_psutil_busy_total(t) for t in psutil.cpu_times(percpu=True)]
    before_all = _psutil_busy_total(psutil.cpu_times())
    psutil_procfs(T1)
    after = [_psutil_busy_total(t) for t in psutil.cpu_times(percpu=True)]
    after_all = _psutil_busy_total(psutil.cpu_times())

    def pct(b, a):
        return 100.0 * (a[0] - b[0]) / (a[1] - b[1])

    col = HostCollector(proc_root=proc, sys_root=proc / "nosys", clock=FakeClock())
    assert col.available()
    _advance(proc)
    s = col.sample()
    assert s["cpu_util_pct"] == pytest.approx(pct(before_all, after_all))
    for cpu in range(len(before)):
        assert s[f"cpu{cpu}_util_pct"] == pytest.approx(pct(before[cpu], after[cpu]))
    assert s["cpuset_util_pct"] == pytest.approx(
        sum(pct(b, a) for b, a in zip(before, after, strict=True)) / len(before))
    # the recording was taken while one core spun: the machine as a whole was clearly busy
    assert s["cpu_util_pct"] > 20


def test_cpuset_limits_per_cpu_fields(proc: Path) -> None:
    col = HostCollector({1}, proc_root=proc, clock=FakeClock())
    assert col.available()
    _advance(proc)
    s = col.sample()
    assert "cpu1_util_pct" in s and "cpu0_util_pct" not in s
    assert s["cpuset_util_pct"] == s["cpu1_util_pct"]
    assert {f.name for f in col.fields()} >= {"cpu1_util_pct", "cpuset_util_pct", "cpu_util_pct"}


def test_memory_and_load_match_recorded_files(proc: Path, psutil_procfs) -> None:
    psutil_procfs(T0)
    vm = psutil.virtual_memory()
    col = HostCollector(proc_root=proc, clock=FakeClock())
    assert col.available()
    s = col.sample()
    assert s["mem_total_bytes"] == vm.total
    assert s["mem_available_bytes"] == vm.available
    assert s["mem_used_bytes"] == vm.total - vm.available
    load = (T0 / "loadavg").read_text().split()
    assert (s["load1"], s["load5"], s["load15"]) == tuple(float(x) for x in load[:3])


def test_network_rates_match_psutil_counters(proc: Path, psutil_procfs) -> None:
    nics = physical_nics((T0 / "net/dev").read_bytes())
    assert nics and all(not n.startswith(("lo", "veth", "docker")) for n in nics)
    psutil_procfs(T0)
    c0 = psutil.net_io_counters(pernic=True)
    psutil_procfs(T1)
    c1 = psutil.net_io_counters(pernic=True)
    clock = FakeClock()
    col = HostCollector(proc_root=proc, clock=clock)
    assert col.available()
    clock.t += 2.0
    _advance(proc)
    s = col.sample()
    rx = sum(c1[n].bytes_recv - c0[n].bytes_recv for n in nics)
    tx = sum(c1[n].bytes_sent - c0[n].bytes_sent for n in nics)
    assert s["net_rx_bytes_per_s"] == pytest.approx(rx / 2.0)
    assert s["net_tx_bytes_per_s"] == pytest.approx(tx / 2.0)


def _diskstat(path: Path, name: str) -> list[int]:
    for line in path.read_text().splitlines():
        parts = line.split()
        if parts[2] == name:
            return [int(x) for x in parts[3:]]
    raise AssertionError(name)


def test_disk_rates_from_recorded_diskstats(proc: Path) -> None:
    disks = whole_disks((T0 / "diskstats").read_bytes())
    assert disks == ["vda"]  # this VM: one virtio disk; loop and zram devices are not disks
    a, b = _diskstat(T0 / "diskstats", "vda"), _diskstat(T1 / "diskstats", "vda")
    clock = FakeClock()
    col = HostCollector(proc_root=proc, clock=clock)
    assert col.available()
    clock.t += 0.5
    _advance(proc)
    s = col.sample()
    assert s["disk_read_bytes_per_s"] == pytest.approx((b[2] - a[2]) * 512 / 0.5)
    assert s["disk_write_bytes_per_s"] == pytest.approx((b[6] - a[6]) * 512 / 0.5)
    assert s["disk_writes_per_s"] == pytest.approx((b[4] - a[4]) / 0.5)
    assert s["disk_busy_pct"] == pytest.approx((b[9] - a[9]) / 0.5 / 10)
    # 20 MiB were written with O_DIRECT between the recordings
    assert s["disk_write_bytes_per_s"] * 0.5 >= 20 * 2**20


@pytest.mark.parametrize(
    ("names", "expected"),
    [
        (["sda", "sda1", "sda2"], ["sda"]),
        (["nvme0n1", "nvme0n1p1", "nvme0n10"], ["nvme0n1", "nvme0n10"]),
        (["mmcblk0", "mmcblk0p1"], ["mmcblk0"]),
        (["vda", "vda1", "loop0", "dm-0", "md0", "zram0", "sr0"], ["vda"]),
        (["sdb"], ["sdb"]),
    ],
)
def test_whole_disks_drops_partitions_and_virtual_devices(names: list[str], expected: list[str]) -> None:
    data = "".join(f"   8 {i} {n} 1 0 8 0 1 0 8 0 0 1 1\n" for i, n in enumerate(names)).encode()
    assert whole_disks(data) == expected


def test_cpu_frequency_from_cpuinfo_when_no_cpufreq(proc: Path) -> None:
    mhz = [float(line.split(":")[1]) for line in (T0 / "cpuinfo").read_text().splitlines()
           if line.startswith("cpu MHz")]
    assert parse_cpuinfo_mhz((T0 / "cpuinfo").read_bytes()) == dict(enumerate(mhz))
    col = HostCollector(proc_root=proc, sys_root=proc / "nosys", clock=FakeClock())
    assert col.available()
    assert col.sample()["cpu_freq_mhz"] == pytest.approx(sum(mhz) / len(mhz))


def test_cpu_frequency_prefers_cpufreq_sysfs(proc: Path, tmp_path: Path) -> None:
    sys_root = tmp_path / "sys"
    for cpu, khz in ((0, 2_400_000), (1, 3_000_000)):
        d = sys_root / f"devices/system/cpu/cpu{cpu}/cpufreq"
        d.mkdir(parents=True)
        (d / "scaling_cur_freq").write_text(f"{khz}\n")
    col = HostCollector(proc_root=proc, sys_root=sys_root, clock=FakeClock())
    assert col.available()
    assert col.sample()["cpu_freq_mhz"] == pytest.approx(2700.0)


def test_missing_proc_is_unavailable_not_an_error(tmp_path: Path) -> None:
    col = HostCollector(proc_root=tmp_path / "absent")
    av = col.available()
    assert not av and "stat" in av.reason
    assert col.available() is av  # probed once


def test_real_proc_of_this_machine() -> None:
    col = HostCollector()
    assert col.available()
    s = col.sample()
    assert s["mem_total_bytes"] == psutil.virtual_memory().total
    assert 0.0 <= s["cpu_util_pct"] <= 100.0
    declared = {f.name for f in col.fields()}
    assert set(s) <= declared
    col.close()


def _sys_tree(root: Path, recording: Path) -> Path:
    """Per-device sysfs counter files (block/<disk>/stat, class/net/<nic>/statistics/*) of a /proc recording."""
    for disk in whole_disks((recording / "diskstats").read_bytes()):
        d = root / "block" / disk
        d.mkdir(parents=True, exist_ok=True)
        (d / "stat").write_text(" ".join(str(v) for v in _diskstat(recording / "diskstats", disk)) + "\n")
    for line in (recording / "net/dev").read_text().splitlines()[2:]:
        name, _, rest = line.partition(":")
        v = rest.split()
        stats = root / "class/net" / name.strip() / "statistics"
        stats.mkdir(parents=True, exist_ok=True)
        for counter, value in (("rx_bytes", v[0]), ("rx_packets", v[1]), ("tx_bytes", v[8]), ("tx_packets", v[9])):
            (stats / counter).write_text(value + "\n")
    return root


def test_io_counters_come_from_each_device_sysfs_files_when_they_match_proc(proc: Path, tmp_path: Path) -> None:
    sys_root = _sys_tree(tmp_path / "sys", T0)
    clock = FakeClock()
    col = HostCollector(proc_root=proc, sys_root=sys_root, clock=clock)
    assert col.available()
    _sys_tree(sys_root, T1)  # only sysfs moves on: the rates show it is what the sample reads
    clock.t += 0.5
    s = col.sample()
    a, b = _diskstat(T0 / "diskstats", "vda"), _diskstat(T1 / "diskstats", "vda")
    assert s["disk_write_bytes_per_s"] == pytest.approx((b[6] - a[6]) * 512 / 0.5) and s["disk_write_bytes_per_s"] > 0
    assert s["net_rx_bytes_per_s"] > 0


def test_sysfs_counters_of_other_devices_than_proc_lists_are_not_used(proc: Path, tmp_path: Path) -> None:
    sys_root = _sys_tree(tmp_path / "sys", T1)  # later counters than /proc's: not the same reading
    clock = FakeClock()
    col = HostCollector(proc_root=proc, sys_root=sys_root, clock=clock)
    assert col.available()
    clock.t += 0.5
    s = col.sample()  # neither tree moved: no I/O
    assert s["disk_write_bytes_per_s"] == 0 and s["net_rx_bytes_per_s"] == 0
