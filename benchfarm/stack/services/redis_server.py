"""Redis: Debian's redis-server on loopback, append-only file fsync'd on every write.

Clients authenticate as ACL users (the ``default`` user has a password no client is given,
because Redis replays its append-only file as that user): ``benchfarm-api`` and
``benchfarm-worker`` with every command on the farm's keys (``benchfarm:*``) and Celery's
(results, kombu bindings, unacked sets, the pool queues, pidbox replies) and every
pub/sub channel; ``benchfarm-reader`` with read commands only. The ACL file holds the
passwords' SHA-256 only and is root-only; no password is on the command line.
"""

from __future__ import annotations

import hashlib
import shutil

from benchfarm.adapters.redis_store import RedisClient
from benchfarm.errors import BenchfarmError
from benchfarm.settings import with_credentials
from benchfarm.stack.prereqs import ensure_debian_packages
from benchfarm.stack.secrets import (
    REDIS_API_USER,
    REDIS_DEFAULT_USER,
    REDIS_READER_USER,
    REDIS_WORKER_USER,
    ensure_secrets,
    stack_secret,
    write_private,
)
from benchfarm.stack.services.base import Progress, Service

# keys the farm's processes use: job records and indexes, Celery's results, kombu's bindings and
# unacked bookkeeping, the capability queues (pool.*, gpu.*, fpga.*, with their priority lists) and
# remote-control (pidbox) replies
FARM_KEY_PATTERNS = ("benchfarm:*", "celery*", "_kombu*", "unacked*", "pool.*", "gpu.*", "fpga.*", "*.pidbox*")
READER_COMMANDS = "-@all +@read +@connection +subscribe +psubscribe +unsubscribe +punsubscribe"


def acl_rules(passwords: dict[str, str]) -> str:
    """The ACL file for ``passwords`` ({user: password}); passwords are stored as SHA-256 only."""
    keys = " ".join(f"~{p}" for p in FARM_KEY_PATTERNS)

    def user(name: str, rights: str) -> str:
        digest = hashlib.sha256(passwords[name].encode()).hexdigest()
        return f"user {name} on #{digest} resetkeys resetchannels {keys} &* {rights}\n"

    default = hashlib.sha256(passwords[REDIS_DEFAULT_USER].encode()).hexdigest()
    # the append-only file is replayed as `default` (see benchfarm.stack.secrets): it keeps every command,
    # behind a password no client is given, so a client that does not authenticate is still refused
    return (f"user default on #{default} resetkeys resetchannels ~* &* +@all\n"
            + user(REDIS_API_USER, "+@all")
            + user(REDIS_WORKER_USER, "+@all")
            + user(REDIS_READER_USER, READER_COMMANDS))


class RedisService(Service):
    name = "redis"
    ready_timeout = 30.0

    def address(self) -> str:
        return f"redis://{self.settings.redis_host}:{self.settings.redis_port}"

    def ports(self) -> list[tuple[str, int]]:
        return [(self.settings.redis_host, self.settings.redis_port)]

    def healthy(self) -> tuple[bool, str]:
        client = RedisClient(with_credentials(f"{self.address()}/0", self.settings.redis_credentials(REDIS_API_USER)))
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

    @property
    def acl_file(self):
        return self.settings.secrets_dir / "redis-users.acl"

    def configure(self, progress: Progress) -> None:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        ensure_secrets(self.settings)
        users = (REDIS_API_USER, REDIS_WORKER_USER, REDIS_READER_USER, REDIS_DEFAULT_USER)
        write_private(self.acl_file, acl_rules({u: stack_secret(self.settings, f"redis-{u}") for u in users}))

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
            "--aclfile", str(self.acl_file),
        ]
        return argv, {}, None
