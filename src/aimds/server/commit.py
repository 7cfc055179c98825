"""Group commit of audit records (and the verdicts kept with them) for the server's requests.

The verdicts kept for ``GET /v1/verdicts`` go into the records' own transaction (`AuditLog.stage`
and `append` with ``keep``): on SQLite they are written on the loop with the records, so the loop
pays for no key-value transaction of its own (it used to: about 36 us per group plus 15 us per
verdict), the commit thread only commits, and a verdict is acknowledged only once it is as durable
as its record.

A decision is answered only after its audit record is durably committed. Committing each request's
record alone would cost an fsync per request, so records of concurrent requests share one commit.

- `LoopCommitter`, for stores on this host (SQLite, memory): the records of every request handled in
  one event-loop pass are chained and written in one transaction on the loop itself, and only the
  commit (the fsync: 0.1 to 5 ms on the disks we measured) runs in a thread, so the loop checks other
  requests meanwhile; records arriving during a commit form the next group. A writer thread doing
  all of it used to cost two thirds of a check request: each of its hand-offs (queue, every SQLite
  call releasing the GIL, the wake-up back on the loop) could wait a whole GIL switch interval
  behind a request being checked. When another worker process holds the log's write lock, the loop
  does not wait for it: it retries a moment later.
- `ThreadCommitter`, for a remote store (Redis): network round trips stay off the loop, in the
  `AuditWriter` thread, which also stores the verdicts; one loop wake-up resolves a whole commit batch.
"""

from __future__ import annotations

import asyncio
import queue
import threading
from collections.abc import Callable
from typing import Any, Protocol

from aimds.audit import AuditLog, AuditWriter, Done, Keep, keep_all, split_seqs
from aimds.store.errors import StoreBusy, StoreUnavailable

Pending = tuple[list[dict[str, Any]], Keep | None, "asyncio.Future[list[int]]"]
# Retry delays while another process holds the log's write lock: short at first (it commits in a
# fraction of a millisecond), doubling to a cap so a long holder does not make the loop spin.
FIRST_RETRY_S, MAX_RETRY_S = 0.0002, 0.005


class Committer(Protocol):
    running: bool

    def submit(self, entries: list[dict[str, Any]], keep: Keep | None) -> asyncio.Future[list[int]]:
        """Queue records; the future gets their sequence numbers once they (and ``keep(seqs)``) are stored."""
        ...

    def start(self) -> None: ...

    def stop(self) -> None:
        """Store what is queued, then stop."""
        ...


def committer_for(audit: AuditLog, ttl: float | None, remote: bool) -> Committer:
    """``ttl``: how long kept verdicts live."""
    return ThreadCommitter(audit, ttl) if remote else LoopCommitter(audit, ttl)


class LoopCommitter:
    def __init__(self, audit: AuditLog, ttl: float | None) -> None:
        self.audit, self.ttl = audit, ttl
        self.running = False
        self._pending: list[Pending] = []
        self._scheduled: asyncio.Handle | asyncio.TimerHandle | None = None
        self._committing = False
        self._retry_s = FIRST_RETRY_S
        self._fsync = CommitThread()

    def start(self) -> None:
        self.running = True

    def stop(self) -> None:
        """Store what is queued, waiting for locks if it must (the server is shutting down)."""
        self.running = False
        if self._scheduled is not None:
            self._scheduled.cancel()
            self._scheduled = None
        self._fsync.shutdown()  # an in-flight commit finishes; its callback may never run
        self._committing = False
        batch = [item for item in self._pending if not item[2].done()]
        self._pending = []
        if batch:
            try:
                seqs = self.audit.append([entry for entries, _, _ in batch for entry in entries], _keep(batch), self.ttl)
            except Exception as exc:  # noqa: BLE001
                _fail(batch, exc)
                return
            self._resolve(batch, seqs)

    def submit(self, entries: list[dict[str, Any]], keep: Keep | None) -> asyncio.Future[list[int]]:
        loop = asyncio.get_running_loop()
        future: asyncio.Future[list[int]] = loop.create_future()
        self._pending.append((entries, keep, future))
        if self._scheduled is None and not self._committing:
            self._scheduled = loop.call_soon(self._flush)
        return future

    def _flush(self) -> None:
        self._scheduled = None
        # A request that timed out meanwhile was answered with an error: its record is not written.
        batch = [item for item in self._pending if not item[2].done()]
        self._pending = []
        if not batch:
            return
        loop = asyncio.get_running_loop()
        try:
            seqs, commit = self.audit.stage([entry for entries, _, _ in batch for entry in entries], _keep(batch), self.ttl)
        except StoreBusy:
            self._pending = batch + self._pending
            self._scheduled = loop.call_later(self._retry_s, self._flush)
            self._retry_s = min(self._retry_s * 2, MAX_RETRY_S)
            return
        except Exception as exc:  # noqa: BLE001 - every waiting request must learn the write failed
            _fail(batch, exc)
            return
        self._retry_s = FIRST_RETRY_S
        if commit is None:
            self._resolve(batch, seqs)
            return
        self._committing = True
        self._fsync.run(loop, commit, lambda error: self._committed(error, batch, seqs))

    def _committed(self, error: BaseException | None, batch: list[Pending], seqs: list[int]) -> None:
        self._committing = False
        if self._pending and self._scheduled is None:
            self._scheduled = asyncio.get_running_loop().call_soon(self._flush)
        if error is not None:
            _fail(batch, error)
            return
        self._resolve(batch, seqs)

    def _resolve(self, batch: list[Pending], seqs: list[int]) -> None:
        for (_, _, future), own in zip(batch, split_seqs(seqs, [len(entries) for entries, _, _ in batch])):
            if not future.done():
                future.set_result(own)


class CommitThread:
    """One thread that runs the commits handed to it, in order, and reports each back on its loop.

    `run_in_executor` cost 110-150 µs of CPU per hand-off on this 2-core machine (a no-op function,
    uvloop, measured), about half of it the executor's own machinery (its locks, its future, the work
    item, the asyncio future chained to it); a queue and one `call_soon_threadsafe` 50-90 µs. A group
    commit pays one hand-off, so a small group (low concurrency) paid it almost whole per request."""

    def __init__(self) -> None:
        self._queue: queue.SimpleQueue[tuple[asyncio.AbstractEventLoop, Callable[[], None],
                                             Callable[[BaseException | None], None]] | None] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    def run(self, loop: asyncio.AbstractEventLoop, work: Callable[[], None],
            done: Callable[[BaseException | None], None]) -> None:
        """Run ``work`` on the thread; then ``done(error or None)`` on ``loop``."""
        with self._lock:
            if self._thread is None:
                self._thread = threading.Thread(target=self._serve, name="aimds-audit-commit", daemon=True)
                self._thread.start()
            self._queue.put((loop, work, done))

    def shutdown(self) -> None:
        """Wait for the work handed over so far; a later `run` starts a new thread."""
        with self._lock:
            thread, self._thread = self._thread, None
            if thread is not None:
                self._queue.put(None)
        if thread is not None:
            thread.join()

    def _serve(self) -> None:
        while (item := self._queue.get()) is not None:
            loop, work, done = item
            error: BaseException | None = None
            try:
                work()
            except BaseException as exc:  # noqa: BLE001 - the waiting requests must learn the commit failed
                error = exc
            try:
                loop.call_soon_threadsafe(done, error)
            except RuntimeError:  # the loop is closed: nobody waits any more
                pass


def _keep(batch: list[Pending]) -> Keep | None:
    return keep_all([(len(entries), keep) for entries, keep, _ in batch])


def _fail(batch: list[Pending], exc: BaseException) -> None:
    for _, _, future in batch:
        if not future.done():
            future.set_exception(exc)


class ThreadCommitter:
    def __init__(self, audit: AuditLog, ttl: float | None) -> None:
        self.writer = AuditWriter(audit, keep_ttl=ttl)
        self._waker: _LoopWaker | None = None

    @property
    def running(self) -> bool:
        return self.writer.running

    def start(self) -> None:
        self.writer.start()

    def stop(self) -> None:
        self.writer.close()

    def submit(self, entries: list[dict[str, Any]], keep: Keep | None) -> asyncio.Future[list[int]]:
        loop = asyncio.get_running_loop()
        future: asyncio.Future[list[int]] = loop.create_future()
        waker = self._waker
        if waker is None or waker.loop is not loop:
            waker = self._waker = _LoopWaker(loop)
        self.writer.submit_many(entries, waker.resolver(future), keep)
        return future


class _LoopWaker:
    """Resolves asyncio futures from the writer thread with one event-loop wake-up per commit batch,
    not one per request."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self._ready: list[tuple[asyncio.Future[list[int]], list[int] | None, BaseException | None]] = []
        self._lock = threading.Lock()

    def resolver(self, future: asyncio.Future[list[int]]) -> Done:
        def done(seqs: list[int] | None, error: BaseException | None) -> None:
            with self._lock:
                self._ready.append((future, seqs, error))
                first = len(self._ready) == 1
            if first:
                self.loop.call_soon_threadsafe(self._drain)

        return done

    def _drain(self) -> None:
        with self._lock:
            ready, self._ready = self._ready, []
        for future, seqs, error in ready:
            if future.done():  # the request timed out meanwhile
                continue
            if error is not None:
                future.set_exception(error)
            else:
                future.set_result(seqs or [])
