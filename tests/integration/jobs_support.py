"""Helpers for job tests that drive the real API, worker, Redis and Docker engine."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import yaml

from benchfarm.client import ApiClient

FINAL = {"succeeded", "failed", "cancelled"}


def cli(*args: str, env: dict[str, str] | None = None, timeout: float = 300) -> subprocess.CompletedProcess:
    """Run the real `benchfarm` CLI in a subprocess."""
    return subprocess.run([sys.executable, "-m", "benchfarm.cli.main", *args], capture_output=True, text=True,
                          env={**os.environ, **(env or {})}, timeout=timeout, check=False)


def write_spec(tmp_path: Path, spec: dict[str, Any], name: str = "job.yaml") -> Path:
    path = tmp_path / name
    path.write_text(yaml.safe_dump(spec, sort_keys=False))
    return path


def busybox_spec(image: str, script: str, **overrides: Any) -> dict[str, Any]:
    """A small job: a shell script in the test busybox image printing JSON lines."""
    spec: dict[str, Any] = {
        "name": "test-busybox",
        "image": image,
        "command": ["sh", "-c", script],
        "warmup": 0,
        "repetitions": 1,
        "timeout_s": 60,
        "results": {"format": "json-lines", "metrics": {"value": {"unit": "count", "direction": "higher"}}},
    }
    spec.update(overrides)
    return spec


def wait_final(client: ApiClient, job_id: str, timeout_s: float = 180) -> dict[str, Any]:
    deadline = time.monotonic() + timeout_s
    while True:
        job = client.job(job_id)
        if job["status"] in FINAL:
            return job
        assert time.monotonic() < deadline, f"job {job_id} still {job['status']} after {timeout_s}s"
        time.sleep(0.3)


def wait_status(client: ApiClient, job_id: str, status: str, timeout_s: float = 120) -> dict[str, Any]:
    deadline = time.monotonic() + timeout_s
    while True:
        job = client.job(job_id)
        if job["status"] == status:
            return job
        assert job["status"] not in FINAL or status in FINAL, f"job {job_id} ended {job['status']}: {job['reason']}"
        assert time.monotonic() < deadline, f"job {job_id} still {job['status']} after {timeout_s}s"
        time.sleep(0.2)


def event_types(client: ApiClient, job_id: str) -> list[str]:
    return [e["type"] for e in client.events(job_id)]


def dump(obj: Any) -> str:
    return json.dumps(obj, indent=1, default=str)[:3000]
