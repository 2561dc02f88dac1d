"""Keeping the Docker event stream honest across a dockerd restart (pure, unit-testable).

The ``benchfarm_docker_events`` Salt engine (``salt/_engines/``) reconnects when the
stream breaks; on reconnect it lists the engine's containers and calls
:func:`reconcile` so a benchmark container that died while nobody listened still
reaches its job record (as an event of the same shape the stream would have given).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from benchfarm.inventory.reactor_payloads import JOB_LABEL

RECONCILED_FLAG = "benchfarm_reconciled"


def parse_docker_time(value: str | None) -> float | None:
    """Epoch seconds of a Docker timestamp (``2026-11-23T08:33:44.422602123Z``); None for the zero time."""
    if not value or value.startswith("0001-"):
        return None
    head, _, frac = value.rstrip("Z").partition(".")
    tz = ""
    for sign in ("+", "-"):
        if sign in frac:
            frac, tz = frac.split(sign, 1)[0], sign + frac.split(sign, 1)[1]
    text = head + (("." + frac[:6]) if frac else "") + (tz or "+00:00")
    try:
        return datetime.fromisoformat(text).timestamp()
    except ValueError:
        return None


def reconcile(inspected: list[dict[str, Any]], since: float) -> list[dict[str, Any]]:
    """Docker-style ``die``/``oom`` events for benchmark containers that ended badly after ``since``.

    Args:
        inspected: ``docker inspect`` documents of the engine's containers.
        since: epoch seconds; containers that finished earlier were already seen by the stream.

    Returns events shaped like the engine's (``Action``, ``Actor{ID, Attributes}``, ``time``,
    ``timeNano``) marked ``benchfarm_reconciled: true``: ``oom`` when the engine says
    OOMKilled, else ``die`` with the exit code; clean exits and running containers are skipped.
    """
    events = []
    for c in inspected:
        labels = (c.get("Config") or {}).get("Labels") or {}
        state = c.get("State") or {}
        if JOB_LABEL not in labels or state.get("Running") or state.get("Status") not in ("exited", "dead"):
            continue
        finished = parse_docker_time(state.get("FinishedAt"))
        if finished is None or finished < since:
            continue
        oom = bool(state.get("OOMKilled"))
        code = int(state.get("ExitCode") or 0)
        if not oom and code == 0:
            continue
        attrs = {**labels, "name": str(c.get("Name", "")).lstrip("/"), "exitCode": str(code)}
        events.append({
            "Type": "container", "Action": "oom" if oom else "die", "status": "oom" if oom else "die",
            "id": c.get("Id"), "Actor": {"ID": c.get("Id"), "Attributes": attrs},
            "time": int(finished), "timeNano": int(finished * 1e9), RECONCILED_FLAG: True,
        })
    return events
