"""Deadlines of the futures requests wait on: one timer per worker, each future failed on time."""

from __future__ import annotations

import asyncio
import threading
import time

from starlette.testclient import TestClient

from aimds.auth import KeyRing
from aimds.server.app import create_app
from aimds.server.deadlines import Deadlines
from aimds.server.settings import ServerSettings
from aimds.store.sqlite import SQLiteStore
from server_support import make_guard


def test_an_unresolved_future_fails_with_timeout_after_its_deadline() -> None:
    async def main() -> float:
        deadlines = Deadlines(0.05)
        future = deadlines.bound(asyncio.get_running_loop().create_future())
        start = time.monotonic()
        try:
            await future
        except asyncio.TimeoutError:
            return time.monotonic() - start
        raise AssertionError("no timeout")

    assert 0.04 <= asyncio.run(main()) < 1.0


def test_resolved_futures_keep_their_result_and_leave_the_queue() -> None:
    async def main() -> None:
        loop = asyncio.get_running_loop()
        deadlines = Deadlines(0.05)
        for i in range(1000):
            future = deadlines.bound(loop.create_future())
            loop.call_soon(future.set_result, i)
            assert await future == i
        assert len(deadlines) <= 2  # answered ones do not pile up
        await asyncio.sleep(0.1)  # the timer runs over resolved futures only: nothing to fail
        late = deadlines.bound(loop.create_future())
        await asyncio.sleep(0.02)
        assert not late.done()  # its own deadline, not an earlier one's
        try:
            await late
        except asyncio.TimeoutError:
            return
        raise AssertionError("no timeout")

    asyncio.run(main())


def test_later_deadlines_fire_after_earlier_ones_and_each_on_time() -> None:
    async def main() -> list[float]:
        loop = asyncio.get_running_loop()
        deadlines = Deadlines(0.05)
        start = loop.time()
        first = deadlines.bound(loop.create_future())
        await asyncio.sleep(0.03)
        second = deadlines.bound(loop.create_future())
        fired: list[float] = []
        for future in (first, second):
            try:
                await future
            except asyncio.TimeoutError:
                fired.append(loop.time() - start)
        return fired

    first, second = asyncio.run(main())
    assert 0.04 <= first < 0.075 <= second < 1.0


def test_a_new_event_loop_gets_its_own_timer() -> None:
    deadlines = Deadlines(0.03)

    async def one() -> bool:
        future = deadlines.bound(asyncio.get_running_loop().create_future())
        try:
            await future
        except asyncio.TimeoutError:
            return True
        return False

    async def leave_one_pending() -> None:
        deadlines.bound(asyncio.get_running_loop().create_future())

    asyncio.run(leave_one_pending())  # its loop closes with the timer still set
    assert asyncio.run(one())


def test_an_audit_commit_that_hangs_answers_503_in_time_and_the_next_one_works(tmp_path) -> None:
    class SlowCommit(SQLiteStore):
        hang = threading.Event()

        def stage_linked(self, *args, **kwargs):
            seqs, commit = super().stage_linked(*args, **kwargs)

            def slow() -> None:
                if self.hang.is_set():
                    time.sleep(0.6)
                commit()

            return seqs, slow

    store = SlowCommit(tmp_path / "s.db")
    settings = ServerSettings(data_dir=tmp_path, access_log=False, request_timeout_s=0.2)
    key = KeyRing(store).create("checker")[0]
    headers = {"authorization": f"Bearer {key}"}
    with TestClient(create_app(settings, guard=make_guard(), store=store)) as client:
        assert client.post("/v1/check", json={"text": "hello"}, headers=headers).status_code == 200
        SlowCommit.hang.set()
        start = time.monotonic()
        r = client.post("/v1/check", json={"text": "hello again"}, headers=headers)
        assert r.status_code == 503 and r.json()["error"]["code"] == "audit_unavailable"
        assert time.monotonic() - start < 0.55  # the deadline answered, not the commit
        SlowCommit.hang.clear()
        time.sleep(0.6)  # the slow commit finishes
        ok = client.post("/v1/check", json={"text": "and again"}, headers=headers)
        assert ok.status_code == 200 and ok.json()["audit_seq"] == 3  # the late commit did land


def test_a_watched_task_is_cancelled_at_its_deadline_unless_released() -> None:
    """The body read's watch: the task sees CancelledError at the await it waits at, once its deadline
    passed, and can tell it from another cancellation; a released watch cancels nothing."""

    async def main() -> None:
        loop = asyncio.get_running_loop()
        deadlines = Deadlines(0.05)
        outcome: list[object] = []

        async def read(release_after: float | None) -> None:
            watch = deadlines.watch(asyncio.current_task())
            start = loop.time()
            try:
                await asyncio.sleep(release_after if release_after is not None else 5)
            except asyncio.CancelledError:
                outcome.append(("expired" if watch.expired else "cancelled", loop.time() - start))
                return
            finally:
                watch.release()
            await asyncio.sleep(0.1)  # past the deadline: a released watch does not cancel
            outcome.append(("finished", loop.time() - start))

        await asyncio.gather(read(None), read(0.01))
        other = asyncio.ensure_future(read(None))
        await asyncio.sleep(0.01)
        other.cancel()  # someone else's cancellation, before the deadline
        await other
        await asyncio.sleep(0.1)
        kinds = {kind: elapsed for kind, elapsed in outcome}
        assert len(outcome) == 3 and set(kinds) == {"expired", "finished", "cancelled"}
        assert 0.04 <= kinds["expired"] < 1.0 and kinds["finished"] >= 0.11 and kinds["cancelled"] < 0.04
        assert all(item.done() for _, item in deadlines._queue)

    asyncio.run(main())
