"""The one interface all state goes through.

An embedded default (memory, plus SQLite for what must survive a restart) serves one process; Redis
serves many instances behind a load balancer. Values are bytes: callers own their encoding.
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable


@runtime_checkable
class Store(Protocol):
    def get(self, key: str) -> bytes | None: ...

    def set(self, key: str, value: bytes, ttl: float | None = None) -> None: ...

    def delete(self, key: str) -> bool: ...

    def incr(self, key: str, amount: int = 1, ttl: float | None = None) -> int:
        """Atomically add to an integer counter (created at 0); ``ttl`` applies when it is created."""
        ...

    def append(self, stream: str, record: bytes) -> int:
        """Durably append to an append-only log and return the record's sequence number (from 1)."""
        ...

    def read(self, stream: str, after: int = 0, limit: int = 1000) -> list[tuple[int, bytes]]:
        """Records with sequence number greater than ``after``, oldest first."""
        ...

    def take_tokens(self, key: str, rate: float, burst: float, cost: float = 1.0) -> tuple[bool, float]:
        """Token bucket: atomically take ``cost`` tokens; returns (allowed, seconds until allowed)."""
        ...

    def ping(self) -> bool: ...

    def close(self) -> None: ...
