-- settle_v2.lua: move a reservation from reserved to spent with the actual amount; when spent
-- changes, write the ledger entry and add the aggregates in the same step.
-- (v2: adds the aggregate hash; the return shape is that of settle_v1.)
--
-- KEYS[1] spent hash      KEYS[2] reserved hash    KEYS[3] expiry zset
-- KEYS[4] inflight hash   KEYS[5] deadlines zset   KEYS[6] reservation hash (rsv:<id>)
-- KEYS[7] tombstone hash (done:<id>)               KEYS[8] ledger stream (events)
-- KEYS[9] aggregate hash (agg:<bucket>), only when na > 0
--
-- ARGV[1] reservation id   ARGV[2] actual (micros)   ARGV[3] now_ms
-- ARGV[4] settled-marker TTL (ms)   ARGV[5] ledger MAXLEN (approximate)
-- ARGV[6] write a ledger entry: '1' or '0'   ARGV[7] nl (ledger field pairs)
-- ARGV[8] aggregate TTL (ms)        ARGV[9] na (aggregate field pairs)
-- then nl pairs: ledger field, value
-- then na pairs: aggregate field, integer increment
--
-- Returns {outcome, estimate (-1 if unknown), spent delta, ledger stream id ('' if none)}
--   outcome: 'settled' | 'corrected_after_reap' | 'already_settled' | 'already_released'
--            | 'unknown_reservation'

local id = ARGV[1]
local actual = tonumber(ARGV[2])
local now_ms = tonumber(ARGV[3])
local marker_ttl_ms = tonumber(ARGV[4])
local nl, na = tonumber(ARGV[7]), tonumber(ARGV[9])
local lbase = 9
local abase = lbase + 2 * nl

local function write_ledger(outcome, est)
  if ARGV[6] ~= '1' then
    return ''
  end
  local entry = {'reservation_id', id, 'outcome', outcome, 'estimate_micros', est,
                 'actual_micros', actual}
  for k = 1, nl do
    entry[#entry + 1] = ARGV[lbase + 2 * k - 1]
    entry[#entry + 1] = ARGV[lbase + 2 * k]
  end
  return append_ledger(KEYS[8], ARGV[5], entry)
end

local function write_aggregates()
  if na > 0 then
    add_aggregates(KEYS[9], tonumber(ARGV[8]), abase + 1, na)
  end
end

if redis.call('EXISTS', KEYS[6]) == 1 then
  local r = hash_table(KEYS[6])
  local est = tonumber(r.est)
  finish_reservation(KEYS, KEYS[6], id, r, actual, now_ms)
  local ledger_id = write_ledger('settled', est)
  write_aggregates()
  redis.call('HSET', KEYS[7], 'state', 'settled', 'est', est, 'actual', actual,
             'ledger', ledger_id)
  redis.call('PEXPIRE', KEYS[7], marker_ttl_ms)
  return {'settled', est, actual, ledger_id}
end

local done = hash_table(KEYS[7])
if done.state == 'reaped' then
  local est = tonumber(done.est)
  local delta = actual - est
  charge_windows(KEYS[1], KEYS[3], done, delta, now_ms)
  refresh_ttls(KEYS[1], KEYS[2], KEYS[3], now_ms)
  local ledger_id = write_ledger('corrected_after_reap', est)
  write_aggregates()
  redis.call('HSET', KEYS[7], 'state', 'corrected', 'actual', actual, 'ledger', ledger_id)
  return {'corrected_after_reap', est, delta, ledger_id}
elseif done.state == 'released' then
  return {'already_released', tonumber(done.est), 0, ''}
elseif done.state then
  return {'already_settled', tonumber(done.est), 0, done.ledger or ''}
end
return {'unknown_reservation', -1, 0, ''}
