-- reap_v1.lua: charge the estimate of reservations whose deadline passed, at most once each.
--
-- KEYS[1] spent hash      KEYS[2] reserved hash    KEYS[3] expiry zset
-- KEYS[4] inflight hash   KEYS[5] deadlines zset
-- KEYS[4+2i] reservation hash (rsv:<id_i>)   KEYS[5+2i] tombstone hash (done:<id_i>), i = 1..n
--
-- ARGV[1] now_ms   ARGV[2] tombstone TTL (ms)   ARGV[2+i] candidate reservation id i
--
-- Returns, flattened, for each reservation reaped by this call:
--   id, estimate (micros), deadline_ms, nm, then nm pairs meta key, meta value
-- Candidates already settled, released, reaped or not yet due are skipped.

local now_ms = tonumber(ARGV[1])
local tombstone_ttl_ms = tonumber(ARGV[2])
local out = {}

for i = 1, #ARGV - 2 do
  local id = ARGV[2 + i]
  local rsv_key, done_key = KEYS[4 + 2 * i], KEYS[5 + 2 * i]
  local due = redis.call('ZSCORE', KEYS[5], id)
  if due and tonumber(due) <= now_ms then
    if redis.call('EXISTS', rsv_key) == 0 then
      redis.call('ZREM', KEYS[5], id) -- orphan deadline: nothing left to charge
    else
      local r = hash_table(rsv_key)
      local est = tonumber(r.est)
      finish_reservation(KEYS, rsv_key, id, r, est, now_ms)
      redis.call('HSET', done_key, 'state', 'reaped', 'est', est)
      copy_windows(done_key, r)
      redis.call('PEXPIRE', done_key, tombstone_ttl_ms)
      local meta = {}
      for k, v in pairs(r) do
        if string.sub(k, 1, 2) == 'm:' then
          meta[#meta + 1] = string.sub(k, 3)
          meta[#meta + 1] = v
        end
      end
      out[#out + 1] = id
      out[#out + 1] = est
      out[#out + 1] = tonumber(r.deadline)
      out[#out + 1] = #meta / 2
      for _, x in ipairs(meta) do
        out[#out + 1] = x
      end
    end
  end
end
return out
