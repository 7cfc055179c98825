"""SQLite store: files shared safely by every worker process on one host.

Two database files, so that they have separate write locks: the append-only log (``<name>.db``)
commits with ``synchronous=FULL`` so a record acknowledged to a client survives ``kill -9`` and power
loss; values, counters and token buckets (``<name>-kv.db``) use ``synchronous=NORMAL`` (still
crash-safe in WAL mode, may lose the last moments on power loss). A rate-limit check therefore never
waits behind an audit fsync, and takes all of a request's buckets in one statement.

The key-value file's write-ahead log is checkpointed by the store's own thread, never by the call that
writes: SQLite's automatic checkpoint runs inside the committing call, and on the server's event loop
that stalled every request for about 5 ms every few hundred writes. Every `CHECKPOINT_EVERY` write
transactions the thread runs a PASSIVE checkpoint (it waits for nobody, and nobody waits for it); once
a checkpoint has copied every page, the next write starts the log file from its beginning again. Should
passive checkpoints keep losing the race against writers (other worker processes write too) and the
log pass `WAL_CAP_PAGES`, the thread runs a RESTART checkpoint, which waits for the writers and makes
the next write start the log over; writers that still outrun it wait for it (see `_kv_written`). The
log stays bounded whoever writes, and `journal_size_limit` gives the space back.

Values kept with log records (the server's verdicts for ``GET /v1/verdicts``) live in the log's file,
table ``kept_hashed``, and are written in the records' own transaction: as durable as the records, and
without a key-value transaction of their own (see `stage_linked`). Their rows
are appended in the order they are kept, found by an index on a 32-bit hash (CRC-32) of the key; the
newest row of the key wins. Keyed by the (random) verdict id itself, as table ``kept`` was, every value
landed on a random page of a table of rows of 400 bytes (2x the CPU per value); a unique index on the
40-character key (table ``kept_rows``) still put each value on a random page of a wide index: the
hash's index entries are a quarter as wide, so a commit dirties fewer of its pages (CPU per value
with 40,000 values of 364 bytes: 57-64 against 43-51 us at 8 per transaction, 27-29 against 19-20 us
at 128; no index at all 25-31 and 9 us). Values in ``kept_rows`` and ``kept`` (earlier versions) are still found
and purged.
"""

from __future__ import annotations

import logging
import os
import sqlite3
import threading
import time
import zlib
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path

from aimds.store.errors import StoreBusy, StoreUnavailable

Link = Callable[[bytes | None, int, bytes], bytes]
Commit = Callable[[], None]
Keep = Callable[[list[int]], list[tuple[str, bytes]]]

_KV_SCHEMA = """
CREATE TABLE IF NOT EXISTS kv (key TEXT PRIMARY KEY, value BLOB NOT NULL, expires REAL) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS bucket (key TEXT PRIMARY KEY, tokens REAL NOT NULL, last REAL NOT NULL,
                                   full_at REAL NOT NULL, rate REAL NOT NULL, burst REAL NOT NULL,
                                   cost REAL NOT NULL, ok INTEGER NOT NULL) WITHOUT ROWID;
"""
_LOG_SCHEMA = """
CREATE TABLE IF NOT EXISTS log (stream TEXT NOT NULL, seq INTEGER NOT NULL, record BLOB NOT NULL,
                                PRIMARY KEY (stream, seq)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS kept (key TEXT PRIMARY KEY, value BLOB NOT NULL, expires REAL) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS kept_expiry ON kept (expires) WHERE expires IS NOT NULL;
CREATE TABLE IF NOT EXISTS kept_rows (key TEXT NOT NULL, value BLOB NOT NULL, expires REAL);
CREATE UNIQUE INDEX IF NOT EXISTS kept_rows_key ON kept_rows (key);
CREATE INDEX IF NOT EXISTS kept_rows_expiry ON kept_rows (expires) WHERE expires IS NOT NULL;
CREATE TABLE IF NOT EXISTS kept_hashed (h INTEGER NOT NULL, key TEXT NOT NULL, value BLOB NOT NULL, expires REAL);
CREATE INDEX IF NOT EXISTS kept_hashed_h ON kept_hashed (h);
CREATE INDEX IF NOT EXISTS kept_hashed_expiry ON kept_hashed (expires) WHERE expires IS NOT NULL;
"""
# Tables of kept values, newest layout first: reads look in each (the first that has the key wins),
# purges clean each. A key appears once in the older two; in ``kept_hashed`` its newest row wins.
_KEPT_LOOKUPS = (
    ("kept_hashed", "SELECT value, expires FROM kept_hashed WHERE h = ? AND key = ? ORDER BY rowid DESC LIMIT 1"),
    ("kept_rows", "SELECT value, expires FROM kept_rows WHERE key = ?"),
    ("kept", "SELECT value, expires FROM kept WHERE key = ?"),
)
_KEPT_PURGES = (
    "DELETE FROM kept_hashed WHERE rowid IN (SELECT rowid FROM kept_hashed WHERE expires <= ? LIMIT ?)",
    "DELETE FROM kept_rows WHERE rowid IN (SELECT rowid FROM kept_rows WHERE expires <= ? LIMIT ?)",
    "DELETE FROM kept WHERE key IN (SELECT key FROM kept WHERE expires <= ? LIMIT ?)",
)
# Token bucket as one UPSERT: a new row starts full less the cost; an existing one refills by the time
# since `last`, then pays `cost` if it can (`ok`). SET expressions all see the row as it was.
_REFILLED = "min(excluded.burst, bucket.tokens + max(0.0, excluded.last - bucket.last) * excluded.rate)"
_TAKE = f"""
INSERT INTO bucket (key, tokens, last, full_at, rate, burst, cost, ok) VALUES {{rows}}
ON CONFLICT (key) DO UPDATE SET
  tokens = CASE WHEN {_REFILLED} >= excluded.cost THEN {_REFILLED} - excluded.cost ELSE {_REFILLED} END,
  ok = {_REFILLED} >= excluded.cost,
  full_at = excluded.last + (excluded.burst - {_REFILLED} + excluded.cost) / excluded.rate,
  last = excluded.last, rate = excluded.rate, burst = excluded.burst, cost = excluded.cost
RETURNING key, ok, tokens
"""
_PURGE_EVERY = 10_000
# Expired kept values are deleted every this many keeping transactions, at most this many at once
# beyond twice what was kept since (so purging keeps pace with keeping and never holds the lock long).
_PURGE_KEPT_EVERY, _PURGE_KEPT_MIN = 32, 1000
CHECKPOINT_EVERY = 64  # key-value write transactions between passive checkpoints
WAL_CAP_PAGES = 4000  # about 16 MB of log: past it the checkpoint waits for writers (RESTART)
_RESTART_WAIT_MS = 20
_CAP_ROUNDS = 3
log = logging.getLogger("aimds.store")
_INSERT_PARAMS = 960  # parameters per statement, below SQLite's limit (999 before 3.32)


class SQLiteStore:
    def __init__(self, path: str | os.PathLike[str], clock: Callable[[], float] = time.time,
                 checkpoint_every: int = CHECKPOINT_EVERY, wal_cap_pages: int = WAL_CAP_PAGES) -> None:
        self.path = Path(path)
        self._clock = clock
        self.kv_path = self.path.with_name(f"{self.path.stem}-kv{self.path.suffix}")
        self._kv_wal = f"{self.kv_path}-wal"
        self._checkpoint_every, self._wal_cap_pages = checkpoint_every, wal_cap_pages
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._kv = self._connect(self.kv_path, "NORMAL")
            self._kv.executescript(_KV_SCHEMA)
            self._kv.execute("PRAGMA wal_autocheckpoint=0")  # the checkpoint thread does it
            # A RESTART checkpoint waits for other processes' writers at most this long, then gives up
            # until the next round: their writes wait for it meanwhile.
            self._kv_checkpoints = self._connect(self.kv_path, "NORMAL", busy_ms=_RESTART_WAIT_MS)
            self._page_size = self._kv.execute("PRAGMA page_size").fetchone()[0]
            # A log started over is cut back to half the cap, so its file size tells how far it grew since.
            self._kv.execute(f"PRAGMA journal_size_limit={wal_cap_pages * (self._page_size + 24) // 2}")
            self._log = self._connect(self.path, "FULL")
            self._log.executescript(_LOG_SCHEMA)
            # Staged appends come from an event loop, which must never sleep in SQLite's busy handler:
            # on this connection a held write lock is an immediate StoreBusy, and the caller retries.
            self._log_staged = self._connect(self.path, "FULL", busy_ms=0)
        except (OSError, sqlite3.Error) as exc:
            raise StoreUnavailable(f"cannot open SQLite store {self.path.name}: {exc}") from exc
        self._kv_lock = threading.Lock()
        self._log_lock = threading.Lock()
        self._stage_lock = threading.Lock()
        self._writes = 0
        self._kv_txns = 0
        self._keeps, self._kept_since_purge = 0, 0
        self._ckpt_lock = threading.Lock()
        self._checkpoint_done: Future[tuple[int, int]] | None = None
        self._checkpointer = ThreadPoolExecutor(max_workers=1, thread_name_prefix="aimds-kv-checkpoint")

    @staticmethod
    def _connect(path: Path, synchronous: str, busy_ms: int = 10_000) -> sqlite3.Connection:
        conn = sqlite3.connect(path, timeout=busy_ms / 1000, isolation_level=None, check_same_thread=False)
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute(f"PRAGMA synchronous={synchronous}")
        conn.execute(f"PRAGMA busy_timeout={busy_ms}")
        return conn

    @contextmanager
    def _tx(self, conn: sqlite3.Connection, lock: threading.Lock) -> Iterator[sqlite3.Connection]:
        """An IMMEDIATE transaction: takes the write lock up front so concurrent workers queue, not deadlock."""
        with lock:
            try:
                conn.execute("BEGIN IMMEDIATE")
                try:
                    yield conn
                except BaseException:
                    conn.execute("ROLLBACK")
                    raise
                conn.execute("COMMIT")
            except sqlite3.Error as exc:
                raise StoreUnavailable(f"SQLite store error: {exc}") from exc
        if conn is self._kv:
            self._kv_written()

    def get(self, key: str) -> bytes | None:
        with self._kv_lock:
            try:
                row = self._kv.execute("SELECT value, expires FROM kv WHERE key = ?", (key,)).fetchone()
            except sqlite3.Error as exc:
                raise StoreUnavailable(f"SQLite store error: {exc}") from exc
        if row is None or (row[1] is not None and row[1] <= self._clock()):
            return None
        return bytes(row[0])

    def set(self, key: str, value: bytes, ttl: float | None = None) -> None:
        expires = self._clock() + ttl if ttl else None
        with self._tx(self._kv, self._kv_lock) as db:
            db.execute("INSERT OR REPLACE INTO kv VALUES (?, ?, ?)", (key, bytes(value), expires))
            self._maybe_purge(db)

    def set_many(self, items: list[tuple[str, bytes]], ttl: float | None = None) -> None:
        """Many values in one transaction: one lock round instead of one per value."""
        expires = self._clock() + ttl if ttl else None
        latest = {k: bytes(v) for k, v in items}  # one row per key in a statement: the last value wins
        rows: list[object] = [x for k, v in latest.items() for x in (k, v, expires)]
        with self._tx(self._kv, self._kv_lock) as db:
            _insert_rows(db, "INSERT OR REPLACE INTO kv VALUES ", rows)
            self._maybe_purge(db)

    def delete(self, key: str) -> bool:
        with self._tx(self._kv, self._kv_lock) as db:
            row = db.execute("DELETE FROM kv WHERE key = ? RETURNING expires", (key,)).fetchone()
        return row is not None and (row[0] is None or row[0] > self._clock())

    def incr(self, key: str, amount: int = 1, ttl: float | None = None) -> int:
        now = self._clock()
        with self._tx(self._kv, self._kv_lock) as db:
            row = db.execute("SELECT value, expires FROM kv WHERE key = ?", (key,)).fetchone()
            if row is None or (row[1] is not None and row[1] <= now):
                total, expires = amount, (now + ttl if ttl else None)
            else:
                total, expires = int(row[0]) + amount, row[1]
            db.execute("INSERT OR REPLACE INTO kv VALUES (?, ?, ?)", (key, str(total).encode(), expires))
        return total

    def append(self, stream: str, record: bytes) -> int:
        return self.append_linked(stream, [record], lambda _prev, _seq, payload: payload)[0]

    def append_linked(self, stream: str, payloads: list[bytes], link: Link, keep: Keep | None = None,
                      ttl: float | None = None) -> list[int]:
        """Append records each built from its predecessor, in one durable transaction; with ``keep``,
        also the values ``keep(seqs)`` returns (read with `get_kept`)."""
        with self._tx(self._log, self._log_lock) as db:
            seqs = self._append(db, stream, payloads, link)
            if keep is not None:
                self._keep(db, keep(seqs), ttl)
            return seqs

    def stage_linked(self, stream: str, payloads: list[bytes], link: Link, keep: Keep | None = None,
                     ttl: float | None = None) -> tuple[list[int], Commit]:
        """`append_linked` in two steps, for a caller that must not wait: write the records in an open
        transaction now (`StoreBusy` at once if another writer holds the lock), and return their
        sequence numbers with the ``commit`` that makes them durable (the fsync), to be run where
        waiting is cheap. Until it has run, the next stage gets `StoreBusy`. The values ``keep(seqs)``
        returns are written now too, in the same transaction, so they are exactly as durable as the
        records, and ``commit`` only commits: written by the committing thread, each of its SQLite
        calls took the GIL back from a busy event loop. One worker under ``wrk -c32``, five pairs:
        the thread 64-85 us of CPU per check before, 43-53 us now; the loop's share within noise."""
        if not self._stage_lock.acquire(blocking=False):
            raise StoreBusy("the previous staged append is still being committed")
        db = self._log_staged
        try:
            try:
                db.execute("BEGIN IMMEDIATE")
            except sqlite3.OperationalError as exc:
                if "locked" in str(exc) or "busy" in str(exc):
                    raise StoreBusy("the audit log is being written by another process") from exc
                raise
            try:
                seqs = self._append(db, stream, payloads, link)
                if keep is not None:
                    self._keep(db, keep(seqs), ttl)
            except BaseException:
                db.execute("ROLLBACK")
                raise
        except sqlite3.Error as exc:
            self._stage_lock.release()
            raise StoreUnavailable(f"SQLite store error: {exc}") from exc
        except BaseException:
            self._stage_lock.release()
            raise

        def commit() -> None:
            try:
                db.execute("COMMIT")
            except sqlite3.Error as exc:
                if db.in_transaction:
                    db.execute("ROLLBACK")
                raise StoreUnavailable(f"SQLite store error: {exc}") from exc
            finally:
                self._stage_lock.release()

        return seqs, commit

    def _keep(self, db: sqlite3.Connection, items: list[tuple[str, bytes]], ttl: float | None) -> None:
        """Write kept values in the log transaction ``db`` has open; now and then drop expired ones."""
        if not items:
            return
        now = self._clock()
        expires = now + ttl if ttl else None
        _insert_rows(db, "INSERT INTO kept_hashed (h, key, value, expires) VALUES ",
                     [x for k, v in items for x in (_kept_hash(k), k, bytes(v), expires)], 4)
        self._keeps += 1
        self._kept_since_purge += len(items)
        if self._keeps % _PURGE_KEPT_EVERY == 0:
            limit, self._kept_since_purge = max(_PURGE_KEPT_MIN, 2 * self._kept_since_purge), 0
            for purge in _KEPT_PURGES:
                db.execute(purge, (now, limit))

    def get_kept(self, key: str) -> bytes | None:
        """A value kept with log records; else one set with `set` (as versions before `kept` did)."""
        row = None
        with self._log_lock:
            try:
                for table, lookup in _KEPT_LOOKUPS:
                    params = (_kept_hash(key), key) if table == "kept_hashed" else (key,)
                    row = self._log.execute(lookup, params).fetchone()
                    if row is not None:
                        break
            except sqlite3.Error as exc:
                raise StoreUnavailable(f"SQLite store error: {exc}") from exc
        if row is None:
            return self.get(key)
        if row[1] is not None and row[1] <= self._clock():
            return None
        return bytes(row[0])

    @staticmethod
    def _append(db: sqlite3.Connection, stream: str, payloads: list[bytes], link: Link) -> list[int]:
        row = db.execute("SELECT seq, record FROM log WHERE stream = ? ORDER BY seq DESC LIMIT 1", (stream,)).fetchone()
        seq, prev = (row[0], bytes(row[1])) if row else (0, None)
        rows: list[object] = []
        seqs = []
        for payload in payloads:
            seq += 1
            prev = link(prev, seq, payload)
            rows += (stream, seq, prev)
            seqs.append(seq)
        _insert_rows(db, "INSERT INTO log VALUES ", rows)
        return seqs

    def read(self, stream: str, after: int = 0, limit: int = 1000) -> list[tuple[int, bytes]]:
        with self._log_lock:
            try:
                rows = self._log.execute(
                    "SELECT seq, record FROM log WHERE stream = ? AND seq > ? ORDER BY seq LIMIT ?",
                    (stream, after, limit),
                ).fetchall()
            except sqlite3.Error as exc:
                raise StoreUnavailable(f"SQLite store error: {exc}") from exc
        return [(seq, bytes(rec)) for seq, rec in rows]

    def take_tokens(self, key: str, rate: float, burst: float, cost: float = 1.0) -> tuple[bool, float]:
        return self.take_tokens_many([(key, rate, burst, cost)])[0]

    def take_tokens_many(self, buckets: list[tuple[str, float, float, float]]) -> list[tuple[bool, float]]:
        """Several buckets (key, rate, burst, cost) in one statement, atomic across processes, with the
        answers taking them one after the other would give. A key listed more than once (many
        requests from one client) is taken once for the sum of its costs; only if that is refused
        are its takes replayed one by one, so the first ones still get the tokens left."""
        combined: dict[str, tuple[float, float, float]] = {}
        for key, rate, burst, cost in buckets:
            if rate <= 0 or burst <= 0:
                raise ValueError("token bucket needs a positive rate and burst")
            total = combined[key][2] + cost if key in combined else cost
            combined[key] = (rate, burst, total)
        if len(combined) == len(buckets):
            return self._take_distinct(buckets)
        taken = self._take_distinct([(key, *spec) for key, spec in combined.items()])
        allowed = {key for key, (ok, _) in zip(combined, taken) if ok}
        return [(True, 0.0) if key in allowed else self._take_distinct([(key, rate, burst, cost)])[0]
                for key, rate, burst, cost in buckets]

    def _take_distinct(self, buckets: list[tuple[str, float, float, float]]) -> list[tuple[bool, float]]:
        now = self._clock()
        params: list[object] = []
        for key, rate, burst, cost in buckets:
            ok = burst >= cost
            tokens = burst - cost if ok else burst
            params += (key, tokens, now, now + (burst - tokens) / rate, rate, burst, cost, ok)
        sql = _TAKE.format(rows=", ".join(["(?, ?, ?, ?, ?, ?, ?, ?)"] * len(buckets)))
        with self._kv_lock:
            try:
                rows = {key: (bool(ok), tokens) for key, ok, tokens in self._kv.execute(sql, params).fetchall()}
                self._writes += 1
                if self._writes % _PURGE_EVERY == 0:
                    self._purge(self._kv)
            except sqlite3.Error as exc:
                raise StoreUnavailable(f"SQLite store error: {exc}") from exc
        self._kv_written()
        out = []
        for key, rate, _, cost in buckets:
            ok, tokens = rows[key]
            out.append((ok, 0.0 if ok else (cost - tokens) / rate))
        return out

    def _kv_written(self) -> None:
        """Count a key-value write transaction; every `checkpoint_every`, hand a checkpoint to the thread.
        Once the log has passed `wal_cap_pages` (writers outrunning the thread, or other processes'
        writes keeping its checkpoints from finishing), the writer waits for checkpoints until it is
        back under (a few rounds at most): back-pressure, where the alternative is a log that grows
        without end."""
        self._kv_txns += 1
        if self._kv_txns % self._checkpoint_every:
            return
        for _ in range(_CAP_ROUNDS):
            running = self._checkpoint_done
            if running is None or running.done():
                try:
                    running = self._checkpoint_done = self._checkpointer.submit(self.checkpoint)
                except RuntimeError:  # closed
                    return
            if self._wal_pages() < self._wal_cap_pages:
                return
            running.result()

    def checkpoint(self) -> tuple[int, int]:
        """Checkpoint the key-value log; returns (pages in the log, pages copied). Runs on the store's
        thread (blocking callers may call it too): first a PASSIVE checkpoint, which copies the bulk
        of the log while others go on writing; then, holding this store's key-value lock so that no
        write of this process can slip in, a second one, which copies the few pages written meanwhile
        (RESTART instead once the log has passed `WAL_CAP_PAGES`: it also waits for other processes'
        writers). Either way the log is then copied in full, and the next write starts it over."""
        try:
            with self._ckpt_lock:
                self._kv_checkpoints.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
                with self._kv_lock:
                    mode = "RESTART" if self._wal_pages() >= self._wal_cap_pages else "PASSIVE"
                    _, pages, copied = self._kv_checkpoints.execute(f"PRAGMA wal_checkpoint({mode})").fetchone()
            return pages, copied
        except sqlite3.Error as exc:  # busy or closed: the next one tries again
            log.warning("key-value checkpoint failed", extra={"error": str(exc)})
            return -1, -1

    def _wal_pages(self) -> int:
        """Pages in the key-value log file: above half the cap, the pages written since it started over."""
        try:
            return max(0, os.path.getsize(self._kv_wal) - 32) // (self._page_size + 24)
        except OSError:
            return 0

    def _maybe_purge(self, db: sqlite3.Connection) -> None:
        """Drop expired values and refilled buckets now and then, so the file does not grow without bound."""
        self._writes += 1
        if self._writes % _PURGE_EVERY == 0:
            self._purge(db)

    def _purge(self, db: sqlite3.Connection) -> None:
        now = self._clock()
        db.execute("DELETE FROM kv WHERE expires IS NOT NULL AND expires <= ?", (now,))
        db.execute("DELETE FROM bucket WHERE full_at <= ?", (now,))

    def ping(self) -> bool:
        try:
            with self._kv_lock:
                self._kv.execute("SELECT 1").fetchone()
            return True
        except sqlite3.Error:
            return False

    def close(self) -> None:
        self._checkpointer.shutdown(wait=True)
        with self._kv_lock, self._log_lock, self._stage_lock, self._ckpt_lock:
            self._kv_checkpoints.close()
            self._kv.close()
            self._log.close()
            self._log_staged.close()


def _insert_rows(db: sqlite3.Connection, insert: str, params: list[object], columns: int = 3) -> None:
    """Rows of ``columns`` columns as few multi-row INSERTs. ``executemany`` releases and retakes the GIL
    for every row, and each retake can wait a whole switch interval behind a thread that is checking text."""
    step = _INSERT_PARAMS // columns * columns
    row = "(" + ", ".join(["?"] * columns) + ")"
    for start in range(0, len(params), step):
        part = params[start:start + step]
        db.execute(insert + ", ".join([row] * (len(part) // columns)), part)


def _kept_hash(key: str) -> int:
    """What ``kept_hashed`` indexes a key by. Keys that share it are told apart by the key itself."""
    return zlib.crc32(key.encode("utf-8", "surrogatepass"))
