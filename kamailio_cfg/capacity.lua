-- c4router capacity counters, run by Redis for Kamailio (kamailio.cfg, "capacity").
--
-- One script call takes or frees every limit of a step at once, atomically: Redis runs
-- scripts one at a time, so two Kamailio nodes asking together cannot both take the last
-- place, and the sum over all nodes holds.
--
-- ARGV[1]: "take" or "free"; ARGV[2]: the call (its Call-ID); ARGV[3]: the limit spec of
-- c4router's answer, items "key:calls:cps" separated by spaces ("-": no such limit),
-- e.g. "t12:20:- p3:-:10".
--
-- Concurrent calls: a sorted set per limit, c4:calls:<key>, of the calls holding a place,
-- each scored with the time its place expires (now + TTL, the longest call Kamailio lets
-- run). A lost BYE or a restarted Kamailio cannot leave a place taken for longer: every
-- take drops the expired members first.
-- Calls per second: a counter per limit and second, c4:cps:<key>:<unix second>, kept 2 s.
-- Refusals: the hash c4:refused counts them per "<key>:calls" / "<key>:cps" (/metrics).
--
-- take answers "ok" (every place taken) or the first limit that is full, e.g. "p3:cps"
-- (then nothing is taken). free answers "ok".
-- No double quote, backslash or dollar sign in this file: the renderer puts it into a
-- Kamailio string.

local op, member, spec = ARGV[1], ARGV[2], ARGV[3]
local ttl = TTL_SECONDS
local now = tonumber(redis.call('TIME')[1])
local items = {}
for key, calls, cps in string.gmatch(spec, '(%w+):([%d-]+):([%d-]+)') do
  items[#items + 1] = {key, tonumber(calls), tonumber(cps)}
end

if op == 'free' then
  for _, item in ipairs(items) do
    if item[2] then
      redis.call('ZREM', 'c4:calls:' .. item[1], member)
    end
  end
  return 'ok'
end

for _, item in ipairs(items) do
  local key, calls, cps = item[1], item[2], item[3]
  if calls then
    local set = 'c4:calls:' .. key
    redis.call('ZREMRANGEBYSCORE', set, '-inf', now)
    -- A call already holding a place (a second attempt to the same carrier) keeps it.
    if not redis.call('ZSCORE', set, member) and redis.call('ZCARD', set) >= calls then
      redis.call('HINCRBY', 'c4:refused', key .. ':calls', 1)
      return key .. ':calls'
    end
  end
  if cps then
    local taken = tonumber(redis.call('GET', 'c4:cps:' .. key .. ':' .. now) or '0')
    if taken >= cps then
      redis.call('HINCRBY', 'c4:refused', key .. ':cps', 1)
      return key .. ':cps'
    end
  end
end

for _, item in ipairs(items) do
  if item[2] then
    redis.call('ZADD', 'c4:calls:' .. item[1], now + ttl, member)
  end
  if item[3] then
    local counter = 'c4:cps:' .. item[1] .. ':' .. now
    redis.call('INCR', counter)
    redis.call('EXPIRE', counter, 2)
  end
end
return 'ok'
