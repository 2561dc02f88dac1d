"""Deterministic document ids: the same sample or result always gets the same id, so a
replay after a partial failure never indexes it twice."""

from __future__ import annotations

import hashlib


def _digest(*parts: object) -> str:
    return hashlib.sha1("\x1f".join(str(p) for p in parts).encode()).hexdigest()


def sample_id(job_id: str, repetition: int, collector: str, host_id: str, timestamp: float,
              attempt: int = 0) -> str:
    """The series (a digest of job, attempt, repetition, collector and host) then the time in hex microseconds.

    A series' ids share their first 16 characters, so the index's terms dictionary keeps each in a few
    bytes; a digest of the whole sample cost about 30 bytes a sample there (bench/storage.py, issue 16).
    """
    return f"{_digest('sample', job_id, attempt, repetition, collector, host_id)[:16]}{round(timestamp * 1e6):x}"


def repetition_id(job_id: str, index: int, attempt: int = 1) -> str:
    """One id per (job, attempt, repetition): a re-run's documents are new ones (the first attempt's are
    written with ``create`` and would answer 409 to the same id), and the finishing attempt deletes the
    others (:func:`superseded_repetition_ids`)."""
    return f"{job_id}-a{attempt}-r{index}"


def superseded_repetition_ids(job_id: str, final_attempt: int, max_repetitions: int) -> list[str]:
    """Every id an attempt before ``final_attempt`` may have written (at most ``max_repetitions`` each)."""
    return [repetition_id(job_id, i, a) for a in range(1, final_attempt) for i in range(max_repetitions)]


def summary_id(job_id: str) -> str:
    return f"{job_id}-summary"


def event_id(job_id: str, seq: int) -> str:
    return f"{job_id}-e{seq}"
