"""What the API's handlers use, built once per process from the settings."""

from __future__ import annotations

from dataclasses import dataclass

from benchfarm.jobs.repository import JobRepository
from benchfarm.scheduler.host_registry import HostRegistry
from benchfarm.scheduler.service import JobService
from benchfarm.settings import Settings


@dataclass
class ApiDeps:
    settings: Settings
    repo: JobRepository
    hosts: HostRegistry
    jobs: JobService

    @classmethod
    def from_settings(cls, settings: Settings) -> "ApiDeps":
        from benchfarm.adapters.celery_app import CeleryDispatcher
        from benchfarm.adapters.docker_engine import ContainerEngine
        from benchfarm.adapters.redis_store import RedisKV
        from benchfarm.worker.service import build_repository

        repo = build_repository(settings)
        hosts = HostRegistry(RedisKV.from_settings(settings))
        service = JobService(repo, hosts, ContainerEngine.from_settings(settings), CeleryDispatcher(settings))
        return cls(settings, repo, hosts, service)
