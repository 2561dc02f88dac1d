"""Ingest: the store's writer (StoreWriter.write, as MetricSink.ship uses it) against a bare
``elasticsearch.helpers.bulk`` loop, on the same documents to the same Elasticsearch.

Each round writes the same sample documents (shaped by benchfarm.store.documents.sample_action:
deterministic ids, op_type create) once through each side, each into its own fresh plain index
created with the metrics data stream's mapping (plain indices, because data streams cannot be
deleted on this Elasticsearch build). Both sides send the same batches (as the sampler ships
them) in the same chunk size; the order of the two sides alternates between rounds.
Prints each round's docs/s and the median ratio writer/bare (target: at least 0.9).

Usage: python bench/ingest.py [--rounds 7] [--docs 20000] [--batch 1000]
"""

from __future__ import annotations

import argparse
import copy
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


def run_writer(writer: StoreWriter, parts: list[list[dict]]) -> float:
    start = time.perf_counter()
    for part in parts:
        assert writer.write(part), "writer spooled: Elasticsearch not answering"
    return time.perf_counter() - start


def run_bare(raw: Elasticsearch, parts: list[list[dict]]) -> float:
    start = time.perf_counter()
    for part in parts:
        ok, errors = helpers.bulk(raw, part, chunk_size=1000, max_retries=0, raise_on_error=False, stats_only=False)
        assert not errors, errors[:1]
    return time.perf_counter() - start


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=7)
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
    ratios, w_rates, b_rates = [], [], []
    for rnd in range(args.rounds):
        names = {side: f"bench-ingest-{uuid.uuid4().hex[:10]}-{side}" for side in ("writer", "bare")}
        parts = {}
        for side, name in names.items():
            create_index(raw, name, settings.index_prefix)
            actions = [sample_action(s, name) for s in samples]
            parts[side] = batches(copy.deepcopy(actions), args.batch)
        order = ("writer", "bare") if rnd % 2 == 0 else ("bare", "writer")
        took = {}
        for side in order:
            took[side] = run_writer(writer, parts[side]) if side == "writer" else run_bare(raw, parts[side])
        for name in names.values():
            raw.indices.refresh(index=name)
            assert raw.count(index=name)["count"] == args.docs
            raw.indices.delete(index=name)
        w, b = args.docs / took["writer"], args.docs / took["bare"]
        w_rates.append(w)
        b_rates.append(b)
        ratios.append(w / b)
        print(f"round {rnd + 1} ({order[0]} first): writer {w:,.0f} docs/s, bare bulk {b:,.0f} docs/s, "
              f"ratio {w / b:.3f}")
    print(f"median writer {statistics.median(w_rates):,.0f} docs/s, bare {statistics.median(b_rates):,.0f} docs/s")
    print(f"ingest ratio writer/bare (median of {args.rounds} paired rounds): {statistics.median(ratios):.3f} "
          f"(target >= 0.9)")
    raw.close()
    es.close()


if __name__ == "__main__":
    main()
