"""What the API's handlers use: the farm's clients and services, built by the composition root.

``benchfarm.composition.build_api_deps(settings)`` makes one per process; tests pass their
own to ``create_app(settings, deps)``.
"""

from __future__ import annotations

from dataclasses import dataclass

from benchfarm.access.audit import AuditLog
from benchfarm.access.tokens import TokenStore
from benchfarm.jobs.repository import JobRepository
from benchfarm.scheduler.host_registry import HostRegistry
from benchfarm.scheduler.service import JobService
from benchfarm.settings import Settings


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
