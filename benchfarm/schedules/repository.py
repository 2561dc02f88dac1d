"""Where schedules live: Redis, beside the jobs (appendfsync always: a schedule outlives every restart).

- ``benchfarm:schedules``: a hash, schedule id -> the Schedule as JSON.
- ``benchfarm:schedule-fire:<id>:<epoch seconds>``: the claim of one fire time, ``SET NX`` with an
  expiry: whichever scheduler writes it first fires that time; every other one sees it taken.
- ``benchfarm:schedules:last``: a hash, schedule id -> its latest Fire as JSON (for `schedule list`).
"""

from __future__ import annotations

from datetime import datetime
from typing import Protocol

from benchfarm.errors import ConflictError, NotFoundError
from benchfarm.schedules.model import Fire, Schedule

NAMESPACE = "benchfarm"


class ScheduleKV(Protocol):
    """The Redis calls schedules make (benchfarm.adapters.redis_store.RedisKV)."""

    def hset(self, key: str, field: str, value: str) -> None: ...
    def hgetall(self, key: str) -> dict[str, str]: ...
    def hdel(self, key: str, field: str) -> None: ...
    def set_if_absent(self, key: str, value: str, ttl_s: int) -> bool: ...
    def wait_persisted(self) -> None: ...


class ScheduleRepository:
    """Durable schedules, and the per-fire-time claims that make a fire happen once.

    Args:
        kv: Redis through its adapter (or an in-memory one in unit tests).
        namespace: the key prefix; tests use their own so the farm's schedulers never see their schedules.
    """

    def __init__(self, kv: ScheduleKV, namespace: str = NAMESPACE) -> None:
        self.kv = kv
        self.key = f"{namespace}:schedules"
        self.last_key = f"{namespace}:schedules:last"
        self.claim_prefix = f"{namespace}:schedule-fire"

    def add(self, schedule: Schedule) -> Schedule:
        """Store a new schedule durably.

        Raises:
            ConflictError: a schedule with this id exists.
        """
        if schedule.id in self.kv.hgetall(self.key):
            raise ConflictError(f"a schedule with id {schedule.id!r} exists",
                                 hint="pick another --id, or remove it first with `benchfarm schedule remove`")
        self.kv.hset(self.key, schedule.id, schedule.model_dump_json())
        self.kv.wait_persisted()
        return schedule

    def list(self) -> list[Schedule]:
        """Every schedule, by id."""
        return [Schedule.model_validate_json(v) for _, v in sorted(self.kv.hgetall(self.key).items())]

    def get(self, schedule_id: str) -> Schedule:
        """The schedule ``schedule_id``.

        Raises:
            NotFoundError: no schedule has that id.
        """
        raw = self.kv.hgetall(self.key).get(schedule_id)
        if raw is None:
            raise NotFoundError(f"no schedule with id {schedule_id!r}", hint="see `benchfarm schedule list`")
        return Schedule.model_validate_json(raw)

    def remove(self, schedule_id: str) -> Schedule:
        """Delete a schedule (its past jobs stay). Raises NotFoundError for an unknown id."""
        schedule = self.get(schedule_id)
        self.kv.hdel(self.key, schedule_id)
        self.kv.hdel(self.last_key, schedule_id)
        self.kv.wait_persisted()
        return schedule

    def claim(self, schedule_id: str, fire_at: datetime, scheduler: str, ttl_s: int) -> bool:
        """True for exactly one caller per (schedule, fire time): the one whose ``SET NX`` wrote the claim."""
        return self.kv.set_if_absent(f"{self.claim_prefix}:{schedule_id}:{int(fire_at.timestamp())}", scheduler, ttl_s)

    def record(self, fire: Fire) -> None:
        """Remember ``fire`` as the schedule's latest (unless the schedule was removed meanwhile)."""
        if fire.schedule_id in self.kv.hgetall(self.key):
            self.kv.hset(self.last_key, fire.schedule_id, fire.model_dump_json())

    def last_fires(self) -> dict[str, Fire]:
        """Schedule id -> its latest fire."""
        return {k: Fire.model_validate_json(v) for k, v in self.kv.hgetall(self.last_key).items()}
