-- opcount.lua counts the Lua virtual machine instructions one decision of
-- the limiter's scripts executes, per line, under a stand-alone Lua 5.1
-- (the version Redis embeds), with redis.call and struct stood in for by
-- Lua functions whose own instructions are not counted (nor are the C
-- functions' in Redis: scriptcost counts those).
--
--   lua5.1 bench/scriptcost/opcount.lua store/redisstore/lua/gcra.lua P1 P2 ...
--   lua5.1 bench/scriptcost/opcount.lua store/redisstore/lua/throttled.lua CODE Q1 Q2 Q3 Q4
--
-- An algorithm's single-decision script (lua/<algorithm>.lua) takes the
-- parameters its algorithm reads, as the store sends them (appendParams in
-- store/redisstore/script_gen.go): GCRA at 100/s is 100 10000 1 1000000,
-- the fixed window 1000000 100. throttled.lua's one-policy path takes an
-- algorithm's code and four parameters (appendPolicy): GCRA at 100/s is
-- 5 100 10000 1 1000000, the fixed window 1 1000000 100 0 0. It runs
-- three decisions of cost 1 on one key, on the server's clock (TIME a
-- millisecond later each time), and prints the third's count: the total,
-- then each line's.
local path = arg[1]
local params = {}
for i = 2, #arg do
  params[#params + 1] = assert(tonumber(arg[i]), 'not a number: ' .. arg[i])
end
local general = path and path:match('throttled%.lua$')
assert(path and #params > 0 and (not general or #params == 5),
  'usage: lua5.1 opcount.lua lua/ALGORITHM.lua P1 P2 ... | lua/throttled.lua CODE Q1 Q2 Q3 Q4')

-- A float64, little-endian, as struct.pack('<d') writes it (finite values).
local function encode(x)
  local sign = 0
  if x < 0 or (x == 0 and 1 / x < 0) then
    sign, x = 1, -x
  end
  local m, e = 0, 0
  if x ~= 0 then
    m, e = math.frexp(x)
    m, e = (m * 2 - 1) * 2 ^ 52, e + 1022
  end
  local b = {}
  for i = 1, 6 do
    b[i] = string.char(m % 256)
    m = math.floor(m / 256)
  end
  b[7] = string.char(m + (e % 16) * 16)
  b[8] = string.char(math.floor(e / 16) + sign * 128)
  return table.concat(b)
end

local function decode(s, pos)
  local b = {s:byte(pos, pos + 7)}
  local sign = b[8] >= 128 and -1 or 1
  local e = (b[8] % 128) * 16 + math.floor(b[7] / 16)
  local m = b[7] % 16
  for i = 6, 1, -1 do
    m = m * 256 + b[i]
  end
  if e == 0 then
    return sign * m * 2 ^ -1074
  end
  return sign * (1 + m / 2 ^ 52) * 2 ^ (e - 1023)
end

struct = {
  pack = function(_, ...)
    local t = {}
    for i = 1, select('#', ...) do
      t[i] = encode((select(i, ...)))
    end
    return table.concat(t)
  end,
  unpack = function(format, s, pos)
    local t = {}
    for i = 1, #format - 1 do
      t[i] = decode(s, (pos or 1) + 8 * (i - 1))
    end
    return unpack(t, 1, #format - 1)
  end,
}

local db, clock = {}, 1732912345123456
redis = {
  call = function(cmd, key, value)
    if cmd == 'TIME' then
      clock = clock + 1000
      return {tostring(math.floor(clock / 1e6)), tostring(clock % 1e6)}
    elseif cmd == 'GET' then
      return db[key] or false
    elseif cmd == 'SET' then
      db[key] = value
      return {ok = 'OK'}
    end
    error('opcount: no stand-in for ' .. cmd)
  end,
  error_reply = function(e) return {err = e} end,
}
redis.pcall = redis.call

local chunk = assert(loadfile(path))
local source, counts, total, counting = '@' .. path, {}, 0, false
debug.sethook(function()
  if counting then
    local info = debug.getinfo(2, 'Sl')
    if info.source == source then
      total = total + 1
      counts[info.currentline] = (counts[info.currentline] or 0) + 1
    end
  end
end, '', 1)
local argv = {encode(-1), encode(0), encode(1000)}
if general then
  argv[#argv + 1] = encode(1) -- one policy
end
for _, v in ipairs(params) do
  argv[#argv + 1] = encode(v)
end
argv[#argv + 1] = encode(1) -- the cost
for _ = 1, 3 do
  KEYS, ARGV = {'k'}, {table.concat(argv)}
  counts, total, counting = {}, 0, true
  chunk()
  counting = false
end

io.write('total ', total, '\n')
local lines = {}
for l in io.lines(path) do
  lines[#lines + 1] = l
end
local at = {}
for l in pairs(counts) do
  at[#at + 1] = l
end
table.sort(at)
for _, l in ipairs(at) do
  io.write(string.format('%5d %4d  %s\n', l, counts[l], lines[l]))
end
