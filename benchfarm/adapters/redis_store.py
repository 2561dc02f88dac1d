"""Redis adapter: the only module that imports ``redis``."""

from __future__ import annotations

from collections.abc import Callable, Generator, Iterator
from contextlib import contextmanager, suppress
from typing import TYPE_CHECKING, Any, Self, cast

import redis

from benchfarm.errors import ServiceUnavailableError
from benchfarm.settings import Settings, redact_url

if TYPE_CHECKING:
    from benchfarm.jobs.repository import ZChange


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

    def __init__(self, url: str, ca_certs: str | None = None) -> None:
        self.url = redact_url(url)  # for messages: the credentials in ``url`` stay out of them
        tls: dict[str, Any] = {"ssl_ca_certs": ca_certs} if ca_certs and url.startswith("rediss:") else {}
        self.raw = redis.Redis.from_url(url, decode_responses=True, socket_connect_timeout=3, socket_timeout=10,
                                        **tls)

    @classmethod
    def from_settings(cls, settings: Settings) -> Self:
        ca = settings.redis_ca_certs
        return cls(settings.effective_redis_url, str(ca) if ca else None)

    def ping(self) -> bool:
        """True when Redis answers PING; raises ServiceUnavailableError otherwise."""
        with _translate_errors(self.url):
            return bool(self.raw.ping())

    def set(self, key: str, value: str) -> None:
        with _translate_errors(self.url):
            self.raw.set(key, value)

    def get(self, key: str) -> str | None:
        with _translate_errors(self.url):
            return cast("str | None", self.raw.get(key))  # the client decodes responses

    def delete(self, *keys: str) -> None:
        with _translate_errors(self.url):
            self.raw.delete(*keys)

    def close(self) -> None:
        self.raw.close()


class RedisKV(RedisClient):
    """The key-value, list, sorted-set and pub/sub calls the job repository uses."""

    def transact(self, key: str, mutate: Callable[[str | None], tuple[str | None, Any]], retries: int = 50) -> Any:
        """Read ``key``, call ``mutate(old_value_or_None)`` and write what it returns, atomically.

        ``mutate`` returns ``(new_value_or_None, result)``; with None nothing is written.
        Retries when another client changed the key in between (optimistic locking).
        Returns ``result``.
        """

        def without_index(old: str | None) -> tuple[str | None, list[ZChange], Any]:
            new, result = mutate(old)
            return new, [], result

        return self.transact_indexed(key, without_index, retries)

    def transact_indexed(self, key: str, mutate: Callable[[str | None], tuple[str | None, list[ZChange], Any]],
                         retries: int = 50) -> Any:
        """A compare-and-set of ``key`` that also writes the sorted-set entries indexing it, in one transaction.

        ``mutate(old_value_or_None)`` returns ``(new_value_or_None, changes, result)``: the
        key is written unless the new value is None, and each ``(zset, member, score)`` of
        ``changes`` is a ZADD (a ZREM when the score is None), all under WATCH of ``key``
        and applied by one MULTI/EXEC: when another client changed ``key`` in between,
        ``mutate`` runs again on the new value. Whatever ``mutate`` raises propagates and
        nothing is written. Returns ``result``.

        Raises:
            ServiceUnavailableError: Redis is not answering, or the key stayed too contended.
        """
        with _translate_errors(self.url):
            for _ in range(retries):
                with self.raw.pipeline() as pipe:
                    try:
                        pipe.watch(key)
                        old = cast("str | None", pipe.get(key))
                        new, changes, result = mutate(old)
                        pipe.multi()
                        _queue_writes(pipe, {key: new} if new is not None else {}, changes, [])
                        pipe.execute()
                        return result
                    except redis.WatchError:
                        continue
            raise ServiceUnavailableError(f"Redis key {key} is too contended to update", hint="retry")

    def transact_logged(self, key: str, seq_key: str,
                        mutate: Callable[[str | None, int], tuple[str | None, list[ZChange], list[tuple[str, str, str]],
                                                                   int | None, Any]],
                        retries: int = 50) -> Any:
        """:meth:`transact_indexed` that also appends to a log in the same transaction: one fsync for a change
        of ``key`` and the event saying so, instead of three (the change, the event's sequence, the event).

        ``mutate(old_value_or_None, seq)`` gets the log's sequence (``seq_key``, 0 when absent) and returns
        ``(new_value_or_None, changes, appends, new_seq_or_None, result)``: ``appends`` are ``(list_key,
        channel, value)`` (RPUSH and PUBLISH), ``new_seq`` is written to ``seq_key``. ``key`` and ``seq_key``
        are both watched, so an event another client appends meanwhile makes ``mutate`` run again.
        """
        with _translate_errors(self.url):
            for _ in range(retries):
                with self.raw.pipeline() as pipe:
                    try:
                        pipe.watch(key, seq_key)
                        old, seq = cast("list[str | None]", pipe.mget([key, seq_key]))
                        new, changes, appends, new_seq, result = mutate(old, int(seq or 0))
                        pipe.multi()
                        sets = {key: new} if new is not None else {}
                        if new_seq is not None:
                            sets[seq_key] = str(new_seq)
                        _queue_writes(pipe, sets, changes, appends)
                        pipe.execute()
                        return result
                    except redis.WatchError:
                        continue
            raise ServiceUnavailableError(f"Redis key {key} is too contended to update", hint="retry")

    def write_batch(self, sets: dict[str, str], changes: list[ZChange],
                    appends: list[tuple[str, str, str]]) -> None:
        """Write many keys, sorted-set entries and list appends in one MULTI/EXEC: one fsync for all of them.

        ``appends`` are ``(list_key, channel, value)``: an RPUSH of ``value`` and its PUBLISH on
        ``channel``. All or nothing: the transaction is applied whole or not at all.
        """
        with _translate_errors(self.url), self.raw.pipeline(transaction=True) as pipe:
            _queue_writes(pipe, sets, changes, appends)
            pipe.execute()

    def zrem(self, key: str, members: list[str]) -> None:
        if not members:
            return
        with _translate_errors(self.url):
            self.raw.zrem(key, *members)

    def zadd(self, key: str, member: str, score: float) -> None:
        with _translate_errors(self.url):
            self.raw.zadd(key, {member: score})

    def zrange_by_score(self, key: str, max_score: float, limit: int) -> list[str]:
        """Members scored at most ``max_score``, lowest score first, at most ``limit`` of them."""
        with _translate_errors(self.url):
            return cast("list[str]", self.raw.zrangebyscore(key, "-inf", max_score, start=0, num=limit))

    def zrevrange(self, key: str, start: int, stop: int) -> list[str]:
        with _translate_errors(self.url):
            return cast("list[str]", self.raw.zrevrange(key, start, stop))

    def mget(self, keys: list[str]) -> list[str | None]:
        if not keys:
            return []
        with _translate_errors(self.url):
            return cast("list[str | None]", self.raw.mget(keys))

    def list_lengths(self, keys: list[str]) -> list[int]:
        """LLEN of each key (0 for a missing one), in one round trip."""
        if not keys:
            return []
        with _translate_errors(self.url):
            pipe = self.raw.pipeline(transaction=False)
            for key in keys:
                pipe.llen(key)
            return [int(n) for n in pipe.execute()]

    def append_and_publish(self, list_key: str, channel: str, value: str) -> None:
        """RPUSH ``value`` to ``list_key`` and PUBLISH it on ``channel`` in one round trip."""
        with _translate_errors(self.url):
            pipe = self.raw.pipeline(transaction=True)
            pipe.rpush(list_key, value)
            pipe.publish(channel, value)
            pipe.execute()

    def lrange(self, key: str, start: int = 0, stop: int = -1) -> list[str]:
        with _translate_errors(self.url):
            return cast("list[str]", self.raw.lrange(key, start, stop))

    def incr(self, key: str) -> int:
        with _translate_errors(self.url):
            return int(self.raw.incr(key))

    def hset(self, key: str, field: str, value: str) -> None:
        with _translate_errors(self.url):
            self.raw.hset(key, field, value)

    def hgetall(self, key: str) -> dict[str, str]:
        with _translate_errors(self.url):
            return cast("dict[str, str]", self.raw.hgetall(key))

    def hdel(self, key: str, field: str) -> None:
        with _translate_errors(self.url):
            self.raw.hdel(key, field)

    def set_if_absent(self, key: str, value: str, ttl_s: int) -> bool:
        """``SET key value NX EX ttl_s``: True when this call wrote the key (it did not exist)."""
        with _translate_errors(self.url):
            return bool(self.raw.set(key, value, nx=True, ex=ttl_s))

    def exists(self, key: str) -> bool:
        with _translate_errors(self.url):
            return bool(self.raw.exists(key))

    def subscribe(self, channel: str, timeout: float = 1.0) -> Generator[str | None, None, None]:
        """Yield messages published on ``channel``; yields None every ``timeout`` with none, so callers can stop."""
        with _translate_errors(self.url):
            pubsub = self.raw.pubsub(ignore_subscribe_messages=True)
            pubsub.subscribe(channel)
        try:
            while True:
                with _translate_errors(self.url):
                    msg = pubsub.get_message(timeout=timeout)
                yield None if msg is None else msg["data"]
        finally:
            pubsub.close()

    def wait_persisted(self) -> None:
        """Block until earlier writes are on disk.

        With ``appendfsync always`` (the stack's setting) every write is fsync'd
        before Redis answers; on a server with another policy, WAITAOF asks for
        the local fsync explicitly (Redis >= 7.2), and is skipped on older servers.
        """
        with _translate_errors(self.url), suppress(redis.ResponseError):
            self.raw.execute_command("WAITAOF", 1, 0, 1000)


def _queue_writes(pipe: Any, sets: dict[str, str], changes: list[ZChange],
                  appends: list[tuple[str, str, str]]) -> None:
    """Queue on a MULTI pipeline the writes every transaction here makes: keys set, sorted-set entries
    added or removed (score None) in the order given (adds in a row go as one ZADD per set), and
    ``(list_key, channel, value)`` appends (RPUSH, then PUBLISH)."""
    if sets:
        pipe.mset(sets)
    adds: dict[str, dict[str, float]] = {}

    def flush_adds() -> None:
        for zset, members in adds.items():
            pipe.zadd(zset, members)
        adds.clear()

    for zset, member, score in changes:
        if score is None:
            flush_adds()  # what came before the removal is applied before it
            pipe.zrem(zset, member)
        else:
            adds.setdefault(zset, {})[member] = score
    flush_adds()
    for list_key, channel, value in appends:
        pipe.rpush(list_key, value)
        pipe.publish(channel, value)
