"""EndOfPass: items that arrive in one loop pass are flushed together, once."""

from __future__ import annotations

import asyncio

from aimds.server.passes import EndOfPass


def test_one_flush_per_loop_pass() -> None:
    flushed: list[int] = []
    pending: list[asyncio.Future[int]] = []

    def flush() -> None:
        flushed.append(len(pending))
        for i, future in enumerate(pending):
            future.set_result(i)
        pending.clear()

    async def main() -> None:
        group = EndOfPass(flush)
        pending.extend(group.future() for _ in range(3))  # same pass: one flush for all three
        first = list(pending)
        assert await asyncio.gather(*first) == [0, 1, 2]
        pending.append(group.future())  # a later pass schedules a second flush
        assert await pending[0] == 0

    asyncio.run(main())
    assert flushed == [3, 1]
