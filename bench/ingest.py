"""Ingest: the store's writer (StoreWriter.write, as MetricSink.ship uses it) against a bare
``elasticsearch.helpers.bulk`` loop, on the same documents to the same Elasticsearch.

Each round writes the same sample documents (shaped by benchfarm.store.documents.sample_action:
deterministic ids, op_type create) once through each side, each into its own fresh plain index
created with the metrics data stream's mapping (plain indices, because data streams cannot be
deleted on this Elasticsearch build). Both sides send the same batches (as the sampler ships
them) in the same chunk size, interleaved batch by batch (w b b w w b ...), so that the other
tenants of a shared machine slow both sides alike; which side starts alternates between rounds.
Client CPU time per side is printed too: the part of the cost the writer itself adds.
A first pair of rounds (one each way) warms the server up and is not counted: the first
indexing after a quiet spell is markedly slower, whichever side does it.
Prints each round's docs/s and the median ratio writer/bare (target: at least 1.2, issue 16).

Usage: python bench/ingest.py [--rounds 11] [--warmup 2] [--docs 20000] [--batch 1000]
"""

from __future__ import annotations

import argparse
import copy
import gc
import statistics
import tempfile
import time
import uuid
from pathlib import Path

from elasticsearch import Elasticsearch, helpers

from benchfarm.adapters.elasticsearch import EsClient
from benchfarm.collectors.base import Sample
from benchfarm.settings import get_settings
from benchfarm.store.documents import sample_action
from benchfarm.store.spool import Spool
from benchfarm.store.templates import templates
from benchfarm.store.writer import StoreWriter


def make_samples(n: int) -> list[Sample]:
    """n samples like a 1 Hz host + cgroup sampler's: 8 numeric fields each."""
    t0 = time.time() - n
    job = f"job-bench-ingest-{uuid.uuid4().hex[:8]}"
    out = []
    for i in range(n):
        collector = "host" if i % 2 == 0 else "cgroup"
        fields = {f"field_{k}": float(i * 7 + k) for k in range(8)}
        out.append(Sample(timestamp=t0 + i * 0.5, collector=collector, fields=fields, job_id=job,
                          repetition=i // 1000, host_id="bench-host"))
    return out


def batches(actions: list[dict], size: int) -> list[list[dict]]:
    return [actions[i:i + size] for i in range(0, len(actions), size)]


def create_index(raw: Elasticsearch, name: str, prefix: str) -> None:
    body = templates(prefix)[f"{prefix}-metrics"]["template"]
    raw.indices.create(index=name, settings=body["settings"], mappings=body["mappings"])


def writer_batch(writer: StoreWriter, part: list[dict]) -> None:
    assert writer.write(part), "writer spooled: Elasticsearch not answering"


def bare_batch(raw: Elasticsearch, part: list[dict]) -> None:
    _, errors = helpers.bulk(raw, part, chunk_size=1000, max_retries=0, raise_on_error=False, stats_only=False)
    assert not errors, errors[:1]


def run_round(writer: StoreWriter, raw: Elasticsearch, parts: dict[str, list[list[dict]]],
              writer_first: bool) -> dict[str, tuple[float, float]]:
    """Ship the batches of both sides interleaved (w, b, b, w, w, b, ...): both meet the same server state.

    Returns side -> (wall seconds, client CPU seconds), summed over that side's batches.
    """
    took = {"writer": [0.0, 0.0], "bare": [0.0, 0.0]}
    calls = {"writer": lambda part: writer_batch(writer, part), "bare": lambda part: bare_batch(raw, part)}
    for i in range(len(parts["writer"])):
        order = ("writer", "bare") if (i % 2 == 0) == writer_first else ("bare", "writer")
        for side in order:
            wall, cpu = time.perf_counter(), time.process_time()
            calls[side](parts[side][i])
            took[side][0] += time.perf_counter() - wall
            took[side][1] += time.process_time() - cpu
    return {side: (w, c) for side, (w, c) in took.items()}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=11)
    ap.add_argument("--warmup", type=int, default=2, help="rounds run first and not counted")
    ap.add_argument("--docs", type=int, default=20000)
    ap.add_argument("--batch", type=int, default=1000, help="samples per shipped batch")
    args = ap.parse_args()

    settings = get_settings()
    es = EsClient.from_settings(settings)
    raw = Elasticsearch(settings.effective_elasticsearch_url, request_timeout=60)
    spool_dir = Path(tempfile.mkdtemp(prefix="bench-ingest-"))
    writer = StoreWriter(es, Spool(spool_dir / "spool.jsonl"), settings.index_prefix)
    writer.install_templates()  # what the worker does once at start; not timed
    samples = make_samples(args.docs)
    print(f"Elasticsearch {settings.effective_elasticsearch_url}: {args.rounds} rounds x {args.docs} docs, "
          f"batches of {args.batch}")
    ratios, w_rates, b_rates, cpu_ratios = [], [], [], []
    for rnd in range(-args.warmup, args.rounds):
        names = {side: f"bf-bench-ingest-{uuid.uuid4().hex[:10]}-{side}" for side in ("writer", "bare")}
        parts = {}
        for side, name in names.items():
            create_index(raw, name, settings.index_prefix)
            actions = [sample_action(s, name) for s in samples]
            parts[side] = batches(copy.deepcopy(actions), args.batch)
        writer_first = rnd % 2 == 0
        # the benchmark's own 2 x docs actions are long-lived: keep them out of the collector's scans, or
        # a full collection (its cost set by this heap, not by either side) lands on whichever side it hits
        gc.collect()
        gc.freeze()
        took = run_round(writer, raw, parts, writer_first)
        gc.unfreeze()
        for name in names.values():
            raw.indices.refresh(index=name)
            assert raw.count(index=name)["count"] == args.docs
            raw.indices.delete(index=name)
        w, b = args.docs / took["writer"][0], args.docs / took["bare"][0]
        first = "writer" if writer_first else "bare"
        if rnd < 0:
            print(f"warm-up ({first} first): writer {w:,.0f} docs/s, bare bulk {b:,.0f} docs/s (not counted)")
            continue
        w_rates.append(w)
        b_rates.append(b)
        ratios.append(w / b)
        cpu_ratios.append(took["writer"][1] / took["bare"][1])
        print(f"round {rnd + 1} ({first} first): writer {w:,.0f} docs/s, bare bulk {b:,.0f} docs/s, "
              f"ratio {w / b:.3f}; client CPU writer {took['writer'][1]:.2f} s, bare {took['bare'][1]:.2f} s")
    print(f"median writer {statistics.median(w_rates):,.0f} docs/s, bare {statistics.median(b_rates):,.0f} docs/s")
    print(f"client CPU writer/bare (median): {statistics.median(cpu_ratios):.3f}")
    print(f"ingest ratio writer/bare (median of {args.rounds} paired rounds): {statistics.median(ratios):.3f} "
          f"(target >= 1.2)")
    raw.close()
    es.close()


if __name__ == "__main__":
    main()
