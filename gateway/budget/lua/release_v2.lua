-- release_v2.lua: undo a reservation, nothing spent. Releasing a reservation the reaper already
-- charged refunds the estimate and, in the same step, writes its ledger entry and aggregates.
-- (v2: adds the ledger stream and the aggregate hash; v1 refunded with neither.)
--
-- KEYS[1] spent hash      KEYS[2] reserved hash    KEYS[3] expiry zset
-- KEYS[4] inflight hash   KEYS[5] deadlines zset   KEYS[6] reservation hash (rsv:<id>)
-- KEYS[7] tombstone hash (done:<id>)               KEYS[8] ledger stream (events)
-- KEYS[9] aggregate hash (agg:<bucket>), only when na > 0
--
-- ARGV[1] reservation id   ARGV[2] now_ms   ARGV[3] released-marker TTL (ms)
-- ARGV[4] ledger MAXLEN (approximate)       ARGV[5] nl (ledger field pairs)
-- ARGV[6] aggregate TTL (ms)                ARGV[7] na (aggregate field pairs)
-- then nl pairs: ledger field, value; then na pairs: aggregate field, integer increment.
-- Both are written only on a refund: a plain release changes no spend.
--
-- Returns 'released' | 'refunded_after_reap' (the reaper's charge of the estimate undone)
--         | 'already_finished' | 'unknown_reservation'

local id = ARGV[1]
local now_ms = tonumber(ARGV[2])
local nl, na = tonumber(ARGV[5]), tonumber(ARGV[7])
local lbase = 7
local abase = lbase + 2 * nl

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
  local entry = {'reservation_id', id, 'outcome', 'corrected_after_reap',
                 'estimate_micros', done.est, 'actual_micros', 0}
  for k = 1, nl do
    entry[#entry + 1] = ARGV[lbase + 2 * k - 1]
    entry[#entry + 1] = ARGV[lbase + 2 * k]
  end
  local ledger_id = append_ledger(KEYS[8], ARGV[4], entry)
  if na > 0 then
    add_aggregates(KEYS[9], tonumber(ARGV[6]), abase + 1, na)
  end
  redis.call('HSET', KEYS[7], 'state', 'corrected', 'actual', 0, 'ledger', ledger_id)
  return 'refunded_after_reap'
elseif done.state then
  return 'already_finished'
end
return 'unknown_reservation'
