"""Lua scripts for what must be atomic. Every key a script touches is passed in KEYS, and all of
them share the tenant's hash tag, so each script runs on one cluster node."""

from __future__ import annotations

# KEYS: session, user-sessions. ARGV: idle ms, index ttl ms, digest, then field/value pairs.
CREATE_SESSION = """
local fields = {}
for i = 4, #ARGV do fields[#fields + 1] = ARGV[i] end
redis.call('HSET', KEYS[1], unpack(fields))
redis.call('PEXPIRE', KEYS[1], ARGV[1])
redis.call('SADD', KEYS[2], ARGV[3])
redis.call('PEXPIRE', KEYS[2], ARGV[2])
return 1
"""

# KEYS: session. ARGV: idle ms. Slides the expiry, never past the absolute end.
TOUCH_SESSION = """
local data = redis.call('HGETALL', KEYS[1])
if #data == 0 then return nil end
local now = redis.call('TIME')
local now_ms = tonumber(now[1]) * 1000 + math.floor(tonumber(now[2]) / 1000)
local ends_at = tonumber(redis.call('HGET', KEYS[1], 'absoluteExpiryMs'))
local ttl = math.min(tonumber(ARGV[1]), ends_at - now_ms)
if ttl <= 0 then
  redis.call('DEL', KEYS[1])
  return nil
end
redis.call('HSET', KEYS[1], 'lastActivityMs', tostring(now_ms))
redis.call('PEXPIRE', KEYS[1], ttl)
return redis.call('HGETALL', KEYS[1])
"""

# KEYS: user-sessions, then session keys. ARGV: the digests of those sessions.
REVOKE_SESSIONS = """
local removed = 0
for i = 2, #KEYS do
  removed = removed + redis.call('DEL', KEYS[i])
  redis.call('SREM', KEYS[1], ARGV[i - 1])
end
return removed
"""

# KEYS: cart. ARGV: field, quantity delta, max quantity, max lines, ttl ms, line json template
# ("{qty}" is replaced). Returns the new quantity, or -1 (too many lines), -2 (over the limit).
ADD_TO_CART = """
local current = redis.call('HGET', KEYS[1], ARGV[1])
local quantity = tonumber(ARGV[2])
local line
if current then
  line = cjson.decode(current)
  quantity = quantity + line['quantity']
else
  if redis.call('HLEN', KEYS[1]) >= tonumber(ARGV[4]) then return -1 end
  line = cjson.decode(ARGV[6])
end
if quantity > tonumber(ARGV[3]) then return -2 end
line['quantity'] = quantity
redis.call('HSET', KEYS[1], ARGV[1], cjson.encode(line))
redis.call('PEXPIRE', KEYS[1], ARGV[5])
return quantity
"""

# KEYS: source cart, target cart. ARGV: max quantity, max lines, ttl ms. Moves every line of
# the source into the target (quantities add up, capped), then deletes the source.
MERGE_CARTS = """
local source = redis.call('HGETALL', KEYS[1])
for i = 1, #source, 2 do
  local field, incoming = source[i], cjson.decode(source[i + 1])
  local existing = redis.call('HGET', KEYS[2], field)
  if existing then
    local line = cjson.decode(existing)
    line['quantity'] = math.min(line['quantity'] + incoming['quantity'], tonumber(ARGV[1]))
    redis.call('HSET', KEYS[2], field, cjson.encode(line))
  elseif redis.call('HLEN', KEYS[2]) < tonumber(ARGV[2]) then
    redis.call('HSET', KEYS[2], field, source[i + 1])
  end
end
redis.call('DEL', KEYS[1])
if redis.call('EXISTS', KEYS[2]) == 1 then redis.call('PEXPIRE', KEYS[2], ARGV[3]) end
return #source / 2
"""

# KEYS: window. ARGV: limit, window ms, member. Sliding-window log: admits at most `limit`
# calls in any window; returns {admitted (1/0), remaining, retry after ms}.
RATE_LIMIT = """
local now = redis.call('TIME')
local now_ms = tonumber(now[1]) * 1000 + math.floor(tonumber(now[2]) / 1000)
local window = tonumber(ARGV[2])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now_ms - window)
local used = redis.call('ZCARD', KEYS[1])
local limit = tonumber(ARGV[1])
if used < limit then
  redis.call('ZADD', KEYS[1], now_ms, ARGV[3])
  redis.call('PEXPIRE', KEYS[1], window)
  return {1, limit - used - 1, 0}
end
local oldest = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
return {0, 0, tonumber(oldest[2]) + window - now_ms}
"""

# KEYS: failures. ARGV: lock ms. Counts a failure; the window starts at the first one.
COUNT_FAILURE = """
local count = redis.call('INCR', KEYS[1])
if count == 1 then redis.call('PEXPIRE', KEYS[1], ARGV[1]) end
return {count, redis.call('PTTL', KEYS[1])}
"""
