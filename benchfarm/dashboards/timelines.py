"""The job timeline panels (the Job run dashboard's fields) and the number format shared by the HTML report
and the web console.

Here, not in benchfarm.report (whose package loads matplotlib), so the API uses them without it.
"""

from __future__ import annotations

import math

#: panel title -> (unit label, [(collector, field, legend)]): the same fields as the Job run dashboard
TIMELINES: dict[str, tuple[str, list[tuple[str, str, str]]]] = {
    "CPU": ("%", [("host", "cpuset_util_pct", "job cpuset (host)"), ("host", "cpu_util_pct", "all CPUs (host)"),
                  ("cgroup", "cpu_util_pct", "container (cgroup)")]),
    "Memory": ("MiB", [("cgroup", "memory_usage_bytes", "container"), ("host", "mem_used_bytes", "host used")]),
    "I/O": ("MiB/s", [("cgroup", "io_read_bytes_per_s", "container read"),
                      ("cgroup", "io_write_bytes_per_s", "container write"),
                      ("host", "disk_read_bytes_per_s", "host disk read"),
                      ("host", "disk_write_bytes_per_s", "host disk write")]),
    "GPU": ("% / W", [("gpu", "gpu0_util_pct", "GPU 0 util %"), ("gpu", "gpu0_mem_util_pct", "GPU 0 mem util %"),
                      ("gpu", "gpu0_power_w", "GPU 0 power W")]),
}
#: unit label -> factor from the stored unit (bytes) to the label's
SCALE = {"MiB": 1 / (1 << 20), "MiB/s": 1 / (1 << 20)}


def fmt(value: float | None) -> str:
    """A number for a table cell: 6 significant digits, '-' for None or NaN."""
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "-"
    return f"{value:.6g}"
