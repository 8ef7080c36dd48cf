-- reap_v2.lua: charge the estimate of reservations whose deadline passed, at most once each,
-- and write one ledger entry per reaped reservation in the same step.
-- (v2: ledger stream key added; each reaped item carries its ledger stream id.)
--
-- KEYS[1] spent hash      KEYS[2] reserved hash    KEYS[3] expiry zset
-- KEYS[4] inflight hash   KEYS[5] deadlines zset   KEYS[6] ledger stream (events)
-- KEYS[5+2i] reservation hash (rsv:<id_i>)   KEYS[6+2i] tombstone hash (done:<id_i>), i = 1..n
--
-- ARGV[1] now_ms   ARGV[2] tombstone TTL (ms)   ARGV[3] ledger MAXLEN (approximate)
-- ARGV[3+i] candidate reservation id i
--
-- Ledger entry: reservation_id, outcome=reaped, estimate_micros, actual_micros=<estimate>,
--   the reservation's meta, status=unsettled, cost_micros=<estimate>, usage=estimated
--   (meta keys named like any of the other fields are left out).
--
-- Returns, flattened, for each reservation reaped by this call:
--   id, estimate (micros), deadline_ms, ledger stream id, nm, then nm pairs meta key, value
-- Candidates already settled, released, reaped or not yet due are skipped.

local now_ms = tonumber(ARGV[1])
local tombstone_ttl_ms = tonumber(ARGV[2])
local store_fields = {reservation_id = true, outcome = true, estimate_micros = true,
                      actual_micros = true, status = true, cost_micros = true, usage = true}
local out = {}

for i = 1, #ARGV - 3 do
  local id = ARGV[3 + i]
  local rsv_key, done_key = KEYS[5 + 2 * i], KEYS[6 + 2 * i]
  local due = redis.call('ZSCORE', KEYS[5], id)
  if due and tonumber(due) <= now_ms then
    if redis.call('EXISTS', rsv_key) == 0 then
      redis.call('ZREM', KEYS[5], id) -- orphan deadline: nothing left to charge
    else
      local r = hash_table(rsv_key)
      local est = tonumber(r.est)
      finish_reservation(KEYS, rsv_key, id, r, est, now_ms)
      local meta = {}
      local entry = {'reservation_id', id, 'outcome', 'reaped', 'estimate_micros', est,
                     'actual_micros', est}
      for k, v in pairs(r) do
        if string.sub(k, 1, 2) == 'm:' then
          local name = string.sub(k, 3)
          meta[#meta + 1] = name
          meta[#meta + 1] = v
          if not store_fields[name] then
            entry[#entry + 1] = name
            entry[#entry + 1] = v
          end
        end
      end
      entry[#entry + 1] = 'status'
      entry[#entry + 1] = 'unsettled'
      entry[#entry + 1] = 'cost_micros'
      entry[#entry + 1] = est
      entry[#entry + 1] = 'usage'
      entry[#entry + 1] = 'estimated'
      local ledger_id = append_ledger(KEYS[6], ARGV[3], entry)
      redis.call('HSET', done_key, 'state', 'reaped', 'est', est)
      copy_windows(done_key, r)
      redis.call('PEXPIRE', done_key, tombstone_ttl_ms)
      out[#out + 1] = id
      out[#out + 1] = est
      out[#out + 1] = tonumber(r.deadline)
      out[#out + 1] = ledger_id
      out[#out + 1] = #meta / 2
      for _, x in ipairs(meta) do
        out[#out + 1] = x
      end
    end
  end
end
return out
