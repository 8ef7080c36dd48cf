-- queue_promote_v1.lua: move jobs whose time has come from the delayed set to the stream.
--
-- KEYS[1] delayed zset (score = ready time, ms; member = job)    KEYS[2] job stream
-- ARGV[1] now (ms)    ARGV[2] most jobs to move
--
-- Returns how many jobs were moved.

local due = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'LIMIT', 0, tonumber(ARGV[2]))
for _, job in ipairs(due) do
  redis.call('ZREM', KEYS[1], job)
  redis.call('XADD', KEYS[2], '*', 'job', job)
end
return #due
