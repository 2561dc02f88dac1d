"""Reading cgroupfs for one process: which cgroup it is in, where that is mounted, and its CPU and memory limits.

The collectors (a benchmark container's cgroup, found through its init process) and
hardware detection (what this host really has when it is itself a container, such
as a farm node) both need the same three steps, kept here once and plain (no
pydantic, no SDK: Salt's grains import it through ``benchfarm.inventory.hardware``):

1. ``/proc/<pid>/cgroup`` names the process's cgroup per hierarchy: one line per v1
   hierarchy (``4:cpu,cpuacct:/docker/x``) and ``0::/x`` for v2.
2. That path is relative to the hierarchy's root, which is normally the mount
   (``/sys/fs/cgroup/<controller>`` on v1, ``/sys/fs/cgroup`` on v2). A container
   without a cgroup namespace may see its own cgroup mounted as the root instead,
   so when the full path is absent its leading parts are dropped until a directory
   exists (``resolve``).
3. Limits apply along the whole ancestry (the kernel charges every level), so the
   memory limit is the tightest one from the cgroup up to the mount; CPUs are the
   cpuset's *effective* list, which the kernel already narrows to the parents'.

Every function takes the roots (``root``: the cgroupfs mount; ``proc_root``) so
tests run them on constructed trees.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

CGROUP_ROOT = Path("/sys/fs/cgroup")
PROC_ROOT = Path("/proc")
# "no limit": v1 writes the largest page-aligned signed 64-bit value; anything this big is no limit
UNLIMITED_BYTES = 1 << 62


def parse_proc_cgroup(text: str) -> dict[str, str]:
    """``/proc/<pid>/cgroup`` as controller → path.

    v1 lines (``4:cpu,cpuacct:/docker/x``) give one entry per controller, named
    hierarchies keep their ``name=`` prefix; the v2 line (``0::/x``) is under ``""``.
    """
    paths: dict[str, str] = {}
    for line in text.splitlines():
        parts = line.strip().split(":", 2)
        if len(parts) != 3:
            continue
        _, controllers, path = parts
        for c in controllers.split(",") if controllers else [""]:
            paths[c] = path
    return paths


def process_cgroups(pid: int | str = "self", proc_root: Path = PROC_ROOT) -> dict[str, str]:
    """The cgroup paths of process ``pid`` (``"self"``: the caller), as :func:`parse_proc_cgroup` returns them.

    Raises:
        OSError: no such process, or its cgroup file cannot be read.
    """
    return parse_proc_cgroup((Path(proc_root) / str(pid) / "cgroup").read_text())


def is_unified(root: Path = CGROUP_ROOT) -> bool:
    """True when the v2 (unified) hierarchy is mounted at ``root`` itself (not a v1 or hybrid host)."""
    return (Path(root) / "cgroup.controllers").is_file()


def v1_mounts(root: Path = CGROUP_ROOT) -> dict[str, Path]:
    """Controller name → the v1 hierarchy dir under ``root`` that serves it (``cpu,cpuacct`` serves both).

    Co-mounted hierarchies are often also reachable by symlinks named after one
    controller (``cpu`` → ``cpu,cpuacct``); the real directory is preferred.
    """
    root = Path(root)
    mounts: dict[str, Path] = {}
    if not root.is_dir():
        return mounts
    entries = sorted(root.iterdir())
    for entry in entries:
        if entry.is_dir() and not entry.is_symlink():
            for ctrl in entry.name.split(","):
                mounts.setdefault(ctrl, entry)
    for entry in entries:
        if entry.is_symlink() and entry.name not in mounts and entry.is_dir():
            mounts[entry.name] = entry
    return mounts


def resolve(mount: Path, path: str, *, keep: int = 0) -> Path | None:
    """The directory of cgroup ``path`` in the hierarchy mounted at ``mount``; None when there is none.

    ``path`` as ``/proc/<pid>/cgroup`` writes it. When ``mount/path`` is absent the
    mount is rooted below the hierarchy's root (a container's own cgroup, mounted
    without a cgroup namespace): leading parts are dropped until a directory exists,
    keeping at least the last ``keep`` parts (1: the directory must still bear the
    cgroup's own name, never the mount itself).
    """
    parts = [p for p in path.split("/") if p]
    for start in range(len(parts) + 1 - keep):
        candidate = Path(mount).joinpath(*parts[start:])
        if candidate.is_dir():
            return candidate
    return None


def _hierarchy_dir(controller: str, pid: int | str, root: Path, proc_root: Path) -> tuple[Path, Path] | None:
    """(mount, cgroup dir) of ``pid`` for ``controller`` (v2: the one hierarchy); None when unreadable."""
    try:
        paths = process_cgroups(pid, proc_root)
    except OSError:
        return None
    if is_unified(root):
        mount, path = Path(root), paths.get("")
    else:
        mount = v1_mounts(root).get(controller) or Path(root) / controller
        path = paths.get(controller)
    if path is None:
        return None
    found = resolve(mount, path)
    return (mount, found) if found is not None else None


def parse_cpu_list(text: str) -> frozenset[int]:
    """A kernel CPU list (``0-3,6``; empty for none) as a set; ValueError when malformed."""
    cpus: set[int] = set()
    for part in text.strip().split(","):
        if part:
            lo, _, hi = part.partition("-")
            cpus.update(range(int(lo), int(hi or lo) + 1))
    return frozenset(cpus)


def format_cpu_list(cpus: Iterable[int]) -> str:
    """The kernel's form of a CPU set: ``{0, 1, 2, 5}`` → ``0-2,5``."""
    ranges: list[list[int]] = []
    for c in sorted(set(cpus)):
        if ranges and c == ranges[-1][1] + 1:
            ranges[-1][1] = c
        else:
            ranges.append([c, c])
    return ",".join(str(lo) if lo == hi else f"{lo}-{hi}" for lo, hi in ranges)


def effective_cpus(pid: int | str = "self", *, root: Path = CGROUP_ROOT,
                   proc_root: Path = PROC_ROOT) -> frozenset[int] | None:
    """The CPUs process ``pid`` may run on, as its cpuset cgroup says; None when that cannot be read.

    v1 ``cpuset.effective_cpus`` (else ``cpuset.cpus``), v2 ``cpuset.cpus.effective``
    of the nearest cgroup up the tree that has one (the cpuset controller may be
    enabled only higher up).
    """
    found = _hierarchy_dir("cpuset", pid, root, proc_root)
    if found is None:
        return None
    mount, d = found
    names = ("cpuset.cpus.effective",) if is_unified(root) else ("cpuset.effective_cpus", "cpuset.cpus")
    while True:
        for name in names:
            try:
                cpus = parse_cpu_list((d / name).read_text())
            except (OSError, ValueError):
                continue
            if cpus:
                return cpus
        if d in (mount, d.parent):  # the mount, or the filesystem's root
            return None
        d = d.parent


def _limit(path: Path) -> int | None:
    try:
        text = path.read_text().strip()
    except OSError:
        return None
    if not text.isdigit():  # v2 "max"
        return None
    value = int(text)
    return value if 0 < value < UNLIMITED_BYTES else None


def _v1_hierarchical_limit(d: Path) -> int | None:
    """``hierarchical_memory_limit`` of v1 ``memory.stat``: the kernel's own minimum over the ancestry."""
    try:
        text = (d / "memory.stat").read_text()
    except OSError:
        return None
    for line in text.splitlines():
        key, _, value = line.partition(" ")
        if key == "hierarchical_memory_limit" and value.strip().isdigit():
            v = int(value)
            return v if 0 < v < UNLIMITED_BYTES else None
    return None


def memory_limit(pid: int | str = "self", *, root: Path = CGROUP_ROOT, proc_root: Path = PROC_ROOT) -> int | None:
    """The tightest memory limit on process ``pid``'s cgroup or any ancestor up to the mount, in bytes.

    v1 ``memory.limit_in_bytes`` (and ``hierarchical_memory_limit``, which also sees
    ancestors above a container's own mount), v2 ``memory.max``. None when there is
    no limit (``max``, or v1's near-2^63 "unlimited") or nothing can be read.
    """
    found = _hierarchy_dir("memory", pid, root, proc_root)
    if found is None:
        return None
    mount, d = found
    v2 = is_unified(root)
    limits = [] if v2 else [_v1_hierarchical_limit(d)]
    while True:
        limits.append(_limit(d / ("memory.max" if v2 else "memory.limit_in_bytes")))
        if d in (mount, d.parent):  # the mount, or the filesystem's root
            break
        d = d.parent
    known = [v for v in limits if v is not None]
    return min(known) if known else None
