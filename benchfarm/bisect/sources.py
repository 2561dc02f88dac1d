"""Where a bisection reads earlier results (the job records in Redis) and keeps its state (Redis)."""

from __future__ import annotations

from typing import Protocol

from benchfarm.analysis.job_compare import measured_values
from benchfarm.bisect.model import BisectState
from benchfarm.jobs.model import JobRecord

STATE_PREFIX = "benchfarm:bisect"
#: How many of the most recent jobs of the spec name are searched for a digest's results.
LOOKBACK = 1000


class JobLister(Protocol):
    """benchfarm.jobs.repository.JobRepository.list"""

    def list(self, *, status: str | None = None, name: str | None = None, label: tuple[str, str] | None = None,
             limit: int = 50) -> list[JobRecord]: ...


class RepositoryResults:
    """Values of a metric from every succeeded job of a spec name that ran an image digest, oldest job first."""

    def __init__(self, jobs: JobLister) -> None:
        self.jobs = jobs

    def values(self, spec_name: str, digest: str, metric: str) -> list[float]:
        records = [j for j in self.jobs.list(status="succeeded", name=spec_name, limit=LOOKBACK)
                   if j.image_digest == digest]
        out: list[float] = []
        for job in sorted(records, key=lambda j: j.id):
            out += measured_values(job).get(metric, [])
        return out


class KV(Protocol):
    def get(self, key: str) -> str | None: ...
    def set(self, key: str, value: str) -> None: ...


class RedisState:
    """A bisection's state as JSON under ``benchfarm:bisect:<id>``."""

    def __init__(self, kv: KV) -> None:
        self.kv = kv

    def load(self, bisect_id: str) -> BisectState | None:
        raw = self.kv.get(f"{STATE_PREFIX}:{bisect_id}")
        return BisectState.model_validate_json(raw) if raw else None

    def save(self, state: BisectState) -> None:
        self.kv.set(f"{STATE_PREFIX}:{state.id}", state.model_dump_json())
