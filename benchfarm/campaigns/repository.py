"""Where campaign records live: Redis, beside the jobs, with the same durability.

A record is written (and fsync'd) before any of its jobs is submitted, then updated under
compare-and-set as each job id comes back, so an API that dies mid-campaign leaves a record
naming every job it did submit. A listing sorted set (newest first) is written in the same
transaction as the record, as for jobs (:mod:`benchfarm.jobs.repository`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from benchfarm.campaigns.model import CampaignRecord
from benchfarm.errors import NotFoundError
from benchfarm.jobs.repository import KeyValueStore, ZChange

PREFIX = "benchfarm"
LISTING_KEY = f"{PREFIX}:campaigns"


class CampaignRepository:
    """Durable campaign records with atomic updates.

    Args:
        kv: the key-value store (Redis through its adapter, or an in-memory one in tests).
    """

    def __init__(self, kv: KeyValueStore) -> None:
        self.kv = kv

    @staticmethod
    def _key(campaign_id: str) -> str:
        return f"{PREFIX}:campaign:{campaign_id}"

    def create(self, record: CampaignRecord) -> CampaignRecord:
        """Store a new campaign durably (fsync'd), with its listing entry in the same write."""

        def store_new(_old: str | None) -> tuple[str, list[ZChange], None]:
            return record.model_dump_json(), [(LISTING_KEY, record.id, record.submitted_at.timestamp())], None

        self.kv.transact_indexed(self._key(record.id), store_new)
        self.kv.wait_persisted()
        return record

    def get(self, campaign_id: str) -> CampaignRecord:
        """The campaign ``campaign_id``.

        Raises:
            NotFoundError: no campaign has that id.
        """
        raw = self.kv.get(self._key(campaign_id))
        if raw is None:
            raise NotFoundError(f"no campaign with id {campaign_id!r}",
                                hint="list campaigns with `benchfarm campaign list`")
        return CampaignRecord.model_validate_json(raw)

    def list(self, limit: int = 50) -> list[CampaignRecord]:
        """The most recent campaigns first."""
        ids = self.kv.zrevrange(LISTING_KEY, 0, limit - 1)
        return [CampaignRecord.model_validate_json(raw) for raw in self.kv.mget([self._key(i) for i in ids])
                if raw is not None]

    def update(self, campaign_id: str, mutate: Callable[[CampaignRecord], Any]) -> CampaignRecord:
        """Apply ``mutate(record)`` (in place) atomically and store it durably.

        Raises:
            NotFoundError: no campaign has that id.
        """

        def apply_mutation(raw: str | None) -> tuple[str, list[ZChange], CampaignRecord]:
            if raw is None:
                raise NotFoundError(f"no campaign with id {campaign_id!r}")
            record = CampaignRecord.model_validate_json(raw)
            mutate(record)
            return record.model_dump_json(), [], record

        record: CampaignRecord = self.kv.transact_indexed(self._key(campaign_id), apply_mutation)
        self.kv.wait_persisted()
        return record
