"""The farm's own processes on the one-host farm: the HTTP API and this host's worker."""

from __future__ import annotations

import os
import secrets
import sys

from benchfarm.stack.ports import port_open
from benchfarm.stack.services.base import Progress, Service, http_health


class ApiService(Service):
    name = "api"
    ready_timeout = 60.0

    def address(self) -> str:
        return self.settings.effective_api_url

    def ports(self) -> list[tuple[str, int]]:
        return [(self.settings.api_host, self.settings.api_port)]

    def healthy(self) -> tuple[bool, str]:
        return http_health(f"{self.address()}/healthz")

    def ensure_installed(self, progress: Progress) -> None:
        pass

    def configure(self, progress: Progress) -> None:
        # the farm's admin token, and the credential of the internal routes the Salt side calls
        for token_file, given in ((self.settings.api_token_file, self.settings.api_token),
                                  (self.settings.internal_token_file, self.settings.internal_token)):
            if not token_file.exists() and not given:
                token_file.parent.mkdir(parents=True, exist_ok=True)
                fd = os.open(token_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
                with os.fdopen(fd, "w") as f:
                    f.write(secrets.token_urlsafe(32))
                progress(f"wrote a token to {token_file} (root-only)")

    def command(self) -> tuple[list[str], dict[str, str], str | None]:
        return [sys.executable, "-m", "benchfarm.cli.main", "api", "serve"], {}, None


class WorkerService(Service):
    """This machine's own worker; ``local_worker: false`` switches it off (a farm of nodes or remote hosts only).

    Switched off, ``stack up`` stops a worker it started earlier and retires this host in the
    registry, so the scheduler matches no job to it; the service then counts as healthy
    ("switched off"). Switching it on again registers the host afresh (its worker does).
    """

    name = "worker"
    ready_timeout = 60.0

    def address(self) -> str:
        return f"celery worker benchfarm@{self.settings.minion_id}"

    def _up(self, progress: Progress) -> str:
        if self.settings.local_worker:
            return super()._up(progress)
        stopped = self.process.stop()
        if port_open(self.settings.redis_host, self.settings.redis_port):
            from benchfarm.adapters.redis_store import RedisKV
            from benchfarm.scheduler.host_registry import HostRegistry

            if HostRegistry(RedisKV.from_settings(self.settings)).retire(self.settings.minion_id):
                progress(f"worker: host {self.settings.minion_id} retired in the registry")
        return "stopped (switched off: local_worker is false)" if stopped else "switched off (local_worker is false)"

    def healthy(self) -> tuple[bool, str]:
        if not self.settings.local_worker:
            return (False, "runs although local_worker is false") if self.process.pid else (True, "switched off")
        if self.process.pid is None:
            return False, "not running"
        if not port_open(self.settings.redis_host, self.settings.redis_port):
            return False, "redis is down"
        from benchfarm.adapters.redis_store import RedisKV
        from benchfarm.errors import BenchfarmError
        from benchfarm.scheduler.host_registry import HostRegistry

        try:
            seen = HostRegistry(RedisKV.from_settings(self.settings)).workers_seen()
        except BenchfarmError as exc:
            return False, exc.message
        if self.settings.minion_id not in seen:
            return False, "host not registered yet"
        return True, ""

    def ensure_installed(self, progress: Progress) -> None:
        pass

    def command(self) -> tuple[list[str], dict[str, str], str | None]:
        # the worker's own Redis user (its password comes from the stack's secrets file, not from here)
        env = {} if self.settings.redis_url else {"BENCHFARM_REDIS_USERNAME": "benchfarm-worker"}
        return [sys.executable, "-m", "benchfarm.cli.main", "worker", "run"], env, None
