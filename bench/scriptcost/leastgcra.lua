-- The least GCRA decision: what any script deciding a GCRA request and
-- replying with its decision must do, written by hand as tightly as Lua 5.1
-- allows. It is no limiter: no validation of the state or the arguments,
-- one quota, no guard of Lua's float arithmetic for negative or large
-- values (the limiter's floor and ceiling divisions are exact to 2^53),
-- nothing for a clock that steps back, a TTL set on every write. It is a
-- lower bound on the cost of the limiter's script for GCRA: the floor
-- plus a decision.
--
-- KEYS[1]: the key, holding the theoretical arrival time (µs, float64).
-- ARGV[1]: float64s cost, emission interval (µs a unit of cost), and the
-- capacity (µs: burst × interval).
-- Reply: float64s limited (0 or 1), remaining, retry after (µs), reset
-- after (µs).
local cost, unit, capacity = struct.unpack('<ddd', ARGV[1])
local t = redis.call('TIME')
local now = t[1] * 1000000 + t[2]
local raw = redis.call('GET', KEYS[1])
local tat = now
if raw then
  tat = struct.unpack('<d', raw)
  if tat < now then
    tat = now
  end
end
local new = tat + cost * unit
local wait = new - now - capacity
if wait > 0 then
  return struct.pack('<dddd', 1, 0, wait, tat - now)
end
local reset = new - now
redis.call('SET', KEYS[1], struct.pack('<d', new), 'PX', string.format('%d', (reset - reset % 1000) / 1000 + 1))
local left = capacity - reset
return struct.pack('<dddd', 0, (left - left % unit) / unit, 0, reset)
