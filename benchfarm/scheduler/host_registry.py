"""The hosts the scheduler knows: each worker registers its capabilities and keeps a heartbeat."""

from __future__ import annotations

import json
import time
from typing import Protocol

from benchfarm.scheduler.capabilities import HostCapabilities


class HashStore(Protocol):
    def hset(self, key: str, field: str, value: str) -> None: ...
    def hgetall(self, key: str) -> dict[str, str]: ...
    def hdel(self, key: str, field: str) -> None: ...


class HostRegistry:
    """Registered hosts with their capabilities, status and last heartbeat."""

    KEY = "benchfarm:hosts"
    HEARTBEAT_KEY = "benchfarm:hosts:heartbeat"
    WORKER_KEY = "benchfarm:hosts:worker"  # last heartbeat of each host's job worker

    def __init__(self, kv: HashStore, stale_after_s: float = 90.0) -> None:
        self.kv = kv
        self.stale_after_s = stale_after_s
        # each record as last read, parsed: a submit reads every host, and parsing 1,000 records took 12 ms
        # of it (bench/scale.py); a record is parsed again only when its stored text changed
        self._parsed: dict[str, tuple[str, HostCapabilities]] = {}

    def register(self, caps: HostCapabilities) -> None:
        """Add or refresh a host (its worker calls this at start and then periodically)."""
        self.kv.hset(self.KEY, caps.host_id, caps.model_dump_json())
        self.heartbeat(caps.host_id)

    def heartbeat(self, host_id: str) -> None:
        self.kv.hset(self.HEARTBEAT_KEY, host_id, str(time.time()))

    def worker_heartbeat(self, host_id: str) -> None:
        """A host's job worker is alive (only the worker calls this; Salt registration does not)."""
        now = str(time.time())
        self.kv.hset(self.HEARTBEAT_KEY, host_id, now)
        self.kv.hset(self.WORKER_KEY, host_id, now)

    def workers_seen(self) -> dict[str, float]:
        """host id -> last heartbeat of its worker."""
        return {k: float(v) for k, v in self.kv.hgetall(self.WORKER_KEY).items()}

    def remove(self, host_id: str) -> None:
        self.kv.hdel(self.KEY, host_id)
        self.kv.hdel(self.HEARTBEAT_KEY, host_id)
        self.kv.hdel(self.WORKER_KEY, host_id)

    def retire(self, host_id: str) -> bool:
        """Take a host out of scheduling for good (a node removed, a machine decommissioned).

        Its record stays, with status ``retired`` (jobs that ran there still name its hardware),
        and its heartbeats go, so it neither matches a job nor looks alive. A host that
        registers again later (its worker starts) comes back as good. Returns False when the
        host was not registered or was retired already.
        """
        raw = self.kv.hgetall(self.KEY).get(host_id)
        self.kv.hdel(self.HEARTBEAT_KEY, host_id)
        self.kv.hdel(self.WORKER_KEY, host_id)
        if raw is None:
            return False
        caps = HostCapabilities.model_validate_json(raw)
        if caps.status == "retired":
            return False
        caps.status = "retired"
        self.kv.hset(self.KEY, host_id, caps.model_dump_json())
        return True

    def set_status(self, host_id: str, status: str) -> HostCapabilities:
        """Change a host's status (good, quarantined, maintenance, retired...)."""
        caps = self.get(host_id)
        caps.status = status
        self.kv.hset(self.KEY, host_id, caps.model_dump_json())
        return caps

    def refusal(self, host_id: str) -> str | None:
        """Why ``host_id`` must take no job now (quarantined, maintenance, ...), or None (also for an unknown host)."""
        from benchfarm.errors import NotFoundError
        from benchfarm.scheduler.matching import NOT_ELIGIBLE

        try:
            status = self.get(host_id).status
        except NotFoundError:
            return None
        return f"host {host_id} is {status}" if status in NOT_ELIGIBLE else None

    def get(self, host_id: str) -> HostCapabilities:
        from benchfarm.errors import NotFoundError

        raw = self.kv.hgetall(self.KEY).get(host_id)
        if raw is None:
            raise NotFoundError(f"no registered host {host_id!r}", hint="list hosts with `benchfarm hosts list`")
        return HostCapabilities.model_validate_json(raw)

    def _records(self) -> list[tuple[str, HostCapabilities]]:
        """Every registered host's stored text and capabilities, retired ones left out, sorted by host id."""
        parsed: dict[str, tuple[str, HostCapabilities]] = {}
        for host_id, raw in self.kv.hgetall(self.KEY).items():
            known = self._parsed.get(host_id)
            parsed[host_id] = known if known is not None and known[0] == raw else (
                raw, HostCapabilities.model_validate_json(raw))
        self._parsed = parsed
        return [parsed[k] for k in sorted(parsed) if parsed[k][1].status != "retired"]

    def hosts(self) -> list[HostCapabilities]:
        """All registered hosts except retired ones: shallow copies of the parsed records (a caller may set
        their fields; their lists, such as ``gpus``, are shared and must not be changed in place)."""
        return [caps.model_copy() for _, caps in self._records()]

    def last_seen(self) -> dict[str, float]:
        return {k: float(v) for k, v in self.kv.hgetall(self.HEARTBEAT_KEY).items()}

    def describe(self) -> list[dict]:
        """Hosts with liveness, for `GET /hosts` and `benchfarm hosts list`."""
        seen = self.last_seen()
        now = time.time()
        rows = []
        for raw, h in self._records():
            d = json.loads(raw)
            age = now - seen[h.host_id] if h.host_id in seen else None
            d["last_seen_s_ago"] = None if age is None else round(age, 1)
            d["alive"] = age is not None and age < self.stale_after_s
            rows.append(d)
        return rows
