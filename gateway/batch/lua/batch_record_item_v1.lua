-- batch_record_item_v1.lua: record one item's outcome, once; count it and its cost.
--
-- KEYS[1] batch hash    KEYS[2] item outcomes hash (line -> completed | failed)
-- ARGV[1] line          ARGV[2] 'completed' | 'failed'    ARGV[3] cost (micros)
--
-- Returns {first, completed, failed, total}: first is 1 if this call recorded the outcome,
-- 0 if the line already had one (nothing changed).

local first = redis.call('HSETNX', KEYS[2], ARGV[1], ARGV[2])
if first == 1 then
  redis.call('HINCRBY', KEYS[1], ARGV[2], 1)
  redis.call('HINCRBY', KEYS[1], 'spent_micros', tonumber(ARGV[3]))
end
local counts = redis.call('HMGET', KEYS[1], 'completed', 'failed', 'total')
return {first, tonumber(counts[1] or '0'), tonumber(counts[2] or '0'), tonumber(counts[3] or '0')}
