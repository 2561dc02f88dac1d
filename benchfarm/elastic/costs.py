"""Host-hours and spend per pool per UTC day.

A host costs its pool's price per host-hour from the moment its creation starts until it is
destroyed (as clouds bill). A UTC day's spend is what closed host lifetimes spent that day
(kept per pool and day) plus what the hosts alive now have spent since that day began.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta


def day_of(at: float) -> str:
    """The UTC day of epoch seconds ``at``: ``2026-12-01``."""
    return datetime.fromtimestamp(at, UTC).strftime("%Y-%m-%d")


def day_start(at: float) -> float:
    """Epoch seconds of 00:00 UTC of the day of ``at``."""
    d = datetime.fromtimestamp(at, UTC)
    return datetime(d.year, d.month, d.day, tzinfo=UTC).timestamp()


def next_day_start(at: float) -> float:
    return (datetime.fromtimestamp(day_start(at), UTC) + timedelta(days=1)).timestamp()


def seconds_by_day(start: float, end: float) -> dict[str, float]:
    """The seconds of ``[start, end)`` that fall on each UTC day."""
    out: dict[str, float] = {}
    t = start
    while t < end:
        stop = min(end, next_day_start(t))
        out[day_of(t)] = out.get(day_of(t), 0.0) + (stop - t)
        t = stop
    return out


def cost(seconds: float, price_per_host_hour: float) -> float:
    return seconds / 3600.0 * price_per_host_hour
