"""Work that arrives in one pass of the event loop, handled together at the end of that pass."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any


class EndOfPass:
    """Runs ``flush`` once, at the end of the loop pass in which the first pending item arrived.

    Requests parsed in one pass (uvicorn reads every ready socket before the loop yields) then share
    one store call (`admission`) or one `Guard.check_many` call (`batcher`)."""

    def __init__(self, flush: Callable[[], None]) -> None:
        self._flush = flush
        self._scheduled = False

    def future(self) -> asyncio.Future[Any]:
        """A future for one more item; the flush that resolves it is scheduled if it was not yet."""
        loop = asyncio.get_running_loop()
        if not self._scheduled:
            self._scheduled = True
            loop.call_soon(self._run)
        return loop.create_future()

    def _run(self) -> None:
        self._scheduled = False
        self._flush()
