"""Server-side scripts of the shared spend ledger (see ``redis_ledger`` and docs/shared-state.md).

Each script runs atomically on the server, so a check and the write that depends on it can
never interleave with another daemon's. Conventions:

* KEYS = amount (hash id -> atomic int), ts (hash id -> float seconds as the caller wrote it),
  committed (zset id -> ts), leases (zset id -> Redis-clock deadline; open reservations only),
  meta (hash: ``reserved`` and ``committed`` running sums, ``epoch``, ``hold_until``).
* Amounts stay decimal strings in hashes and the sums use HINCRBY (exact int64); Lua's doubles
  only compare them, which is exact below 2^53 (callers are held to 2^52).
* ARGV[1] is the epoch the caller joined; a different or missing one answers ``lost`` (Redis
  restarted without its data, or was flushed) and the caller joins again before retrying.
* Every script that takes ``now`` first tidies: committed draws with ts <= horizon leave, and
  reservations whose lease deadline passed on the Redis clock are dropped.
"""

from __future__ import annotations

_PRELUDE = """
local AMT, TS, COM, LEASE, META = KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5]

local function server_now()
  local t = redis.call('TIME')
  return tonumber(t[1]) + tonumber(t[2]) / 1000000
end

local function add(field, amount, sign)
  if amount ~= '0' then
    if sign < 0 then amount = '-' .. amount end
    redis.call('HINCRBY', META, field, amount)
  end
end

local function forget(id)
  redis.call('HDEL', AMT, id)
  redis.call('HDEL', TS, id)
end

-- drop the ids of ``zset`` scored up to ``upto``, taking their amounts off the ``field`` sum
local function drop_until(zset, field, upto)
  local ids = redis.call('ZRANGEBYSCORE', zset, '-inf', upto)
  for _, id in ipairs(ids) do
    add(field, redis.call('HGET', AMT, id), -1)
    forget(id)
  end
  if #ids > 0 then redis.call('ZREMRANGEBYSCORE', zset, '-inf', upto) end
  return ids
end

local function tidy(horizon, snow)
  local gone = drop_until(COM, 'committed', horizon)
  drop_until(LEASE, 'reserved', snow)
  return gone
end

local function sums()
  local s = redis.call('HMGET', META, 'reserved', 'committed')
  return s[1] or '0', s[2] or '0'
end

if redis.call('HGET', META, 'epoch') ~= ARGV[1] then return {'lost'} end
"""

# ARGV: epoch, id, amount, cap, ts, horizon, lease_s
RESERVE = (
    _PRELUDE
    + """
local id, amount, cap = ARGV[2], ARGV[3], tonumber(ARGV[4])
local snow = server_now()
tidy(ARGV[6], snow)
if snow < tonumber(redis.call('HGET', META, 'hold_until') or '0') then return {'hold'} end
local have = redis.call('HGET', AMT, id)
if have then
  if have == amount and redis.call('ZSCORE', LEASE, id) then
    redis.call('ZADD', LEASE, snow + tonumber(ARGV[7]), id)
    return {'ok'}
  end
  return {'dup'}
end
local r, c = sums()
if tonumber(r) + tonumber(c) + tonumber(amount) > cap then return {'denied', r, c} end
redis.call('HSET', AMT, id, amount)
redis.call('HSET', TS, id, ARGV[5])
redis.call('ZADD', LEASE, snow + tonumber(ARGV[7]), id)
add('reserved', amount, 1)
return {'ok'}
"""
)

# ARGV: epoch, id, now, horizon, amount ('' = none known). Reply: ok|recorded|unknown, ts, amount
COMMIT = (
    _PRELUDE
    + """
local id, now = ARGV[2], ARGV[3]
tidy(ARGV[4], server_now())
local have = redis.call('HGET', AMT, id)
if not have then
  if ARGV[5] == '' then return {'unknown'} end
  redis.call('HSET', AMT, id, ARGV[5])
  redis.call('HSET', TS, id, now)
  redis.call('ZADD', COM, now, id)
  add('committed', ARGV[5], 1)
  return {'recorded', now, ARGV[5]}
end
local ts = redis.call('HGET', TS, id)
if tonumber(now) > tonumber(ts) then ts = now end
if redis.call('ZREM', LEASE, id) == 1 then
  add('reserved', have, -1)
  add('committed', have, 1)
end
redis.call('HSET', TS, id, ts)
redis.call('ZADD', COM, ts, id)
return {'ok', ts, have}
"""
)

# ARGV: epoch, id. Reply: ok, amount | unknown
RELEASE = (
    _PRELUDE
    + """
local id = ARGV[2]
local have = redis.call('HGET', AMT, id)
if not have then return {'unknown'} end
if redis.call('ZREM', LEASE, id) == 1 then
  add('reserved', have, -1)
elseif redis.call('ZREM', COM, id) == 1 then
  add('committed', have, -1)
end
forget(id)
return {'ok', have}
"""
)

# ARGV: epoch, horizon. Reply: ok, reserved, committed, pruned ids...
TIDY = (
    _PRELUDE
    + """
local gone = tidy(ARGV[2], server_now())
local r, c = sums()
local out = {'ok', r, c}
for _, id in ipairs(gone) do out[#out + 1] = id end
return out
"""
)

# ARGV: epoch, lease_s, ids... Reply: ok, renewed ids... (a lapsed lease is never revived)
RENEW = (
    _PRELUDE
    + """
local snow = server_now()
local out = {'ok'}
for i = 3, #ARGV do
  local deadline = redis.call('ZSCORE', LEASE, ARGV[i])
  if deadline and tonumber(deadline) > snow then
    redis.call('ZADD', LEASE, snow + tonumber(ARGV[2]), ARGV[i])
    out[#out + 1] = ARGV[i]
  end
end
return out
"""
)

# ARGV: new epoch, grace_s, lease_s, then (id, amount, ts, committed 0|1) per entry.
# Keeps the epoch already there; a missing one means a fresh or emptied ledger: set it and
# hold new reservations for grace_s so every live daemon can bring its own entries back.
JOIN = """
local AMT, TS, COM, LEASE, META = KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5]
local t = redis.call('TIME')
local snow = tonumber(t[1]) + tonumber(t[2]) / 1000000
local epoch = redis.call('HGET', META, 'epoch')
if not epoch then
  epoch = ARGV[1]
  redis.call('HSET', META, 'epoch', epoch, 'hold_until', snow + tonumber(ARGV[2]))
end
for i = 4, #ARGV, 4 do
  local id, amount, ts = ARGV[i], ARGV[i + 1], ARGV[i + 2]
  if redis.call('HSETNX', AMT, id, amount) == 1 then
    redis.call('HSET', TS, id, ts)
    if ARGV[i + 3] == '1' then
      redis.call('ZADD', COM, ts, id)
      if amount ~= '0' then redis.call('HINCRBY', META, 'committed', amount) end
    else
      redis.call('ZADD', LEASE, snow + tonumber(ARGV[3]), id)
      if amount ~= '0' then redis.call('HINCRBY', META, 'reserved', amount) end
    end
  end
end
return {'ok', epoch}
"""
