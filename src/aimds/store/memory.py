"""In-process store: fast, thread-safe, gone at exit. For tests, one-shot CLI runs and caches."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from aimds.store.bucket import refill

Link = Callable[[bytes | None, int, bytes], bytes]
Keep = Callable[[list[int]], list[tuple[str, bytes]]]


class MemoryStore:
    def __init__(self, clock: Callable[[], float] = time.monotonic, max_buckets: int = 100_000) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        self._values: dict[str, tuple[bytes, float | None]] = {}
        self._logs: dict[str, list[bytes]] = {}
        self._buckets: dict[str, tuple[float, float, float]] = {}
        self._max_buckets = max_buckets

    def _live(self, key: str) -> bytes | None:
        item = self._values.get(key)
        if item is None:
            return None
        value, expires = item
        if expires is not None and expires <= self._clock():
            del self._values[key]
            return None
        return value

    def get(self, key: str) -> bytes | None:
        with self._lock:
            return self._live(key)

    def set(self, key: str, value: bytes, ttl: float | None = None) -> None:
        with self._lock:
            self._values[key] = (bytes(value), self._clock() + ttl if ttl else None)

    def set_many(self, items: list[tuple[str, bytes]], ttl: float | None = None) -> None:
        with self._lock:
            expires = self._clock() + ttl if ttl else None
            for key, value in items:
                self._values[key] = (bytes(value), expires)

    def delete(self, key: str) -> bool:
        with self._lock:
            return self._values.pop(key, None) is not None

    def incr(self, key: str, amount: int = 1, ttl: float | None = None) -> int:
        with self._lock:
            current = self._live(key)
            if current is None:
                total = amount
                expires = self._clock() + ttl if ttl else None
            else:
                total = int(current) + amount
                expires = self._values[key][1]
            self._values[key] = (str(total).encode(), expires)
            return total

    def append(self, stream: str, record: bytes) -> int:
        with self._lock:
            log = self._logs.setdefault(stream, [])
            log.append(bytes(record))
            return len(log)

    def append_linked(self, stream: str, payloads: list[bytes], link: Link, keep: Keep | None = None,
                      ttl: float | None = None) -> list[int]:
        """Append records each built from its predecessor, atomically (used for hash chains), with the
        values ``keep(seqs)`` returns."""
        with self._lock:
            log = self._logs.setdefault(stream, [])
            seqs = []
            for payload in payloads:
                log.append(link(log[-1] if log else None, len(log) + 1, payload))
                seqs.append(len(log))
            if keep is not None:
                expires = self._clock() + ttl if ttl else None
                for key, value in keep(seqs):
                    self._values[key] = (bytes(value), expires)
            return seqs

    def stage_linked(self, stream: str, payloads: list[bytes], link: Link, keep: Keep | None = None,
                     ttl: float | None = None) -> tuple[list[int], None]:
        """`append_linked`; no commit is left to run (nothing goes to disk)."""
        return self.append_linked(stream, payloads, link, keep, ttl), None

    def get_kept(self, key: str) -> bytes | None:
        """A value kept with log records: here, among the others."""
        return self.get(key)

    def read(self, stream: str, after: int = 0, limit: int = 1000) -> list[tuple[int, bytes]]:
        with self._lock:
            log = self._logs.get(stream, [])
            start = max(after, 0)
            return [(start + i + 1, rec) for i, rec in enumerate(log[start : start + limit])]

    def take_tokens(self, key: str, rate: float, burst: float, cost: float = 1.0) -> tuple[bool, float]:
        return self.take_tokens_many([(key, rate, burst, cost)])[0]

    def take_tokens_many(self, buckets: list[tuple[str, float, float, float]]) -> list[tuple[bool, float]]:
        """Several buckets (key, rate, burst, cost) under one lock: the server's per-request limit check."""
        with self._lock:
            now = self._clock()
            out = []
            for key, rate, burst, cost in buckets:
                tokens, last, _ = self._buckets.get(key, (burst, now, now))
                allowed, tokens, wait = refill(tokens, last, now, rate, burst, cost)
                self._buckets[key] = (tokens, now, now + (burst - tokens) / rate)
                out.append((allowed, wait))
            if len(self._buckets) > self._max_buckets:
                self._forget_full_buckets(now)
            return out

    def _forget_full_buckets(self, now: float) -> None:
        """A bucket that has refilled is the same as no bucket, so one address per request can't grow memory."""
        full = [k for k, (_, _, full_at) in self._buckets.items() if full_at <= now]
        for key in full:
            del self._buckets[key]

    def ping(self) -> bool:
        return True

    def close(self) -> None:
        with self._lock:
            self._values.clear()
            self._logs.clear()
            self._buckets.clear()
