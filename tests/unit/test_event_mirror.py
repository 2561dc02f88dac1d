"""The asynchronous event mirror: batches on time as well as on count, and nothing queued is lost at exit.

Its batching runs on a real background thread with real (short) intervals: what is tested is
that a batch goes out while events keep arriving, and that the worker's exit writes the rest.
"""

from __future__ import annotations

import os
import time
from typing import Any

from benchfarm.execution.publishing import AsyncEventMirror
from benchfarm.jobs.model import EventType, JobEvent


class RecordingWriter:
    """The two things the mirror uses of the StoreWriter."""

    def __init__(self) -> None:
        self.names = {"events": "bf-events"}
        self.batches: list[list[tuple[str, dict[str, Any]]]] = []
        self.at: list[float] = []

    def index_docs(self, index: str, docs: list[tuple[str, dict[str, Any]]], *, op_type: str = "create") -> bool:
        assert index == "bf-events"
        self.batches.append(list(docs))
        self.at.append(time.monotonic())
        return True

    def written(self) -> int:
        return sum(len(b) for b in self.batches)


def _event(seq: int) -> JobEvent:
    return JobEvent(job_id="job-1", seq=seq, type=EventType.WARNING)


def test_events_arriving_steadily_are_written_on_time_not_only_every_500():
    writer = RecordingWriter()
    mirror = AsyncEventMirror(writer, flush_every_s=0.2)
    first = time.monotonic()
    sent = 0
    while time.monotonic() - first < 0.8:  # an event every 20 ms: never a lull as long as the interval
        mirror(_event(sent))
        sent += 1
        time.sleep(0.02)
    assert writer.batches, "no batch was written while events kept arriving"
    assert writer.at[0] - first < 0.6  # about flush_every_s after the first event
    assert mirror.close(timeout_s=5)
    assert writer.written() == sent


def test_a_burst_is_written_in_batches_of_at_most_max_batch():
    writer = RecordingWriter()
    mirror = AsyncEventMirror(writer, flush_every_s=60, max_batch=500)
    for seq in range(1200):
        mirror(_event(seq))
    assert mirror.flush(timeout_s=5)
    assert writer.written() == 1200 and max(len(b) for b in writer.batches) <= 500
    mirror.close()


def test_events_still_queued_at_exit_are_written_by_close():
    writer = RecordingWriter()
    mirror = AsyncEventMirror(writer, flush_every_s=60)
    for seq in range(3):
        mirror(_event(seq))
    assert mirror.close(timeout_s=5)
    assert [len(b) for b in writer.batches] == [3]
    mirror(_event(3))  # after close (an event emitted late in the exit): written at once
    assert writer.written() == 4


def test_a_worker_pool_process_exiting_writes_what_its_mirror_still_queues():
    from celery.signals import worker_process_shutdown

    import benchfarm.worker.tasks  # noqa: F401  (connects the exit hook, as the worker does before it forks)
    from benchfarm.composition import process_farm

    process_farm.cache_clear()
    try:
        farm = process_farm()
        writer = RecordingWriter()
        farm.__dict__["event_mirror"] = AsyncEventMirror(writer, flush_every_s=60)
        farm.event_mirror(_event(1))
        # what Celery's prefork pool sends in the pool process just before it ends with os._exit
        worker_process_shutdown.send(sender=None, pid=os.getpid(), exitcode=0)
        assert [len(b) for b in writer.batches] == [1]
    finally:
        process_farm.cache_clear()


def test_the_housekeeping_process_closes_its_farm_when_it_leaves(monkeypatch):
    import signal

    from benchfarm.worker import service

    closed: list[bool] = []

    class FakeFarm:
        host_registry = reaper = store_writer = None

        def __init__(self, settings: Any) -> None:
            self.settings = settings

        def close(self) -> None:
            closed.append(True)

    monkeypatch.setattr(service, "Farm", FakeFarm)
    before = signal.getsignal(signal.SIGTERM)
    try:
        service.housekeeping_loop("h1", parent_pid=-1)  # its parent is gone: it leaves at once
    finally:
        signal.signal(signal.SIGTERM, before)
    assert closed == [True]
