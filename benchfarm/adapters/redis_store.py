"""Redis adapter: the only module that imports ``redis``."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import redis

from benchfarm.errors import ServiceUnavailableError
from benchfarm.settings import Settings


@contextmanager
def _translate_errors(url: str) -> Iterator[None]:
    try:
        yield
    except (redis.ConnectionError, redis.TimeoutError) as exc:
        raise ServiceUnavailableError(
            f"Redis at {url} is not answering",
            hint="start the farm with `benchfarm stack up` or set BENCHFARM_REDIS_URL to a reachable Redis",
        ) from exc


class RedisClient:
    """A thin wrapper over a ``redis.Redis`` connection pool."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.raw = redis.Redis.from_url(url, decode_responses=True, socket_connect_timeout=3, socket_timeout=10)

    @classmethod
    def from_settings(cls, settings: Settings) -> "RedisClient":
        return cls(settings.effective_redis_url)

    def ping(self) -> bool:
        """True when Redis answers PING; raises ServiceUnavailableError otherwise."""
        with _translate_errors(self.url):
            return bool(self.raw.ping())

    def set(self, key: str, value: str) -> None:
        with _translate_errors(self.url):
            self.raw.set(key, value)

    def get(self, key: str) -> str | None:
        with _translate_errors(self.url):
            return self.raw.get(key)

    def delete(self, *keys: str) -> None:
        with _translate_errors(self.url):
            self.raw.delete(*keys)

    def close(self) -> None:
        self.raw.close()
