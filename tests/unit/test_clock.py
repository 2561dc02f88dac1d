"""The injected clock: the system clock reads the real one, the fake one moves only when told."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

import pytest

from benchfarm.clock import FAKE_EPOCH, FakeClock, SystemClock


def test_the_system_clock_reads_the_real_clocks():
    clock = SystemClock()
    assert abs(clock.now() - time.time()) < 1
    assert abs(clock.utcnow().timestamp() - time.time()) < 1 and clock.utcnow().tzinfo is UTC
    assert abs(clock.monotonic() - time.monotonic()) < 1


def test_the_fake_clock_moves_only_when_told():
    clock = FakeClock()
    wall, mono = clock.now(), clock.monotonic()
    assert clock.utcnow() == FAKE_EPOCH and wall == FAKE_EPOCH.timestamp()
    clock.sleep(2.5)
    clock.advance(0.5)
    assert clock.now() == wall + 3 and clock.monotonic() == mono + 3 and clock.slept == [2.5]
    assert clock.ago(3) == FAKE_EPOCH


def test_the_fake_wall_clock_may_step_but_monotonic_time_never_goes_back():
    clock = FakeClock()
    mono = clock.monotonic()
    clock.set_wall(FAKE_EPOCH - timedelta(hours=1))
    assert clock.utcnow() == FAKE_EPOCH - timedelta(hours=1) and clock.monotonic() == mono
    with pytest.raises(ValueError):
        clock.advance(-1)
    with pytest.raises(ValueError):
        FakeClock(datetime(2026, 1, 1))  # naive datetimes are refused
