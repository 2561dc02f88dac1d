"""``/internal/*``: what the Salt side reports (reactors, through ``salt/_modules/benchfarm_mod.py``).

``POST /internal/container-events`` and ``POST /internal/host-events``, payloads as
``benchfarm.inventory.reactor_payloads`` documents; they take the Salt side's own credential
(``<state_dir>/internal-token``) or an admin token, and refuse user tokens (403).
"""

from __future__ import annotations

import logging
from typing import Annotated

from fastapi import APIRouter, Depends

from benchfarm.api.bodies import strict_body
from benchfarm.api.dependencies import Deps, Internal
from benchfarm.api.errors import error_responses
from benchfarm.api.models import ContainerEvent, ContainerEventOutcome, HostEvent, HostEventResult
from benchfarm.inventory.container_events import record_container_event
from benchfarm.inventory.inventory import Inventory

log = logging.getLogger(__name__)

router = APIRouter(prefix="/internal", tags=["internal"], dependencies=[Internal],
                   responses=error_responses(401, 403, 404, 422, 503))


@router.post("/container-events", response_model=ContainerEventOutcome)
def container_event(d: Deps, body: Annotated[ContainerEvent, Depends(strict_body(ContainerEvent))]
                    ) -> ContainerEventOutcome:
    """A benchmark container died non-zero or by OOM (404: no such job)."""
    outcome = record_container_event(d.repo, body.model_dump())
    log.warning("container event %s %s of job %s: %s", body.action, body.container_id[:12], body.job_id,
                outcome.comment)
    return ContainerEventOutcome(job_id=body.job_id, recorded=outcome.recorded, job_failed=outcome.job_failed,
                                 comment=outcome.comment)


@router.post("/host-events", response_model=HostEventResult, responses=error_responses(409))
def host_event(d: Deps, body: Annotated[HostEvent, Depends(strict_body(HostEvent))]) -> HostEventResult:
    """A host registered (with capabilities) or changed status.

    404: a status change for a host never registered. 409: the host state machine has no
    such change (e.g. retired -> quarantined).
    """
    payload = body.model_dump(mode="json")
    if body.capabilities is not None:  # the event names the host; its capabilities cannot name another
        payload["capabilities"]["host_id"] = body.host_id
    caps = Inventory(None, d.hosts, d.hosts.kv, d.repo).apply_host_event(payload)
    log.warning("host event %s -> %s (%s)", body.host_id, caps.status, body.reason)
    return HostEventResult(host_id=caps.host_id, status=caps.status, pool=caps.pool)
