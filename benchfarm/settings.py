"""Typed settings for every part of the farm, in one place.

Values come from, in order of precedence: ``BENCHFARM_*`` environment
variables, then a YAML config file (``BENCHFARM_CONFIG`` or
``/etc/benchfarm/config.yaml``), then the defaults below, which describe the
embedded one-host farm started by ``benchfarm stack up``.  Point benchfarm at
existing clusters by setting the URLs (for example
``BENCHFARM_ELASTICSEARCH_URL=https://es.example:9200``).
"""

from __future__ import annotations

import os
import socket
from functools import lru_cache
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit, urlunsplit

import yaml
from pydantic import Field
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

from benchfarm.scheduler.capabilities import (
    DEFAULT_PIDS_LIMIT,
    MAX_PIDS_LIMIT,
    MIN_PIDS_LIMIT,
    RESERVED_MEMORY_BYTES,
    ByteCount,
    ContainerPolicy,
    GatedNetwork,
)

DEFAULT_CONFIG_FILE = Path("/etc/benchfarm/config.yaml")
REPO_ROOT = Path(__file__).resolve().parent.parent


class _YamlFileSource(PydanticBaseSettingsSource):
    """Reads settings from a YAML mapping in the config file, if there is one."""

    def __init__(self, settings_cls: type[BaseSettings]) -> None:
        super().__init__(settings_cls)
        path = Path(os.environ.get("BENCHFARM_CONFIG", DEFAULT_CONFIG_FILE))
        self._data: dict[str, Any] = {}
        if path.is_file():
            loaded = yaml.safe_load(path.read_text()) or {}
            if not isinstance(loaded, dict):
                raise ValueError(f"{path}: the config file must be a YAML mapping of setting names to values")
            self._data = loaded

    def get_field_value(self, field: Any, field_name: str) -> tuple[Any, str, bool]:
        return self._data.get(field_name), field_name, False

    def __call__(self) -> dict[str, Any]:
        return {k: v for k, v in self._data.items() if k in self.settings_cls.model_fields}


class Settings(BaseSettings):
    """Everything configurable, with the one-host farm's defaults."""

    model_config = SettingsConfigDict(env_prefix="BENCHFARM_", extra="ignore")

    # where the embedded stack keeps its data, logs, pid files and downloads
    state_dir: Path = Path("/var/lib/benchfarm")
    cache_dir: Path = Path("/var/cache/benchfarm")
    repo_root: Path = REPO_ROOT

    # Docker engine
    docker_url: str = "unix:///var/run/docker.sock"

    # Redis: the Celery broker and result backend, and the durable job records
    redis_host: str = "127.0.0.1"
    redis_port: int = 16379
    redis_url: str | None = None
    # credentials (an ACL user of the stack's Redis, or of an external one); the password defaults to the
    # stack's secrets file of that user (<state_dir>/secrets/redis-<user>, root-only) when there is one
    redis_username: str = "benchfarm-api"
    redis_password: str | None = None
    redis_ca_certs: Path | None = None  # CA bundle for a rediss:// URL (an external Redis over TLS)

    # Elasticsearch
    elasticsearch_version: str = "9.2.4"  # the one place the version is pinned
    elasticsearch_host: str = "127.0.0.1"
    elasticsearch_port: int = 19200
    elasticsearch_transport_port: int = 19300
    elasticsearch_url: str | None = None
    elasticsearch_heap: str | None = None  # e.g. "2g"; default sized from the machine's memory
    elasticsearch_user: str = "benchfarm-es"  # the system user the stack runs Elasticsearch as
    # credentials (basic auth); the password defaults to <state_dir>/secrets/elasticsearch-<user> when there is one
    elasticsearch_username: str = "benchfarm-writer"
    elasticsearch_password: str | None = None
    elasticsearch_ca_certs: Path | None = None  # CA bundle for an https:// cluster
    index_prefix: str = "benchfarm"

    # Salt
    salt_master_host: str = "127.0.0.1"
    salt_publish_port: int = 14505
    salt_ret_port: int = 14506
    minion_id: str = Field(default_factory=socket.gethostname)
    pool: str = "default"

    # farm image registry
    registry_host: str = "127.0.0.1"
    registry_port: int = 15000

    # Celery / worker
    # a message a worker took and never acknowledged (it died before its claim: SIGKILL, a node killed or cut off)
    # goes back to its queue after this; a copy of a job that is running, or ended, is dropped by the claim, so it
    # may be short (it must stay above the 30 s countdown of a refused job's retry). 3600 left such a job queued
    # for an hour (bench/faults.py, issue 12)
    visibility_timeout_s: int = 120
    worker_lease_s: float = 15.0
    worker_max_attempts: int = 2
    worker_slot_timeout_s: float = 3600.0  # the longest a claimed job waits for a free benchmark slot
    # the worker's housekeeping fires due schedules (benchfarm.schedules.loop); off where the engine does not hold
    # the farm's images (nodes: they pull by digest, so a job could not be resolved there)
    schedules_enabled: bool = True
    allowed_devices: list[str] = Field(default_factory=list)  # device nodes jobs on this host may map
    allowed_cap_add: list[str] = Field(default_factory=list)
    # the policy for job containers on this host (see ContainerPolicy; Salt grains carry the same on a real
    # farm): networks besides "none" a job may use ("host" reaches this host's loopback, where the farm's own
    # services listen), and the pids and memory limits every container gets unless its job asks for less, or
    # for more up to the maximum
    allowed_networks: list[GatedNetwork] = Field(default_factory=list)
    default_pids_limit: int = Field(default=DEFAULT_PIDS_LIMIT, ge=MIN_PIDS_LIMIT)
    max_pids_limit: int = Field(default=MAX_PIDS_LIMIT, ge=MIN_PIDS_LIMIT)
    default_memory: ByteCount | None = None  # e.g. "8g"; None: max_memory
    max_memory: ByteCount | None = None  # None: the host's memory less reserved_memory (at least half of it)
    reserved_memory: ByteCount = RESERVED_MEMORY_BYTES  # kept back for the system and the farm's services
    max_concurrent_jobs: int = 1
    # `benchfarm stack up` runs a worker on this machine; false makes a farm of nodes (or remote hosts) only
    local_worker: bool = True

    # nodes (containers that behave like hosts, `benchfarm nodes`): the Docker network the farm makes for them,
    # its host interface, and whether the stack fences that interface so nodes reach only the forwarded ports
    node_network: str = "benchfarm-nodes"
    node_bridge: str = "bf-nodes"        # at most 15 characters (a Linux interface name)
    node_subnet: str | None = None       # None: the engine picks a free one from its pools
    node_firewall: bool = True
    # a node sees the whole machine's load average (a container has no load of its own), which every node
    # of the machine adds to: its health check allows more than a host's default 4.0 per CPU
    node_max_load_per_cpu: float = 8.0
    # elastic pools: the worker's housekeeping runs the autoscaler where salt-cloud's config is (the master's
    # host); false keeps this host's housekeeping out of it
    autoscaler: bool = True

    # collectors
    sample_interval_s: float = 1.0
    sample_batch_interval_s: float = 10.0
    ship_between_repetitions_only: bool = False
    telemetry_warning_threshold: float = 0.01  # sampler CPU / job CPU above this -> warning on the result

    # HTTP API
    api_host: str = "127.0.0.1"
    api_port: int = 18787
    api_url: str | None = None
    api_token: str | None = None  # default: the token file the stack writes (api_token_file)
    api_auth: bool = True
    # the credential of the Salt side's internal routes (/internal/*); default: the stack's internal-token file
    internal_token: str | None = None

    def container_policy(self) -> ContainerPolicy:
        """This host's policy for job containers, from the settings above.

        Raises:
            pydantic.ValidationError: a default above its maximum.
        """
        return ContainerPolicy.from_config(self.model_dump())

    @property
    def api_token_file(self) -> Path:
        return self.state_dir / "api-token"

    def resolved_api_token(self) -> str | None:
        """The API bearer token: the setting, else the stack's token file, else None."""
        if self.api_token:
            return self.api_token
        try:
            return self.api_token_file.read_text().strip() or None
        except (FileNotFoundError, PermissionError):
            return None

    @property
    def internal_token_file(self) -> Path:
        return self.state_dir / "internal-token"

    def resolved_internal_token(self) -> str | None:
        """The internal routes' credential (what Salt sends): the setting, else the stack's file, else None."""
        if self.internal_token:
            return self.internal_token
        try:
            return self.internal_token_file.read_text().strip() or None
        except (FileNotFoundError, PermissionError):
            return None

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return init_settings, env_settings, _YamlFileSource(settings_cls), file_secret_settings

    # credentials ------------------------------------------------------------
    @property
    def secrets_dir(self) -> Path:
        """Where `stack up` keeps the generated passwords (0700 directory, 0600 files)."""
        return self.state_dir / "secrets"

    def secret(self, name: str) -> str | None:
        """The stack's secret ``name`` (e.g. ``redis-benchfarm-worker``), or None when there is none to read."""
        try:
            return (self.secrets_dir / name).read_text().strip() or None
        except (FileNotFoundError, PermissionError, NotADirectoryError):
            return None

    def redis_credentials(self, username: str | None = None) -> tuple[str, str] | None:
        """(user, password) for Redis: the settings', or ``username``'s from the stack's secrets; None: none."""
        user = username or self.redis_username
        password = self.redis_password if username in (None, self.redis_username) else None
        password = password or self.secret(f"redis-{user}")
        return (user, password) if password else None

    def elasticsearch_credentials(self, username: str | None = None) -> tuple[str, str] | None:
        """(user, password) for Elasticsearch, found as for Redis; None: no credentials."""
        user = username or self.elasticsearch_username
        password = self.elasticsearch_password if username in (None, self.elasticsearch_username) else None
        password = password or self.secret(f"elasticsearch-{user}")
        return (user, password) if password else None

    # derived values ---------------------------------------------------------
    def redis_url_for(self, username: str | None = None) -> str:
        """The Redis URL with the credentials of ``username`` (default: the configured user) in it."""
        return with_credentials(self.redis_url or f"redis://{self.redis_host}:{self.redis_port}/0",
                                self.redis_credentials(username))

    def elasticsearch_url_for(self, username: str | None = None) -> str:
        """The Elasticsearch URL with the credentials of ``username`` (default: the configured user) in it."""
        return with_credentials(self.elasticsearch_url or f"http://{self.elasticsearch_host}:{self.elasticsearch_port}",
                                self.elasticsearch_credentials(username))

    @property
    def effective_redis_url(self) -> str:
        """The Redis URL to use (the explicit one, or the embedded stack's), with the credentials in it.

        Never print it: ``redact_url`` it first.
        """
        return self.redis_url_for()

    @property
    def effective_elasticsearch_url(self) -> str:
        """The Elasticsearch URL to use (the explicit one, or the embedded stack's), with the credentials in it."""
        return self.elasticsearch_url_for()

    @property
    def effective_api_url(self) -> str:
        """The API base URL the CLI talks to."""
        return self.api_url or f"http://{self.api_host}:{self.api_port}"

    @property
    def registry_address(self) -> str:
        """host:port of the farm registry, as used in image references."""
        return f"{self.registry_host}:{self.registry_port}"

    @property
    def run_dir(self) -> Path:
        return self.state_dir / "run"

    @property
    def log_dir(self) -> Path:
        return self.state_dir / "log"


def with_credentials(url: str, credentials: tuple[str, str] | None) -> str:
    """``url`` with ``user:password@`` (percent-encoded) in it, unless it has credentials already."""
    parts = urlsplit(url)
    if credentials is None or "@" in parts.netloc:
        return url
    user, password = credentials
    netloc = f"{quote(user, safe='')}:{quote(password, safe='')}@{parts.netloc}"
    return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))


def redact_url(url: str) -> str:
    """``url`` fit to print: a password in it replaced by ``***``."""
    parts = urlsplit(url)
    if "@" not in parts.netloc:
        return url
    userinfo, _, hostport = parts.netloc.rpartition("@")
    user = userinfo.split(":", 1)[0]
    return urlunsplit((parts.scheme, f"{user}:***@{hostport}" if user else f"***@{hostport}", parts.path,
                       parts.query, parts.fragment))


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings, read once."""
    return Settings()
