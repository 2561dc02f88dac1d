"""Pools: named groups of hosts. A host's pool comes from its grains (``benchfarm:pool``);
the farm keeps each pool's record (description, draining) and can move a registered host."""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass

from benchfarm.errors import NotFoundError, UserInputError
from benchfarm.inventory.host_states import HostStatus
from benchfarm.scheduler.host_registry import HashStore, HostRegistry

POOLS_KEY = "benchfarm:pools"


@dataclass
class Pool:
    name: str
    description: str = ""
    draining: bool = False
    created_at: float = 0.0


class PoolStore:
    """Pool records in the farm's key-value store, with host membership from the host registry."""

    def __init__(self, kv: HashStore, registry: HostRegistry) -> None:
        self.kv = kv
        self.registry = registry

    def _records(self) -> dict[str, Pool]:
        return {k: Pool(**json.loads(v)) for k, v in self.kv.hgetall(POOLS_KEY).items()}

    def _save(self, pool: Pool) -> None:
        self.kv.hset(POOLS_KEY, pool.name, json.dumps(asdict(pool)))

    def list(self) -> list[dict]:
        """Every pool (declared, or named by a registered host's grains) with its hosts."""
        records = self._records()
        members: dict[str, list[str]] = {}
        for h in self.registry.hosts():
            members.setdefault(h.pool, []).append(h.host_id)
            records.setdefault(h.pool, Pool(name=h.pool, description="(from grains)"))
        return [{**asdict(p), "hosts": sorted(members.get(p.name, []))} for p in sorted(records.values(),
                                                                                         key=lambda p: p.name)]

    def create(self, name: str, description: str = "") -> Pool:
        """Declare a pool. Raises UserInputError when it already exists or the name is empty."""
        if not name or not name.replace("-", "").replace("_", "").isalnum():
            raise UserInputError(f"bad pool name {name!r}", hint="use letters, digits, '-' and '_'")
        if name in self._records():
            raise UserInputError(f"pool {name!r} already exists", hint="list pools with `benchfarm pool list`")
        pool = Pool(name=name, description=description, created_at=time.time())
        self._save(pool)
        return pool

    def _get(self, name: str) -> Pool:
        pool = self._records().get(name)
        if pool is None:
            raise NotFoundError(f"no pool {name!r}", hint="create it with `benchfarm pool create NAME`")
        return pool

    def add(self, name: str, host_id: str) -> dict:
        """Move a registered host into pool ``name`` (the scheduler's view; set the minion's
        ``benchfarm:pool`` grain too, or its next registration moves it back)."""
        self._get(name)
        caps = self.registry.get(host_id)
        caps.pool = name
        self.registry.register(caps)
        return {"host_id": host_id, "pool": name}

    def drain(self, name: str) -> dict:
        """Stop new jobs landing in the pool: its hosts go to ``maintenance`` (running jobs finish)."""
        pool = self._get(name)
        pool.draining = True
        self._save(pool)
        drained = []
        for h in self.registry.hosts():
            if h.pool == name and h.status not in (HostStatus.RETIRED.value,):
                self.registry.set_status(h.host_id, HostStatus.MAINTENANCE.value)
                drained.append(h.host_id)
        return {"pool": name, "draining": True, "hosts": drained}

    def remove(self, name: str) -> dict:
        """Delete an empty pool. Raises UserInputError while hosts are still in it."""
        self._get(name)
        left = [h.host_id for h in self.registry.hosts() if h.pool == name]
        if left:
            raise UserInputError(f"pool {name!r} still has hosts: {', '.join(left)}",
                                 hint="move them with `benchfarm pool add OTHER HOST` or retire them first")
        self.kv.hdel(POOLS_KEY, name)
        return {"pool": name, "removed": True}
