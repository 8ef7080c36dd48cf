-- release_v1.lua: undo a reservation, nothing spent.
--
-- KEYS[1] spent hash      KEYS[2] reserved hash    KEYS[3] expiry zset
-- KEYS[4] inflight hash   KEYS[5] deadlines zset   KEYS[6] reservation hash (rsv:<id>)
-- KEYS[7] tombstone hash (done:<id>)
--
-- ARGV[1] reservation id   ARGV[2] now_ms   ARGV[3] released-marker TTL (ms)
--
-- Returns 'released' | 'refunded_after_reap' (the reaper's charge of the estimate undone)
--         | 'already_finished' | 'unknown_reservation'

local id = ARGV[1]
local now_ms = tonumber(ARGV[2])

if redis.call('EXISTS', KEYS[6]) == 1 then
  local r = hash_table(KEYS[6])
  finish_reservation(KEYS, KEYS[6], id, r, 0, now_ms)
  redis.call('HSET', KEYS[7], 'state', 'released', 'est', r.est)
  redis.call('PEXPIRE', KEYS[7], tonumber(ARGV[3]))
  return 'released'
end

local done = hash_table(KEYS[7])
if done.state == 'reaped' then
  charge_windows(KEYS[1], KEYS[3], done, -tonumber(done.est), now_ms)
  refresh_ttls(KEYS[1], KEYS[2], KEYS[3], now_ms)
  redis.call('HSET', KEYS[7], 'state', 'corrected', 'actual', 0)
  return 'refunded_after_reap'
elseif done.state then
  return 'already_finished'
end
return 'unknown_reservation'
