"""Deadlines for the futures requests wait on (audit commit, admission), on one timer per worker.

`asyncio.timeout` around each awaited future started and cancelled an event-loop timer per request,
and the task's cancellation bookkeeping came with it: 12-13 us per request under uvloop against 4 us
for the await itself (measured), on the path of every check. All deadlines of one `Deadlines` have the
same length, so they fall due in the order they were set: one queue, and one timer for its head.
"""

from __future__ import annotations

import asyncio
from collections import deque
from typing import Any, TypeVar

T = TypeVar("T")
# The loop may run a timer a little early (uvloop rounds to the millisecond): due means due within this.
_SLACK_S = 0.002


class Deadlines:
    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self._queue: deque[tuple[float, asyncio.Future[Any]]] = deque()
        self._timer: asyncio.TimerHandle | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    def bound(self, future: asyncio.Future[T]) -> asyncio.Future[T]:
        """``future``, failed with `asyncio.TimeoutError` if nobody resolved it within ``seconds``.
        Whoever resolves it must check ``done()`` first (the committers and admission do)."""
        loop = future.get_loop()
        if loop is not self._loop:  # a new event loop (the app started again): the old timer is gone
            self._queue.clear()
            self._timer, self._loop = None, loop
        queue = self._queue
        while queue and queue[0][1].done():  # answered ones leave from the front, in order mostly
            queue.popleft()
        queue.append((loop.time() + self.seconds, future))
        if self._timer is None:
            self._timer = loop.call_at(queue[0][0], self._expire)
        return future

    def _expire(self) -> None:
        self._timer = None
        loop, queue = self._loop, self._queue
        if loop is None:
            return
        now = loop.time() + _SLACK_S
        while queue and (queue[0][0] <= now or queue[0][1].done()):
            _, future = queue.popleft()
            if not future.done():
                future.set_exception(asyncio.TimeoutError())
        if queue:
            self._timer = loop.call_at(queue[0][0], self._expire)

    def __len__(self) -> int:
        return len(self._queue)
