"""Which registered hosts can run a job, and in words why the others cannot.

Pure logic over a JobSpec and HostCapabilities records. Each check names the
requirement the way the job states it ("1 GPU matching 'H100|A100'") and what
the host has instead ("0 GPUs"), so a refusal reads e.g.
``job requires 1 GPU; no registered host has a GPU (hosts: vm: 0 GPUs)``.
A host's policy is matched like its hardware: a device, a capability, a network
or a limit above its maximum that no host allows is refused at submit, e.g.
``job requires network 'host'; no registered host has a policy allowing network
'host' (hosts: vm: allowed networks: none)``.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from fnmatch import fnmatch

from benchfarm.scheduler.capabilities import HostCapabilities
from benchfarm.spec.model import JobSpec, cpuset_cpus

# host status -> why a host in it takes no jobs
NOT_ELIGIBLE = {
    "quarantined": "quarantined (failed its health check; eligible again once it passes)",
    "maintenance": "in maintenance (eligible again when an operator ends it)",
    "retired": "retired (eligible again only if it registers anew)",
    "bad": "bad (failed its health check)",
}


@dataclass(frozen=True)
class Unmet:
    """One requirement a host does not meet.

    ``need`` is what the job asks for, ``lacking`` how to say nobody has it
    ("a GPU"), ``has`` what this host has instead.
    """

    key: str
    need: str
    lacking: str
    has: str


@dataclass
class MatchResult:
    """The hosts that can run a job; for the others, why not."""

    hosts: list[HostCapabilities] = field(default_factory=list)
    # one line per unmet requirement, naming the hosts that lack it (empty when some host matched)
    reasons: list[str] = field(default_factory=list)
    # host id -> that host's unmet requirements, in words
    per_host: dict[str, list[str]] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return bool(self.hosts)


def _plural(n: int, word: str) -> str:
    return f"{n} {word}" if n == 1 else f"{n} {word}s"


def _mib(n: int) -> str:
    return f"{n / (1 << 30):.1f} GiB" if n >= 1 << 30 else f"{n >> 20} MiB"


def _cap(name: str) -> str:
    return name.strip().upper().removeprefix("CAP_")


def _status(spec: JobSpec, h: HostCapabilities) -> Iterator[Unmet]:
    if h.status in NOT_ELIGIBLE:
        yield Unmet("status", "a host in service", "a host in service", NOT_ELIGIBLE[h.status])


def _pool(spec: JobSpec, h: HostCapabilities) -> Iterator[Unmet]:
    pool = spec.requirements.pool
    if pool and pool != h.pool:
        yield Unmet("pool", f"pool {pool!r}", f"is in pool {pool!r}", f"pool {h.pool!r}")


def _cpu(spec: JobSpec, h: HostCapabilities) -> Iterator[Unmet]:
    r = spec.requirements
    if r.cpu_vendor and r.cpu_vendor.lower() not in h.cpu_vendor.lower():
        yield Unmet("cpu_vendor", f"CPU vendor {r.cpu_vendor!r}", f"a {r.cpu_vendor} CPU",
                    repr(h.cpu_vendor or "unknown"))
    if r.cpu_model and not re.search(r.cpu_model, h.cpu_model, re.IGNORECASE):
        yield Unmet("cpu_model", f"a CPU model matching {r.cpu_model!r}", "such a CPU", repr(h.cpu_model or "unknown"))


def _gpu(spec: JobSpec, h: HostCapabilities) -> Iterator[Unmet]:
    g = spec.requirements.gpu
    if g is None:
        return
    fits = [x for x in h.gpus if not g.model or re.search(g.model, x.model, re.IGNORECASE)]
    if len(fits) < g.count:
        matching = f" matching {g.model!r}" if g.model else ""
        lacking = (f"{'a GPU' if g.count == 1 else f'{g.count} GPUs'}{matching}")
        has = _plural(len(h.gpus), "GPU") + (f" ({', '.join(x.model for x in h.gpus)})" if h.gpus else "")
        yield Unmet("gpu", f"{_plural(g.count, 'GPU')}{matching}", lacking, has)


def _fpga(spec: JobSpec, h: HostCapabilities) -> Iterator[Unmet]:
    f = spec.requirements.fpga
    if f is None:
        return
    fits = [x for x in h.fpgas if (not f.vendor or f.vendor.lower() == x.vendor.lower())
            and (not f.model or re.search(f.model, x.model, re.IGNORECASE))]
    if len(fits) < f.count:
        what = (f" from {f.vendor}" if f.vendor else "") + (f" matching {f.model!r}" if f.model else "")
        lacking = f"{'an FPGA' if f.count == 1 else f'{f.count} FPGAs'}{what}"
        has = _plural(len(h.fpgas), "FPGA") + (
            f" ({', '.join(f'{x.vendor} {x.model}' for x in h.fpgas)})" if h.fpgas else "")
        yield Unmet("fpga", f"{_plural(f.count, 'FPGA')}{what}", lacking, has)


def _memory(spec: JobSpec, h: HostCapabilities) -> Iterator[Unmet]:
    need = max(spec.requirements.min_memory_bytes or 0, spec.resources.memory_bytes or 0)
    # 0 means the host's memory is unknown (no /proc/meminfo reading yet): not held against it
    if need and h.memory_bytes and need > h.memory_bytes:
        yield Unmet("memory", f"{_mib(need)} of memory", "that much memory", _mib(h.memory_bytes))
        return
    limit, most = spec.resources.memory_bytes, h.job_memory_max
    if limit and most and limit > most:
        yield Unmet("memory_limit", f"a memory limit of {_mib(limit)}", "a policy allowing that much",
                    f"at most {_mib(most)} per job")


def _pids(spec: JobSpec, h: HostCapabilities) -> Iterator[Unmet]:
    pids = spec.resources.pids
    if pids and pids > h.max_pids_limit:
        yield Unmet("pids", f"a pids limit of {pids}", "a policy allowing that many",
                    f"at most {h.max_pids_limit} per job")


def _cpus(spec: JobSpec, h: HostCapabilities) -> Iterator[Unmet]:
    res = spec.resources
    if res.cpuset:
        highest = max(cpuset_cpus(res.cpuset))
        if highest >= h.cpu_count:
            yield Unmet("cpuset", f"cpuset {res.cpuset} (CPU {highest})", f"CPU {highest}",
                        f"{_plural(h.cpu_count, 'CPU')} (0-{h.cpu_count - 1})")
    if res.cpus and res.cpus > h.cpu_count:
        yield Unmet("cpus", f"{res.cpus:g} CPUs", f"{res.cpus:g} CPUs", _plural(h.cpu_count, "CPU"))


def _devices(spec: JobSpec, h: HostCapabilities) -> Iterator[Unmet]:
    for d in spec.devices:
        if not any(fnmatch(d.host_path, pattern) for pattern in h.allowed_devices):
            yield Unmet(f"device:{d.host_path}", f"device {d.host_path}", f"{d.host_path} on its device allow-list",
                        f"allow-list {', '.join(h.allowed_devices) or 'empty'}")


def _capabilities(spec: JobSpec, h: HostCapabilities) -> Iterator[Unmet]:
    allowed = {_cap(a) for a in h.allowed_cap_add}
    refused = [c for c in spec.cap_add if _cap(c) not in allowed]
    if refused:
        yield Unmet("cap_add", f"capabilities {', '.join(refused)}", "a policy allowing them",
                    f"allowed capabilities {', '.join(sorted(allowed)) or 'none'}")


def _network(spec: JobSpec, h: HostCapabilities) -> Iterator[Unmet]:
    if spec.network != "none" and spec.network not in h.allowed_networks:
        yield Unmet("network", f"network {spec.network!r}", f"a policy allowing network {spec.network!r}",
                    f"allowed networks: {', '.join(['none', *h.allowed_networks])}")


CHECKS: list[Callable[[JobSpec, HostCapabilities], Iterator[Unmet]]] = [
    _status, _pool, _cpu, _gpu, _fpga, _memory, _pids, _cpus, _devices, _capabilities, _network,
]


def unmet(spec: JobSpec, host: HostCapabilities) -> list[Unmet]:
    """The job's requirements this host does not meet (empty: it can run the job)."""
    return [u for check in CHECKS for u in check(spec, host)]


def _summarise(failures: dict[str, list[Unmet]], total: int) -> list[str]:
    """One line per unmet requirement, in check order, naming each host that lacks it."""
    by_key: dict[str, list[tuple[str, Unmet]]] = {}
    for host_id, items in failures.items():
        for u in items:
            by_key.setdefault(u.key, []).append((host_id, u))
    order = ["status", "pool", "cpu_vendor", "cpu_model", "gpu", "fpga", "memory", "memory_limit", "pids", "cpuset",
             "cpus", "device", "cap_add", "network"]
    lines = []
    for _, entries in sorted(by_key.items(), key=lambda kv: order.index(kv[0].split(":")[0])):
        first = entries[0][1]
        listing = ", ".join(f"{host_id}: {u.has}" for host_id, u in entries)
        if first.key == "status":
            lines.append(f"{'no registered host is' if len(entries) == total else 'some hosts are not'} "
                         f"in service (hosts: {listing})")
        elif len(entries) == total:
            verb = "is" if first.lacking.startswith("is ") else "has"
            lacking = first.lacking.removeprefix("is ")
            lines.append(f"job requires {first.need}; no registered host {verb} {lacking} (hosts: {listing})")
        else:
            lines.append(f"job requires {first.need}; lacking on {listing}")
    return lines


def match_hosts(spec: JobSpec, hosts: list[HostCapabilities]) -> MatchResult:
    """The hosts that can run ``spec``; when none, why not.

    Args:
        spec: the validated job spec.
        hosts: every registered host's capabilities.

    Returns:
        MatchResult: ``hosts`` in the order given; ``reasons`` (only when no host
        matched) one line per unmet requirement; ``per_host`` every refused host's reasons.
    """
    result = MatchResult()
    if not hosts:
        result.reasons.append("no host is registered (is a worker running? see `benchfarm hosts list` "
                              "and `benchfarm stack status`)")
        return result
    failures: dict[str, list[Unmet]] = {}
    for h in hosts:
        problems = unmet(spec, h)
        if problems:
            failures[h.host_id] = problems
            result.per_host[h.host_id] = [f"job requires {u.need}, host has {u.has}" for u in problems]
        else:
            result.hosts.append(h)
    if not result.hosts:
        result.reasons = _summarise(failures, len(hosts))
    return result
