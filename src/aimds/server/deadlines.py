"""Deadlines for the futures requests wait on (audit commit, admission) and for the body reads, on
one timer per worker.

`asyncio.timeout` around each awaited future started and cancelled an event-loop timer per request,
and the task's cancellation bookkeeping came with it: 12-13 us per request under uvloop against 4 us
for the await itself (measured), on the path of every check; around a body read that is already
there, 7.5-8 us against 0.25 us. All deadlines of one `Deadlines` have the same length, so they fall
due in the order they were set: one queue, and one timer for its head.
"""

from __future__ import annotations

import asyncio
from collections import deque
from typing import Any, TypeVar

T = TypeVar("T")
# The loop may run a timer a little early (uvloop rounds to the millisecond): due means due within this.
_SLACK_S = 0.002


class Watch:
    """A task watched by `Deadlines.watch`: cancelled at the deadline unless released before."""

    __slots__ = ("task", "released", "expired")

    def __init__(self, task: asyncio.Task[Any]) -> None:
        self.task, self.released, self.expired = task, False, False

    def done(self) -> bool:
        return self.released or self.expired

    def release(self) -> None:
        self.released = True

    def expire(self) -> None:
        self.expired = True
        self.task.cancel()


class Deadlines:
    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self._queue: deque[tuple[float, asyncio.Future[Any] | Watch]] = deque()
        self._timer: asyncio.TimerHandle | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    def bound(self, future: asyncio.Future[T]) -> asyncio.Future[T]:
        """``future``, failed with `asyncio.TimeoutError` if nobody resolved it within ``seconds``.
        Whoever resolves it must check ``done()`` first (the committers and admission do)."""
        self._add(future.get_loop(), future)
        return future

    def watch(self, task: asyncio.Task[Any]) -> Watch:
        """Cancel ``task`` at the deadline unless the returned `Watch` is released before. The task
        sees `asyncio.CancelledError` at the await it is suspended at; ``expired`` tells it apart from
        any other cancellation (`asyncio.timeout` does the same, with a timer of its own)."""
        watch = Watch(task)
        self._add(task.get_loop(), watch)
        return watch

    def _add(self, loop: asyncio.AbstractEventLoop, item: asyncio.Future[Any] | Watch) -> None:
        if loop is not self._loop:  # a new event loop (the app started again): the old timer is gone
            self._queue.clear()
            self._timer, self._loop = None, loop
        queue = self._queue
        while queue and queue[0][1].done():  # answered ones leave from the front, in order mostly
            queue.popleft()
        queue.append((loop.time() + self.seconds, item))
        if self._timer is None:
            self._timer = loop.call_at(queue[0][0], self._expire)

    def _expire(self) -> None:
        self._timer = None
        loop, queue = self._loop, self._queue
        if loop is None:
            return
        now = loop.time() + _SLACK_S
        while queue and (queue[0][0] <= now or queue[0][1].done()):
            _, item = queue.popleft()
            if item.done():
                continue
            if isinstance(item, Watch):
                item.expire()
            else:
                item.set_exception(asyncio.TimeoutError())
        if queue:
            self._timer = loop.call_at(queue[0][0], self._expire)

    def __len__(self) -> int:
        return len(self._queue)
