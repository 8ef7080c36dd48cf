-- batch_transition_v1.lua: change a batch's fields only if its status is one of those given.
--
-- KEYS[1] batch hash
-- ARGV[1] allowed current statuses, comma-separated ('*' = any existing batch)
-- then pairs: field, value (set together, in one step)
--
-- Returns 1 if the batch was in an allowed status and is now changed, else 0.

local status = redis.call('HGET', KEYS[1], 'status')
if not status then
  return 0
end
if ARGV[1] ~= '*' and not string.find(',' .. ARGV[1] .. ',', ',' .. status .. ',', 1, true) then
  return 0
end
for i = 2, #ARGV, 2 do
  redis.call('HSET', KEYS[1], ARGV[i], ARGV[i + 1])
end
return 1
