"""The composition root: the one place that builds clients and services from settings.

Why one place: wiring scattered over the worker, the API and the inventory had
grown import cycles and a module-global store writer. Here every real adapter
(Redis, Elasticsearch, Docker, Celery, Salt, NVML) is constructed once per
process, on first use, and handed to the domain objects that need it; the
domain never builds its own clients, so a test builds the same objects with
fakes and no patching.

Entry points (the CLI commands, the API server, the Celery worker and its
housekeeping process) make a :class:`Farm` from the settings and ask it for
what they use. Nothing below this module imports it, except through the
entry points named in the import contracts (pyproject.toml).
"""

from __future__ import annotations

import atexit
import logging
import os
from functools import cached_property, lru_cache
from typing import TYPE_CHECKING

from benchfarm.settings import Settings, get_settings

if TYPE_CHECKING:
    from benchfarm.access.audit import AuditLog
    from benchfarm.access.tokens import TokenStore
    from benchfarm.adapters.celery_app import CeleryDispatcher
    from benchfarm.adapters.docker_engine import ContainerEngine
    from benchfarm.adapters.docker_images import DockerImages
    from benchfarm.adapters.elasticsearch import EsClient
    from benchfarm.adapters.redis_store import RedisKV
    from benchfarm.adapters.registry_http import RegistryHttp
    from benchfarm.adapters.salt_master import SaltMaster
    from benchfarm.api.deps import ApiDeps
    from benchfarm.campaigns.service import CampaignService
    from benchfarm.client import ApiClient
    from benchfarm.elastic.autoscaler import Autoscaler
    from benchfarm.elastic.fair_share import ShareGate
    from benchfarm.elastic.planner import PoolPlan
    from benchfarm.elastic.store import ElasticPoolStore
    from benchfarm.execution.executor import JobExecutor
    from benchfarm.execution.publishing import AsyncEventMirror, TelemetryFactory
    from benchfarm.execution.reaper import Reaper
    from benchfarm.inventory.inventory import Inventory
    from benchfarm.inventory.pools import PoolStore
    from benchfarm.jobs.repository import JobRepository
    from benchfarm.nodes.manager import NodeManager
    from benchfarm.nodes.worker import NodeWorkers
    from benchfarm.scheduler.capabilities import HostCapabilities
    from benchfarm.scheduler.host_registry import HostRegistry
    from benchfarm.scheduler.service import JobService
    from benchfarm.schedules.loop import Scheduler
    from benchfarm.schedules.repository import ScheduleRepository
    from benchfarm.store.repository import StoreRepository
    from benchfarm.store.sinks import ResultSink
    from benchfarm.store.writer import StoreWriter


class Farm:
    """The farm's clients and services for one process, each built on first use.

    Building is lazy so that a CLI command pays only for what it touches (``benchfarm
    jobs list`` never loads the Docker SDK) and the API starts while Redis is down.
    """

    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    # ------------------------------------------------------------------ adapters
    @cached_property
    def kv(self) -> RedisKV:
        """The Redis key-value adapter: the system of record for jobs and hosts."""
        from benchfarm.adapters.redis_store import RedisKV

        return RedisKV.from_settings(self.settings)

    @cached_property
    def es(self) -> EsClient:
        from benchfarm.adapters.elasticsearch import EsClient

        return EsClient.from_settings(self.settings)

    @cached_property
    def engine(self) -> ContainerEngine:
        """This host's Docker engine, for benchmark containers."""
        from benchfarm.adapters.docker_engine import ContainerEngine

        return ContainerEngine.from_settings(self.settings)

    @cached_property
    def images(self) -> DockerImages:
        from benchfarm.adapters.docker_images import DockerImages

        return DockerImages.from_settings(self.settings)

    @cached_property
    def registry(self) -> RegistryHttp:
        """The farm registry's tags and image configs, over its HTTP API."""
        from benchfarm.adapters.registry_http import RegistryHttp

        return RegistryHttp(self.settings.registry_address)

    @cached_property
    def dispatcher(self) -> CeleryDispatcher:
        from benchfarm.adapters.celery_app import CeleryDispatcher

        return CeleryDispatcher(self.settings)

    @cached_property
    def salt(self) -> SaltMaster:
        """The Salt master adapter on the farm's master config."""
        from benchfarm.adapters.salt_master import SaltMaster
        from benchfarm.stack.salt_config import master_config_dir

        return SaltMaster(master_config_dir(self.settings))

    @cached_property
    def api_client(self) -> ApiClient:
        from benchfarm.client import ApiClient

        return ApiClient.from_settings(self.settings)

    # ------------------------------------------------------------------ store
    @cached_property
    def store_writer(self) -> StoreWriter:
        """The process's one spooling Elasticsearch writer (samples, results and events share it); what it
        spools or dead-letters is counted in the jobs' records."""
        from benchfarm.store.writer import Spool, StoreCounts, StoreWriter

        def count_in_job_records(by_job: dict[str, StoreCounts]) -> None:
            for job_id, counts in by_job.items():
                self.repository.count_store_outcome(job_id, spooled=counts.spooled,
                                                    dead_lettered=counts.dead_lettered)

        return StoreWriter(self.es, Spool(self.settings.state_dir / "spool" / "elasticsearch.jsonl"),
                           self.settings.index_prefix, on_outcome=count_in_job_records)

    @cached_property
    def store_repository(self) -> StoreRepository:
        from benchfarm.store.repository import StoreRepository

        return StoreRepository(self.es, self.store_writer)

    @cached_property
    def event_mirror(self) -> AsyncEventMirror:
        """Copies every job event into the events index, off the job path.

        :meth:`close` writes what it still holds; it is also registered to run at interpreter
        exit (the API, the CLI), which a Celery pool process never reaches: the worker calls
        :func:`close_process_farm` there.
        """
        from benchfarm.execution.publishing import AsyncEventMirror

        mirror = AsyncEventMirror(self.store_writer)
        atexit.register(mirror.close)
        return mirror

    @cached_property
    def audit(self) -> AuditLog:
        """Operator actions and refused API requests, to the ``<prefix>-audit`` index off the request path.

        :meth:`close` (also registered to run at exit) writes what it still holds.
        """
        from benchfarm.access.audit import AuditLog

        writer = self.store_writer
        log = AuditLog(lambda docs: writer.index_docs(writer.names["audit"], docs))
        atexit.register(log.close)
        return log

    def close(self, timeout_s: float = 10.0) -> None:
        """Write what this process still holds for the store (events queued in the mirror, audit documents);
        call it at exit.

        Only what was built is touched; safe to call more than once.
        """
        mirror = self.__dict__.get("event_mirror")
        if mirror is not None and not mirror.close(timeout_s):
            logging.getLogger(__name__).warning("the event mirror did not finish writing within %s s", timeout_s)
        audit = self.__dict__.get("audit")
        if audit is not None and not audit.close(timeout_s):
            logging.getLogger(__name__).warning("the audit log did not finish writing within %s s", timeout_s)

    # ------------------------------------------------------------------ jobs and hosts
    @cached_property
    def repository(self) -> JobRepository:
        """Job records in Redis, with every event mirrored to Elasticsearch."""
        from benchfarm.jobs.repository import JobRepository

        return JobRepository(self.kv, listeners=[self.event_mirror])

    @cached_property
    def tokens(self) -> TokenStore:
        """The API's user tokens (hashed, in Redis)."""
        from benchfarm.access.tokens import TokenStore

        return TokenStore(self.kv)

    @cached_property
    def host_registry(self) -> HostRegistry:
        from benchfarm.scheduler.host_registry import HostRegistry

        return HostRegistry(self.kv)

    @cached_property
    def job_service(self) -> JobService:
        """Submit and cancel: matching, image pinning, durable records, dispatch."""
        from benchfarm.images.registry import RegistryPublisher
        from benchfarm.scheduler.service import JobService

        return JobService(self.repository, self.host_registry, self.engine, self.dispatcher,
                          publisher=RegistryPublisher(self.images, self.settings.registry_address),
                          local_host=self.settings.minion_id,
                          elastic_pools=lambda: self.elastic_pools.definitions().keys())

    @cached_property
    def schedules(self) -> ScheduleRepository:
        """Recurring jobs and their per-fire-time claims (Redis)."""
        from benchfarm.schedules.repository import ScheduleRepository

        return ScheduleRepository(self.kv)

    @cached_property
    def scheduler(self) -> Scheduler:
        """Fires due schedules through the job service; one per process, any number per farm."""
        from benchfarm.schedules.loop import JobSubmitter, Scheduler

        return Scheduler(self.schedules, JobSubmitter(self.job_service, self.campaign_service))

    @cached_property
    def inventory(self) -> Inventory:
        """Hosts as Salt and the registry see them."""
        from benchfarm.inventory.inventory import Inventory

        return Inventory(self.salt, self.host_registry, self.kv, self.repository)

    @cached_property
    def pools(self) -> PoolStore:
        from benchfarm.inventory.pools import PoolStore

        return PoolStore(self.kv, self.host_registry)

    @cached_property
    def elastic_pools(self) -> ElasticPoolStore:
        """Elastic pool definitions and the autoscaler's ledger (Redis)."""
        from benchfarm.elastic.store import ElasticPoolStore

        return ElasticPoolStore(self.kv, teams=self._teams)

    def _teams(self) -> set[str]:
        """The teams of the API's users (live tokens) and the farm's own, which pool shares may name."""
        from benchfarm.access.tokens import FARM_ADMIN

        return {r.team for r in self.tokens.list() if r.revoked is None} | {FARM_ADMIN.team}

    @cached_property
    def share_gate(self) -> ShareGate:
        """Fair share between teams at dispatch: whether a job of a pool with shares takes a host now."""
        from benchfarm.elastic.fair_share import ShareGate

        return ShareGate(self.elastic_pools.all_shares, self.host_registry, self.repository, self.kv)

    def pool_plans(self) -> dict[str, PoolPlan]:
        """What the autoscaler's next pass will do for each elastic pool, and why (reads Redis only)."""
        import time

        from benchfarm.elastic.autoscaler import pool_plans
        from benchfarm.elastic.farm_view import RegistryFarmView

        return pool_plans(self.elastic_pools, RegistryFarmView(self.host_registry, self.repository), time.time())

    @cached_property
    def autoscaler(self) -> Autoscaler:
        """This process's autoscaler (see :meth:`build_autoscaler`)."""
        return self.build_autoscaler()

    def build_autoscaler(self, holder: str | None = None) -> Autoscaler:
        """An autoscaler for the elastic pools: salt-cloud through the farm's node driver, its lease in Redis
        (``holder``: its name there, default ``<hostname>-<pid>``), every decision to Elasticsearch."""
        import socket

        from benchfarm.adapters.redis_lease import RedisLeases
        from benchfarm.elastic.autoscaler import Autoscaler
        from benchfarm.elastic.farm_view import RegistryFarmView
        from benchfarm.elastic.lease import DecisionLease
        from benchfarm.nodes.config import NodeFarmConfig
        from benchfarm.nodes.image import NodeImageBuilder
        from benchfarm.stack.node_enrolment import SaltNodeEnrolment
        from benchfarm.stack.pool_provisioner import SaltCloudProvisioner

        def node_image() -> str:
            # the golden image as built (`benchfarm nodes image`, `stack up`): a pool's hosts come from it as
            # it is, so a cold start never waits for a rebuild; built here only when there is none
            config = NodeFarmConfig.from_settings(self.settings)
            latest = f"{config.image_repository}:latest"
            if self.images.exists(latest):
                return latest
            return NodeImageBuilder(self.images, config).ensure().ref

        writer = self.store_writer
        index = writer.names["pool_events"]
        provisioner = SaltCloudProvisioner(self.settings, SaltNodeEnrolment(self.settings, self.nodes,
                                                                            self.host_registry), node_image)
        return Autoscaler(self.elastic_pools, DecisionLease(RedisLeases(self.kv),
                                                            holder or f"{socket.gethostname()}-{os.getpid()}"),
                          RegistryFarmView(self.host_registry, self.repository), provisioner,
                          lambda docs: writer.index_docs(index, [(f"{d['@timestamp']}-{d['holder']}-{d['action']}-"
                                                                  f"{d.get('host') or ''}", d) for d in docs]))

    @cached_property
    def nodes(self) -> NodeManager:
        """The node provider: hosts as containers of this machine's Docker engine."""
        from benchfarm.adapters.docker_nodes import NodeEngine
        from benchfarm.nodes.config import NodeFarmConfig
        from benchfarm.nodes.manager import NodeManager

        return NodeManager(NodeEngine.from_settings(self.settings), NodeFarmConfig.from_settings(self.settings),
                           hosts=self.host_registry)

    @cached_property
    def node_workers(self) -> NodeWorkers:
        """Starts nodes' workers and waits for their heartbeats in the host registry."""
        from benchfarm.nodes.worker import NodeWorkers

        return NodeWorkers(self.nodes, self.host_registry)

    def api_deps(self) -> ApiDeps:
        """What the API's handlers use."""
        from benchfarm.adapters.celery_app import queue_depths
        from benchfarm.api.deps import ApiDeps
        from benchfarm.schedules.service import ScheduleService

        return ApiDeps(settings=self.settings, repo=self.repository, hosts=self.host_registry, jobs=self.job_service,
                       tokens=self.tokens, audit=self.audit, pools=self.pools, store=self.store_repository,
                       queue_depths=lambda queues: queue_depths(self.kv.list_lengths, queues),
                       campaigns=self.campaign_service, elastic_pools=self.elastic_pools,
                       pool_plans=self.pool_plans, schedules=ScheduleService(self.schedules))

    @cached_property
    def campaign_service(self) -> CampaignService:
        """Campaigns: records in Redis, jobs through the job service, prices from the pools' definitions."""
        from benchfarm.analysis.baselines import hardware_from_hosts
        from benchfarm.campaigns.repository import CampaignRepository
        from benchfarm.campaigns.service import CampaignService

        return CampaignService(CampaignRepository(self.kv), self.job_service, self.repository, self.host_registry,
                               hardware_of=hardware_from_hosts(self.host_registry), defined_prices=self._pool_prices)

    def _pool_prices(self) -> dict[str, float]:
        """Pool -> price per host-hour from the elastic pools' definitions (none when they are not there)."""
        try:
            from benchfarm.elastic.store import ElasticPoolStore
        except ImportError:
            return {}
        try:
            definitions = ElasticPoolStore(self.kv).definitions()
        except ValueError:  # a definition this version cannot read: unpriced, --price still works
            logging.getLogger(__name__).warning("pool definitions unreadable; no pool prices", exc_info=True)
            return {}
        return {name: d.price_per_host_hour for name, d in definitions.items()}

    # ------------------------------------------------------------------ this host's worker
    @cached_property
    def capabilities(self) -> HostCapabilities:
        """This host's capabilities, detected locally (Salt grains supply the same on a real farm)."""
        from benchfarm.adapters.nvml import list_gpus
        from benchfarm.inventory.hardware import detect_capabilities

        s = self.settings
        return detect_capabilities(s.pool, host_id=s.minion_id, allowed_devices=s.allowed_devices,
                                   allowed_cap_add=s.allowed_cap_add, max_concurrent_jobs=s.max_concurrent_jobs,
                                   policy=s.container_policy(), list_gpus=list_gpus)

    @cached_property
    def telemetry(self) -> TelemetryFactory:
        """Starts the collectors (host, cgroup, GPU, FPGA) beside each repetition's container."""
        from benchfarm.adapters.nvml import NvmlAdapter
        from benchfarm.execution.publishing import telemetry_factory

        return telemetry_factory(self.settings, self.store_writer, open_nvml=NvmlAdapter,
                                 container_pid=self.engine.pid)

    @cached_property
    def result_sink(self) -> ResultSink:
        """Publishes repetitions and job summaries with this host's hardware."""
        from benchfarm.execution.publishing import result_publisher

        return result_publisher(self.store_writer, self.capabilities)

    @cached_property
    def executor(self) -> JobExecutor:
        """The executor of this worker process."""
        from benchfarm.execution.executor import ExecutorConfig, JobExecutor

        s = self.settings
        return JobExecutor(
            self.repository, self.engine, self.capabilities,
            ExecutorConfig(worker_id=f"{s.minion_id}:{os.getpid()}", lock_dir=s.state_dir / "locks",
                           results_root=s.state_dir / "results", lease_s=s.worker_lease_s,
                           max_attempts=s.worker_max_attempts, slot_timeout_s=s.worker_slot_timeout_s),
            telemetry=self.telemetry, publisher=self.result_sink,
        )

    @cached_property
    def reaper(self) -> Reaper:
        from benchfarm.execution.reaper import Reaper

        return Reaper(self.repository, self.dispatcher, self.engine, self.settings.worker_max_attempts,
                      mirror=self.result_sink)


def build_api_deps(settings: Settings) -> ApiDeps:
    """The API's dependencies from ``settings`` (called by the app on its first request)."""
    return Farm(settings).api_deps()


@lru_cache(maxsize=1)
def process_farm() -> Farm:
    """The farm of this process, from the environment's settings (for Celery tasks, built once)."""
    return Farm(get_settings())


def close_process_farm() -> None:
    """Close :func:`process_farm` if this process built one (a worker process calls this as it exits)."""
    if process_farm.cache_info().currsize:
        process_farm().close()
