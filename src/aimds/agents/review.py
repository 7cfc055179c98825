"""Human review queue: a stopped tool call waits here until someone approves or denies it.

Items live in a `Store`, so any server instance can list, approve or deny them: each item is a key,
and an append-only index stream in the store names every submitted item with its deadline. Every
instance follows the stream from where it last read (a fresh one from a floor key below which every
item is closed), so ``pending()`` lists the items of all instances. A decision not made before the
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
_INDEX_STREAM = "aimds:agents:reviews"
_FLOOR_KEY = "aimds:agents:reviews-floor"
_PAGE = 1000
MAX_PAGES_PER_SYNC = 100


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
        # this process's view of the shared index: id -> (deadline, index seq); the store is the truth
        self._pending: dict[str, tuple[float, int]] = {}
        self._deadlines: list[tuple[float, str]] = []  # heap, so expiry costs O(log n) per item
        self._cursor: int | None = None  # last index record merged into _pending
        self._floor_written = 0
        self._index_lock = threading.RLock()
        self._changed = threading.Condition()

    def submit(self, agent_id: str, session_id: str, tool: str | None, arguments: dict[str, Any],
               reasons: list[str], timeout_s: float | None = None) -> ReviewItem:
        now = self._clock()
        with self._index_lock:
            self._sync()
            self._expire(now)
            item = ReviewItem(uuid.uuid4().hex, agent_id, session_id, tool, arguments, reasons, now,
                              now + (timeout_s or self.timeout_s))
            full = len(self._pending) >= self._max_pending
            if full:
                item.status, item.note = ReviewStatus.DENIED.value, "review queue full"
            self._save(item)  # the item first: whoever reads the index can then find it
            if not full:
                seq = self._store.append(_INDEX_STREAM, json.dumps({"id": item.id, "deadline": item.deadline}).encode())
                self._track(item.id, item.deadline, seq)
        return item

    def _track(self, item_id: str, deadline: float, seq: int) -> None:
        if item_id not in self._pending:
            self._pending[item_id] = (deadline, seq)
            heapq.heappush(self._deadlines, (deadline, item_id))

    def _sync(self) -> None:
        """Merge index records other instances appended since the last read (bounded per call)."""
        if self._cursor is None:
            raw = self._store.get(_FLOOR_KEY)
            self._cursor = self._floor_written = int(raw) if raw is not None and raw.isdigit() else 0
        now = self._clock()
        for _ in range(MAX_PAGES_PER_SYNC):
            rows = self._store.read(_INDEX_STREAM, self._cursor, _PAGE)
            for seq, record in rows:
                if len(self._pending) >= self._max_pending:
                    return  # full: read on once items close (the cursor stays, so none is skipped)
                try:
                    entry = json.loads(record)
                    item_id, deadline = str(entry["id"]), float(entry["deadline"])
                except (ValueError, KeyError, TypeError):
                    entry = None  # a damaged record names no item; skip it rather than stop listing
                if entry is not None and deadline > now:
                    self._track(item_id, deadline, seq)
                self._cursor = seq
            if len(rows) < _PAGE:
                break

    def _advance_floor(self) -> None:
        """Below the floor every indexed item is closed, so a new instance starts reading there.
        Items only ever close, so a floor from any instance's view is safe; a stale one is merely low."""
        open_seqs = [seq for _, seq in self._pending.values()]
        floor = min(open_seqs) - 1 if open_seqs else (self._cursor or 0)
        if floor > self._floor_written:
            self._store.set(_FLOOR_KEY, str(floor).encode())
            self._floor_written = floor

    def get(self, item_id: str) -> ReviewItem | None:
        raw = self._store.get(_PREFIX + item_id)
        if raw is None:
            return None
        item = ReviewItem(**json.loads(raw))
        if item.status == ReviewStatus.PENDING.value and self._clock() >= item.deadline:
            item.status, item.note = ReviewStatus.EXPIRED.value, "no decision before the deadline"
            self._save(item)
        if item.status != ReviewStatus.PENDING.value:
            self._pending.pop(item.id, None)
        return item

    def pending(self) -> list[ReviewItem]:
        """Open items of every instance sharing the store, oldest first."""
        with self._index_lock:
            self._sync()
            self._expire(self._clock())
            found = []
            for item_id in list(self._pending):
                item = self.get(item_id)  # drops closed items from the view
                if item is None:
                    self._pending.pop(item_id, None)  # its key is gone (expired from the store)
                elif item.status == ReviewStatus.PENDING.value:
                    found.append(item)
            self._advance_floor()
        return sorted(found, key=lambda item: item.created_at)

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
