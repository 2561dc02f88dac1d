"""The API app over in-memory fakes, for unit tests of routing, status codes and the OpenAPI document.

Real domain objects (JobRepository, HostRegistry, JobService) over :class:`MemoryKV`; only
the image resolver and the Celery dispatcher are fakes, implementing the protocols
``JobService`` takes. No Redis, Docker or Celery is claimed.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from fastapi import FastAPI
from fastapi.testclient import TestClient

from benchfarm.access.audit import AuditLog
from benchfarm.access.tokens import TokenStore
from benchfarm.api.app import create_app
from benchfarm.api.deps import ApiDeps
from benchfarm.campaigns.repository import CampaignRepository
from benchfarm.campaigns.service import CampaignService
from benchfarm.errors import NotFoundError
from benchfarm.images.model import ImageInfo
from benchfarm.jobs.repository import JobRepository
from benchfarm.scheduler.capabilities import HostCapabilities
from benchfarm.scheduler.host_registry import HostRegistry
from benchfarm.scheduler.service import JobService
from benchfarm.settings import Settings
from tests.support.memory_kv import MemoryKV

TOKEN = "unit-test-token"
INTERNAL_TOKEN = "unit-test-internal-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
IMAGE = "benchfarm/sysbench:latest"
IMAGE_ID = "sha256:" + "ab" * 32


@dataclass
class FakeImages:
    """Resolves the images it was given; NotFoundError (as the engine adapter raises) for others."""

    known: dict[str, ImageInfo] = field(default_factory=dict)

    def resolve_image(self, ref: str) -> ImageInfo:
        if ref not in self.known:
            raise NotFoundError(f"resolving image {ref}: image not found")
        return self.known[ref]


@dataclass
class RecordingDispatcher:
    """Records what would have gone to Celery."""

    sent: list[tuple[str, str, int]] = field(default_factory=list)
    batches: list[int] = field(default_factory=list)  # the size of each enqueue_many call

    def enqueue(self, job_id: str, queue: str, priority: int) -> str:
        self.sent.append((job_id, queue, priority))
        return f"task-{job_id}"

    def enqueue_many(self, jobs: list[tuple[str, str, int]]) -> None:
        self.batches.append(len(jobs))
        self.sent.extend(jobs)


@dataclass
class RecordingAuditSink:
    """Keeps the audit documents the app writes (the store writer's ``index_docs`` on the audit index)."""

    docs: list[dict[str, object]] = field(default_factory=list)

    def __call__(self, batch: list[tuple[str, dict[str, object]]]) -> None:
        self.docs.extend(doc for _, doc in batch)


@dataclass
class FakeFarm:
    """An app and what stands behind it."""

    app: FastAPI
    client: TestClient
    kv: MemoryKV
    deps: ApiDeps
    images: FakeImages
    dispatcher: RecordingDispatcher
    audited: RecordingAuditSink

    def audit_docs(self) -> list[dict[str, object]]:
        """The audit documents written so far (waits for the audit log's thread to write what it queued)."""
        self.deps.audit.close()
        self.deps.audit = AuditLog(self.audited)
        return self.audited.docs

    def add_host(self, host_id: str = "node-a", **caps: object) -> HostCapabilities:
        host = HostCapabilities(host_id=host_id, cpu_count=4, memory_bytes=8 << 30, **caps)  # type: ignore[arg-type]
        self.deps.hosts.register(host)
        return host


def make_settings(tmp_path) -> Settings:
    return Settings(state_dir=tmp_path, api_token=TOKEN, internal_token=INTERNAL_TOKEN)


def fake_farm(tmp_path) -> FakeFarm:
    """The API app over a MemoryKV, a fake image resolver knowing :data:`IMAGE` and a recording dispatcher."""
    settings = make_settings(tmp_path)
    kv = MemoryKV()
    repo = JobRepository(kv)
    hosts = HostRegistry(kv)
    images = FakeImages({IMAGE: ImageInfo(id=IMAGE_ID, tags=[IMAGE], repo_digests=[], labels={}, created="")})
    dispatcher = RecordingDispatcher()
    audited = RecordingAuditSink()
    jobs = JobService(repo, hosts, images, dispatcher)
    deps = ApiDeps(settings=settings, repo=repo, hosts=hosts, jobs=jobs, tokens=TokenStore(kv), audit=AuditLog(audited),
                   campaigns=CampaignService(CampaignRepository(kv), jobs, repo, hosts))
    app = create_app(settings, deps)
    return FakeFarm(app, TestClient(app, raise_server_exceptions=False), kv, deps, images, dispatcher, audited)
