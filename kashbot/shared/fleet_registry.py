"""Who shares a user's budget: every daemon registers itself in Redis with a heartbeat TTL.

Keys (docs/shared-state.md): ``PREFIX:fleet:{USER}:index``, a zset of member id -> deadline on
the Redis clock, and ``PREFIX:fleet:{USER}:info``, a hash of member id -> its JSON. Both scripts
drop members whose deadline passed, so a daemon killed -9 leaves the list within ``ttl_s`` of
its last heartbeat, by itself; a clean stop leaves at once (:meth:`FleetRegistry.leave`). The
keys themselves expire when the whole fleet has been silent for a while.
"""

from __future__ import annotations

import json
from typing import Any

from kashbot.shared.redis_client import LuaScript, SharedRedis, scope_id

# KEYS: index, info. ARGV: id, json, ttl s. Registers (or refreshes) one member, drops the dead.
REGISTER = LuaScript("""
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local ttl = tonumber(ARGV[3])
local dead = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', now)
for _, id in ipairs(dead) do
  redis.call('ZREM', KEYS[1], id)
  redis.call('HDEL', KEYS[2], id)
end
redis.call('ZADD', KEYS[1], now + ttl, ARGV[1])
redis.call('HSET', KEYS[2], ARGV[1], ARGV[2])
local keep = math.ceil(ttl * 1000) * 3
redis.call('PEXPIRE', KEYS[1], keep)
redis.call('PEXPIRE', KEYS[2], keep)
return #dead
""")

# KEYS: index, info. Drops the dead; replies (id, seconds left, info json) per live member.
MEMBERS = LuaScript("""
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local dead = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', now)
for _, id in ipairs(dead) do
  redis.call('ZREM', KEYS[1], id)
  redis.call('HDEL', KEYS[2], id)
end
local out = {}
local live = redis.call('ZRANGE', KEYS[1], 0, -1, 'WITHSCORES')
for i = 1, #live, 2 do
  local info = redis.call('HGET', KEYS[2], live[i])
  if info then
    table.insert(out, live[i])
    table.insert(out, string.format('%.3f', tonumber(live[i + 1]) - now))
    table.insert(out, info)
  end
end
return out
""")

# KEYS: index, info. ARGV: id.
LEAVE = LuaScript("""
redis.call('ZREM', KEYS[1], ARGV[1])
redis.call('HDEL', KEYS[2], ARGV[1])
return 1
""")


class FleetRegistry:
    """The daemons of one Kash user (``user_ref`` is hashed) on one Redis namespace."""

    def __init__(self, redis: SharedRedis, user_ref: str) -> None:
        self.redis = redis
        self._keys = redis.keys("fleet", scope_id(user_ref), "index", "info")

    async def register(self, member_id: str, info: dict[str, Any], ttl_s: float) -> None:
        """Add or refresh ``member_id``; it stays listed ``ttl_s`` after this call."""
        if ttl_s <= 0:
            raise ValueError("ttl_s: must be > 0")
        body = json.dumps(info, sort_keys=True, default=str)
        await self.redis.script("fleet register", REGISTER, self._keys, [member_id, body, ttl_s])

    async def leave(self, member_id: str) -> None:
        await self.redis.script("fleet leave", LEAVE, self._keys, [member_id])

    async def members(self) -> list[dict[str, Any]]:
        """Every live member's info plus ``id`` and ``expires_in_s``, oldest deadline first."""
        reply = await self.redis.script("fleet members", MEMBERS, self._keys, [])
        out: list[dict[str, Any]] = []
        for i in range(0, len(reply), 3):
            try:
                info = json.loads(reply[i + 2])
            except ValueError:
                info = {"unreadable": reply[i + 2][:200]}
            if not isinstance(info, dict):
                info = {"info": info}
            out.append({**info, "id": reply[i], "expires_in_s": float(reply[i + 1])})
        return out
