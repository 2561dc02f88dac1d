"""Builds the inventory's parts from the settings (real adapters)."""

from __future__ import annotations

from benchfarm.inventory.inventory import Inventory
from benchfarm.inventory.pools import PoolStore
from benchfarm.settings import Settings


def salt_master(settings: Settings):
    """The Salt adapter on the farm's master config."""
    from benchfarm.adapters.salt_master import SaltMaster
    from benchfarm.stack.salt_config import master_config_dir

    return SaltMaster(master_config_dir(settings))


def inventory_from_settings(settings: Settings, *, with_salt: bool = True) -> Inventory:
    """An :class:`Inventory` over the farm's Salt master, Redis host registry and jobs."""
    from benchfarm.adapters.redis_store import RedisKV
    from benchfarm.scheduler.host_registry import HostRegistry
    from benchfarm.worker.service import build_repository

    kv = RedisKV.from_settings(settings)
    return Inventory(salt_master(settings) if with_salt else None, HostRegistry(kv), kv, build_repository(settings))


def pools_from_settings(settings: Settings) -> PoolStore:
    from benchfarm.adapters.redis_store import RedisKV
    from benchfarm.scheduler.host_registry import HostRegistry

    kv = RedisKV.from_settings(settings)
    return PoolStore(kv, HostRegistry(kv))
