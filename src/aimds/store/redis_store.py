"""Redis store: the state many instances share (buckets, counters, keys, feedback, audit).

Every read-modify-write runs server-side (Lua) so instances never race, and the token
bucket uses Redis' own clock so hosts with skewed clocks still share one rate. Appends are lists whose
length is the sequence number. Any connection problem becomes `StoreUnavailable`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import redis
from redis.exceptions import RedisError

from aimds.store.errors import StoreUnavailable

Link = Callable[[bytes | None, int, bytes], bytes]
Keep = Callable[[list[int]], list[tuple[str, bytes]]]

_INCR = """
local created = redis.call('EXISTS', KEYS[1]) == 0
local total = redis.call('INCRBY', KEYS[1], ARGV[1])
if created and tonumber(ARGV[2]) > 0 then redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
return total
"""

# One bucket per key; ARGV holds (rate, burst, cost) per key. Returns {allowed (0/1), ms until
# allowed} per key. Tokens are kept as strings to stay exact. One script = one round trip for all.
_TAKE_TOKENS = """
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local out = {}
for i, key in ipairs(KEYS) do
  local rate, burst, cost = tonumber(ARGV[3*i-2]), tonumber(ARGV[3*i-1]), tonumber(ARGV[3*i])
  local state = redis.call('HMGET', key, 'tokens', 'last')
  local tokens, last = tonumber(state[1]), tonumber(state[2])
  if tokens == nil then tokens, last = burst, now end
  tokens = math.min(burst, tokens + math.max(0, now - last) * rate)
  local allowed, wait = 0, 0
  if tokens >= cost then
    tokens = tokens - cost
    allowed = 1
  else
    wait = (cost - tokens) / rate
  end
  redis.call('HSET', key, 'tokens', tostring(tokens), 'last', tostring(now))
  redis.call('PEXPIRE', key, math.ceil((burst - tokens) / rate * 1000) + 1000)
  out[2*i-1] = allowed
  out[2*i] = math.ceil(wait * 1000)
end
return out
"""

# Append ARGV[2..] to the list KEYS[1] only if it still holds ARGV[1] records. Returns {new length} on
# success, else {length, last record} (the tail to link to instead).
_PUSH_AT = """
local n = redis.call('LLEN', KEYS[1])
if n ~= tonumber(ARGV[1]) then
  return {n, redis.call('LINDEX', KEYS[1], -1)}
end
return {redis.call('RPUSH', KEYS[1], unpack(ARGV, 2))}
"""

_PREFIX = "aimds:"


class RedisStore:
    blocking_io = True  # network round trips: the server calls it off the event loop
    def __init__(self, url: str, timeout: float = 2.0, prefix: str = _PREFIX, **options: Any) -> None:
        self._prefix = prefix
        self._client = redis.Redis.from_url(
            url, socket_timeout=timeout, socket_connect_timeout=timeout, health_check_interval=30, **options
        )
        self._incr = self._client.register_script(_INCR)
        self._take = self._client.register_script(_TAKE_TOKENS)
        self._push_at = self._client.register_script(_PUSH_AT)
        # Per stream, the (length, last record) this process appended last: a guess that the
        # script checks, so a stale one costs a retry, never a broken chain.
        self._tails: dict[str, tuple[int, bytes | None]] = {}

    def _k(self, key: str) -> str:
        return self._prefix + key

    def _call(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except RedisError as exc:
            raise StoreUnavailable(f"Redis store error: {type(exc).__name__}") from exc

    def get(self, key: str) -> bytes | None:
        return self._call(self._client.get, self._k(key))

    def get_many(self, keys: list[str]) -> list[bytes | None]:
        """Many values in one round trip (MGET)."""
        return list(self._call(self._client.mget, [self._k(k) for k in keys])) if keys else []

    def set(self, key: str, value: bytes, ttl: float | None = None) -> None:
        px = max(1, int(ttl * 1000)) if ttl else None
        self._call(self._client.set, self._k(key), bytes(value), px=px)

    def set_many(self, items: list[tuple[str, bytes]], ttl: float | None = None) -> None:
        """Many values in one round trip."""
        px = max(1, int(ttl * 1000)) if ttl else None
        pipe = self._client.pipeline(transaction=False)
        for key, value in items:
            pipe.set(self._k(key), bytes(value), px=px)
        self._call(pipe.execute)

    def delete(self, key: str) -> bool:
        return bool(self._call(self._client.delete, self._k(key)))

    def incr(self, key: str, amount: int = 1, ttl: float | None = None) -> int:
        ttl_ms = max(1, int(ttl * 1000)) if ttl else 0
        return int(self._call(self._incr, keys=[self._k(key)], args=[amount, ttl_ms]))

    def append(self, stream: str, record: bytes) -> int:
        return int(self._call(self._client.rpush, self._k("log:" + stream), bytes(record)))

    def append_linked(self, stream: str, payloads: list[bytes], link: Link, keep: Keep | None = None,
                      ttl: float | None = None) -> list[int]:
        """Link the records to the tail this process last saw and push them with a script that refuses
        if the list has grown since (another instance appended): then relink to the new tail and try
        again. One round trip when this process is the only writer, where WATCH/MULTI took four. The
        values ``keep(seqs)`` returns are stored once the records are in (one more round trip)."""
        key = self._k("log:" + stream)
        tail = self._tails.get(stream)
        for _ in range(1000):
            if tail is None:
                pipe = self._client.pipeline(transaction=False)
                pipe.llen(key)
                pipe.lindex(key, -1)
                length, last = self._call(pipe.execute)
                tail = (int(length), last)
            length, prev = tail
            records = []
            for offset, payload in enumerate(payloads, start=1):
                prev = link(prev, length + offset, payload)
                records.append(prev)
            now = self._call(self._push_at, keys=[key], args=[length, *records])
            if int(now[0]) == length + len(records) and len(now) == 1:
                self._tails[stream] = (length + len(records), records[-1])
                seqs = list(range(length + 1, length + 1 + len(records)))
                values = keep(seqs) if keep is not None else []
                if values:
                    self.set_many(values, ttl)
                return seqs
            tail = (int(now[0]), now[1] if len(now) > 1 else None)
        raise StoreUnavailable("Redis append kept conflicting with other writers")

    def get_kept(self, key: str) -> bytes | None:
        """A value kept with log records: here, among the others."""
        return self.get(key)

    def read(self, stream: str, after: int = 0, limit: int = 1000) -> list[tuple[int, bytes]]:
        start = max(after, 0)
        if limit <= 0:
            return []
        rows = self._call(self._client.lrange, self._k("log:" + stream), start, start + limit - 1)
        return [(start + i + 1, rec) for i, rec in enumerate(rows)]

    def take_tokens(self, key: str, rate: float, burst: float, cost: float = 1.0) -> tuple[bool, float]:
        return self.take_tokens_many([(key, rate, burst, cost)])[0]

    def take_tokens_many(self, buckets: list[tuple[str, float, float, float]]) -> list[tuple[bool, float]]:
        """Several buckets (key, rate, burst, cost) in one script: one round trip per request."""
        args: list[float] = []
        for _, rate, burst, cost in buckets:
            if rate <= 0 or burst <= 0:
                raise ValueError("token bucket needs a positive rate and burst")
            args += (rate, burst, cost)
        flat = self._call(self._take, keys=[self._k("bucket:" + key) for key, *_ in buckets], args=args)
        return [(bool(flat[i]), int(flat[i + 1]) / 1000.0) for i in range(0, len(flat), 2)]

    def ping(self) -> bool:
        try:
            return bool(self._client.ping())
        except RedisError:
            return False

    def close(self) -> None:
        self._client.close()
