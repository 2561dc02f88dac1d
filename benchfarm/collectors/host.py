"""Host collector: CPU, memory, disk, network, load and CPU frequency from /proc and /sys.

Every source file is opened once at probe time and re-read with one ``pread``
per sample.  Rates (CPU %, bytes/s) are computed between consecutive samples;
the probe reads the first baseline, so the first sample already has them.
"""

from __future__ import annotations

import os
import re
import time
from collections.abc import Callable
from pathlib import Path

from benchfarm.collectors.base import Availability, Collector, FieldSpec, Number, OpenFile, RateTracker, close_all

SECTOR_BYTES = 512  # /proc/diskstats counts 512-byte sectors whatever the device's sector size
VIRTUAL_DISK_PREFIXES = ("loop", "ram", "zram", "dm-", "md", "nbd", "sr", "fd")
VIRTUAL_NIC_PREFIXES = ("lo", "veth", "docker", "br-", "virbr", "ifb", "tap", "tun", "cni", "flannel", "cali")
CPUINFO_MIN_INTERVAL_S = 1.0  # /proc/cpuinfo is costly (it may poke every CPU): read it at most this often
_PARTITION = re.compile(rb"p?\d+")


def parse_cpu_times(data: bytes) -> dict[int, tuple[int, int]]:
    """``/proc/stat`` → ``{cpu: (busy_jiffies, total_jiffies)}``; key -1 is the all-CPU line.

    busy excludes idle and iowait; guest times are already inside user/nice so they are not added.
    """
    out: dict[int, tuple[int, int]] = {}
    for line in data.split(b"\n"):
        if not line.startswith(b"cpu"):
            if out:
                break  # the cpu lines come first and together
            continue
        parts = line.split()
        label = parts[0]
        cpu = -1 if label == b"cpu" else int(label[3:])
        v = [int(x) for x in parts[1:9]]  # user nice system idle iowait irq softirq steal
        total = sum(v)
        out[cpu] = (total - v[3] - v[4], total)
    return out


def parse_meminfo(data: bytes) -> dict[str, int]:
    """``/proc/meminfo`` → ``{key: bytes}`` (values given in kB are converted)."""
    out: dict[str, int] = {}
    for line in data.split(b"\n"):
        key, sep, rest = line.partition(b":")
        if not sep:
            continue
        parts = rest.split()
        value = int(parts[0])
        out[key.decode()] = value * 1024 if len(parts) > 1 and parts[1] == b"kB" else value
    return out


_MEMINFO_USED = re.compile(rb"^(MemTotal|MemAvailable|MemFree|Cached|SwapTotal|SwapFree):\s+(\d+)", re.MULTILINE)


def parse_meminfo_used(data: bytes) -> dict[str, int]:
    """The ``/proc/meminfo`` keys the host sample uses, in bytes (all are given in kB): one regex pass
    instead of :func:`parse_meminfo`'s every line, a third of the sample's CPU before (issue 16)."""
    return {k.decode(): int(v) * 1024 for k, v in _MEMINFO_USED.findall(data)}


def whole_disks(diskstats: bytes) -> list[str]:
    """Names of physical whole disks in ``/proc/diskstats`` (no partitions, loop, ram, dm or md devices).

    Partitions are dropped so that I/O is not counted twice (``sda1`` under ``sda``, ``nvme0n1p1`` under ``nvme0n1``).
    """
    names = [line.split()[2] for line in diskstats.split(b"\n") if line.strip()]
    keep = [n for n in names if not n.decode().startswith(VIRTUAL_DISK_PREFIXES)]
    disks = []
    for n in keep:
        is_part = False
        for m in keep:
            if m != n and n.startswith(m):
                rest = n[len(m):]
                if _PARTITION.fullmatch(rest) and (rest.startswith(b"p") or not m[-1:].isdigit()):
                    is_part = True
                    break
        if not is_part:
            disks.append(n.decode())
    return disks


def parse_diskstats(data: bytes, disks: frozenset[bytes]) -> tuple[int, int, int, int, int]:
    """Sum over ``disks``: (read_bytes, write_bytes, reads, writes, io_ticks_ms)."""
    rb = wb = r = w = ticks = 0
    for line in data.split(b"\n"):
        parts = line.split()
        if len(parts) < 13 or parts[2] not in disks:
            continue
        r += int(parts[3])
        rb += int(parts[5]) * SECTOR_BYTES
        w += int(parts[7])
        wb += int(parts[9]) * SECTOR_BYTES
        ticks += int(parts[12])
    return rb, wb, r, w, ticks


def physical_nics(netdev: bytes) -> list[str]:
    """Interface names in ``/proc/net/dev`` that are not loopback, bridges, veths or tunnels."""
    names = []
    for line in netdev.split(b"\n")[2:]:
        name, sep, _ = line.partition(b":")
        if sep:
            n = name.strip().decode()
            if not n.startswith(VIRTUAL_NIC_PREFIXES):
                names.append(n)
    return names


def parse_netdev(data: bytes, nics: frozenset[bytes]) -> tuple[int, int, int, int]:
    """Sum over ``nics``: (rx_bytes, tx_bytes, rx_packets, tx_packets)."""
    rxb = txb = rxp = txp = 0
    for line in data.split(b"\n")[2:]:
        name, sep, rest = line.partition(b":")
        if not sep or name.strip() not in nics:
            continue
        v = rest.split()
        rxb += int(v[0])
        rxp += int(v[1])
        txb += int(v[8])
        txp += int(v[9])
    return rxb, txb, rxp, txp


def parse_cpuinfo_mhz(data: bytes) -> dict[int, float]:
    """``/proc/cpuinfo`` → ``{cpu: MHz}``."""
    out: dict[int, float] = {}
    cpu = -1
    for line in data.split(b"\n"):
        if line.startswith(b"processor"):
            cpu = int(line.partition(b":")[2])
        elif line.startswith(b"cpu MHz"):
            out[cpu] = float(line.partition(b":")[2])
    return out


class HostCollector(Collector):
    """The host's CPU utilisation (all CPUs and the job's cpuset, per CPU), memory, disks, network, load, frequency.

    Args:
        cpuset: CPUs to report per-CPU utilisation for (default: all); ``cpuset_util_pct`` averages them.
        proc_root, sys_root: where /proc and /sys are (tests point them at recorded trees).
        disks, nics: names to sum I/O over (default: physical whole disks / non-virtual interfaces).
        clock: monotonic time source for rates (tests pass a fake).
    """

    name = "host"

    def __init__(
        self,
        cpuset: set[int] | None = None,
        *,
        proc_root: str | os.PathLike[str] = "/proc",
        sys_root: str | os.PathLike[str] = "/sys",
        disks: list[str] | None = None,
        nics: list[str] | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        super().__init__()
        self._clock = clock
        self.proc = Path(proc_root)
        self.sys = Path(sys_root)
        self._cpuset_arg = cpuset
        self._disks_arg = disks
        self._nics_arg = nics
        self.cpus: list[int] = []
        self._files: dict[str, OpenFile] = {}
        self._freq_files: list[OpenFile] = []
        self._cpu_last: dict[int, tuple[int, int]] = {}
        self._rates = RateTracker()
        self._freq_cache: tuple[float, float] | None = None  # (monotonic time, MHz) for the cpuinfo fallback
        self._cpu_keys: list[tuple[int, str]] = []
        self._disks: frozenset[bytes] = frozenset()
        self._nics: frozenset[bytes] = frozenset()
        self._disk_files: list[OpenFile] = []  # /sys/block/<disk>/stat, when they match /proc/diskstats
        self._nic_files: list[OpenFile] = []  # 4 statistics files per NIC, when they match /proc/net/dev

    def _probe(self) -> Availability:
        files = {n: OpenFile(self.proc / n) for n in ("stat", "meminfo", "loadavg")}
        self._files = files
        for n in ("diskstats", "net/dev"):
            if (self.proc / n).exists():
                files[n] = OpenFile(self.proc / n)
        present = sorted(c for c in parse_cpu_times(files["stat"].read()) if c >= 0)
        self.cpus = sorted(set(present) & self._cpuset_arg) if self._cpuset_arg else present
        self._cpu_keys = [(c, f"cpu{c}_util_pct") for c in self.cpus]
        if "diskstats" in files:
            names = self._disks_arg if self._disks_arg is not None else whole_disks(files["diskstats"].read())
            self._disks = frozenset(n.encode() for n in names)
        if "net/dev" in files:
            names = self._nics_arg if self._nics_arg is not None else physical_nics(files["net/dev"].read())
            self._nics = frozenset(n.encode() for n in names)
        self._use_device_files()
        for c in self.cpus:
            p = self.sys / f"devices/system/cpu/cpu{c}/cpufreq/scaling_cur_freq"
            if p.exists():
                self._freq_files.append(OpenFile(p))
        if not self._freq_files and (self.proc / "cpuinfo").exists():
            files["cpuinfo"] = OpenFile(self.proc / "cpuinfo")
        self.sample()  # baseline for rates
        return Availability(True, f"{len(self.cpus)} CPUs, disks {sorted(d.decode() for d in self._disks)}")

    def _use_device_files(self) -> None:
        """Read I/O counters from each device's own sysfs files instead of /proc/diskstats and /proc/net/dev,
        which list every device (each container's veth too) and cost the kernel 15 and 28 us a read here.

        Used only when the sysfs counters are those of the same devices: a procfs reading taken between two
        sysfs readings must lie between them (the counters only grow), which a recorded /proc tree does not.
        """
        files = self._files
        if "diskstats" in files and self._disks:
            stats = [self.sys / "block" / d.decode().replace("/", "!") / "stat" for d in sorted(self._disks)]
            if all(p.exists() for p in stats):
                disk_files = [OpenFile(p, 4096) for p in stats]
                before = _disk_counters(disk_files)
                proc = parse_diskstats(files["diskstats"].read(), self._disks)
                if _between(before, proc, _disk_counters(disk_files)):
                    self._disk_files = disk_files
                    files.pop("diskstats").close()
                else:
                    close_all(disk_files)
        if "net/dev" in files and self._nics:
            counters = ("rx_bytes", "tx_bytes", "rx_packets", "tx_packets")
            paths = [self.sys / "class/net" / n.decode() / "statistics" / c
                     for n in sorted(self._nics) for c in counters]
            if all(p.exists() for p in paths):
                nic_files = [OpenFile(p, 64) for p in paths]
                net_before = _nic_counters(nic_files)
                proc_net = parse_netdev(files["net/dev"].read(), self._nics)
                if _between(net_before, proc_net, _nic_counters(nic_files)):
                    self._nic_files = nic_files
                    files.pop("net/dev").close()
                else:
                    close_all(nic_files)

    def fields(self) -> list[FieldSpec]:
        specs = [FieldSpec(n, "pct") for n in ("cpu_util_pct", "cpuset_util_pct")]
        specs += [FieldSpec(k, "pct") for _, k in self._cpu_keys]
        specs += [FieldSpec(n, "bytes") for n in ("mem_total_bytes", "mem_available_bytes", "mem_used_bytes",
                                                   "mem_cached_bytes", "swap_used_bytes")]
        specs += [FieldSpec(n, "bytes/s") for n in ("disk_read_bytes_per_s", "disk_write_bytes_per_s",
                                                     "net_rx_bytes_per_s", "net_tx_bytes_per_s")]
        specs += [FieldSpec(n, "1/s") for n in ("disk_reads_per_s", "disk_writes_per_s",
                                                 "net_rx_packets_per_s", "net_tx_packets_per_s")]
        specs += [FieldSpec("disk_busy_pct", "pct"), FieldSpec("load1", "tasks"), FieldSpec("load5", "tasks"),
                  FieldSpec("load15", "tasks"), FieldSpec("cpu_freq_mhz", "MHz")]
        return specs

    def sample(self) -> dict[str, Number]:
        files = self._files
        now = self._clock()
        out: dict[str, Number] = {}
        self._cpu(files["stat"].read(), out)
        mem = parse_meminfo_used(files["meminfo"].read())
        total = mem.get("MemTotal", 0)
        avail = mem.get("MemAvailable", mem.get("MemFree", 0))
        out["mem_total_bytes"] = total
        out["mem_available_bytes"] = avail
        out["mem_used_bytes"] = total - avail
        out["mem_cached_bytes"] = mem.get("Cached", 0)
        out["swap_used_bytes"] = mem.get("SwapTotal", 0) - mem.get("SwapFree", 0)
        load = files["loadavg"].read().split()
        out["load1"], out["load5"], out["load15"] = float(load[0]), float(load[1]), float(load[2])
        counters: dict[str, float] = {}
        disk = (_disk_counters(self._disk_files) if self._disk_files else
                parse_diskstats(files["diskstats"].read(), self._disks) if "diskstats" in files else None)
        if disk is not None:
            rb, wb, r, w, ticks = disk
            counters.update(disk_read_bytes=rb, disk_write_bytes=wb, disk_reads=r, disk_writes=w, disk_ticks=ticks)
        net = (_nic_counters(self._nic_files) if self._nic_files else
               parse_netdev(files["net/dev"].read(), self._nics) if "net/dev" in files else None)
        if net is not None:
            rxb, txb, rxp, txp = net
            counters.update(net_rx_bytes=rxb, net_tx_bytes=txb, net_rx_packets=rxp, net_tx_packets=txp)
        self._rates.rates(now, counters, out)
        ticks_rate = out.pop("disk_ticks_per_s", None)
        if ticks_rate is not None:  # io_ticks is ms busy; summed over disks it may exceed 100 %
            out["disk_busy_pct"] = ticks_rate / 10.0
        freq = self._freq(now)
        if freq is not None:
            out["cpu_freq_mhz"] = freq
        return out

    def _cpu(self, data: bytes, out: dict[str, Number]) -> None:
        times = parse_cpu_times(data)
        last = self._cpu_last
        if last:
            out["cpu_util_pct"] = _util(last.get(-1), times.get(-1))
            acc = 0.0
            for cpu, key in self._cpu_keys:
                u = _util(last.get(cpu), times.get(cpu))
                out[key] = u
                acc += u
            if self._cpu_keys:
                out["cpuset_util_pct"] = acc / len(self._cpu_keys)
        self._cpu_last = times

    def _freq(self, now: float) -> float | None:
        if self._freq_files:
            khz = [f.read_int() for f in self._freq_files]
            return sum(khz) / len(khz) / 1000.0
        f = self._files.get("cpuinfo")
        if f is None:
            return None
        if self._freq_cache is None or now - self._freq_cache[0] >= CPUINFO_MIN_INTERVAL_S:
            mhz = parse_cpuinfo_mhz(f.read())
            vals = [mhz[c] for c in self.cpus if c in mhz] or list(mhz.values())
            if not vals:
                return None
            self._freq_cache = (now, sum(vals) / len(vals))
        return self._freq_cache[1]

    def close(self) -> None:
        close_all(self._files)
        close_all(self._freq_files)
        close_all(self._disk_files)
        close_all(self._nic_files)
        self._files, self._freq_files, self._disk_files, self._nic_files = {}, [], [], []


def _disk_counters(files: list[OpenFile]) -> tuple[int, int, int, int, int]:
    """Sum over ``/sys/block/<disk>/stat`` files: (read_bytes, write_bytes, reads, writes, io_ticks_ms),
    the same fields as :func:`parse_diskstats` (the file holds a /proc/diskstats line without its names)."""
    rb = wb = r = w = ticks = 0
    for f in files:
        v = f.read().split()
        r += int(v[0])
        rb += int(v[2]) * SECTOR_BYTES
        w += int(v[4])
        wb += int(v[6]) * SECTOR_BYTES
        ticks += int(v[9])
    return rb, wb, r, w, ticks


def _nic_counters(files: list[OpenFile]) -> tuple[int, int, int, int]:
    """Sum over each NIC's rx_bytes, tx_bytes, rx_packets, tx_packets files (in that order, NIC by NIC)."""
    out = [0, 0, 0, 0]
    for i, f in enumerate(files):
        out[i % 4] += f.read_int()
    return out[0], out[1], out[2], out[3]


def _between(low: tuple[int, ...], mid: tuple[int, ...], high: tuple[int, ...]) -> bool:
    return all(a <= b <= c for a, b, c in zip(low, mid, high, strict=True))


def _util(prev: tuple[int, int] | None, cur: tuple[int, int] | None) -> float:
    """Busy percentage between two (busy, total) jiffy pairs; 0 when no time passed."""
    if prev is None or cur is None:
        return 0.0
    dt = cur[1] - prev[1]
    if dt <= 0:
        return 0.0
    return max(0.0, min(100.0, 100.0 * (cur[0] - prev[0]) / dt))
