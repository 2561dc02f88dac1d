"""The farm's inventory: hosts from Salt grains, their status and why, and the job each runs.

Reads minions through :class:`benchfarm.adapters.salt_master.SaltMaster` (the only
code importing salt) and keeps the scheduler's :class:`HostRegistry` in step with
them, so ``benchfarm submit`` matches jobs against capabilities from grains.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from typing import Any, Protocol

from benchfarm.errors import NotFoundError, ServiceUnavailableError
from benchfarm.inventory.hardware import capabilities_from_grains
from benchfarm.inventory.host_states import HostStatus, check_transition
from benchfarm.jobs.model import JobStatus
from benchfarm.scheduler.capabilities import HostCapabilities
from benchfarm.scheduler.host_registry import HashStore, HostRegistry

REASONS_KEY = "benchfarm:hosts:reasons"  # host_id -> {"status", "reason", "since", "checks"}
# statuses only an operator ends: a host event saying "good" (health check passed) leaves them
_OPERATOR_HELD = (HostStatus.MAINTENANCE.value, HostStatus.RETIRED.value)


class SaltClient(Protocol):
    def cmd(self, target: str, fun: str, args: list | None = None, *, timeout: int = 30,
            tgt_type: str = "glob", kwarg: dict | None = None) -> dict[str, Any]: ...


class JobLister(Protocol):
    def list(self, *, status: str | None = None, limit: int = 50) -> list: ...


@dataclass
class Inventory:
    """Hosts known to Salt and to the scheduler."""

    salt: SaltClient | None
    registry: HostRegistry
    kv: HashStore
    jobs: JobLister | None = None

    # reading Salt ------------------------------------------------------------------
    def grains(self, target: str = "*", timeout: int = 20) -> dict[str, dict[str, Any]]:
        """``grains.items`` of the minions matching ``target`` that answered."""
        if self.salt is None:
            raise ServiceUnavailableError("no Salt master configured", hint="start the farm with `benchfarm stack up`")
        out = self.salt.cmd(target, "grains.items", timeout=timeout)
        return {mid: g for mid, g in out.items() if isinstance(g, dict)}

    def sync_from_grains(self, target: str = "*", timeout: int = 20) -> list[HostCapabilities]:
        """Register every answering minion's capabilities (from grains) with the scheduler.

        A host keeps the status it has in the registry (a quarantine outlives a resync);
        a host the registry does not know yet starts ``unknown`` unless its grains say otherwise.
        """
        known = {h.host_id: h for h in self._all_registered()}
        synced = []
        for mid, grains in sorted(self.grains(target, timeout).items()):
            caps = capabilities_from_grains(grains, host_id=mid)
            if mid in known:
                caps.status = known[mid].status
            elif not (grains.get("benchfarm") or {}).get("status"):
                caps.status = HostStatus.GOOD.value
            self.registry.register(caps)
            synced.append(caps)
        return synced

    def _all_registered(self) -> list[HostCapabilities]:
        raw = self.kv.hgetall(HostRegistry.KEY)
        return [HostCapabilities.model_validate_json(v) for v in raw.values()]

    # status --------------------------------------------------------------------------
    def reason(self, host_id: str) -> dict[str, Any] | None:
        raw = self.kv.hgetall(REASONS_KEY).get(host_id)
        return json.loads(raw) if raw else None

    def set_status(self, host_id: str, status: str, reason: str, checks: dict | None = None) -> HostCapabilities:
        """Move a registered host to ``status`` (checked against the host state machine), keeping why.

        Raises:
            NotFoundError: the host is not registered.
            UserInputError: the state machine forbids the change.
        """
        current = self.registry.get(host_id)
        new = check_transition(current.status, status)
        caps = self.registry.set_status(host_id, new.value)
        self.kv.hset(REASONS_KEY, host_id, json.dumps({"status": new.value, "reason": reason, "since": time.time(),
                                                        "checks": checks or {}}))
        return caps

    def apply_host_event(self, payload: dict[str, Any]) -> HostCapabilities:
        """Apply a ``POST /internal/host-events`` payload (registration or status change)."""
        host_id = payload["host_id"]
        if payload.get("capabilities"):
            caps = HostCapabilities.model_validate(payload["capabilities"])
            try:
                caps.status = self.registry.get(host_id).status  # re-registration keeps a quarantine
            except NotFoundError:
                caps.status = payload.get("status") or HostStatus.UNKNOWN.value
            self.registry.register(caps)
        current = self.registry.get(host_id).status
        if payload["status"] == HostStatus.GOOD.value and current in _OPERATOR_HELD:
            return self.registry.get(host_id)  # a passing health check does not end an operator's decision
        return self.set_status(host_id, payload["status"], payload.get("reason", ""), payload.get("checks"))

    def quarantine(self, host_id: str, reason: str) -> dict[str, Any]:
        """Quarantine a host: the minion writes its quarantine marker (its worker stops) and the
        registry marks it so the scheduler sends it nothing. Works with the minion down too."""
        self.registry.get(host_id)
        minion = self._minion_call(host_id, "benchfarm.quarantine", [reason], {"notify": False})
        caps = self.set_status(host_id, HostStatus.QUARANTINED.value, reason)
        return {"host_id": host_id, "status": caps.status, "reason": reason, "minion": minion}

    def drain(self, host_id: str, reason: str) -> dict[str, Any]:
        """Drain a host: it goes to ``maintenance``, so the job it runs finishes and it is given no new one
        (its worker refuses claims while the registry says so); ``release`` ends it."""
        caps = self.set_status(host_id, HostStatus.MAINTENANCE.value, reason)
        return {"host_id": host_id, "status": caps.status, "reason": reason,
                "running_jobs": self.running_jobs().get(host_id, [])}

    def release(self, host_id: str, reason: str = "released by operator") -> dict[str, Any]:
        """Release a quarantined or drained host (minion marker removed, registry status good)."""
        self.registry.get(host_id)
        minion = self._minion_call(host_id, "benchfarm.release", [reason], {"notify": False})
        caps = self.set_status(host_id, HostStatus.GOOD.value, reason)
        return {"host_id": host_id, "status": caps.status, "reason": reason, "minion": minion}

    def _minion_call(self, host_id: str, fun: str, args: list, kwarg: dict) -> Any:
        if self.salt is None:
            return None
        try:
            return self.salt.cmd(host_id, fun, args, kwarg=kwarg, timeout=20).get(host_id)
        except ServiceUnavailableError as exc:
            return f"not applied on the minion: {exc.message}"

    # listing -------------------------------------------------------------------------------
    def running_jobs(self) -> dict[str, list[str]]:
        """host_id -> ids of the jobs running there."""
        out: dict[str, list[str]] = {}
        if self.jobs is None:
            return out
        for job in self.jobs.list(status=JobStatus.RUNNING.value, limit=1000):
            if job.host_id:
                out.setdefault(job.host_id, []).append(job.id)
        return out

    def describe(self) -> list[dict[str, Any]]:
        """Every registered host: id, pool, capabilities, status (and why), liveness, running jobs."""
        running = self.running_jobs()
        reasons = {k: json.loads(v) for k, v in self.kv.hgetall(REASONS_KEY).items()}
        rows = []
        for row in self.registry.describe():
            why = reasons.get(row["host_id"]) or {}
            row["status_reason"] = why.get("reason") if why.get("status") == row["status"] else None
            row["running_jobs"] = running.get(row["host_id"], [])
            rows.append(row)
        return rows
