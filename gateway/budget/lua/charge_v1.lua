-- charge_v1.lua: add spend that already happened (journal replay) to every window, with no
-- limit check; write the ledger entry and the aggregates; once per charge id.
--
-- KEYS[1] spent hash      KEYS[2] reserved hash    KEYS[3] expiry zset
-- KEYS[4] inflight hash   KEYS[5] deadlines zset   KEYS[6] tombstone hash (done:<charge id>)
-- KEYS[7] ledger stream (events)   KEYS[8] aggregate hash (agg:<bucket>), only when na > 0
--
-- ARGV[1] charge id   ARGV[2] amount (micros)   ARGV[3] now_ms   ARGV[4] tombstone TTL (ms)
-- ARGV[5] ledger MAXLEN (approximate)   ARGV[6] write a ledger entry: '1' or '0'
-- ARGV[7] expired fields to drop per call   ARGV[8] aggregate TTL (ms)
-- ARGV[9] nw (windows)   ARGV[10] nl (ledger pairs)   ARGV[11] na (aggregate pairs)
-- then nw pairs: window field, ttl (ms)
-- then nl pairs: ledger field, value
-- then na pairs: aggregate field, integer increment
--
-- Returns {status, ledger stream id ('' if none)}
--   status: 'charged' | 'duplicate' (the id has a tombstone: nothing changed)

local id = ARGV[1]
local amount = tonumber(ARGV[2])
local now_ms = tonumber(ARGV[3])
local nw, nl, na = tonumber(ARGV[9]), tonumber(ARGV[10]), tonumber(ARGV[11])
local wbase = 11
local lbase = wbase + 2 * nw
local abase = lbase + 2 * nl

if redis.call('EXISTS', KEYS[6]) == 1 then
  return {'duplicate', ''}
end

drop_expired(KEYS[1], KEYS[2], KEYS[3], now_ms, tonumber(ARGV[7]))
local r = {nw = nw}
for i = 1, nw do
  r['w' .. i] = ARGV[wbase + 2 * i - 1]
  r['t' .. i] = ARGV[wbase + 2 * i]
end
charge_windows(KEYS[1], KEYS[3], r, amount, now_ms)
refresh_ttls(KEYS[1], KEYS[2], KEYS[3], now_ms)

local ledger_id = ''
if ARGV[6] == '1' then
  local entry = {'reservation_id', id, 'outcome', 'charged', 'estimate_micros', amount,
                 'actual_micros', amount}
  for k = 1, nl do
    entry[#entry + 1] = ARGV[lbase + 2 * k - 1]
    entry[#entry + 1] = ARGV[lbase + 2 * k]
  end
  ledger_id = append_ledger(KEYS[7], ARGV[5], entry)
end
if na > 0 then
  add_aggregates(KEYS[8], tonumber(ARGV[8]), abase + 1, na)
end

redis.call('HSET', KEYS[6], 'state', 'charged', 'est', amount, 'actual', amount,
           'ledger', ledger_id)
redis.call('PEXPIRE', KEYS[6], tonumber(ARGV[4]))
return {'charged', ledger_id}
