"""Redis: Debian's redis-server on loopback, append-only file fsync'd on every write."""

from __future__ import annotations

import shutil

from benchfarm.adapters.redis_store import RedisClient
from benchfarm.errors import BenchfarmError
from benchfarm.stack.prereqs import ensure_debian_packages
from benchfarm.stack.services.base import Progress, Service


class RedisService(Service):
    name = "redis"
    ready_timeout = 30.0

    def address(self) -> str:
        return f"redis://{self.settings.redis_host}:{self.settings.redis_port}"

    def ports(self) -> list[tuple[str, int]]:
        return [(self.settings.redis_host, self.settings.redis_port)]

    def healthy(self) -> tuple[bool, str]:
        client = RedisClient(f"{self.address()}/0")
        try:
            return client.ping(), ""
        except BenchfarmError as exc:
            return False, exc.message
        finally:
            client.close()

    def ensure_installed(self, progress: Progress) -> None:
        ensure_debian_packages(["redis-server"], progress=progress)

    @property
    def data_dir(self):
        return self.settings.state_dir / "redis"

    def configure(self, progress: Progress) -> None:
        self.data_dir.mkdir(parents=True, exist_ok=True)

    def command(self) -> tuple[list[str], dict[str, str], str | None]:
        # appendfsync always: a job acknowledged with 202 is on disk before the API answers.
        argv = [
            shutil.which("redis-server") or "/usr/bin/redis-server",
            "--bind", self.settings.redis_host,
            "--port", str(self.settings.redis_port),
            "--dir", str(self.data_dir),
            "--appendonly", "yes",
            "--appendfsync", "always",
            "--daemonize", "no",
            "--protected-mode", "yes",
            "--save", "300 1",
        ]
        return argv, {}, None
