-- leastgcra.lua with the limiter's way of keeping a key's TTL: the key
-- also holds the expiry its TTL was set to (ms, the server's clock), and
-- a write that needs no later expiry keeps the TTL (SET KEEPTTL, which
-- costs Redis less than SET PX); one that does sets it a second past what
-- it needs. Arguments and reply as leastgcra.lua's.
local cost, unit, capacity = struct.unpack('<ddd', ARGV[1])
local t = redis.call('TIME')
local now = t[1] * 1000000 + t[2]
local raw = redis.call('GET', KEYS[1])
local tat, expires = now, 0
if raw then
  tat, expires = struct.unpack('<dd', raw)
  if tat < now then
    tat = now
  end
end
local new = tat + cost * unit
local wait = new - now - capacity
if wait > 0 then
  return struct.pack('<dddd', 1, 0, wait, tat - now)
end
local need = (new - new % 1000) / 1000 + 1
if expires >= need then
  redis.call('SET', KEYS[1], struct.pack('<dd', new, expires), 'KEEPTTL')
else
  expires = need + 1000
  redis.call('SET', KEYS[1], struct.pack('<dd', new, expires), 'PX', string.format('%d', expires - (now - now % 1000) / 1000))
end
local reset, left = new - now, capacity - new + now
return struct.pack('<dddd', 0, (left - left % unit) / unit, 0, reset)
