-- reserve_v1.lua: check every limit and, only if all pass, hold the estimate.
--
-- KEYS[1] spent hash      KEYS[2] reserved hash    KEYS[3] expiry zset
-- KEYS[4] inflight hash   KEYS[5] deadlines zset   KEYS[6] reservation hash (rsv:<id>)
-- KEYS[7] tombstone hash (done:<id>)
-- KEYS[7+j] rpm counter of rate limit j (j = 1..nr; one per rate limit, used if it has an rpm)
--
-- ARGV[1] reservation id   ARGV[2] estimate (micros)   ARGV[3] now_ms   ARGV[4] deadline_ms
-- ARGV[5] nw (windows)     ARGV[6] nr (rate limits)    ARGV[7] nm (meta pairs)
-- ARGV[8] expired fields to drop per call              ARGV[9] rpm counter TTL (ms)
-- then nw triples: field, limit (micros), ttl (ms)
-- then nr triples: in-flight field (scope), rpm limit (-1 = none), max concurrent (-1 = none)
-- then nm pairs: meta key, meta value
--
-- Returns {status, blocking, spent_1, reserved_1, ..., spent_nw, reserved_nw,
--          rpm_count_1, in_flight_1, ..., rpm_count_nr, in_flight_nr}
--   status: 'ok' | 'replay' (id outstanding; nothing changed) | 'duplicate' (id finished)
--           | 'budget_exceeded' | 'rate_limited' | 'concurrency_limited'
--   blocking: 1-based index of the refusing window or rate limit, 0 if none.
--   Counters are after the reservation when 'ok', current values otherwise.

local id = ARGV[1]
local est = tonumber(ARGV[2])
local now_ms = tonumber(ARGV[3])
local deadline_ms = tonumber(ARGV[4])
local nw, nr, nm = tonumber(ARGV[5]), tonumber(ARGV[6]), tonumber(ARGV[7])
local batch, rpm_ttl_ms = tonumber(ARGV[8]), tonumber(ARGV[9])
local wbase, rbase = 9, 9 + 3 * nw
local mbase = rbase + 3 * nr

if redis.call('EXISTS', KEYS[7]) == 1 then
  return {'duplicate', 0}
end
local replay = redis.call('EXISTS', KEYS[6]) == 1
if not replay then
  drop_expired(KEYS[1], KEYS[2], KEYS[3], now_ms, batch)
end

local spent, held, counts, flying = {}, {}, {}, {}
for i = 1, nw do
  local f = ARGV[wbase + 3 * i - 2]
  spent[i] = tonumber(redis.call('HGET', KEYS[1], f) or '0')
  held[i] = tonumber(redis.call('HGET', KEYS[2], f) or '0')
end
for j = 1, nr do
  counts[j] = tonumber(redis.call('GET', KEYS[7 + j]) or '0')
  flying[j] = tonumber(redis.call('HGET', KEYS[4], ARGV[rbase + 3 * j - 2]) or '0')
end

local function reply(status, blocking)
  local out = {status, blocking}
  for i = 1, nw do
    out[#out + 1] = spent[i]
    out[#out + 1] = held[i]
  end
  for j = 1, nr do
    out[#out + 1] = counts[j]
    out[#out + 1] = flying[j]
  end
  return out
end

if replay then
  return reply('replay', 0)
end

for i = 1, nw do
  if spent[i] + held[i] + est > tonumber(ARGV[wbase + 3 * i - 1]) then
    return reply('budget_exceeded', i)
  end
end
for j = 1, nr do
  local rpm = tonumber(ARGV[rbase + 3 * j - 1])
  if rpm >= 0 and counts[j] + 1 > rpm then
    return reply('rate_limited', j)
  end
end
for j = 1, nr do
  local cap = tonumber(ARGV[rbase + 3 * j])
  if cap >= 0 and flying[j] + 1 > cap then
    return reply('concurrency_limited', j)
  end
end

-- Every check passed: hold the estimate and record the reservation.
local hold_until = math.max(now_ms, deadline_ms)
local record = {'v', 1, 'est', est, 'deadline', deadline_ms, 'created', now_ms, 'nw', nw, 'nc', nr}
for i = 1, nw do
  local f, ttl_ms = ARGV[wbase + 3 * i - 2], tonumber(ARGV[wbase + 3 * i])
  if est > 0 then
    held[i] = redis.call('HINCRBY', KEYS[2], f, est)
  end
  keep_until(KEYS[3], f, hold_until + ttl_ms)
  record[#record + 1] = 'w' .. i
  record[#record + 1] = f
  record[#record + 1] = 't' .. i
  record[#record + 1] = ttl_ms
end
for j = 1, nr do
  local scope = ARGV[rbase + 3 * j - 2]
  if tonumber(ARGV[rbase + 3 * j - 1]) >= 0 then
    counts[j] = redis.call('INCR', KEYS[7 + j])
    redis.call('PEXPIRE', KEYS[7 + j], rpm_ttl_ms)
  end
  flying[j] = redis.call('HINCRBY', KEYS[4], scope, 1)
  record[#record + 1] = 'c' .. j
  record[#record + 1] = scope
end
for k = 1, nm do
  record[#record + 1] = 'm:' .. ARGV[mbase + 2 * k - 1]
  record[#record + 1] = ARGV[mbase + 2 * k]
end
redis.call('HSET', KEYS[6], unpack(record))
redis.call('ZADD', KEYS[5], deadline_ms, id)
refresh_ttls(KEYS[1], KEYS[2], KEYS[3], now_ms)
return reply('ok', 0)
