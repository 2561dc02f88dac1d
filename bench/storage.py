"""Storage: bytes per stored collector sample, the farm's metrics template against the mapping it had before.

Both sides get the same N samples, written through the farm's store writer (StoreWriter.write, the
way MetricSink.ship sends them: benchfarm.store.documents.sample_action, deterministic ids,
op_type create) in batches, each into its own fresh plain index
(``bfh16-storage-*``; plain, because data streams cannot be deleted on this Elasticsearch build)
created with that side's settings and mappings. Each index is then force-merged to one segment and
its primary store size read from the index stats; the script prints bytes per sample for each side
and their ratio (target: at most 40 bytes per sample for the farm's template).

The samples are a simulated CPU benchmark at 1 Hz: a host collector (2 CPUs) and a cgroup collector
per tick, with the collectors' own field names and value arithmetic (jiffy ratios, counters divided
by a monotonic dt, page-sized memory), so values carry the entropy real ones do; seeded, so every run
stores the same documents.

Usage: python bench/storage.py [--samples 40000] [--repeat 1] [--keep]
"""

from __future__ import annotations

import argparse
import copy
import hashlib
import random
import statistics
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

from benchfarm.adapters.elasticsearch import EsClient
from benchfarm.collectors.base import Sample
from benchfarm.settings import get_settings
from benchfarm.store.documents import sample_action
from benchfarm.store.spool import Spool
from benchfarm.store.templates import templates
from benchfarm.store.writer import StoreWriter

KEYWORD = {"type": "keyword"}
# the metrics mapping before issue 16 (commit 901457c): what the figures are compared against
BEFORE: dict[str, Any] = {
    "settings": {"number_of_shards": 1, "number_of_replicas": 0},
    "mappings": {
        "dynamic": "false",
        "dynamic_templates": [{"metric_numbers": {"path_match": "m.*", "mapping": {"type": "double"}}}],
        "properties": {
            "@timestamp": {"type": "date"}, "host_id": KEYWORD, "job_id": KEYWORD, "repetition": {"type": "integer"},
            "collector": KEYWORD, "spec_name": KEYWORD, "m": {"type": "object", "dynamic": "true"},
        },
    },
}
USER_HZ = 100
JOB_S = 600  # one simulated job: 10 minutes at 1 Hz, 5 repetitions


class _Sim:
    """Counters of one host running one CPU-bound container on CPU 1; fields computed as the collectors do."""

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng
        self.jiffies = [[0, 0], [0, 0]]  # per CPU: busy, total
        self.mono = 1000.0
        self.avail_kb = 20_000_000
        self.cached_kb = 3_000_000
        self.disk = [0, 0, 0, 0, 0]  # read sectors, write sectors, reads, writes, ticks
        self.net = [0, 0, 0, 0]
        self.load = 1.0
        self.cg_usage_ns = 0
        self.cg_user = self.cg_sys = 0
        self.cg_mem = 50_000 * 4096
        self.cg_peak = self.cg_mem
        self.cg_io = [0, 0]

    def tick(self) -> tuple[dict[str, float], dict[str, float]]:
        r = self.rng
        dt = 1.0 + r.gauss(0, 0.0004)
        self.mono += dt
        host: dict[str, float] = {}
        busy_frac = (r.uniform(0.02, 0.25), r.uniform(0.97, 1.0))
        tot_all = busy_all = 0
        for cpu, frac in enumerate(busy_frac):
            total = round(dt * USER_HZ) + r.choice((-1, 0, 0, 0, 1))
            busy = min(total, round(total * frac))
            host[f"cpu{cpu}_util_pct"] = 100.0 * busy / total
            tot_all += total
            busy_all += busy
        host["cpu_util_pct"] = 100.0 * busy_all / tot_all
        host["cpuset_util_pct"] = (host["cpu0_util_pct"] + host["cpu1_util_pct"]) / 2
        self.avail_kb += r.randint(-2000, 2000)
        self.cached_kb += r.randint(-50, 60)
        host.update(mem_total_bytes=24_000_000 * 1024, mem_available_bytes=self.avail_kb * 1024,
                    mem_used_bytes=(24_000_000 - self.avail_kb) * 1024, mem_cached_bytes=self.cached_kb * 1024,
                    swap_used_bytes=0)
        self.load = round(self.load * 0.92 + 0.08 * (1 + sum(busy_frac)) + r.gauss(0, 0.02), 2)
        host.update(load1=self.load, load5=round(self.load * 0.9, 2), load15=round(self.load * 0.8, 2))
        writes = r.choice((0, 0, 0, r.randint(1, 30)))
        step = [r.choice((0, 0, 0, 0, r.randint(1, 64))) * 8, writes * 8 * r.randint(1, 16),
                r.choice((0, 0, 0, 1)), writes, writes * r.randint(0, 3)]
        names = ("disk_read_bytes_per_s", "disk_write_bytes_per_s", "disk_reads_per_s", "disk_writes_per_s")
        for i, name in enumerate(names):
            host[name] = step[i] * (512 if i < 2 else 1) / dt
        host["disk_busy_pct"] = step[4] / dt / 10.0
        net = [r.randint(0, 3) * 66, r.randint(0, 2) * 54, 0, 0]
        net[2], net[3] = net[0] // 66, net[1] // 54
        for i, name in enumerate(("net_rx_bytes_per_s", "net_tx_bytes_per_s", "net_rx_packets_per_s",
                                  "net_tx_packets_per_s")):
            host[name] = net[i] / dt
        host["cpu_freq_mhz"] = 2994.375
        cg: dict[str, float] = {}
        used_ns = int(dt * 1e9 * busy_frac[1]) + r.randint(-200_000, 200_000)
        self.cg_usage_ns += used_ns
        self.cg_user += round(used_ns / 1e7 * 0.98)
        self.cg_sys += r.choice((0, 0, 1, 2))
        cg.update(cpu_usage_seconds=self.cg_usage_ns / 1e9, cpu_user_seconds=self.cg_user / USER_HZ,
                  cpu_system_seconds=self.cg_sys / USER_HZ, cpu_util_pct=100.0 * used_ns / 1e9 / dt,
                  cpu_nr_periods=0, cpu_nr_throttled=0, cpu_throttled_seconds=0.0)
        self.cg_mem = max(4096, self.cg_mem + r.randint(-64, 80) * 4096)
        self.cg_peak = max(self.cg_peak, self.cg_mem)
        io = [r.choice((0, 0, 0, r.randint(1, 32) * 4096)), r.choice((0, 0, r.randint(1, 64) * 4096))]
        self.cg_io = [self.cg_io[0] + io[0], self.cg_io[1] + io[1]]
        cg.update(memory_usage_bytes=self.cg_mem, memory_peak_bytes=self.cg_peak, io_read_bytes=self.cg_io[0],
                  io_write_bytes=self.cg_io[1], io_read_bytes_per_s=io[0] / dt, io_write_bytes_per_s=io[1] / dt,
                  pids_current=r.choice((3, 3, 3, 4)))
        return host, cg


def make_samples(n: int, seed: int = 16) -> list[Sample]:
    """n samples (host and cgroup alternating) of consecutive simulated jobs on one host."""
    rng = random.Random(seed)
    out: list[Sample] = []
    t = 1_790_000_000.0
    job_no = 0
    while len(out) < n:
        sim, job = _Sim(rng), f"job-{uuid.UUID(int=rng.getrandbits(128)).hex[:20]}"
        for i in range(JOB_S):
            host, cg = sim.tick()
            t += 1.0 + rng.gauss(0, 0.0002)
            rep = i * 5 // JOB_S
            out.append(Sample(timestamp=t, collector="host", fields=host, job_id=job, repetition=rep,
                              host_id="h16-bench-host"))
            out.append(Sample(timestamp=t + 0.0003, collector="cgroup", fields=cg, job_id=job, repetition=rep,
                              host_id="h16-bench-host"))
            if len(out) >= n:
                break
        job_no += 1
        t += 30.0
    return out


def farm_body(prefix: str) -> dict[str, Any]:
    """The settings and mappings the farm's metrics template gives a new backing index."""
    body = templates(prefix)[f"{prefix}-metrics"]["template"]
    return {"settings": body.get("settings", {}), "mappings": body["mappings"]}


def before_id(s: Sample) -> str:
    """The sample id before issue 16: a digest of the whole sample (40 hex characters)."""
    parts = ("sample", s.job_id, s.attempt, s.repetition, s.collector, s.host_id, f"{s.timestamp:.6f}")
    return hashlib.sha1("\x1f".join(str(p) for p in parts).encode()).hexdigest()


def store_bytes(writer: StoreWriter, samples: list[Sample], name: str, body: dict[str, Any],
                batch: int, old_ids: bool = False) -> tuple[int, float]:
    """Index ``samples`` into a fresh index ``name``; returns (bytes after a force-merge, seconds to write)."""
    raw = writer.es.raw
    raw.indices.create(index=name, settings=copy.deepcopy(body["settings"]), mappings=copy.deepcopy(body["mappings"]))
    actions = [sample_action(s, name, "sysbench-cpu") for s in samples]
    if old_ids:
        for a, s in zip(actions, samples, strict=True):
            a["_id"] = before_id(s)
    t0 = time.perf_counter()
    for i in range(0, len(actions), batch):
        assert writer.write(actions[i:i + batch]), "the writer spooled: Elasticsearch is not taking documents"
    took = time.perf_counter() - t0
    raw.indices.refresh(index=name)
    assert raw.count(index=name)["count"] == len(samples)
    raw.indices.forcemerge(index=name, max_num_segments=1, wait_for_completion=True)
    raw.indices.refresh(index=name)
    stats = raw.indices.stats(index=name, metric="store")
    return int(stats["indices"][name]["primaries"]["store"]["size_in_bytes"]), took


def profile(writer: StoreWriter, name: str, n: int, top: int = 12) -> None:
    """Bytes per sample of the largest fields of ``name``: what the store spends its bytes on."""
    res = writer.es.raw.perform_request("POST", f"/{name}/_disk_usage", params={"run_expensive_tasks": "true"},
                                        headers={"accept": "application/json"})
    fields = res.body[name]["fields"]
    ranked = sorted(fields.items(), key=lambda kv: -kv[1]["total_in_bytes"])
    m_total = sum(v["total_in_bytes"] for k, v in fields.items() if k.startswith("m."))
    print(f"    readings (m.*, {sum(k.startswith('m.') for k in fields)} fields): {m_total / n:.1f} bytes/sample")
    for field, v in ranked[:top]:
        parts = {"inverted": v.get("inverted_index", {}).get("total_in_bytes", 0),
                 "stored": v.get("stored_fields_in_bytes", 0), "doc values": v.get("doc_values_in_bytes", 0),
                 "points": v.get("points_in_bytes", 0)}
        detail = ", ".join(f"{k} {b / n:.1f}" for k, b in parts.items() if b)
        print(f"    {field:28s} {v['total_in_bytes'] / n:6.1f} bytes/sample ({detail})")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--samples", type=int, default=40000)
    ap.add_argument("--repeat", type=int, default=1, help="pairs of indices written (order alternating)")
    ap.add_argument("--batch", type=int, default=500, help="samples per bulk request")
    ap.add_argument("--keep", action="store_true", help="keep the indices (for a look at their segments)")
    ap.add_argument("--profile", action="store_true", help="print where the bytes go (the _disk_usage API)")
    args = ap.parse_args()

    settings = get_settings()
    es = EsClient.from_settings(settings)
    writer = StoreWriter(es, Spool(Path(tempfile.mkdtemp(prefix="bench-storage-")) / "spool.jsonl"),
                         settings.index_prefix)
    writer.install_templates()  # as the worker does at start; the indices below are plain ones
    samples = make_samples(args.samples)
    sides = {"before": BEFORE, "farm": farm_body(settings.index_prefix)}
    print(f"Elasticsearch {es.url}: {args.samples} samples ({args.samples // 2} host + cgroup ticks at 1 Hz), "
          f"bulk batches of {args.batch}, force-merged to one segment")
    per: dict[str, list[float]] = {side: [] for side in sides}
    made: list[str] = []
    try:
        for rnd in range(args.repeat):
            order = list(sides) if rnd % 2 == 0 else list(reversed(sides))
            for side in order:
                name = f"bfh16-storage-{uuid.uuid4().hex[:8]}-{side}"
                made.append(name)
                size, took = store_bytes(writer, samples, name, sides[side], args.batch, old_ids=side == "before")
                per[side].append(size / len(samples))
                print(f"round {rnd + 1} {side:6s}: {size:,} bytes, {size / len(samples):.1f} bytes/sample "
                      f"(written in {took:.1f} s, {len(samples) / took:,.0f} samples/s)")
                if args.profile and rnd == 0:
                    profile(writer, name, len(samples))
    finally:
        if not args.keep:
            for name in made:
                es.delete_index(name)
    before, farm = statistics.median(per["before"]), statistics.median(per["farm"])
    print(f"bytes per sample: before {before:.1f}, farm template {farm:.1f}; ratio farm/before {farm / before:.3f} "
          f"(target: farm <= 40 bytes/sample)")
    es.close()


if __name__ == "__main__":
    main()
