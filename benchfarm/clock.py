"""The farm's clock, passed in rather than read from ``time`` and ``datetime`` directly.

Why: the executor, runner, reaper and sampler make decisions on time (a
repetition's timeout, a lease's expiry, when to renew it, when to ship a batch
of samples).  Read straight from the ``time`` module, those decisions can only
be tested by waiting; with the clock handed in, a unit test drives a
:class:`FakeClock` and a thirty-second timeout takes no time at all.

Two readings are kept apart on purpose: :meth:`Clock.monotonic` for durations
and deadlines (it never jumps when NTP steps the wall clock) and
:meth:`Clock.now`/:meth:`Clock.utcnow` for timestamps that are stored or
compared across hosts (leases are epoch seconds in the job record).

CPU clocks (``time.thread_time``, a thread's ``pthread_getcpuclockid``) are not
part of this: they measure CPU actually used, which no fake should stand in for.
"""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime, timedelta
from typing import Protocol


class Clock(Protocol):
    """Wall time, monotonic time and sleeping."""

    def now(self) -> float:
        """Wall-clock time in epoch seconds (what ``time.time()`` returns)."""
        ...

    def utcnow(self) -> datetime:
        """Wall-clock time as an aware UTC datetime (what ``benchfarm.jobs.model.now()`` returns)."""
        ...

    def monotonic(self) -> float:
        """Seconds on a clock that never goes back, for durations and deadlines."""
        ...

    def sleep(self, seconds: float) -> None:
        """Wait ``seconds``."""
        ...


class SystemClock:
    """The real clock."""

    def now(self) -> float:
        return time.time()

    def utcnow(self) -> datetime:
        return datetime.now(UTC)

    def monotonic(self) -> float:
        return time.monotonic()

    def sleep(self, seconds: float) -> None:
        time.sleep(max(0.0, seconds))


SYSTEM_CLOCK: Clock = SystemClock()
"""The default clock of every class that takes one."""


FAKE_EPOCH = datetime(2026, 1, 1, tzinfo=UTC)


class FakeClock:
    """A clock that moves only when told to, for tests: :meth:`sleep` and :meth:`advance` move it at once.

    Wall and monotonic time advance together; :meth:`set_wall` moves the wall
    clock alone (an NTP step).  Thread-safe, so a fake engine or collector in
    another thread may advance it.

    Args:
        start: the wall-clock time it starts at (default: 2026-01-01 00:00 UTC).
        monotonic_start: the monotonic reading it starts at.
    """

    def __init__(self, start: datetime = FAKE_EPOCH, monotonic_start: float = 1000.0) -> None:
        if start.tzinfo is None:
            raise ValueError("FakeClock needs an aware datetime (e.g. tzinfo=UTC)")
        self._wall = start.timestamp()
        self._mono = monotonic_start
        self._lock = threading.Lock()
        self.slept: list[float] = []  # every sleep() asked for, in order

    def now(self) -> float:
        with self._lock:
            return self._wall

    def utcnow(self) -> datetime:
        return datetime.fromtimestamp(self.now(), UTC)

    def monotonic(self) -> float:
        with self._lock:
            return self._mono

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.advance(seconds)

    def advance(self, seconds: float) -> None:
        """Move wall and monotonic time forward by ``seconds`` (negative values are refused)."""
        if seconds < 0:
            raise ValueError(f"a clock does not go back ({seconds} s)")
        with self._lock:
            self._wall += seconds
            self._mono += seconds

    def set_wall(self, when: datetime) -> None:
        """Step the wall clock alone, as NTP may; monotonic time is unchanged."""
        with self._lock:
            self._wall = when.timestamp()

    def ago(self, seconds: float) -> datetime:
        """The wall-clock datetime ``seconds`` before now."""
        return self.utcnow() - timedelta(seconds=seconds)
