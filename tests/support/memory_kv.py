"""An in-memory KeyValueStore for unit tests of pure repository logic (no Redis claimed)."""

from __future__ import annotations

import threading
from collections import defaultdict


class MemoryKV:
    """Implements benchfarm.jobs.repository.KeyValueStore and HostRegistry's HashStore in memory."""

    def __init__(self) -> None:
        self.data: dict[str, str] = {}
        self.lists: dict[str, list[str]] = defaultdict(list)
        self.zsets: dict[str, dict[str, float]] = defaultdict(dict)
        self.hashes: dict[str, dict[str, str]] = defaultdict(dict)
        self.published: list[tuple[str, str]] = []
        self.lock = threading.Lock()

    def get(self, key):
        return self.data.get(key)

    def set(self, key, value):
        self.data[key] = value

    def transact(self, key, mutate):
        with self.lock:
            new, result = mutate(self.data.get(key))
            if new is not None:
                self.data[key] = new
            return result

    def transact_indexed(self, key, mutate):
        """Like RedisKV.transact_indexed: the key and its sorted-set entries change together or not at all."""
        with self.lock:
            new, changes, result = mutate(self.data.get(key))
            if new is not None:
                self.data[key] = new
            for zset, member, score in changes:
                if score is None:
                    self.zsets[zset].pop(member, None)
                else:
                    self.zsets[zset][member] = score
            return result

    def transact_logged(self, key, seq_key, mutate):
        """Like RedisKV.transact_logged: the key, its sorted-set entries and the log change together."""
        with self.lock:
            new, changes, appends, new_seq, result = mutate(self.data.get(key), int(self.data.get(seq_key) or 0))
            if new is not None:
                self.data[key] = new
            for zset, member, score in changes:
                if score is None:
                    self.zsets[zset].pop(member, None)
                else:
                    self.zsets[zset][member] = score
            if new_seq is not None:
                self.data[seq_key] = str(new_seq)
            for list_key, channel, value in appends:
                self.lists[list_key].append(value)
                self.published.append((channel, value))
            return result

    def zrange_by_score(self, key, max_score, limit):
        items = sorted((s, m) for m, s in self.zsets[key].items() if s <= max_score)
        return [m for _, m in items[:limit]]

    def zadd(self, key, member, score):
        self.zsets[key][member] = score

    def zrem(self, key, members):
        for member in members:
            self.zsets[key].pop(member, None)

    def write_batch(self, sets, changes, appends):
        """Like RedisKV.write_batch: everything under one lock, as one transaction."""
        with self.lock:
            self.data.update(sets)
            for zset, member, score in changes:
                if score is None:
                    self.zsets[zset].pop(member, None)
                else:
                    self.zsets[zset][member] = score
            for list_key, channel, value in appends:
                self.lists[list_key].append(value)
                self.published.append((channel, value))

    def zrevrange(self, key, start, stop):
        items = sorted(self.zsets[key], key=lambda m: self.zsets[key][m], reverse=True)
        return items[start: None if stop == -1 else stop + 1]

    def mget(self, keys):
        return [self.data.get(k) for k in keys]

    def append_and_publish(self, list_key, channel, value):
        self.lists[list_key].append(value)
        self.published.append((channel, value))

    def lrange(self, key, start=0, stop=-1):
        return self.lists[key][start: None if stop == -1 else stop + 1]

    def incr(self, key):
        self.data[key] = str(int(self.data.get(key, "0")) + 1)
        return int(self.data[key])

    def subscribe(self, channel, timeout=1.0):
        while True:
            yield None

    def wait_persisted(self):
        pass

    def hset(self, key, field, value):
        self.hashes[key][field] = value

    def hgetall(self, key):
        return dict(self.hashes[key])

    def hdel(self, key, field):
        self.hashes[key].pop(field, None)

    def set_if_absent(self, key, value, ttl_s):
        """``SET NX EX``: True when the key was absent (the expiry is not modelled)."""
        assert ttl_s > 0
        if key in self.data:
            return False
        self.data[key] = value
        return True
