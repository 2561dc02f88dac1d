"""Which registered hosts can run a job, and in words why the others cannot."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from fnmatch import fnmatch

from benchfarm.scheduler.capabilities import HostCapabilities
from benchfarm.spec.model import JobSpec, cpuset_cpus

NOT_ELIGIBLE = {"quarantined", "maintenance", "retired", "bad"}


@dataclass
class MatchResult:
    hosts: list[HostCapabilities] = field(default_factory=list)
    reasons: list[str] = field(default_factory=list)  # one per refused host, or one when there are no hosts


def unmet(spec: JobSpec, h: HostCapabilities) -> list[str]:
    """The job's requirements this host does not meet, in words (empty: it can run the job)."""
    r = spec.requirements
    out: list[str] = []
    if h.status in NOT_ELIGIBLE:
        out.append(f"host is {h.status}")
    if r.pool and r.pool != h.pool:
        out.append(f"job requires pool {r.pool!r}, host is in {h.pool!r}")
    if r.cpu_vendor and r.cpu_vendor.lower() not in h.cpu_vendor.lower():
        out.append(f"job requires CPU vendor {r.cpu_vendor!r}, host has {h.cpu_vendor!r}")
    if r.cpu_model and not re.search(r.cpu_model, h.cpu_model, re.IGNORECASE):
        out.append(f"job requires a CPU model matching {r.cpu_model!r}, host has {h.cpu_model!r}")
    if r.gpu is not None:
        gpus = [g for g in h.gpus if not r.gpu.model or re.search(r.gpu.model, g.model, re.IGNORECASE)]
        if len(gpus) < r.gpu.count:
            what = f"{r.gpu.count} GPU(s)" + (f" matching {r.gpu.model!r}" if r.gpu.model else "")
            has = ", ".join(g.model for g in h.gpus) or "no GPU"
            out.append(f"job requires {what}; host has {has}")
    if r.fpga is not None:
        fpgas = [f for f in h.fpgas if (not r.fpga.vendor or r.fpga.vendor.lower() == f.vendor.lower())
                 and (not r.fpga.model or re.search(r.fpga.model, f.model, re.IGNORECASE))]
        if len(fpgas) < r.fpga.count:
            has = ", ".join(f"{f.vendor} {f.model}" for f in h.fpgas) or "no FPGA"
            out.append(f"job requires {r.fpga.count} FPGA(s)"
                       + (f" of vendor {r.fpga.vendor}" if r.fpga.vendor else "")
                       + (f" matching {r.fpga.model!r}" if r.fpga.model else "") + f"; host has {has}")
    need_mem = max(r.min_memory_bytes or 0, spec.resources.memory_bytes or 0)
    if need_mem and h.memory_bytes and need_mem > h.memory_bytes:
        out.append(f"job needs {need_mem >> 20} MiB of memory, host has {h.memory_bytes >> 20} MiB")
    if spec.resources.cpuset:
        too_high = [c for c in cpuset_cpus(spec.resources.cpuset) if c >= h.cpu_count]
        if too_high:
            out.append(f"cpuset {spec.resources.cpuset} names CPU {too_high[0]}, host has {h.cpu_count} CPUs")
    if spec.resources.cpus and spec.resources.cpus > h.cpu_count:
        out.append(f"job asks for {spec.resources.cpus} CPUs, host has {h.cpu_count}")
    for d in spec.devices:
        if not any(fnmatch(d.host_path, p) for p in h.allowed_devices):
            out.append(f"device {d.host_path} is not on the host's allow-list "
                       f"({', '.join(h.allowed_devices) or 'empty'})")
    refused = [c for c in spec.cap_add if c.upper() not in {a.upper() for a in h.allowed_cap_add}]
    if refused:
        out.append(f"capabilities {', '.join(refused)} are not allowed on the host")
    return out


def match_hosts(spec: JobSpec, hosts: list[HostCapabilities]) -> MatchResult:
    """The hosts that can run ``spec``; when none, why not, host by host."""
    result = MatchResult()
    if not hosts:
        result.reasons.append("no host is registered (is a worker running? `benchfarm stack status`)")
        return result
    for h in hosts:
        problems = unmet(spec, h)
        if problems:
            result.reasons.append(f"{h.host_id}: " + "; ".join(problems))
        else:
            result.hosts.append(h)
    return result
