-- lib_v1.lua: local helpers prepended to the budget scripts by gateway/budget/redis_client.py (script_source).
-- Not a script on its own. Every key it touches is passed in by the caller from KEYS.
-- Counters are integers (micro-dollars or requests); Lua doubles keep them exact below 2^53.

-- HINCRBY that removes the field once it reaches zero (or below, after expiry raced a hold).
local function incr_or_drop(key, field, delta)
  local value = redis.call('HINCRBY', key, field, delta)
  if value <= 0 then
    redis.call('HDEL', key, field)
    return 0
  end
  return value
end

-- HGETALL as a Lua table.
local function hash_table(key)
  local flat = redis.call('HGETALL', key)
  local t = {}
  for i = 1, #flat, 2 do
    t[flat[i]] = flat[i + 1]
  end
  return t
end

-- Keep a window's counters alive until at least expires_at_ms (ZADD GT never shortens).
local function keep_until(expiry_key, field, expires_at_ms)
  redis.call('ZADD', expiry_key, 'GT', expires_at_ms, field)
end

-- Give the counter hashes a TTL covering the latest field expiry, so idle teams vanish.
local function refresh_ttls(spent_key, reserved_key, expiry_key, now_ms)
  local top = redis.call('ZRANGE', expiry_key, -1, -1, 'WITHSCORES')
  if top[2] then
    local ttl_ms = tonumber(top[2]) - now_ms
    if ttl_ms < 1000 then
      ttl_ms = 1000
    end
    redis.call('PEXPIRE', spent_key, ttl_ms)
    redis.call('PEXPIRE', reserved_key, ttl_ms)
    redis.call('PEXPIRE', expiry_key, ttl_ms)
  end
end

-- Drop up to `batch` window counters whose expiry is at or before now_ms.
local function drop_expired(spent_key, reserved_key, expiry_key, now_ms, batch)
  local old = redis.call('ZRANGEBYSCORE', expiry_key, '-inf', now_ms, 'LIMIT', 0, batch)
  for _, f in ipairs(old) do
    redis.call('HDEL', spent_key, f)
    redis.call('HDEL', reserved_key, f)
    redis.call('ZREM', expiry_key, f)
  end
end

-- Add delta to spent in each window listed in record r (fields w<i>, ttls t<i>, count nw).
local function charge_windows(spent_key, expiry_key, r, delta, now_ms)
  if delta == 0 then
    return
  end
  for i = 1, tonumber(r.nw) do
    local f = r['w' .. i]
    incr_or_drop(spent_key, f, delta)
    keep_until(expiry_key, f, now_ms + tonumber(r['t' .. i]))
  end
end

-- Free what reservation r holds (reserved per window, one in-flight per scope), charge
-- `charge` to spent, and forget the reservation.
local function finish_reservation(keys, rsv_key, id, r, charge, now_ms)
  local est = tonumber(r.est)
  if est > 0 then
    for i = 1, tonumber(r.nw) do
      incr_or_drop(keys[2], r['w' .. i], -est)
    end
  end
  for i = 1, tonumber(r.nc) do
    incr_or_drop(keys[4], r['c' .. i], -1)
  end
  charge_windows(keys[1], keys[3], r, charge, now_ms)
  redis.call('ZREM', keys[5], id)
  redis.call('DEL', rsv_key)
  refresh_ttls(keys[1], keys[2], keys[3], now_ms)
end

-- Copy the window list of record r into tombstone hash key `done_key` (for later corrections).
local function copy_windows(done_key, r)
  local nw = tonumber(r.nw)
  local fields = {'nw', nw}
  for i = 1, nw do
    fields[#fields + 1] = 'w' .. i
    fields[#fields + 1] = r['w' .. i]
    fields[#fields + 1] = 't' .. i
    fields[#fields + 1] = r['t' .. i]
  end
  redis.call('HSET', done_key, unpack(fields))
end


-- HINCRBY the n (field, delta) pairs at ARGV[first..first+2n-1] into aggregate hash `key`
-- and let it live ttl_ms from now. Nothing happens when n is 0.
local function add_aggregates(key, ttl_ms, first, n)
  if n == 0 then
    return
  end
  for k = 0, n - 1 do
    redis.call('HINCRBY', key, ARGV[first + 2 * k], ARGV[first + 2 * k + 1])
  end
  redis.call('PEXPIRE', key, ttl_ms)
end

-- XADD `entry` (flat field/value list) to ledger stream `key`, capped at about `maxlen`.
local function append_ledger(key, maxlen, entry)
  return redis.call('XADD', key, 'MAXLEN', '~', maxlen, '*', unpack(entry))
end
