/**
 * Lua, so that reading the groups' progress and trimming happen atomically (no delivery or
 * reclaim can slip between them).
 *
 * TRIM: the stream is cut below the oldest entry some group still needs: for each group, its
 * oldest pending entry, or (nothing pending) its last delivered entry. Entries never delivered to
 * a group are above its last-delivered id, so they are kept too. `MINID ~` only drops whole
 * macro nodes below the bound, never an entry at or above it. Also removes, in the same atomic
 * step, consumers of our group that own nothing and were idle longer than ARGV[2] ms (crashed
 * workers: every restart gets a new consumer name).
 *
 * KEYS[1] stream, ARGV[1] our group, ARGV[2] idle ms for consumer removal, ARGV[3] our consumer.
 * Returns the number of entries trimmed.
 */
export const TRIM_SCRIPT = `
local function cmp(a, b)
  local am, as = string.match(a, '^(%d+)-(%d+)$')
  local bm, bs = string.match(b, '^(%d+)-(%d+)$')
  am, as, bm, bs = tonumber(am), tonumber(as), tonumber(bm), tonumber(bs)
  if am ~= bm then if am < bm then return -1 else return 1 end end
  if as ~= bs then if as < bs then return -1 else return 1 end end
  return 0
end
local function fields(arr)
  local f = {}
  for i = 1, #arr, 2 do f[arr[i]] = arr[i + 1] end
  return f
end
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
local groups = redis.call('XINFO', 'GROUPS', KEYS[1])
if #groups == 0 then return 0 end
local floor = nil
for _, g in ipairs(groups) do
  local f = fields(g)
  local bound = f['last-delivered-id']
  if f['pending'] > 0 then
    bound = redis.call('XPENDING', KEYS[1], f['name'])[2]
  end
  if floor == nil or cmp(bound, floor) < 0 then floor = bound end
  if f['name'] == ARGV[1] then
    for _, c in ipairs(redis.call('XINFO', 'CONSUMERS', KEYS[1], ARGV[1])) do
      local cf = fields(c)
      if cf['pending'] == 0 and cf['idle'] > tonumber(ARGV[2]) and cf['name'] ~= ARGV[3] then
        redis.call('XGROUP', 'DELCONSUMER', KEYS[1], ARGV[1], cf['name'])
      end
    end
  end
end
return redis.call('XTRIM', KEYS[1], 'MINID', '~', floor)
`;
