"""Redis leases with fencing tokens (``benchfarm.elastic.lease.LeaseStore``), as Lua scripts run atomically.

A lease key holds ``<holder>|<token>`` with an expiry; ``<key>:token`` counts up, so each new holder's
token is larger than any before it. Fenced writes compare the token inside the same script, so no
write of a former holder lands after the lease moved on. Kept beside ``redis_store`` (same connection)
rather than in it: the scripts are the autoscaler's only.
"""

from __future__ import annotations

from typing import Any

from benchfarm.adapters.redis_store import RedisClient, _translate_errors

_ACQUIRE = """
local cur = redis.call('GET', KEYS[1])
if cur then
  local sep = string.find(cur, '|', 1, true)
  if string.sub(cur, 1, sep - 1) == ARGV[1] then
    redis.call('PEXPIRE', KEYS[1], ARGV[2])
    return tonumber(string.sub(cur, sep + 1))
  end
  return -1
end
local token = redis.call('INCR', KEYS[2])
redis.call('SET', KEYS[1], ARGV[1] .. '|' .. token, 'PX', ARGV[2])
return token
"""

_FENCED = """
local cur = redis.call('GET', KEYS[1])
if not cur then return 0 end
local sep = string.find(cur, '|', 1, true)
if string.sub(cur, sep + 1) ~= ARGV[1] then return 0 end
if ARGV[2] == 'hset' then redis.call('HSET', KEYS[2], ARGV[3], ARGV[4]) else redis.call('HDEL', KEYS[2], ARGV[3]) end
return 1
"""


class RedisLeases:
    """Leases on the farm's Redis connection."""

    def __init__(self, client: RedisClient) -> None:
        self.client = client
        self._acquire: Any = client.raw.register_script(_ACQUIRE)
        self._fenced: Any = client.raw.register_script(_FENCED)

    def lease_acquire(self, key: str, holder: str, ttl_s: float) -> int | None:
        if "|" in holder:
            raise ValueError("a lease holder's name cannot contain '|'")
        with _translate_errors(self.client.url):
            token = int(self._acquire(keys=[key, f"{key}:token"], args=[holder, max(1, int(ttl_s * 1000))]))
        return None if token < 0 else token

    def fenced_hset(self, lease_key: str, token: int, key: str, field: str, value: str) -> bool:
        with _translate_errors(self.client.url):
            return bool(self._fenced(keys=[lease_key, key], args=[str(token), "hset", field, value]))

    def fenced_hdel(self, lease_key: str, token: int, key: str, field: str) -> bool:
        with _translate_errors(self.client.url):
            return bool(self._fenced(keys=[lease_key, key], args=[str(token), "hdel", field, ""]))
