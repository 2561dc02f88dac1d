"""One decision-maker across processes: a lease in Redis with a fencing token.

Every worker's housekeeping process runs an autoscaler pass; only the holder of the lease
decides. The lease expires on its own (a holder that dies frees it after ``ttl_s``), and each
new holder gets a larger token. Every write the autoscaler makes to its ledger is *fenced*:
the store applies it only while the lease still carries that token, so a holder that paused
past its lease (a GC, a stopped VM) and wakes up cannot overwrite what the new holder decided —
the compare-and-set that etcd- and ZooKeeper-based leases use.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

LEASE_KEY = "benchfarm:autoscaler:lease"


class LeaseStore(Protocol):
    """What the lease needs of the key-value store (``benchfarm.adapters.redis_store.RedisKV`` fits)."""

    def lease_acquire(self, key: str, holder: str, ttl_s: float) -> int | None:
        """Take or extend the lease ``key`` for ``holder``; its fencing token, or None while another holds it."""
        ...

    def fenced_hset(self, lease_key: str, token: int, key: str, field: str, value: str) -> bool:
        """``HSET key field value`` only while ``lease_key`` carries ``token``; False when it did not."""
        ...

    def fenced_hdel(self, lease_key: str, token: int, key: str, field: str) -> bool:
        """``HDEL key field`` only while ``lease_key`` carries ``token``; False when it did not."""
        ...


@dataclass(frozen=True)
class Fence:
    """The lease as held by one pass: writes go through it."""

    store: LeaseStore
    token: int
    key: str = LEASE_KEY

    def hset(self, key: str, field: str, value: str) -> bool:
        return self.store.fenced_hset(self.key, self.token, key, field, value)

    def hdel(self, key: str, field: str) -> bool:
        return self.store.fenced_hdel(self.key, self.token, key, field)


class DecisionLease:
    """The autoscaler's lease, for one holder (a process)."""

    def __init__(self, store: LeaseStore, holder: str, ttl_s: float = 30.0, key: str = LEASE_KEY) -> None:
        self.store = store
        self.holder = holder
        self.ttl_s = ttl_s
        self.key = key

    def acquire(self) -> Fence | None:
        """The fence for this pass, or None when another process decides now."""
        token = self.store.lease_acquire(self.key, self.holder, self.ttl_s)
        return None if token is None else Fence(self.store, token, self.key)
