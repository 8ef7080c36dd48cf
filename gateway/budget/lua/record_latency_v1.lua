-- record_latency_v1.lua: add one latency sample and trim the tier's window by age and count.
--
-- KEYS[1] samples zset of the tier ({lat:<tier>}), member '<latency_ms>:<unique>', score = time
--
-- ARGV[1] member   ARGV[2] now_ms   ARGV[3] max age (ms)   ARGV[4] max samples
--
-- Returns the number of samples kept.

local now_ms = tonumber(ARGV[2])
local max_age_ms = tonumber(ARGV[3])
redis.call('ZADD', KEYS[1], now_ms, ARGV[1])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', string.format('(%d', now_ms - max_age_ms))
redis.call('ZREMRANGEBYRANK', KEYS[1], 0, -(tonumber(ARGV[4]) + 1))
redis.call('PEXPIRE', KEYS[1], max_age_ms)
return redis.call('ZCARD', KEYS[1])
