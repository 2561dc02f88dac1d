"""Sampler logic with in-memory collectors and sinks (pure logic; the real collectors have their own tests)."""

from __future__ import annotations

import itertools
import os
import threading
import time
from collections.abc import Callable

import pytest

from benchfarm.clock import FAKE_EPOCH, FakeClock
from benchfarm.collectors.base import Availability, Collector, FieldSpec, Sample
from benchfarm.collectors.sampler import Sampler, choose_sampler_cpu


def wait_until(cond: Callable[[], bool], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met before the deadline")
        time.sleep(0.01)


class Counter(Collector):
    """Returns an increasing counter; optionally burns CPU or fails."""

    def __init__(self, name: str = "counter", *, ok: bool = True, fail_from: int | None = None,
                 burn_s: float = 0.0) -> None:
        super().__init__()
        self.name = name
        self.ok = ok
        self.fail_from = fail_from
        self.burn_s = burn_s
        self.n = 0
        self.seen_affinity: set[int] | None = None
        self.seen_nice: int | None = None
        self.closed = False

    def _probe(self) -> Availability:
        return Availability(self.ok, "" if self.ok else "no such hardware")

    def fields(self) -> list[FieldSpec]:
        return [FieldSpec("n", "count")]

    def sample(self) -> dict[str, float]:
        self.n += 1
        self.seen_affinity = os.sched_getaffinity(0)
        self.seen_nice = os.getpriority(os.PRIO_PROCESS, threading.get_native_id())
        if self.fail_from is not None and self.n >= self.fail_from:
            raise OSError("source vanished")
        if self.burn_s:
            end = time.thread_time() + self.burn_s
            while time.thread_time() < end:
                pass
        return {"n": self.n}

    def close(self) -> None:
        self.closed = True


class ListSink:
    def __init__(self, fail_times: int = 0, exc: BaseException | None = None) -> None:
        self.batches: list[list[Sample]] = []
        self.fail_times = fail_times
        self.exc = exc or ConnectionError("store is down")
        self.attempts = 0

    def ship(self, samples: list[Sample]) -> None:
        self.attempts += 1
        if self.fail_times > 0:
            self.fail_times -= 1
            raise self.exc
        self.batches.append(list(samples))

    @property
    def samples(self) -> list[Sample]:
        return [s for b in self.batches for s in b]


def test_interval_below_100ms_is_refused() -> None:
    with pytest.raises(ValueError):
        Sampler([Counter()], ListSink(), interval_s=0.05)


def test_ships_on_batch_interval_and_stop_with_stamped_monotonic_wall_timestamps() -> None:
    sink = ListSink()
    t_before = time.time()
    s = Sampler([Counter()], sink, interval_s=0.1, batch_interval_s=0.3, job_id="j1", host_id="h1",
                repetition=2).start()
    wait_until(lambda: len(sink.batches) >= 2)
    assert s.pending < s.samples_taken  # batches went out while sampling continued
    s.stop()
    got = sink.samples
    assert len(got) == s.samples_taken == s.samples_shipped and s.pending == 0
    assert [x.fields["n"] for x in got] == list(range(1, len(got) + 1))  # none lost, none doubled, in order
    assert all((x.job_id, x.host_id, x.repetition, x.collector) == ("j1", "h1", 2, "counter") for x in got)
    ts = [x.timestamp for x in got]
    assert t_before <= ts[0] <= time.time()
    steps = [b - a for a, b in itertools.pairwise(ts)]
    assert all(st > 0 for st in steps)
    assert sorted(steps)[len(steps) // 2] == pytest.approx(0.1, abs=0.03)  # median step is the interval
    assert not s.partial


def test_the_schedule_and_timestamps_follow_the_injected_clock() -> None:
    clock = FakeClock()
    sink = ListSink()
    s = Sampler([Counter()], sink, interval_s=0.1, batch_interval_s=3600, clock=clock).start()
    time.sleep(0.25)  # real time passes, fake time does not: no tick is due
    assert s.samples_taken == 0
    clock.advance(0.1)
    wait_until(lambda: s.samples_taken == 1)
    time.sleep(0.25)
    assert s.samples_taken == 1  # exactly one tick per interval of the injected clock
    s.stop()
    assert [x.timestamp for x in sink.samples] == [pytest.approx(FAKE_EPOCH.timestamp() + 0.1)]


def test_full_buffer_ships_before_the_batch_interval() -> None:
    sink = ListSink()
    s = Sampler([Counter("a"), Counter("b")], sink, interval_s=0.1, batch_interval_s=3600, max_buffer=4).start()
    wait_until(lambda: len(sink.batches) >= 2)
    assert all(len(b) >= 4 for b in sink.batches)
    s.stop()
    assert len(sink.samples) == s.samples_taken


def test_between_repetitions_only_holds_everything_until_the_boundary() -> None:
    sink = ListSink()
    s = Sampler([Counter()], sink, interval_s=0.1, batch_interval_s=0.1, max_buffer=2,
                ship_between_repetitions_only=True).start()
    wait_until(lambda: s.samples_taken >= 5)
    assert sink.batches == []  # neither the batch interval nor the full buffer shipped anything
    shipped = s.mark_repetition_boundary()
    assert shipped >= 5 and all(x.repetition == 0 for x in sink.samples)
    wait_until(lambda: s.pending >= 2)
    assert len(sink.batches) == 1
    s.stop()
    assert {x.repetition for x in sink.batches[-1]} == {1}
    assert len(sink.samples) == s.samples_taken


def test_sink_failures_keep_samples_and_retry_without_loss_or_duplicates() -> None:
    sink = ListSink(fail_times=3)
    s = Sampler([Counter()], sink, interval_s=0.1, batch_interval_s=0.2).start()
    wait_until(lambda: sink.attempts >= 3 and len(sink.batches) >= 1)
    s.stop()
    ns = [x.fields["n"] for x in sink.samples]
    assert ns == list(range(1, s.samples_taken + 1))


def test_stop_raises_when_the_sink_fails_and_a_later_flush_ships_everything() -> None:
    sink = ListSink(fail_times=100)
    s = Sampler([Counter()], sink, interval_s=0.1, batch_interval_s=3600, ship_between_repetitions_only=True).start()
    wait_until(lambda: s.samples_taken >= 3)
    with pytest.raises(ConnectionError):
        s.stop()
    assert s.pending == s.samples_taken and s.partial
    sink.fail_times = 0
    assert s.flush() == s.samples_taken
    assert s.pending == 0 and not s.partial


def test_unavailable_collector_skipped_and_failing_one_dropped_others_continue() -> None:
    absent, failing, good = Counter("absent", ok=False), Counter("flaky", fail_from=2), Counter("good")
    sink = ListSink()
    s = Sampler([absent, failing, good], sink, interval_s=0.1).start()
    assert [c.name for c in s.active] == ["flaky", "good"]
    wait_until(lambda: good.n >= 8)
    s.stop()
    assert absent.n == 0
    assert failing.n == 1 + 3  # one good sample, then three failures in a row and it is dropped
    assert {x.collector for x in sink.samples} == {"flaky", "good"}
    assert all(c.closed for c in (absent, failing, good))


def test_sampler_thread_is_niced_and_pinned_but_the_caller_is_not() -> None:
    caller_affinity = os.sched_getaffinity(0)
    caller_nice = os.getpriority(os.PRIO_PROCESS, threading.get_native_id())
    cpu = (choose_sampler_cpu({max(caller_affinity)}, caller_affinity) if len(caller_affinity) > 1
           else min(caller_affinity))
    c = Counter()
    s = Sampler([c], ListSink(), interval_s=0.1, cpu_affinity={cpu}, nice=max(caller_nice, 10) + 1).start()
    wait_until(lambda: c.n >= 1)
    s.stop()
    assert c.seen_affinity == {cpu}
    assert c.seen_nice == max(caller_nice, 10) + 1
    assert os.sched_getaffinity(0) == caller_affinity
    assert os.getpriority(os.PRIO_PROCESS, threading.get_native_id()) == caller_nice


def test_cpu_time_is_measured_and_warns_above_the_threshold() -> None:
    c = Counter(burn_s=0.01)  # 10 ms of CPU per sample
    s = Sampler([c], ListSink(), interval_s=0.1).start()
    wait_until(lambda: c.n >= 5)
    live = s.cpu_seconds
    assert live >= 0.04  # read live from the running thread's CPU clock
    s.stop()
    cpu = s.cpu_seconds
    assert cpu >= 0.01 * c.n and cpu >= live
    assert s.cpu_seconds_per_sample == pytest.approx(cpu / s.samples_taken)
    assert s.overhead_ratio(cpu * 100) == pytest.approx(0.01)
    assert s.telemetry_warning(cpu * 1000) is None
    warning = s.telemetry_warning(cpu * 10)
    assert warning is not None and "skewed" in warning and "10.0%" in warning
    assert s.overhead_ratio(0) == float("inf")


class Fatal(BaseException):
    pass


def test_a_dead_loop_is_visible_and_its_samples_survive() -> None:
    sink = ListSink(fail_times=1, exc=Fatal("sink blew up the thread"))
    s = Sampler([Counter()], sink, interval_s=0.1, batch_interval_s=0.1).start()
    wait_until(lambda: not s.alive)
    assert isinstance(s.crash, Fatal) and s.partial
    assert s.pending == s.samples_taken > 0
    s.stop()
    assert len(sink.samples) == s.samples_taken


def test_abort_leaves_samples_pending_and_marks_partial() -> None:
    sink = ListSink()
    s = Sampler([Counter()], sink, interval_s=0.1, batch_interval_s=3600).start()
    wait_until(lambda: s.samples_taken >= 2)
    s.abort()
    assert not s.alive and s.partial and s.pending == s.samples_taken and sink.batches == []


@pytest.mark.parametrize(
    ("job", "host", "expected"),
    [
        ({1}, {0, 1}, 0),
        ({0}, {0, 1}, 1),
        ({2, 3}, {0, 1, 2, 3}, 0),
        ({0, 1}, {0, 1}, None),  # no CPU to spare
        (None, {0, 1}, None),  # the job may run anywhere
        (set(), {0, 1}, None),
    ],
)
def test_choose_sampler_cpu(job: set[int] | None, host: set[int], expected: int | None) -> None:
    assert choose_sampler_cpu(job, host) == expected
