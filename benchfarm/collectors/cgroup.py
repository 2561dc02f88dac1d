"""Container collector: a container's cgroup files read directly (cgroup v1 and v2), not the Docker stats API.

Where the cgroup is (``root`` is normally /sys/fs/cgroup):

1. Through the container's init process, when the engine gave its pid: ``/proc/<pid>/cgroup``
   names the cgroup whatever the driver or ``--cgroup-parent`` (a farm node's engine puts its
   containers at ``docker/<node id>/nested/<id>``), cut at the part that names the container
   (its processes may sit in sub-cgroups of their own).
2. Else by the layouts engines use:

   * v1, cgroupfs driver:  ``root/<controller>/docker/<id>/``  (controllers may be co-mounted, e.g. ``cpu,cpuacct``)
   * v1, systemd driver:   ``root/<controller>/system.slice/docker-<id>.scope/``
   * v2, systemd driver:   ``root/system.slice/docker-<id>.scope/``
   * v2, cgroupfs driver:  ``root/docker/<id>/``
   * either version, ``--cgroup-parent`` below ``docker/``: ``docker/<...>/<id>/`` (up to four levels deep)

Fields are the same whatever the version, so dashboards need not care.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from benchfarm import cgroupfs
from benchfarm.collectors.base import Availability, Collector, FieldSpec, Number, OpenFile, RateTracker, close_all
from benchfarm.errors import NotFoundError

V1_CONTROLLERS = ("cpuacct", "cpu", "memory", "blkio", "pids")
USER_HZ = os.sysconf("SC_CLK_TCK")
NESTED_DEPTH = 4  # docker/<node>/nested/<id> is three levels below docker/


@dataclass(frozen=True)
class CgroupLocation:
    """Where one container's cgroup lives: v1 has a dir per controller, v2 one dir (key ``"unified"``)."""

    version: int
    dirs: dict[str, Path] = field(default_factory=dict)


def _match(parent: Path, prefix: str, container_id: str, suffix: str) -> Path | None:
    """``parent/prefix<id>suffix``; a short id matches when exactly one entry starts with it."""
    exact = parent / f"{prefix}{container_id}{suffix}"
    if exact.is_dir():
        return exact
    if len(container_id) >= 64 or not parent.is_dir():
        return None
    hits = [p for p in parent.iterdir()
            if p.name.startswith(prefix + container_id) and p.name.endswith(suffix) and p.is_dir()]
    return hits[0] if len(hits) == 1 else None


def _nested(top: Path, container_id: str) -> Path | None:
    """``top/<...>/<id>`` up to ``NESTED_DEPTH`` levels down, shallowest first; a short id must match one dir."""
    hits: list[Path] = []
    level = [top]
    for _ in range(NESTED_DEPTH):
        below: list[Path] = []
        for d in level:
            try:
                with os.scandir(d) as entries:
                    children = sorted(Path(e.path) for e in entries if e.is_dir(follow_symlinks=False))
            except OSError:
                continue
            for child in children:
                if child.name == container_id:
                    return child
                if len(container_id) < 64 and child.name.startswith(container_id):
                    hits.append(child)
            below.extend(children)
        level = below
    return hits[0] if len(hits) == 1 else None


def _container_dir(base: Path, container_id: str) -> Path | None:
    return (_match(base / "docker", "", container_id, "")
            or _match(base / "system.slice", "docker-", container_id, ".scope")
            or _nested(base / "docker", container_id))


def _v1_mounts(root: Path) -> dict[str, Path]:
    """Controller name → its v1 hierarchy dir, for the controllers this collector reads."""
    return {c: d for c, d in cgroupfs.v1_mounts(root).items() if c in V1_CONTROLLERS}


def _own_path(path: str, container_id: str) -> str | None:
    """``path`` cut after its deepest part naming the container (``<id>``, ``docker-<id>.scope``); None if none does.

    None also guards against a recycled pid: a process of another container or of
    the host names no cgroup of this container.
    """
    parts = [p for p in path.split("/") if p]
    named = [i for i, part in enumerate(parts) if container_id in part]
    return "/" + "/".join(parts[:named[-1] + 1]) if named else None


def _locate_by_pid(container_id: str, pid: int, root: Path, proc_root: Path) -> CgroupLocation | None:
    try:
        paths = cgroupfs.process_cgroups(pid, proc_root)
    except OSError:  # the container already exited, or procfs is another namespace's
        return None

    def own_dir(mount: Path, key: str) -> Path | None:
        own = _own_path(paths[key], container_id) if key in paths else None
        return cgroupfs.resolve(mount, own, keep=1) if own is not None else None

    if cgroupfs.is_unified(root):
        d = own_dir(root, "")
        return CgroupLocation(2, {"unified": d}) if d is not None else None
    dirs = {}
    for ctrl, mount in _v1_mounts(root).items():
        d = own_dir(mount, ctrl)
        if d is not None:
            dirs[ctrl] = d
    if "cpuacct" in dirs or "memory" in dirs:
        return CgroupLocation(1, dirs)
    d = own_dir(root / "unified", "")  # hybrid host whose engine uses the v2 side
    if d is not None and (d / "cpu.stat").exists():
        return CgroupLocation(2, {"unified": d})
    return None


def locate_cgroup(container_id: str, root: str | os.PathLike[str] = cgroupfs.CGROUP_ROOT, *,
                  pid: int | None = None, proc_root: str | os.PathLike[str] = cgroupfs.PROC_ROOT) -> CgroupLocation:
    """Find the cgroup directories of a Docker container.

    Args:
        container_id: the full id or a unique prefix of at least 12 hex digits.
        root: the cgroup mount root (tests pass a recorded tree).
        pid: the container's init process as this process's procfs numbers it (``docker inspect``
            ``State.Pid`` from the engine that runs it); its ``/proc/<pid>/cgroup`` is tried first.
        proc_root: the procfs root ``pid`` is read under (tests pass a constructed tree).
    Raises:
        NotFoundError: no cgroup for this container in any layout (it is not running, or the id is wrong).
    """
    root = Path(root)
    cid = container_id.strip().lower()
    if pid:
        found = _locate_by_pid(cid, pid, root, Path(proc_root))
        if found is not None:
            return found
    if cgroupfs.is_unified(root):  # the unified (v2) hierarchy is mounted at the root
        d = _container_dir(root, cid)
        if d is not None:
            return CgroupLocation(2, {"unified": d})
    else:
        dirs = {}
        for ctrl, mount in _v1_mounts(root).items():
            d = _container_dir(mount, cid)
            if d is not None:
                dirs[ctrl] = d
        if "cpuacct" in dirs or "memory" in dirs:
            return CgroupLocation(1, dirs)
        if (root / "unified" / "cgroup.controllers").exists():  # hybrid host whose engine uses the v2 side
            d = _container_dir(root / "unified", cid)
            if d is not None and (d / "cpu.stat").exists():
                return CgroupLocation(2, {"unified": d})
    raise NotFoundError(
        f"no cgroup found for container {container_id[:12]} under {root}"
        + (f" (nor through its process {pid})" if pid else ""),
        hint="check the container is running (docker ps) and its id; benchfarm looks through the container's "
             "process, then in the docker/<id>, docker/<...>/<id> and system.slice/docker-<id>.scope layouts "
             "of cgroup v1 and v2",
    )


def parse_flat_keyed(data: bytes) -> dict[bytes, int]:
    """``key value`` lines (cpu.stat, cpuacct.stat) → ``{key: value}``."""
    out = {}
    for line in data.split(b"\n"):
        parts = line.split()
        if len(parts) == 2:
            out[parts[0]] = int(parts[1])
    return out


def parse_blkio_v1(data: bytes) -> tuple[int, int]:
    """``blkio.throttle.io_service_bytes`` (``MAJ:MIN Read N`` lines) → (read_bytes, write_bytes) over devices."""
    read = write = 0
    for line in data.split(b"\n"):
        parts = line.split()
        if len(parts) == 3:
            if parts[1] == b"Read":
                read += int(parts[2])
            elif parts[1] == b"Write":
                write += int(parts[2])
    return read, write


def parse_io_stat_v2(data: bytes) -> tuple[int, int, int, int]:
    """``io.stat`` (``MAJ:MIN rbytes=.. wbytes=.. rios=.. wios=..``) → (rbytes, wbytes, rios, wios) over devices."""
    rb = wb = ri = wi = 0
    for line in data.split(b"\n"):
        for kv in line.split()[1:]:
            k, _, v = kv.partition(b"=")
            if k == b"rbytes":
                rb += int(v)
            elif k == b"wbytes":
                wb += int(v)
            elif k == b"rios":
                ri += int(v)
            elif k == b"wios":
                wi += int(v)
    return rb, wb, ri, wi


class CgroupCollector(Collector):
    """CPU usage and throttling, memory usage and peak, block I/O and pids of one container.

    ``cpu_util_pct`` is in percent of one CPU (200 means two CPUs busy).

    Args:
        container_id: the Docker container's id (full or a unique prefix).
        pid: the container's init process (the engine's ``State.Pid``), if known: finds the cgroup
            through ``/proc/<pid>/cgroup`` whatever the layout.
        root: the cgroup mount root.
        proc_root: the procfs root ``pid`` is read under.
        location: an already located cgroup (skips the search).
        clock: monotonic time source for rates (tests pass a fake).
    """

    name = "cgroup"

    def __init__(self, container_id: str, *, pid: int | None = None,
                 root: str | os.PathLike[str] = cgroupfs.CGROUP_ROOT,
                 proc_root: str | os.PathLike[str] = cgroupfs.PROC_ROOT,
                 location: CgroupLocation | None = None, clock: Callable[[], float] = time.monotonic) -> None:
        super().__init__()
        self._clock = clock
        self.container_id = container_id
        self.pid = pid
        self.root = Path(root)
        self.proc_root = Path(proc_root)
        self.location = location
        self._files: dict[str, OpenFile] = {}
        self._rates = RateTracker()
        self._last_usage: tuple[float, float] | None = None

    def _probe(self) -> Availability:
        if self.location is None:
            try:
                self.location = locate_cgroup(self.container_id, self.root, pid=self.pid, proc_root=self.proc_root)
            except NotFoundError as exc:
                return Availability(False, exc.message)
        loc = self.location
        if loc.version == 1:
            wanted = {
                "cpu_usage": ("cpuacct", "cpuacct.usage"), "cpu_user": ("cpuacct", "cpuacct.usage_user"),
                "cpu_sys": ("cpuacct", "cpuacct.usage_sys"), "cpuacct_stat": ("cpuacct", "cpuacct.stat"),
                "cpu_stat": ("cpu", "cpu.stat"), "mem": ("memory", "memory.usage_in_bytes"),
                "mem_peak": ("memory", "memory.max_usage_in_bytes"),
                "io": ("blkio", "blkio.throttle.io_service_bytes"), "pids": ("pids", "pids.current"),
            }
            paths = {k: loc.dirs[c] / f for k, (c, f) in wanted.items() if c in loc.dirs}
            if "cpu_user" in paths and (paths["cpu_user"]).exists():
                paths.pop("cpuacct_stat", None)
        else:
            d = loc.dirs["unified"]
            paths = {"cpu_stat": d / "cpu.stat", "mem": d / "memory.current", "mem_peak": d / "memory.peak",
                     "io": d / "io.stat", "pids": d / "pids.current"}
        self._files = {k: OpenFile(p, 4096) for k, p in paths.items() if p.exists()}
        if "cpu_usage" not in self._files and "cpu_stat" not in self._files:
            return Availability(False, f"no CPU accounting file in {loc.dirs}")
        self.sample()  # baseline for rates
        return Availability(True, f"cgroup v{loc.version} of {self.container_id[:12]}")

    def fields(self) -> list[FieldSpec]:
        return [
            FieldSpec("cpu_usage_seconds", "s"), FieldSpec("cpu_user_seconds", "s"),
            FieldSpec("cpu_system_seconds", "s"), FieldSpec("cpu_util_pct", "pct"),
            FieldSpec("cpu_nr_periods", "count"), FieldSpec("cpu_nr_throttled", "count"),
            FieldSpec("cpu_throttled_seconds", "s"), FieldSpec("memory_usage_bytes", "bytes"),
            FieldSpec("memory_peak_bytes", "bytes"), FieldSpec("io_read_bytes", "bytes"),
            FieldSpec("io_write_bytes", "bytes"), FieldSpec("io_read_bytes_per_s", "bytes/s"),
            FieldSpec("io_write_bytes_per_s", "bytes/s"), FieldSpec("pids_current", "count"),
        ]

    def sample(self) -> dict[str, Number]:
        f = self._files
        now = self._clock()
        out: dict[str, Number] = {}
        v1 = self.location is not None and self.location.version == 1
        stat = parse_flat_keyed(f["cpu_stat"].read()) if "cpu_stat" in f else {}
        if v1:
            usage = f["cpu_usage"].read_int() / 1e9
            if "cpu_user" in f:
                out["cpu_user_seconds"] = f["cpu_user"].read_int() / 1e9
                out["cpu_system_seconds"] = f["cpu_sys"].read_int() / 1e9
            elif "cpuacct_stat" in f:
                ticks = parse_flat_keyed(f["cpuacct_stat"].read())
                out["cpu_user_seconds"] = ticks.get(b"user", 0) / USER_HZ
                out["cpu_system_seconds"] = ticks.get(b"system", 0) / USER_HZ
            if stat:
                out["cpu_throttled_seconds"] = stat.get(b"throttled_time", 0) / 1e9
        else:
            usage = stat.get(b"usage_usec", 0) / 1e6
            out["cpu_user_seconds"] = stat.get(b"user_usec", 0) / 1e6
            out["cpu_system_seconds"] = stat.get(b"system_usec", 0) / 1e6
            if b"throttled_usec" in stat:
                out["cpu_throttled_seconds"] = stat[b"throttled_usec"] / 1e6
        out["cpu_usage_seconds"] = usage
        if b"nr_periods" in stat:
            out["cpu_nr_periods"] = stat[b"nr_periods"]
            out["cpu_nr_throttled"] = stat.get(b"nr_throttled", 0)
        last = self._last_usage
        if last is not None and now > last[0] and usage >= last[1]:
            out["cpu_util_pct"] = 100.0 * (usage - last[1]) / (now - last[0])
        self._last_usage = (now, usage)
        if "mem" in f:
            out["memory_usage_bytes"] = f["mem"].read_int()
        if "mem_peak" in f:
            out["memory_peak_bytes"] = f["mem_peak"].read_int()
        if "io" in f:
            data = f["io"].read()
            rb, wb = parse_blkio_v1(data) if v1 else parse_io_stat_v2(data)[:2]
            out["io_read_bytes"], out["io_write_bytes"] = rb, wb
            self._rates.rates(now, {"io_read_bytes": rb, "io_write_bytes": wb}, out)
        if "pids" in f:
            out["pids_current"] = f["pids"].read_int()
        return out

    def close(self) -> None:
        close_all(self._files)
        self._files = {}
