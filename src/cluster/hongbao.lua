#!lua name=hongbao
-- The hongbao function library, loaded on every master (FUNCTION LOAD; replicas get it through
-- replication, so it survives a failover). Every function touches the keys of ONE hash slot: the
-- supply's `{hb:s}`, a group-packet bucket's `{hb:g:<b>}` (a packet and its bucket's expiry index
-- share a slot, so a create and its expiry entry are one atomic step), or a user bucket's
-- `{hb:u:<b>}`. Users, packets and amounts come in ARGV. Amounts are integer cents; the split of a
-- group packet is computed by the access node's engine at create time and stored here as a list,
-- popped one share per open. docs/cluster.md describes every key and function.

local function now_ms()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end

-- the key's hash-tag prefix, '{hb:s}:' of '{hb:s}:cfg'
local function tag_of(key)
  return string.match(key, '^({[^}]+}:)')
end

-- ---- the shake supply (slot {hb:s}) ------------------------------------------------------------
-- cfg: active, total, rate, rule (JSON), released/releasedCents (this supply), carry, second (the
--      last second released in), nextId, created/createdCents and paid/paidCents (all supplies)
-- nodes: node -> "users:lastSeenMs"; lease:<node>: id -> cents, unpaid packets held by a node;
-- new:<node>: "id:cents" leased but not yet picked up; pool: "id:cents" given back, released
-- again before fresh ones; hits: id -> "user:cents:node:atMs", every packet paid.

local function give_back(tag, node)
  local lease = tag .. 'lease:' .. node
  local held = redis.call('HGETALL', lease)
  for i = 1, #held, 2 do
    redis.call('RPUSH', tag .. 'pool', held[i] .. ':' .. held[i + 1])
  end
  redis.call('DEL', lease, tag .. 'new:' .. node)
  return #held / 2
end

-- split `n` packets over the live nodes by their users (largest remainder; ties rotate by second)
local function allocate(n, live, second)
  local total_users = 0
  for _, l in ipairs(live) do total_users = total_users + l.users end
  local shares, given = {}, 0
  for i, l in ipairs(live) do
    local exact = total_users > 0 and n * l.users / total_users or n / #live
    shares[i] = { index = i, count = math.floor(exact), frac = exact - math.floor(exact) }
    given = given + shares[i].count
  end
  local order = {}
  for i = 1, #shares do order[i] = shares[i] end
  table.sort(order, function(a, b)
    if a.frac ~= b.frac then return a.frac > b.frac end
    return (a.index + second) % #live < (b.index + second) % #live
  end)
  local k = 1
  while given < n do
    order[k].count = order[k].count + 1
    given = given + 1
    k = k % #order + 1
  end
  return shares
end

-- KEYS {hb:s}:cfg; ARGV node, users, deadMs, the rule (JSON) the caller drew with, cents of fresh
-- packets it drew...
-- Heartbeat with the node's logged-in users; give back the leases of nodes silent for deadMs; the
-- first call in a second releases that second's packets over the live nodes; returns what this
-- node was given. Reply: {need, reclaimed, rejoined, active, total, rate, rule, released, liveNodes,
-- packets...} where need > 0 means "call again with that many amounts, drawn by the rule in this
-- reply" (nothing was released: too few amounts, or drawn by a rule the supply no longer has)
-- and rejoined 1 means the node was not live before this call (anything it still holds locally
-- was given back meanwhile: it must drop it).
local function sup_lease(keys, args)
  local cfg = keys[1]
  local tag = tag_of(cfg)
  local node, users, dead_ms, drawn_by = args[1], tonumber(args[2]), tonumber(args[3]), args[4]
  local drawn = #args - 4
  local now = now_ms()
  local nodes_key = tag .. 'nodes'
  -- not among the live nodes: new, or silent long enough to have had its leases given back
  local rejoined = redis.call('HEXISTS', nodes_key, node) == 0 and 1 or 0
  redis.call('HSET', nodes_key, node, users .. ':' .. now)
  local all = redis.call('HGETALL', nodes_key)
  local live, reclaimed, names = {}, 0, {}
  for i = 1, #all, 2 do
    local u, seen = string.match(all[i + 1], '^(%d+):(%d+)$')
    if now - tonumber(seen) > dead_ms then
      reclaimed = reclaimed + give_back(tag, all[i])
      redis.call('HDEL', nodes_key, all[i])
    else
      table.insert(live, { node = all[i], users = tonumber(u) })
    end
  end
  table.sort(live, function(a, b) return a.node < b.node end)
  for i, l in ipairs(live) do names[i] = l.node end

  local need = 0
  local second = math.floor(now / 1000)
  local c = redis.call('HMGET', cfg, 'active', 'second', 'rate', 'carry', 'total', 'released', 'nextId', 'rule')
  if c[1] == '1' and second > tonumber(c[2] or '0') then
    local rate, carry = tonumber(c[3]), tonumber(c[4] or '0')
    local total, released, next_id = tonumber(c[5]), tonumber(c[6] or '0'), tonumber(c[7] or '1')
    local budget = math.floor(rate + carry + 1e-9)
    local from_pool = math.min(budget, redis.call('LLEN', tag .. 'pool'))
    local fresh = math.min(budget - from_pool, total - released)
    if fresh > drawn or (fresh > 0 and drawn_by ~= c[8]) then
      need = fresh
    else
      local packets, cents_total = {}, 0
      for _ = 1, from_pool do table.insert(packets, redis.call('LPOP', tag .. 'pool')) end
      for i = 1, fresh do
        table.insert(packets, (next_id + i - 1) .. ':' .. args[4 + i])
        cents_total = cents_total + tonumber(args[4 + i])
      end
      redis.call('HSET', cfg, 'second', second, 'carry', tostring(rate + carry - budget), 'nextId', next_id + fresh,
        'released', released + fresh)
      if fresh > 0 then
        redis.call('HINCRBY', cfg, 'releasedCents', cents_total)
        redis.call('HINCRBY', cfg, 'created', fresh)
        redis.call('HINCRBY', cfg, 'createdCents', cents_total)
      end
      if #packets > 0 then
        local shares = allocate(#packets, live, second)
        local at = 1
        for i, l in ipairs(live) do
          for _ = 1, shares[i].count do
            local p = packets[at]
            at = at + 1
            local id, cents = string.match(p, '^(%d+):(%d+)$')
            redis.call('HSET', tag .. 'lease:' .. l.node, id, cents)
            redis.call('RPUSH', tag .. 'new:' .. l.node, p)
          end
        end
      end
    end
  end
  local mine_key = tag .. 'new:' .. node
  local mine = redis.call('LRANGE', mine_key, 0, -1)
  redis.call('DEL', mine_key)
  local s = redis.call('HMGET', cfg, 'active', 'total', 'rate', 'rule', 'released')
  local reply = { need, reclaimed, rejoined, s[1] or '0', s[2] or '0', s[3] or '0', s[4] or '', s[5] or '0', table.concat(names, ',') }
  for _, p in ipairs(mine) do table.insert(reply, p) end
  return reply
end

-- KEYS {hb:s}:cfg; ARGV node, then (id, user, cents) per hit. Per hit: 1 = paid to that user now
-- or before (a retry), 0 = not this node's to pay (given back or paid to someone else).
local function sup_hit(keys, args)
  local cfg = keys[1]
  local tag = tag_of(cfg)
  local node = args[1]
  local lease = tag .. 'lease:' .. node
  local now = now_ms()
  local out = {}
  for i = 2, #args, 3 do
    local id, user, cents = args[i], args[i + 1], args[i + 2]
    if redis.call('HGET', lease, id) == cents then
      redis.call('HDEL', lease, id)
      redis.call('HSET', tag .. 'hits', id, user .. ':' .. cents .. ':' .. node .. ':' .. now)
      redis.call('HINCRBY', cfg, 'paid', 1)
      redis.call('HINCRBY', cfg, 'paidCents', tonumber(cents))
      table.insert(out, 1)
    else
      local h = redis.call('HGET', tag .. 'hits', id)
      if h and string.sub(h, 1, #user + #cents + 2) == user .. ':' .. cents .. ':' then
        table.insert(out, 1)
      else
        table.insert(out, 0)
      end
    end
  end
  return out
end

-- KEYS {hb:s}:cfg; ARGV node. The node stops (or starts afresh): its unpaid leases go back to the
-- pool, to be released again before fresh packets. Returns how many.
local function sup_return(keys, args)
  local tag = tag_of(keys[1])
  redis.call('HDEL', tag .. 'nodes', args[1])
  return give_back(tag, args[1])
end

-- KEYS {hb:s}:cfg; ARGV total, rate, rule (JSON). Replaces the running supply from the next second
-- on; packets already released stay to be won.
local function sup_start(keys, args)
  local now = now_ms()
  redis.call('HSET', keys[1], 'active', 1, 'total', args[1], 'rate', args[2], 'rule', args[3], 'released', 0,
    'releasedCents', 0, 'carry', 0, 'second', math.floor(now / 1000), 'startedAt', now)
  redis.call('HSETNX', keys[1], 'nextId', 1)
  return now
end

local function sup_stop(keys)
  redis.call('HSET', keys[1], 'active', 0, 'stoppedAt', now_ms())
  return 1
end

-- KEYS {hb:s}:cfg. Everything about the supply, flat: cfg fields, then pool length, leased count
-- and cents (over every node's lease) and the live nodes.
local function sup_state(keys)
  local cfg = keys[1]
  local tag = tag_of(cfg)
  local reply = redis.call('HGETALL', cfg)
  local leased, leased_cents = 0, 0
  local nodes = redis.call('HKEYS', tag .. 'nodes')
  for _, n in ipairs(nodes) do
    local held = redis.call('HVALS', tag .. 'lease:' .. n)
    leased = leased + #held
    for _, v in ipairs(held) do leased_cents = leased_cents + tonumber(v) end
  end
  local pool = redis.call('LRANGE', tag .. 'pool', 0, -1)
  local pool_cents = 0
  for _, p in ipairs(pool) do pool_cents = pool_cents + tonumber(string.match(p, ':(%d+)$')) end
  for _, v in ipairs({ 'pool', #pool, 'poolCents', pool_cents, 'leased', leased, 'leasedCents', leased_cents,
    'nodes', table.concat(nodes, ',') }) do
    table.insert(reply, tostring(v))
  end
  return reply
end

-- ---- group packets (slot {hb:g:<bucket>}) ------------------------------------------------------
-- Packet <id> lives in bucket id % buckets: m:<id> hash (sender, total, count, mode, expiresAt,
-- createdAt, node, title, colour, story, opened, openedCents, expired, refunded, refundedShares,
-- expiredAt, expiredBy), s:<id> the
-- unopened shares in opening order, r:<id> recipients (set) and rl:<id> (as listed), o:<id>
-- user -> cents, l:<id> users in opening order; the bucket's `due` zset holds id -> expiresAt until
-- the packet is expired, its `gone` zset id -> expiredAt after (so that a node can find the refunds it
-- made whose reply it lost). Every key of a packet expires retainMs after the packet does.

local function packet_keys(tag, id)
  return tag .. 'm:' .. id, tag .. 's:' .. id, tag .. 'r:' .. id, tag .. 'rl:' .. id, tag .. 'o:' .. id, tag .. 'l:' .. id
end

-- KEYS {hb:g:<b>}:due; ARGV id, sender, total, count, mode, expiresAt, createdAt, node, retainMs,
-- cover title, colour, story, recipient count, recipients..., shares... Reply 1 created, 2 already
-- there alike (a retry), 0 an id already used by another packet (a bug: refused).
local function grp_create(keys, args)
  local tag = tag_of(keys[1])
  local id = args[1]
  local m, s, r, rl = packet_keys(tag, id)
  if redis.call('EXISTS', m) == 1 then
    local was = redis.call('HMGET', m, 'sender', 'total')
    return (was[1] == args[2] and was[2] == args[3]) and 2 or 0
  end
  local n = tonumber(args[13])
  redis.call('HSET', m, 'id', id, 'sender', args[2], 'total', args[3], 'count', args[4], 'mode', args[5], 'expiresAt', args[6],
    'createdAt', args[7], 'node', args[8], 'title', args[10], 'colour', args[11], 'story', args[12], 'opened', 0,
    'openedCents', 0, 'expired', 0, 'refunded', 0, 'refundedShares', 0)
  for i = 14, 13 + n do
    redis.call('SADD', r, args[i])
    redis.call('RPUSH', rl, args[i])
  end
  for i = 14 + n, #args do redis.call('RPUSH', s, args[i]) end
  redis.call('ZADD', keys[1], args[6], id)
  local until_ms = math.floor(tonumber(args[6]) + tonumber(args[9]))
  for _, k in ipairs({ m, s, r, rl }) do redis.call('PEXPIREAT', k, until_ms) end
  return 1
end

-- KEYS {hb:g:<b>}:due; ARGV nowMs, then (id, user) per open. Per open: status, cents with the
-- statuses of docs/engine.md (0 Ok, 1 Repeat, 2 NotRecipient, 3 Empty, 4 Expired, 5 Unknown).
local function grp_open(keys, args)
  local tag = tag_of(keys[1])
  local now = tonumber(args[1])
  local out = {}
  for i = 2, #args, 2 do
    local id, user = args[i], args[i + 1]
    local m, s, r, _, o, l = packet_keys(tag, id)
    local status, cents = 0, 0
    local meta = redis.call('HMGET', m, 'expiresAt', 'expired')
    if not meta[1] then
      status = 5
    elseif redis.call('SISMEMBER', r, user) == 0 then
      status = 2
    else
      local prev = redis.call('HGET', o, user)
      if prev then
        status, cents = 1, tonumber(prev)
      elseif meta[2] == '1' or now >= tonumber(meta[1]) then
        status = 4
      else
        local share = redis.call('LPOP', s)
        if not share then
          status = 3
        else
          cents = tonumber(share)
          redis.call('HSET', o, user, share)
          redis.call('RPUSH', l, user)
          redis.call('HINCRBY', m, 'opened', 1)
          redis.call('HINCRBY', m, 'openedCents', cents)
          local until_ms = redis.call('PEXPIRETIME', m)
          if until_ms > 0 then
            redis.call('PEXPIREAT', o, until_ms)
            redis.call('PEXPIREAT', l, until_ms)
          end
        end
      end
    end
    table.insert(out, status)
    table.insert(out, cents)
  end
  return out
end

-- expire one packet now: its unopened shares are refunded to its sender
local function expire_one(tag, due, id, now, node)
  local m, s = packet_keys(tag, id)
  local rest = redis.call('LRANGE', s, 0, -1)
  local cents = 0
  for _, v in ipairs(rest) do cents = cents + tonumber(v) end
  redis.call('DEL', s)
  redis.call('HSET', m, 'expired', 1, 'refunded', cents, 'refundedShares', #rest, 'expiredAt', now, 'expiredBy', node)
  redis.call('ZREM', due, id)
  redis.call('ZADD', tag .. 'gone', now, id)
  return { id, redis.call('HGET', m, 'sender'), cents, #rest }
end

-- KEYS {hb:g:<b>}:due; ARGV node, nowMs, limit, retainMs, then ids to expire now whatever their
-- expiry. Expires the forced ids and up to `limit` packets due by nowMs. Reply: (id, sender, cents,
-- shares) per packet expired by this call, flat; forced ids unknown or already expired are skipped.
local function grp_expire(keys, args)
  local due = keys[1]
  local tag = tag_of(due)
  local node, now, limit, retain = args[1], tonumber(args[2]), tonumber(args[3]), tonumber(args[4])
  local out = {}
  local function take(id)
    local m = packet_keys(tag, id)
    local state = redis.call('HGET', m, 'expired')
    if state == '0' then
      for _, v in ipairs(expire_one(tag, due, id, now, node)) do table.insert(out, v) end
    elseif not state then
      redis.call('ZREM', due, id)
    end
  end
  redis.call('ZREMRANGEBYSCORE', tag .. 'gone', '-inf', now - retain)
  for i = 5, #args do take(args[i]) end
  if limit > 0 then
    local ids = redis.call('ZRANGEBYSCORE', due, '-inf', now, 'LIMIT', 0, limit)
    for _, id in ipairs(ids) do take(id) end
  end
  return out
end

-- KEYS {hb:g:<b>}:due; ARGV node, sinceMs. The refunds `node` made in this bucket since sinceMs:
-- (id, sender, cents, shares) flat, for settling a sweep whose reply was lost.
local function grp_refunds(keys, args)
  local tag = tag_of(keys[1])
  local out = {}
  for _, id in ipairs(redis.call('ZRANGEBYSCORE', tag .. 'gone', args[2], '+inf')) do
    local m = packet_keys(tag, id)
    local f = redis.call('HMGET', m, 'expiredBy', 'sender', 'refunded', 'refundedShares')
    if f[1] == args[1] then
      for _, v in ipairs({ id, f[2], f[3], f[4] }) do table.insert(out, v) end
    end
  end
  return out
end

-- KEYS {hb:g:<b>}:due; ARGV id. Reply: {} when unknown, else {meta pairs (flat), recipients as
-- listed, users in opening order, their cents}.
local function grp_details(keys, args)
  local tag = tag_of(keys[1])
  local m, _, _, rl, o, l = packet_keys(tag, args[1])
  local meta = redis.call('HGETALL', m)
  if #meta == 0 then return {} end
  local users = redis.call('LRANGE', l, 0, -1)
  local cents = #users > 0 and redis.call('HMGET', o, unpack(users)) or {}
  return { meta, redis.call('LRANGE', rl, 0, -1), users, cents }
end

-- ---- users (slot {hb:u:<bucket>}) ---------------------------------------------------------------
-- d: user -> "node@loginMs" of its newest login (where its notifications go); i:<user>: packet id
-- -> "sender:shares:total:expiresAt", the packets waiting for that user, until opened or expired.

-- The node and login time of a directory entry ('', 0 if none; a bare node name counts as time 0).
local function where(entry)
  if not entry then return '', 0 end
  local node, at = string.match(entry, '^(.*)@(%d+)$')
  if node then return node, tonumber(at) end
  return entry, 0
end

-- KEYS {hb:u:<b>}:d; ARGV node, nowMs, then (user, loginMs) pairs. Records each login unless the
-- directory has a newer one (two logins of a user on two nodes can be recorded in either order;
-- the newest stays recorded). Returns, per user: the entry's node and login time before, 1 if this
-- login is now recorded (0: a newer one is, and this connection is the one to close), how many
-- packets wait for the user (0 when not recorded), and those (id, info) pairs.
local function usr_login(keys, args)
  local d = keys[1]
  local tag = tag_of(d)
  local node, now = args[1], tonumber(args[2])
  local out = {}
  for i = 3, #args, 2 do
    local user, at = args[i], tonumber(args[i + 1])
    local before, before_at = where(redis.call('HGET', d, user))
    table.insert(out, before)
    table.insert(out, before_at)
    if before_at > at then
      table.insert(out, 0)
      table.insert(out, 0)
    else
      redis.call('HSET', d, user, node .. '@' .. args[i + 1])
      table.insert(out, 1)
      local inbox = tag .. 'i:' .. user
      local waiting = redis.call('HGETALL', inbox)
      local kept = {}
      for k = 1, #waiting, 2 do
        local expires = tonumber(string.match(waiting[k + 1], ':(%d+)$'))
        if expires and expires > now then
          table.insert(kept, waiting[k])
          table.insert(kept, waiting[k + 1])
        else
          redis.call('HDEL', inbox, waiting[k])
        end
      end
      table.insert(out, #kept / 2)
      for _, v in ipairs(kept) do table.insert(out, v) end
    end
  end
  return out
end

-- KEYS {hb:u:<b>}:d; ARGV packet id, info, expiresAt, users... Puts the packet in each user's
-- inbox; returns the node each user is at ('' if never seen).
local function usr_notify(keys, args)
  local d = keys[1]
  local tag = tag_of(d)
  local out = {}
  for i = 4, #args do
    local inbox = tag .. 'i:' .. args[i]
    redis.call('HSET', inbox, args[1], args[2])
    local ttl = redis.call('PEXPIRETIME', inbox)
    if ttl ~= -2 and ttl < tonumber(args[3]) then redis.call('PEXPIREAT', inbox, math.floor(tonumber(args[3]))) end
    table.insert(out, (where(redis.call('HGET', d, args[i]))))
  end
  return out
end

-- KEYS {hb:u:<b>}:d; ARGV then (user, packet id) pairs: those packets no longer wait for them.
local function usr_done(keys, args)
  local tag = tag_of(keys[1])
  local n = 0
  for i = 1, #args, 2 do n = n + redis.call('HDEL', tag .. 'i:' .. args[i], args[i + 1]) end
  return n
end

redis.register_function('hb_sup_lease', sup_lease)
redis.register_function('hb_sup_hit', sup_hit)
redis.register_function('hb_sup_return', sup_return)
redis.register_function('hb_sup_start', sup_start)
redis.register_function('hb_sup_stop', sup_stop)
redis.register_function{ function_name = 'hb_sup_state', callback = sup_state, flags = { 'no-writes' } }
redis.register_function('hb_grp_create', grp_create)
redis.register_function('hb_grp_open', grp_open)
redis.register_function('hb_grp_expire', grp_expire)
redis.register_function{ function_name = 'hb_grp_details', callback = grp_details, flags = { 'no-writes' } }
redis.register_function{ function_name = 'hb_grp_refunds', callback = grp_refunds, flags = { 'no-writes' } }
redis.register_function('hb_usr_login', usr_login)
redis.register_function('hb_usr_notify', usr_notify)
redis.register_function('hb_usr_done', usr_done)
