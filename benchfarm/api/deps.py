"""What the API's handlers use: the farm's clients and services, built by the composition root.

``benchfarm.composition.build_api_deps(settings)`` makes one per process; tests pass their
own to ``create_app(settings, deps)``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from benchfarm.access.audit import AuditLog
from benchfarm.access.tokens import TokenStore
from benchfarm.campaigns.service import CampaignService
from benchfarm.elastic.planner import PoolPlan
from benchfarm.elastic.store import ElasticPoolStore
from benchfarm.inventory.pools import PoolStore
from benchfarm.jobs.repository import JobRepository
from benchfarm.scheduler.host_registry import HostRegistry
from benchfarm.scheduler.service import JobService
from benchfarm.schedules.service import ScheduleService
from benchfarm.settings import Settings
from benchfarm.store.repository import StoreRepository


@dataclass
class ApiDeps:
    """The API's dependencies: settings, the job repository, the host registry, the job service, the users'
    tokens and the audit log."""

    settings: Settings
    repo: JobRepository
    hosts: HostRegistry
    jobs: JobService
    tokens: TokenStore
    audit: AuditLog
    # the farm overview and the web console (None in apps made without them: those routes answer 503)
    pools: PoolStore | None = None
    store: StoreRepository | None = None
    #: queue names -> messages waiting in each (the Celery broker's lists)
    queue_depths: Callable[[list[str]], dict[str, int]] | None = None
    # elastic pools: their definitions, and what the autoscaler does next for each (None: those routes answer 503)
    elastic_pools: ElasticPoolStore | None = None
    pool_plans: Callable[[], dict[str, PoolPlan]] | None = None
    #: campaigns (None in apps made without them: /campaigns answers 503)
    campaigns: CampaignService | None = None
    #: schedules (None in apps made without them: /schedules answers 503)
    schedules: ScheduleService | None = None
