"""What the Salt side tells the farm: payloads of ``POST /internal/*`` (pure, unit-testable).

The execution module ``salt/_modules/benchfarm_mod.py`` builds these on the
minion, called by the reactors in ``reactors/``, and posts them to the API.

``POST /internal/container-events`` (a benchmark container ended badly)::

    {"host_id": "node-a", "container_id": "<64 hex>", "container_name": "bf-...",
     "job_id": "<value of label benchfarm.job_id>", "repetition": "2" | null,
     "action": "die" | "oom", "exit_code": 137 | null, "oom_killed": true | false | null,
     "time": 1763884800.123, "labels": {"benchfarm.job_id": "...", ...}}

``POST /internal/host-events`` (a host registered or changed state)::

    {"host_id": "node-a", "status": "unknown" | "quarantined" | "good", "reason": "...",
     "checks": {...health_check checks...}, "time": 1763884800.1,
     "capabilities": {...HostCapabilities...}}   # only with status "unknown" (registration)

Both are sent with ``Authorization: Bearer <api_token>`` when a token is set.
"""

from __future__ import annotations

from typing import Any

JOB_LABEL = "benchfarm.job_id"  # the runner labels every benchmark container with its job id
REPETITION_LABEL = "benchfarm.repetition"
REPORTED_ACTIONS = ("die", "oom")


def container_event_payload(
    event: dict[str, Any], host_id: str, oom_killed: bool | None = None
) -> dict[str, Any] | None:
    """The ``/internal/container-events`` payload for a Docker event, or ``None`` when the farm need not know.

    Reported: ``oom`` events and ``die`` events with a non-zero exit code, of containers
    carrying the ``benchfarm.job_id`` label. ``event`` is the Docker engine's event as the
    ``docker_events`` engine puts it on the Salt bus (keys ``Action``, ``Actor``, ``time``...).
    """
    action = event.get("Action") or event.get("status") or ""
    actor = event.get("Actor") or {}
    attrs = actor.get("Attributes") or {}
    if action not in REPORTED_ACTIONS or JOB_LABEL not in attrs:
        return None
    exit_code = _int_or_none(attrs.get("exitCode"))
    if action == "die" and exit_code == 0:
        return None
    if action == "oom":
        oom_killed = True
    time_nano = event.get("timeNano")
    return {
        "host_id": host_id,
        "container_id": actor.get("ID") or event.get("id"),
        "container_name": attrs.get("name"),
        "job_id": attrs[JOB_LABEL],
        "repetition": attrs.get(REPETITION_LABEL),
        "action": action,
        "exit_code": exit_code,
        "oom_killed": oom_killed,
        "time": time_nano / 1e9 if isinstance(time_nano, int) else event.get("time"),
        "labels": {k: v for k, v in attrs.items() if k.startswith("benchfarm.")},
    }


def host_event_payload(host_id: str, status: str, reason: str, checks: dict[str, Any], time: float) -> dict[str, Any]:
    """The ``/internal/host-events`` payload for a host status change."""
    return {"host_id": host_id, "status": status, "reason": reason, "checks": checks, "time": time}


def _int_or_none(value: Any) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None
