"""The host state machine: which status a host may move to, and why.

    unknown ──health passed──▶ good ──health failed / drift──▶ quarantined
       ▲                        │  ▲                              │
       │                        │  └────────health passed─────────┘
       └──(re)registered────────┤
                                ├──operator──▶ maintenance ──operator──▶ good
                                └──operator──▶ retired (final)

``bad`` is accepted as a synonym the scheduler also refuses; a retired host
comes back only by registering again (status ``unknown``).
"""

from __future__ import annotations

from enum import StrEnum

from benchfarm.errors import ConflictError, UserInputError


class HostStatus(StrEnum):
    UNKNOWN = "unknown"
    GOOD = "good"
    BAD = "bad"
    QUARANTINED = "quarantined"
    MAINTENANCE = "maintenance"
    RETIRED = "retired"


_ALLOWED: dict[HostStatus, set[HostStatus]] = {
    HostStatus.UNKNOWN: {HostStatus.GOOD, HostStatus.QUARANTINED, HostStatus.BAD, HostStatus.MAINTENANCE,
                         HostStatus.RETIRED},
    HostStatus.GOOD: {HostStatus.QUARANTINED, HostStatus.BAD, HostStatus.MAINTENANCE, HostStatus.RETIRED,
                      HostStatus.UNKNOWN},
    HostStatus.BAD: {HostStatus.GOOD, HostStatus.QUARANTINED, HostStatus.MAINTENANCE, HostStatus.RETIRED,
                     HostStatus.UNKNOWN},
    HostStatus.QUARANTINED: {HostStatus.GOOD, HostStatus.MAINTENANCE, HostStatus.RETIRED, HostStatus.UNKNOWN},
    HostStatus.MAINTENANCE: {HostStatus.GOOD, HostStatus.QUARANTINED, HostStatus.RETIRED, HostStatus.UNKNOWN},
    HostStatus.RETIRED: {HostStatus.UNKNOWN},
}


def parse_status(value: str) -> HostStatus:
    """The ``HostStatus`` named ``value``.

    Raises:
        UserInputError: an unknown status name.
    """
    try:
        return HostStatus(value)
    except ValueError:
        raise UserInputError(f"unknown host status {value!r}",
                             hint="one of: " + ", ".join(s.value for s in HostStatus)) from None


def check_transition(current: str, new: str) -> HostStatus:
    """Validate a status change; a change to the same status is allowed (idempotent).

    Raises:
        ConflictError: the machine has no such edge from the current status (e.g. retired -> good).
        UserInputError: an unknown status name.
    """
    cur, nxt = parse_status(current), parse_status(new)
    if cur == nxt or nxt in _ALLOWED[cur]:
        return nxt
    raise ConflictError(f"a host cannot go from {cur.value} to {nxt.value}",
                        hint="a retired host comes back by registering again (its minion restarting)")
