"""Routes the Salt side calls (reactors through ``salt/_modules/benchfarm_mod.py``).

``POST /internal/container-events`` and ``POST /internal/host-events``, payloads as
``benchfarm.inventory.reactor_payloads`` documents; the same bearer token as every route.
No ``from __future__ import annotations`` here: FastAPI must see ``Deps`` (a local) unresolved.
"""


import logging
from typing import Any

from pydantic import BaseModel, Field

log = logging.getLogger(__name__)


class ContainerEvent(BaseModel):
    host_id: str
    container_id: str
    container_name: str | None = None
    job_id: str
    repetition: str | None = None
    action: str = Field(pattern="^(die|oom)$")
    exit_code: int | None = None
    oom_killed: bool | None = None
    time: float | None = None
    labels: dict[str, str] = Field(default_factory=dict)
    source: str = "stream"  # "reconcile": found after the Docker event stream came back


class HostEvent(BaseModel):
    host_id: str
    status: str
    reason: str = ""
    checks: dict[str, Any] = Field(default_factory=dict)
    time: float | None = None
    capabilities: dict[str, Any] | None = None


def register(app, Auth, Deps) -> None:
    """Add the ``/internal/*`` routes to ``app``."""
    from benchfarm.inventory.container_events import record_container_event
    from benchfarm.inventory.inventory import Inventory

    @app.post("/internal/container-events", dependencies=[Auth], tags=["internal"])
    def container_event(d: Deps, body: ContainerEvent) -> dict[str, Any]:
        """A benchmark container died non-zero or by OOM (reported by the host's Salt minion)."""
        outcome = record_container_event(d.repo, body.model_dump())
        log.warning("container event %s %s of job %s: %s", body.action, body.container_id[:12], body.job_id,
                    outcome.comment)
        return {"job_id": body.job_id, "recorded": outcome.recorded, "job_failed": outcome.job_failed,
                "comment": outcome.comment}

    @app.post("/internal/host-events", dependencies=[Auth], tags=["internal"])
    def host_event(d: Deps, body: HostEvent) -> dict[str, Any]:
        """A host registered (with capabilities) or changed status (quarantined, released)."""
        inv = Inventory(None, d.hosts, d.hosts.kv, d.repo)
        caps = inv.apply_host_event(body.model_dump())
        log.warning("host event %s -> %s (%s)", body.host_id, caps.status, body.reason)
        return {"host_id": caps.host_id, "status": caps.status, "pool": caps.pool}
