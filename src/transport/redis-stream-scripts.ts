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
const HELPERS = `
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
`;

export const TRIM_SCRIPT = `${HELPERS}
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

/**
 * GUARD: did Redis forget what it acknowledged? (redis-stream-guard.ts) Lost when the epoch key
 * is gone while the caller knew one (a restart without persistence, a flush), when it differs
 * from the caller's (another process found a loss first and turned the epoch, or the dataset
 * was replaced), or when the stream's last id is below the highest id the caller wrote or read
 * (the stream vanished or went back: a restore from an older snapshot); the last two turn the
 * epoch, so that every other process finds the loss too. Then makes sure the stream and the
 * group exist (the group from the start of the stream: nothing is skipped). Elects one consumer
 * per incident to report it (a key per new epoch, set once).
 *
 * KEYS[1] stream, KEYS[2] epoch key; ARGV[1] the caller's epoch ('' for none yet), ARGV[2] the
 * highest id it saw, ARGV[3] the group, ARGV[4] a fresh epoch, ARGV[5] '1' if the caller consumes.
 * Returns { reason ('' when nothing was lost), epoch, last id, 1 if the caller reports }.
 */
export const GUARD_SCRIPT = `${HELPERS}
local reason = ''
local exists = redis.call('EXISTS', KEYS[1]) == 1
local last = '0-0'
if exists then last = fields(redis.call('XINFO', 'STREAM', KEYS[1]))['last-generated-id'] end
local epoch = redis.call('GET', KEYS[2])
if not epoch then
  if ARGV[1] ~= '' then reason = 'the dataset was lost (a restart without persistence, or a flush)' end
  epoch = ARGV[4]
  redis.call('SET', KEYS[2], epoch)
elseif ARGV[1] ~= '' and epoch ~= ARGV[1] then
  reason = 'the dataset was lost or replaced (found by another process)'
elseif ARGV[2] ~= '0-0' and cmp(last, ARGV[2]) < 0 then
  if exists then reason = 'the stream went back to an older state' else reason = 'the stream vanished' end
  epoch = ARGV[4]
  redis.call('SET', KEYS[2], epoch)
end
redis.pcall('XGROUP', 'CREATE', KEYS[1], ARGV[3], '0', 'MKSTREAM')
local report = 0
if reason ~= '' and ARGV[5] == '1' then
  if redis.call('SET', KEYS[2] .. ':reported:' .. ARGV[3] .. ':' .. epoch, '1', 'NX', 'PX', '86400000') then
    report = 1
  end
end
return { reason, epoch, last, report }
`;

/**
 * RECLAIM: entries pending on consumers presumed dead, claimed for ARGV[2]. A consumer is alive
 * while its heartbeat key (ARGV[5] .. name) exists; each live one refreshes its own with a TTL.
 * Entries of a live consumer are never taken, however slow its batch (ours excepted: our own
 * idle entries are ours to hand out again). Follows the XPENDING order from the cursor ARGV[6].
 *
 * KEYS[1] stream; ARGV[1] group, ARGV[2] our consumer, ARGV[3] min idle ms, ARGV[4] count,
 * ARGV[5] heartbeat key prefix, ARGV[6] cursor ('-' or '(' .. id).
 * Returns { next cursor ('-' after a whole pass), claimed entries (as XCLAIM returns them) }.
 */
export const RECLAIM_SCRIPT = `
local pend = redis.call('XPENDING', KEYS[1], ARGV[1], 'IDLE', ARGV[3], ARGV[6], '+', ARGV[4])
local next = '-'
if #pend == tonumber(ARGV[4]) then next = '(' .. pend[#pend][1] end
local alive = {}
local ids = {}
for _, p in ipairs(pend) do
  local owner = p[2]
  if owner ~= ARGV[2] and alive[owner] == nil then
    alive[owner] = redis.call('EXISTS', ARGV[5] .. owner) == 1
  end
  if owner == ARGV[2] or not alive[owner] then table.insert(ids, p[1]) end
end
if #ids == 0 then return { next, {} } end
return { next, redis.call('XCLAIM', KEYS[1], ARGV[1], ARGV[2], ARGV[3], unpack(ids)) }
`;
