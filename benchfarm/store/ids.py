"""Deterministic document ids: the same sample or result always gets the same id, so a
replay after a partial failure never indexes it twice."""

from __future__ import annotations

import hashlib


def _digest(*parts: object) -> str:
    return hashlib.sha1("\x1f".join(str(p) for p in parts).encode()).hexdigest()


def sample_id(job_id: str, repetition: int, collector: str, host_id: str, timestamp: float) -> str:
    return _digest("sample", job_id, repetition, collector, host_id, f"{timestamp:.6f}")


def repetition_id(job_id: str, index: int) -> str:
    return f"{job_id}-r{index}"


def summary_id(job_id: str) -> str:
    return f"{job_id}-summary"


def event_id(job_id: str, seq: int) -> str:
    return f"{job_id}-e{seq}"
