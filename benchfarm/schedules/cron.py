"""Cron expressions, on croniter (pallets-eco/croniter: maintained, MIT, already in the farm through Salt).

Five fields as in crontab (``0 2 * * *``), always in UTC; an optional sixth field is seconds (croniter's
convention: ``* * * * * */10`` fires every ten seconds), which short-period tests use.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from croniter import croniter


def validate(expr: str) -> str:
    """``expr`` normalised (single spaces) if croniter accepts it with 5 or 6 fields.

    Raises:
        ValueError: not a cron expression of 5 or 6 fields.
    """
    fields = expr.split()
    if len(fields) not in (5, 6) or not croniter.is_valid(" ".join(fields)):
        raise ValueError(f"{expr!r} is not a cron expression of 5 fields (minute hour day month weekday) "
                         "or 6 (plus seconds)")
    return " ".join(fields)


def latest_fire(expr: str, at_or_before: datetime) -> datetime:
    """The latest fire time of ``expr`` at or before ``at_or_before`` (an aware datetime).

    croniter's ``get_prev`` is strictly before its start, and fire times are whole seconds: starting one
    second after ``at_or_before`` (truncated) includes a fire time exactly at it.
    """
    return croniter(expr, at_or_before.replace(microsecond=0) + timedelta(seconds=1)).get_prev(datetime)


def next_fire(expr: str, after: datetime) -> datetime:
    """The first fire time of ``expr`` strictly after ``after`` (an aware datetime)."""
    return croniter(expr, after).get_next(datetime)
