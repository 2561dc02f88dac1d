"""The host's view of a node's cgroups: which cgroup holds it, and what its limits are.

Everything here reads the *host's* cgroupfs and procfs, never the node's own
word: whether a benchmark container started by a node's engine is inside the
node's CPU set and memory is a fact of the host kernel, so that is where it is
checked. Both layouts are read:

* cgroup v1 (this project's CI machines): one hierarchy per controller,
  ``/sys/fs/cgroup/<controller>/<path>``; a container of a cgroupfs-driven engine
  sits at ``/docker/<id>``.
* cgroup v2 (most hosts in the field): one hierarchy, ``/sys/fs/cgroup/<path>``;
  ``/system.slice/docker-<id>.scope`` under systemd.

The roots are arguments so the unit tests read recorded trees.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from benchfarm.cgroupfs import UNLIMITED_BYTES, parse_proc_cgroup
from benchfarm.nodes.resources import parse_cpu_list

# the shared cgroupfs reader: one parser of /proc/<pid>/cgroup and one "unlimited" threshold for the farm
_V1_UNLIMITED = UNLIMITED_BYTES

@dataclass(frozen=True)
class HostCgroups:
    """The host's cgroupfs (``root``) and procfs (``proc``)."""

    root: Path = Path("/sys/fs/cgroup")
    proc: Path = Path("/proc")

    @property
    def mode(self) -> str:
        """``v2`` on a unified hierarchy, else ``v1`` (a hybrid host's empty ``unified`` mount counts as v1)."""
        return "v2" if (self.root / "cgroup.controllers").is_file() else "v1"

    def of_pid(self, pid: int) -> str:
        """The cgroup path of a host process (the cpuset hierarchy's on v1).

        Raises:
            FileNotFoundError: no such process.
            LookupError: the process has no cgroup of the expected hierarchy.
        """
        paths = parse_proc_cgroup((self.proc / str(pid) / "cgroup").read_text())
        key = "" if self.mode == "v2" else "cpuset"
        if key not in paths:
            raise LookupError(f"/proc/{pid}/cgroup names no {'unified' if key == '' else key} cgroup")
        return paths[key]

    def directory(self, controller: str, path: str) -> Path:
        """The cgroupfs directory of ``path`` for ``controller`` (the controller is ignored on v2)."""
        rel = path.lstrip("/")
        return self.root / rel if self.mode == "v2" else self.root / controller / rel

    def exists(self, path: str) -> bool:
        """True when ``path`` exists for the cpuset and memory controllers."""
        return all(self.directory(c, path).is_dir() for c in ("cpuset", "memory"))

    def cpus(self, path: str) -> frozenset[int]:
        """The CPUs processes in ``path`` may run on (the kernel's effective set)."""
        name = "cpuset.cpus.effective" if self.mode == "v2" else "cpuset.effective_cpus"
        return parse_cpu_list(self.directory("cpuset", path).joinpath(name).read_text().strip())

    def memory_limit(self, path: str) -> int | None:
        """The memory limit set on ``path`` itself, in bytes; None when unlimited."""
        if self.mode == "v2":
            text = self.directory("memory", path).joinpath("memory.max").read_text().strip()
            return None if text == "max" else int(text)
        value = int(self.directory("memory", path).joinpath("memory.limit_in_bytes").read_text().strip())
        return None if value >= _V1_UNLIMITED else value

    def effective_memory_limit(self, path: str) -> int | None:
        """The tightest memory limit on ``path`` or any ancestor (the kernel charges every level)."""
        limits: list[int] = []
        current = "/" + path.strip("/")
        while True:
            try:
                limit = self.memory_limit(current)
            except FileNotFoundError:  # the v2 root has no memory.max; a test tree may skip a level
                limit = None
            if limit is not None:
                limits.append(limit)
            if current == "/":
                break
            current = current.rsplit("/", 1)[0] or "/"
        return min(limits) if limits else None

    def find(self, under: str, name_part: str) -> str | None:
        """The path of the first cgroup below ``under`` whose directory name contains ``name_part``."""
        base = self.directory("cpuset", under)
        if not base.is_dir():
            return None
        for d in sorted(base.rglob(f"*{name_part}*")):
            if d.is_dir():
                return "/" + str(d.relative_to(self.directory("cpuset", "/"))).strip("/")
        return None

    @staticmethod
    def is_within(path: str, ancestor: str) -> bool:
        """True when cgroup ``path`` is ``ancestor`` or below it."""
        a = "/" + ancestor.strip("/")
        p = "/" + path.strip("/")
        return p == a or p.startswith(a.rstrip("/") + "/")
