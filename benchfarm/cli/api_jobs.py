"""Submit a job and wait for its final record through the API: what bisections and A/B runs need."""

from __future__ import annotations

import time
from typing import Any

from benchfarm.jobs.model import JobRecord

FINAL = {"succeeded", "failed", "cancelled"}


class ApiJobs:
    """Submit and wait through the API (benchfarm.client.ApiClient)."""

    def __init__(self, api: Any, poll_s: float = 0.5, timeout_s: float = 3600.0) -> None:
        self.api, self.poll_s, self.timeout_s = api, poll_s, timeout_s

    def submit(self, spec: dict[str, Any]) -> str:
        return str(self.api.submit(spec)["id"])

    def wait(self, job_id: str) -> JobRecord:
        from benchfarm.errors import BenchfarmError, ServiceUnavailableError

        deadline = time.monotonic() + self.timeout_s
        status = "unknown"
        while time.monotonic() < deadline:
            try:
                job = self.api.job(job_id)
            except ServiceUnavailableError:  # an API restart: the job runs on; ask again
                time.sleep(self.poll_s * 4)
                continue
            if (status := job["status"]) in FINAL:
                return JobRecord.model_validate(job)
            time.sleep(self.poll_s)
        raise BenchfarmError(f"job {job_id} still {status} after {self.timeout_s:.0f} s",
                             hint=f"it runs on: see `benchfarm jobs show {job_id}`; a bisection resumes when "
                                  "run again")
