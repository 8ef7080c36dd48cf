-- idempotency_finish_v1.lua: finish an Idempotency-Key claim, only if it is still ours.
--
-- KEYS[1] the idempotency record
-- ARGV[1] the claim this request wrote (exact bytes)
-- ARGV[2] the record to store instead, or '' to delete the key
-- ARGV[3] its TTL (ms), when storing
--
-- Returns 1 if the claim was ours and is now finished, 0 if the key holds something else
-- (the claim expired and another request claimed the key, or it is gone).

if redis.call('GET', KEYS[1]) ~= ARGV[1] then
  return 0
end
if ARGV[2] == '' then
  redis.call('DEL', KEYS[1])
else
  redis.call('SET', KEYS[1], ARGV[2], 'PX', tonumber(ARGV[3]))
end
return 1
