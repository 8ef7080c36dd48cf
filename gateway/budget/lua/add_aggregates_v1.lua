-- add_aggregates_v1.lua: add integer increments to one aggregate hash and refresh its TTL.
--
-- KEYS[1] aggregate hash (agg:<bucket>)
--
-- ARGV[1] TTL (ms)   then pairs: aggregate field, integer increment
--
-- Returns the number of fields incremented.

local n = (#ARGV - 1) / 2
add_aggregates(KEYS[1], tonumber(ARGV[1]), 2, n)
return n
