"""Group commit of audit records on the event loop (local stores) and through the writer thread (remote)."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path

import pytest

from aimds.audit import AuditLog
from aimds.server.commit import CommitThread, LoopCommitter, ThreadCommitter
from aimds.store.errors import StoreBusy, StoreUnavailable
from aimds.store.memory import MemoryStore
from aimds.store.sqlite import SQLiteStore


def entry(i: int) -> dict[str, object]:
    return {"event": "check", "ts": float(i), "actor": "k1", "action": "allow"}


def test_sqlite_staged_append_is_durable_only_after_its_commit(tmp_path: Path) -> None:
    store = SQLiteStore(tmp_path / "s.db")
    log = AuditLog(store)
    other = sqlite3.connect(tmp_path / "s.db", isolation_level=None)
    other.execute("BEGIN IMMEDIATE")
    with pytest.raises(StoreBusy):  # another process is writing: no waiting
        log.stage([entry(1)])
    other.execute("COMMIT")
    seqs, commit = log.stage([entry(1), entry(2)])
    assert seqs == [1, 2]
    with pytest.raises(StoreBusy):  # one staged transaction at a time
        log.stage([entry(3)])
    assert other.execute("SELECT count(*) FROM log").fetchone()[0] == 0  # not visible before the commit
    commit()
    assert other.execute("SELECT count(*) FROM log").fetchone()[0] == 2
    assert log.stage([entry(3)])[0] == [3]


def test_loop_commit_groups_requests_and_waits_out_another_writer(tmp_path: Path) -> None:
    store = SQLiteStore(tmp_path / "s.db")
    log = AuditLog(store)
    committer = LoopCommitter(log, ttl=60)
    committer.start()
    other = sqlite3.connect(tmp_path / "s.db", isolation_level=None)

    async def scenario() -> list[list[int]]:
        other.execute("BEGIN IMMEDIATE")  # another worker process is writing
        futures = [committer.submit([entry(i)], lambda seqs, i=i: [(f"verdict:{i}", str(seqs).encode())])
                   for i in range(5)]
        await asyncio.sleep(0.05)
        assert not any(f.done() for f in futures)  # nothing is acknowledged before it is durable
        other.execute("COMMIT")
        return await asyncio.wait_for(asyncio.gather(*futures), 5)

    seqs = asyncio.run(scenario())
    assert seqs == [[1], [2], [3], [4], [5]]
    assert log.kept("verdict:3") == b"[4]"
    assert store.get("verdict:3") is None  # kept in the log's file, in the records' own transaction
    assert log.verify().ok and log.verify().records == 5
    committer.stop()


def test_loop_commit_skips_requests_that_gave_up_and_reports_failures() -> None:
    store = MemoryStore()
    log = AuditLog(store)
    committer = LoopCommitter(log, ttl=None)

    async def gave_up() -> list[int]:
        dropped = committer.submit([entry(0)], None)
        dropped.cancel()  # its request timed out and was answered with an error
        return await committer.submit([entry(1)], None)

    assert asyncio.run(gave_up()) == [1]
    assert [r["ts"] for r in log.records()] == [1.0]

    class Down(MemoryStore):
        def append_linked(self, *args: object, **kwargs: object) -> list[int]:
            raise StoreUnavailable("down")

    broken = LoopCommitter(AuditLog(Down()), ttl=None)

    async def fails() -> list[BaseException | list[int]]:
        return await asyncio.gather(broken.submit([entry(1)], None), broken.submit([entry(2)], None),
                                    return_exceptions=True)

    assert all(isinstance(r, StoreUnavailable) for r in asyncio.run(fails()))


def test_stop_writes_what_is_queued(tmp_path: Path) -> None:
    store = SQLiteStore(tmp_path / "s.db")
    log = AuditLog(store)
    committer = LoopCommitter(log, ttl=None)

    async def queue_then_stop() -> None:
        committer.submit([entry(1), entry(2)], None)
        committer.stop()  # before the loop got to the scheduled flush

    asyncio.run(queue_then_stop())
    assert log.verify().records == 2


def test_thread_commit_resolves_on_the_loop() -> None:
    store = MemoryStore()
    committer = ThreadCommitter(AuditLog(store), ttl=None)

    async def run() -> list[list[int]]:
        return await asyncio.wait_for(asyncio.gather(*(committer.submit([entry(i)], None) for i in range(3))), 5)

    assert sorted(asyncio.run(run())) == [[1], [2], [3]]
    committer.stop()


def test_commit_thread_runs_work_in_order_and_reports_each_outcome_on_the_loop() -> None:
    async def main() -> tuple[list[int], list[object], bool]:
        loop = asyncio.get_running_loop()
        thread, ran, reported = CommitThread(), [], []
        finished = loop.create_future()
        on_loop = []

        def work(i: int):  # noqa: ANN202
            def run() -> None:
                ran.append(i)
                if i == 2:
                    raise StoreUnavailable("disk gone")
            return run

        def done(i: int):  # noqa: ANN202
            def report(error: BaseException | None) -> None:
                on_loop.append(asyncio.get_running_loop() is loop)
                reported.append((i, type(error).__name__ if error else None))
                if i == 3:
                    finished.set_result(None)
            return report

        for i in range(4):
            thread.run(loop, work(i), done(i))
        await finished
        thread.shutdown()
        return ran, reported, all(on_loop)

    ran, reported, on_loop = asyncio.run(main())
    assert ran == [0, 1, 2, 3] and on_loop
    assert reported == [(0, None), (1, None), (2, "StoreUnavailable"), (3, None)]


def test_commit_thread_shutdown_waits_for_work_handed_over_and_can_start_again() -> None:
    import threading
    import time

    thread, ran = CommitThread(), []

    async def hand_over() -> None:
        thread.run(asyncio.get_running_loop(), lambda: (time.sleep(0.1), ran.append("slow")), lambda error: None)

    asyncio.run(hand_over())  # its loop is closed before the work reports back: the thread goes on
    thread.shutdown()
    assert ran == ["slow"]
    assert not [t for t in threading.enumerate() if t.name == "aimds-audit-commit"]

    async def again() -> None:
        done = asyncio.get_running_loop().create_future()
        thread.run(asyncio.get_running_loop(), lambda: ran.append("again"), done.set_result)
        assert await done is None

    asyncio.run(again())
    thread.shutdown()
    assert ran == ["slow", "again"]
