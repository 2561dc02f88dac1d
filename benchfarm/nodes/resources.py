"""CPU sets and memory sizes: what a node may be given on this machine.

The grammar is the job spec's (``benchfarm.spec.fields``: ``0-3,6``, ``512m``,
``2GiB``), so a node and a job read ``--cpus``/``cpuset`` the same way; this
module adds what only nodes need: the machine's own CPUs, the canonical form
of a set, and errors of the node provider.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from benchfarm.nodes.errors import NodeSpecError
from benchfarm.spec import fields


def parse_cpu_list(text: str) -> frozenset[int]:
    """The CPUs of a kernel CPU list (``0``, ``0-3``, ``0,2-3``), as cpuset files and ``--cpuset-cpus`` write them.

    Raises:
        NodeSpecError: empty, malformed, or a range that runs backwards.
    """
    try:
        return frozenset(fields.cpuset_cpus(fields.check_cpuset(text)))
    except ValueError as exc:
        raise NodeSpecError(f"CPU set: {exc}", hint="give CPUs as the kernel lists them, e.g. 0, 0-1 or 0,2") from exc


def format_cpu_list(cpus: Iterable[int]) -> str:
    """The canonical kernel form of a CPU set: sorted, ranges collapsed (``{0,1,2,5}`` → ``0-2,5``)."""
    ordered = sorted(set(cpus))
    parts: list[str] = []
    i = 0
    while i < len(ordered):
        j = i
        while j + 1 < len(ordered) and ordered[j + 1] == ordered[j] + 1:
            j += 1
        parts.append(str(ordered[i]) if i == j else f"{ordered[i]}-{ordered[j]}")
        i = j + 1
    return ",".join(parts)


def parse_memory(text: str | int) -> int:
    """Bytes of a memory size (``1g``, ``1GiB``, ``512m``, or bytes; binary units).

    Raises:
        NodeSpecError: not a positive size.
    """
    try:
        return fields.parse_size(text)
    except ValueError as exc:
        raise NodeSpecError(f"memory: {exc}", hint="write it like 512m, 1g or 2GiB") from exc


def format_size(n: int) -> str:
    """A byte count in the largest binary unit that divides it (``1073741824`` → ``1GiB``)."""
    for unit, factor in (("TiB", 1 << 40), ("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)):
        if n >= factor and n % factor == 0:
            return f"{n // factor}{unit}"
    return f"{n}B"


def host_cpus(sys_root: Path = Path("/sys")) -> frozenset[int]:
    """The CPUs containers may be pinned to on this machine.

    The root cpuset's effective CPUs (cgroup v1 ``cpuset/cpuset.effective_cpus``,
    v2 ``cpuset.cpus.effective``), which is what the engine checks ``--cpuset-cpus``
    against; the online CPUs when neither file is there.

    Raises:
        NodeSpecError: none of those files is readable.
    """
    for rel in ("fs/cgroup/cpuset/cpuset.effective_cpus", "fs/cgroup/cpuset/cpuset.cpus",
                "fs/cgroup/cpuset.cpus.effective", "devices/system/cpu/online"):
        try:
            text = (sys_root / rel).read_text().strip()
        except OSError:
            continue
        if text:
            return parse_cpu_list(text)
    raise NodeSpecError(f"cannot tell this machine's CPUs: none of the cpuset files under {sys_root} is readable",
                        hint="is /sys mounted?")
