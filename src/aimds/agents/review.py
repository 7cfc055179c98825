"""Human review queue: a stopped tool call waits here until someone approves or denies it.

Items live in a `Store` (so any server instance can decide them); a decision not made before the
item's deadline counts as a denial. The queue is bounded: when full, new items are denied at once
(fail closed) instead of growing without limit.
"""

from __future__ import annotations

import asyncio
import heapq
import json
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from enum import Enum
from typing import Any

from aimds.errors import InvalidInput
from aimds.store.base import Store

_PREFIX = "aimds:agents:review:"


class ReviewStatus(str, Enum):
    PENDING = "pending"
    APPROVED = "approved"
    DENIED = "denied"
    EXPIRED = "expired"


@dataclass
class ReviewItem:
    id: str
    agent_id: str
    session_id: str
    tool: str | None
    arguments: dict[str, Any]
    reasons: list[str]
    created_at: float
    deadline: float
    status: str = ReviewStatus.PENDING.value
    reviewer: str | None = None
    note: str = field(default="")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


class ReviewQueue:
    def __init__(self, store: Store, timeout_s: float = 300.0, max_pending: int = 10_000,
                 clock: Callable[[], float] = time.time) -> None:
        if timeout_s <= 0:
            raise InvalidInput("review timeout must be positive")
        self._store = store
        self.timeout_s = timeout_s
        self._max_pending = max_pending
        self._clock = clock
        self._pending: dict[str, float] = {}  # id -> deadline, for listing; the store is the truth
        self._deadlines: list[tuple[float, str]] = []  # heap, so expiry costs O(log n) per item
        self._changed = threading.Condition()

    def submit(self, agent_id: str, session_id: str, tool: str | None, arguments: dict[str, Any],
               reasons: list[str], timeout_s: float | None = None) -> ReviewItem:
        now = self._clock()
        self._expire(now)
        item = ReviewItem(uuid.uuid4().hex, agent_id, session_id, tool, arguments, reasons, now,
                          now + (timeout_s or self.timeout_s))
        if len(self._pending) >= self._max_pending:
            item.status, item.note = ReviewStatus.DENIED.value, "review queue full"
        else:
            self._pending[item.id] = item.deadline
            heapq.heappush(self._deadlines, (item.deadline, item.id))
        self._save(item)
        return item

    def get(self, item_id: str) -> ReviewItem | None:
        raw = self._store.get(_PREFIX + item_id)
        if raw is None:
            return None
        item = ReviewItem(**json.loads(raw))
        if item.status == ReviewStatus.PENDING.value and self._clock() >= item.deadline:
            item.status, item.note = ReviewStatus.EXPIRED.value, "no decision before the deadline"
            self._save(item)
            self._pending.pop(item.id, None)
        return item

    def pending(self) -> list[ReviewItem]:
        self._expire(self._clock())
        items = [self.get(i) for i in list(self._pending)]
        return [i for i in items if i is not None and i.status == ReviewStatus.PENDING.value]

    def approve(self, item_id: str, reviewer: str = "", note: str = "") -> ReviewItem:
        return self._decide(item_id, ReviewStatus.APPROVED, reviewer, note)

    def deny(self, item_id: str, reviewer: str = "", note: str = "") -> ReviewItem:
        return self._decide(item_id, ReviewStatus.DENIED, reviewer, note)

    def _decide(self, item_id: str, status: ReviewStatus, reviewer: str, note: str) -> ReviewItem:
        item = self.get(item_id)
        if item is None:
            raise InvalidInput(f"no review item {item_id!r}")
        if item.status != ReviewStatus.PENDING.value:
            raise InvalidInput(f"review item {item_id!r} is already {item.status}")
        item.status, item.reviewer, item.note = status.value, reviewer[:128], note[:1000]
        self._save(item)
        self._pending.pop(item_id, None)
        with self._changed:
            self._changed.notify_all()
        return item

    def wait(self, item_id: str, timeout_s: float | None = None) -> bool:
        """Block until the item is decided or expires; True only when approved."""
        limit = self._clock() + (timeout_s if timeout_s is not None else self.timeout_s)
        while True:
            item = self.get(item_id)
            if item is None or item.status != ReviewStatus.PENDING.value:
                return item is not None and item.status == ReviewStatus.APPROVED.value
            remaining = min(item.deadline, limit) - self._clock()
            if remaining <= 0:
                return False
            with self._changed:
                self._changed.wait(min(remaining, 0.05))

    async def wait_async(self, item_id: str, timeout_s: float | None = None) -> bool:
        limit = self._clock() + (timeout_s if timeout_s is not None else self.timeout_s)
        while True:
            item = self.get(item_id)
            if item is None or item.status != ReviewStatus.PENDING.value:
                return item is not None and item.status == ReviewStatus.APPROVED.value
            remaining = min(item.deadline, limit) - self._clock()
            if remaining <= 0:
                return False
            await asyncio.sleep(min(remaining, 0.05))

    def _expire(self, now: float) -> None:
        while self._deadlines and self._deadlines[0][0] <= now:
            _, item_id = heapq.heappop(self._deadlines)
            if item_id in self._pending:
                self.get(item_id)

    def _save(self, item: ReviewItem) -> None:
        ttl = max(item.deadline - self._clock(), 0) + 86_400  # decided items stay visible a day
        self._store.set(_PREFIX + item.id, json.dumps(item.to_dict(), default=str).encode(), ttl=ttl)
