"""Mitigation scheduler: responses run by priority, each with a deadline; late ones are counted.

`AgentDefense` submits the responses a decision triggers (quarantine, session reset, review, alert
hooks) and drains the queue before returning, most urgent first. A task that starts after its deadline
still runs (a late quarantine beats none) but is counted in ``missed``; a failing task is counted in
``failed`` and never stops the others.
"""

from __future__ import annotations

import heapq
import itertools
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from aimds.errors import InvalidInput

log = logging.getLogger(__name__)
MAX_QUEUED = 100_000


@dataclass(order=True)
class _Task:
    priority: int
    deadline: float
    order: int
    name: str = field(compare=False)
    run: Callable[[], None] = field(compare=False)


class MitigationScheduler:
    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._queue: list[_Task] = []
        self._order = itertools.count()
        self.completed = 0
        self.missed = 0
        self.failed = 0

    def submit(self, name: str, run: Callable[[], None], priority: int = 5, deadline_s: float = 0.05) -> None:
        """Lower ``priority`` runs first; ``deadline_s`` is relative to now."""
        if len(self._queue) >= MAX_QUEUED:
            raise InvalidInput("mitigation queue is full")
        heapq.heappush(self._queue, _Task(priority, self._clock() + deadline_s, next(self._order), name, run))

    @property
    def queued(self) -> int:
        return len(self._queue)

    def run_pending(self) -> int:
        ran = 0
        while self._queue:
            task = heapq.heappop(self._queue)
            if self._clock() > task.deadline:
                self.missed += 1
            try:
                task.run()
                self.completed += 1
            except Exception:  # one broken hook must not stop the other mitigations
                self.failed += 1
                log.exception("mitigation %s failed", task.name)
            ran += 1
        return ran

    def stats(self) -> dict[str, int]:
        return {"queued": len(self._queue), "completed": self.completed, "missed": self.missed,
                "failed": self.failed}
