"""Inventory.apply_host_event: the status a host event from a minion may set."""

from __future__ import annotations

import pytest

from benchfarm.inventory.inventory import Inventory
from benchfarm.scheduler.capabilities import HostCapabilities
from benchfarm.scheduler.host_registry import HostRegistry


class DictStore:
    def __init__(self) -> None:
        self.data: dict[str, dict[str, str]] = {}

    def hset(self, key: str, field: str, value: str) -> None:
        self.data.setdefault(key, {})[field] = value

    def hgetall(self, key: str) -> dict[str, str]:
        return dict(self.data.get(key, {}))

    def hdel(self, key: str, field: str) -> None:
        self.data.get(key, {}).pop(field, None)


def _inventory() -> Inventory:
    kv = DictStore()
    return Inventory(None, HostRegistry(kv), kv)


def _register(inv: Inventory) -> None:
    caps = HostCapabilities(host_id="h1", pool="p", cpu_count=2, memory_bytes=0)
    inv.apply_host_event({"host_id": "h1", "status": "unknown", "reason": "registered",
                          "capabilities": caps.model_dump()})


def test_a_passing_health_check_makes_a_registered_host_good():
    inv = _inventory()
    _register(inv)
    assert inv.registry.get("h1").status == "unknown"
    assert inv.apply_host_event({"host_id": "h1", "status": "good", "reason": "health check passed"}).status == "good"
    assert inv.reason("h1")["reason"] == "health check passed"


@pytest.mark.parametrize("held", ["maintenance", "retired"])
def test_a_passing_health_check_does_not_end_an_operators_decision(held):
    inv = _inventory()
    _register(inv)
    inv.set_status("h1", held, "operator")
    assert inv.apply_host_event({"host_id": "h1", "status": "good", "reason": "health check passed"}).status == held
    assert inv.reason("h1")["reason"] == "operator"


def test_a_failing_health_check_quarantines_a_good_host():
    inv = _inventory()
    _register(inv)
    inv.apply_host_event({"host_id": "h1", "status": "good", "reason": "health check passed"})
    event = {"host_id": "h1", "status": "quarantined", "reason": "lock_dir"}
    assert inv.apply_host_event(event).status == "quarantined"


def test_a_drained_host_is_held_in_maintenance_until_released():
    inv = _inventory()
    _register(inv)
    inv.apply_host_event({"host_id": "h1", "status": "good", "reason": "health check passed"})
    drained = inv.drain("h1", "disk swap")
    assert drained["status"] == "maintenance" and drained["running_jobs"] == []
    assert inv.registry.refusal("h1") is not None  # its worker claims nothing while drained
    assert inv.apply_host_event({"host_id": "h1", "status": "good", "reason": "health check passed"}).status == \
        "maintenance"
    assert inv.release("h1")["status"] == "good"
    assert inv.registry.refusal("h1") is None
