"""One behavioural suite run against every store: memory, SQLite and a real redis-server."""

from __future__ import annotations

import threading
import time
import uuid

import pytest

from aimds.errors import ConfigError
from aimds.store import MemoryStore, SQLiteStore, Store, StoreUnavailable, open_store
from aimds.store.redis_store import RedisStore
from redis_fixture import RedisServer, free_port, redis_server  # noqa: F401

BACKENDS = ["memory", "sqlite", "redis"]


@pytest.fixture(params=BACKENDS)
def store(request: pytest.FixtureRequest, tmp_path) -> Store:
    if request.param == "memory":
        s: Store = MemoryStore()
    elif request.param == "sqlite":
        s = SQLiteStore(tmp_path / "state.db")
    else:
        server: RedisServer = request.getfixturevalue("redis_server")
        s = RedisStore(server.url, prefix=f"t{uuid.uuid4().hex}:")
    yield s
    s.close()


def test_conforms_to_protocol(store: Store) -> None:
    assert isinstance(store, Store)
    assert store.ping()


def test_get_set_delete(store: Store) -> None:
    assert store.get("a") is None
    store.set("a", b"\x00one")
    assert store.get("a") == b"\x00one"
    store.set("a", b"two")
    assert store.get("a") == b"two"
    assert store.delete("a") is True
    assert store.delete("a") is False
    assert store.get("a") is None


def test_ttl_expires(store: Store) -> None:
    store.set("short", b"x", ttl=0.15)
    store.set("long", b"y", ttl=60)
    assert store.get("short") == b"x"
    time.sleep(0.3)
    assert store.get("short") is None
    assert store.get("long") == b"y"


def test_incr_counts_and_expires(store: Store) -> None:
    assert store.incr("n") == 1
    assert store.incr("n", 5) == 6
    assert store.incr("n", -2) == 4
    assert store.get("n") == b"4"
    assert store.incr("t", ttl=0.15) == 1
    assert store.incr("t", ttl=0.15) == 2
    time.sleep(0.3)
    assert store.incr("t", ttl=0.15) == 1


def test_incr_is_atomic_under_threads(store: Store) -> None:
    def work() -> None:
        for _ in range(50):
            store.incr("c")

    threads = [threading.Thread(target=work) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert store.incr("c", 0) == 200


def test_append_and_read_in_order(store: Store) -> None:
    assert store.read("log") == []
    seqs = [store.append("log", f"r{i}".encode()) for i in range(1, 6)]
    assert seqs == [1, 2, 3, 4, 5]
    assert store.read("log") == [(i, f"r{i}".encode()) for i in range(1, 6)]
    assert store.read("log", after=3) == [(4, b"r4"), (5, b"r5")]
    assert store.read("log", after=1, limit=2) == [(2, b"r2"), (3, b"r3")]
    assert store.read("log", after=5) == []
    assert store.read("other") == []


def test_append_linked_sees_predecessor(store: Store) -> None:
    def link(prev: bytes | None, seq: int, payload: bytes) -> bytes:
        return b"%d:%s<-%s" % (seq, payload, prev or b"-")

    assert store.append_linked("chain", [b"a", b"b"], link) == [1, 2]
    assert store.append_linked("chain", [b"c"], link) == [3]
    records = [rec for _, rec in store.read("chain")]
    assert records[0] == b"1:a<--"
    assert records[1] == b"2:b<-1:a<--"
    assert records[2].startswith(b"3:c<-2:b")


def test_concurrent_appends_get_distinct_sequence_numbers(store: Store) -> None:
    got: list[int] = []
    lock = threading.Lock()

    def work(n: int) -> None:
        for i in range(25):
            seq = store.append("shared", f"{n}-{i}".encode())
            with lock:
                got.append(seq)

    threads = [threading.Thread(target=work, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(got) == list(range(1, 101))
    assert len(store.read("shared", limit=1000)) == 100


def test_token_bucket_limits_and_refills(store: Store) -> None:
    rate, burst = 10.0, 3.0
    results = [store.take_tokens("k", rate, burst) for _ in range(4)]
    assert [ok for ok, _ in results] == [True, True, True, False]
    wait = results[-1][1]
    assert 0 < wait <= 0.11
    time.sleep(wait + 0.05)
    assert store.take_tokens("k", rate, burst)[0] is True
    assert store.take_tokens("other", rate, burst)[0] is True


def test_take_tokens_many_is_one_atomic_step_per_bucket(store: Store) -> None:
    both = [("client", 10.0, 2.0, 1.0), ("key", 10.0, 3.0, 1.0)]
    results = [store.take_tokens_many(both) for _ in range(3)]
    assert [[ok for ok, _ in r] for r in results] == [[True, True], [True, True], [False, True]]
    assert 0 < results[2][0][1] <= 0.11 and results[2][1][1] == 0.0
    assert store.take_tokens("key", 10.0, 3.0)[0] is False  # the same buckets as single takes
    same = store.take_tokens_many([("same", 1.0, 1.0, 1.0), ("same", 1.0, 1.0, 1.0)])  # one key twice: in order
    assert [ok for ok, _ in same] == [True, False] and 0.9 < same[1][1] <= 1.0
    with pytest.raises(ValueError):
        store.take_tokens_many([("k", 1.0, 1.0, 1.0), ("j", -1.0, 1.0, 1.0)])


def test_token_bucket_rejects_nonsense(store: Store) -> None:
    with pytest.raises(ValueError):
        store.take_tokens("k", 0, 1)


def test_token_bucket_exact_under_threads(store: Store) -> None:
    allowed = []
    lock = threading.Lock()

    def work() -> None:
        for _ in range(30):
            ok, _ = store.take_tokens("hot", 0.001, 50)
            with lock:
                allowed.append(ok)

    threads = [threading.Thread(target=work) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sum(allowed) == 50


def test_sqlite_survives_reopen(tmp_path) -> None:
    first = SQLiteStore(tmp_path / "s.db")
    first.set("k", b"v")
    first.append("log", b"one")
    first.close()
    second = SQLiteStore(tmp_path / "s.db")
    assert second.get("k") == b"v"
    assert second.read("log") == [(1, b"one")]
    assert second.append("log", b"two") == 2
    second.close()


def test_sqlite_two_handles_share_buckets(tmp_path) -> None:
    a, b = SQLiteStore(tmp_path / "s.db"), SQLiteStore(tmp_path / "s.db")
    taken = [a.take_tokens_many([("x", 0.001, 5.0, 1.0)])[0][0] for _ in range(3)]
    taken += [b.take_tokens_many([("x", 0.001, 5.0, 1.0)])[0][0] for _ in range(3)]
    assert taken == [True] * 5 + [False]
    assert a.kv_path != a.path and a.kv_path.exists()  # values and the log have separate write locks


def test_sqlite_two_handles_share_state(tmp_path) -> None:
    a, b = SQLiteStore(tmp_path / "s.db"), SQLiteStore(tmp_path / "s.db")
    a.append("log", b"1")
    b.append("log", b"2")
    a.incr("n")
    assert b.incr("n") == 2
    assert [r for _, r in a.read("log")] == [b"1", b"2"]


def test_memory_forgets_refilled_buckets() -> None:
    now = [0.0]
    s = MemoryStore(clock=lambda: now[0], max_buckets=10)
    for i in range(10):
        s.take_tokens(f"ip{i}", 100.0, 1.0)
    now[0] = 1.0
    s.take_tokens("new", 100.0, 1.0)
    assert len(s._buckets) == 1


def test_redis_unreachable_raises_typed_error() -> None:
    s = RedisStore(f"redis://127.0.0.1:{free_port()}/0", timeout=0.2)
    assert s.ping() is False
    with pytest.raises(StoreUnavailable) as info:
        s.get("k")
    assert info.value.code == "store_unavailable"
    with pytest.raises(StoreUnavailable):
        s.take_tokens("k", 1, 1)
    with pytest.raises(StoreUnavailable):
        s.append_linked("log", [b"x"], lambda p, n, r: r)


def test_factory(tmp_path, redis_server: RedisServer) -> None:  # noqa: F811
    assert isinstance(open_store("memory://"), MemoryStore)
    s = open_store("sqlite://", data_dir=tmp_path)
    assert isinstance(s, SQLiteStore) and s.path == tmp_path / "aimds.db"
    assert isinstance(open_store(f"sqlite:///{tmp_path}/x.db"), SQLiteStore)
    assert isinstance(open_store(redis_server.url), RedisStore)
    with pytest.raises(ConfigError):
        open_store("postgres://x")
    with pytest.raises(ConfigError):
        open_store("sqlite://")


def test_set_many(store: Store) -> None:
    store.set_many([("a", b"1"), ("b", b"2")], ttl=60)
    assert (store.get("a"), store.get("b")) == (b"1", b"2")


def test_redis_instances_appending_to_one_chain_keep_it_linked(redis_server: RedisServer) -> None:
    """Each instance links to the tail it saw last; when another instance appended meanwhile, its
    push is refused and it relinks, so the shared chain never forks."""
    from aimds.audit import AuditLog

    prefix = f"t{uuid.uuid4().hex}:"
    instances = [RedisStore(redis_server.url, prefix=prefix) for _ in range(3)]
    logs = [AuditLog(s) for s in instances]

    def work(n: int) -> None:
        for i in range(20):
            logs[n].append([{"event": "check", "n": n, "i": i}, {"event": "check", "n": n, "i": i, "second": True}])

    threads = [threading.Thread(target=work, args=(n,)) for n in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    result = logs[0].verify()
    assert result.ok and result.records == 120
    instances[1].close()
    assert logs[2].append([{"event": "late"}]) == [121]  # a stale tail in instance 2 is corrected
    assert logs[0].verify().ok


def test_values_kept_with_appended_records(store: Store) -> None:
    """What the server's verdicts rely on: values built from the records' sequence numbers, stored
    with them, read back with `get_kept`, expiring after their ttl."""
    def link(prev: bytes | None, seq: int, payload: bytes) -> bytes:
        return payload

    def keep(seqs: list[int]) -> list[tuple[str, bytes]]:
        return [(f"v:{seq}", b"seq %d" % seq) for seq in seqs]

    assert store.append_linked("kept-log", [b"a", b"b"], link, keep, 60) == [1, 2]
    assert store.append_linked("kept-log", [b"c"], link, lambda seqs: [("short", b"x")], 0.15) == [3]
    assert [store.get_kept(f"v:{n}") for n in (1, 2, 3)] == [b"seq 1", b"seq 2", None]
    assert store.get_kept("short") == b"x"
    time.sleep(0.3)
    assert store.get_kept("short") is None and store.get_kept("v:2") == b"seq 2"


def test_sqlite_kept_values_are_committed_with_their_records(tmp_path) -> None:
    import sqlite3

    store = SQLiteStore(tmp_path / "s.db")
    reader = sqlite3.connect(tmp_path / "s.db", isolation_level=None)
    seqs, commit = store.stage_linked("audit", [b"r1", b"r2"], lambda p, n, r: r,
                                      lambda seqs: [(f"verdict:{n}", b"v%d" % n) for n in seqs], 60)
    assert seqs == [1, 2]
    assert reader.execute("SELECT count(*) FROM kept_hashed").fetchone()[0] == 0  # nothing before the commit
    commit()
    assert reader.execute("SELECT key, value FROM kept_hashed ORDER BY key").fetchall() == [("verdict:1", b"v1"), ("verdict:2", b"v2")]
    assert store.get("verdict:1") is None and store.get_kept("verdict:1") == b"v1"
    store.set("verdict:old", b"kept by an earlier version")  # with the other values: still found
    assert store.get_kept("verdict:old") == b"kept by an earlier version"

    def broken(seqs: list[int]) -> list[tuple[str, bytes]]:
        raise ValueError("cannot build the values")

    with pytest.raises(ValueError):
        store.stage_linked("audit", [b"r3"], lambda p, n, r: r, broken)
    assert store.read("audit", after=2) == []  # the records went with them
    seqs, commit = store.stage_linked("audit", [b"r3"], lambda p, n, r: r)  # the lock was released
    commit()
    assert seqs == [3]
    store.close()


def test_sqlite_expired_kept_values_are_purged(tmp_path) -> None:
    from aimds.store import sqlite as sqlite_module

    now = [1000.0]
    store = SQLiteStore(tmp_path / "s.db", clock=lambda: now[0])
    store.append_linked("audit", [b"old"], lambda p, n, r: r, lambda seqs: [("old", b"x")], 10)
    now[0] += 60
    for i in range(sqlite_module._PURGE_KEPT_EVERY):
        store.append_linked("audit", [b"new"], lambda p, n, r: r, lambda seqs, i=i: [(f"new:{i}", b"y")], 10)
    keys = {k for (k,) in store._log.execute("SELECT key FROM kept_hashed")}
    assert "old" not in keys and len(keys) == sqlite_module._PURGE_KEPT_EVERY
    store.close()


@pytest.mark.parametrize("table", ["kept", "kept_rows"])
def test_sqlite_values_in_earlier_kept_tables_are_found_replaced_and_purged(tmp_path, table) -> None:
    """Values kept by earlier versions (table ``kept``, keyed by the value's key; table ``kept_rows``,
    with a unique index on it): still read, a value kept now wins over them, expired ones are purged."""
    from aimds.store import sqlite as sqlite_module

    now = [1000.0]
    store = SQLiteStore(tmp_path / "s.db", clock=lambda: now[0])
    with store._log:
        store._log.executemany(f"INSERT INTO {table} VALUES (?, ?, ?)",
                               [("verdict:a", b"old a", 1010.0), ("verdict:b", b"old b", 5000.0)])
    assert store.get_kept("verdict:a") == b"old a" and store.get_kept("verdict:b") == b"old b"
    store.append_linked("audit", [b"r"], lambda p, n, r: r, lambda seqs: [("verdict:b", b"new b")], 4000)
    assert store.get_kept("verdict:b") == b"new b"  # the newer value wins
    now[0] += 60
    assert store.get_kept("verdict:a") is None  # expired
    for i in range(sqlite_module._PURGE_KEPT_EVERY):
        store.append_linked("audit", [b"n"], lambda p, n, r: r, lambda seqs, i=i: [(f"n:{i}", b"y")], 4000)
    assert [k for (k,) in store._log.execute(f"SELECT key FROM {table}")] == ["verdict:b"]  # only "a" was due
    store.close()


def test_sqlite_kept_values_are_appended_not_spread_over_random_pages(tmp_path) -> None:
    """Rows go in the order they are kept (random verdict ids do not decide where): the table's rows
    are in rowid order of keeping, and a key kept again gets a new row at the end, which wins."""
    import uuid

    store = SQLiteStore(tmp_path / "s.db")
    keys = [f"verdict:{uuid.uuid4().hex}" for _ in range(50)]
    for start in range(0, 50, 10):
        store.append_linked("audit", [b"r"], lambda p, n, r: r, lambda seqs, s=start: [(k, b"v") for k in keys[s:s + 10]])
    store.append_linked("audit", [b"r"], lambda p, n, r: r,
                        lambda seqs: [(keys[0], b"again"), (keys[1], b"1st"), (keys[1], b"2nd")])
    rows = [k for (k,) in store._log.execute("SELECT key FROM kept_hashed ORDER BY rowid")]
    assert rows == keys + [keys[0], keys[1], keys[1]]
    assert (store.get_kept(keys[0]), store.get_kept(keys[1]), store.get_kept(keys[2])) == (b"again", b"2nd", b"v")
    store.close()


def test_sqlite_kept_keys_sharing_a_hash_are_told_apart(tmp_path, monkeypatch) -> None:
    """Every key hashed alike (the worst case of the 32-bit index): each read still finds its own key's
    newest value, and a purge of one key's expired row leaves the others and that key's newer row."""
    from aimds.store import sqlite as sqlite_module

    monkeypatch.setattr(sqlite_module, "_kept_hash", lambda key: 7)
    now = [1000.0]
    store = SQLiteStore(tmp_path / "s.db", clock=lambda: now[0])
    store.append_linked("audit", [b"r"], lambda p, n, r: r, lambda seqs: [("a", b"a1"), ("b", b"b1")], 10)
    now[0] += 5
    store.append_linked("audit", [b"r"], lambda p, n, r: r, lambda seqs: [("a", b"a2")], 10)
    assert (store.get_kept("a"), store.get_kept("b"), store.get_kept("c")) == (b"a2", b"b1", None)
    now[0] += 7  # a1 and b1 expired, a2 not
    assert (store.get_kept("a"), store.get_kept("b")) == (b"a2", None)
    for i in range(sqlite_module._PURGE_KEPT_EVERY):
        store.append_linked("audit", [b"n"], lambda p, n, r: r, lambda seqs, i=i: [(f"n:{i}", b"y")], 10)
    rows = store._log.execute("SELECT key, value FROM kept_hashed WHERE key IN ('a', 'b')").fetchall()
    assert rows == [("a", b"a2")] and store.get_kept("a") == b"a2"
    store.close()


def test_sqlite_kept_values_many_to_a_statement(tmp_path) -> None:
    """More values than one INSERT's parameter limit allows: all kept, in order."""
    store = SQLiteStore(tmp_path / "s.db")
    items = [(f"k{i}", b"%d" % i) for i in range(700)]
    store.append_linked("audit", [b"r"], lambda p, n, r: r, lambda seqs: items)
    assert [k for (k,) in store._log.execute("SELECT key FROM kept_hashed ORDER BY rowid")] == [k for k, _ in items]
    assert store.get_kept("k0") == b"0" and store.get_kept("k699") == b"699"
    store.close()


def test_many_takes_of_one_bucket_answer_as_if_taken_in_turn(store: Store) -> None:
    """A group of requests from one client: the first ones get the tokens left, the rest wait."""
    rate, burst = 0.01, 3.0
    got = store.take_tokens_many([("g", rate, burst, 1.0)] * 5 + [("other", rate, burst, 1.0)])
    assert [ok for ok, _ in got] == [True, True, True, False, False, True]
    assert got[3][1] > 50 and got[0][1] == 0.0
    assert [ok for ok, _ in store.take_tokens_many([("g", rate, burst, 1.0)] * 2)] == [False, False]
    plenty = store.take_tokens_many([("h", 1.0, 100.0, 1.0)] * 40)
    assert all(ok for ok, _ in plenty) and not store.take_tokens("h", 1.0, 100.0, 61.0)[0]


def test_sqlite_kv_log_stays_bounded_without_checkpoints_on_the_writers(tmp_path) -> None:
    """One handle writes values and buckets flat out while another worker process writes now and then.
    The writing connections never checkpoint (that stalled the event loop); the stores' checkpoint
    threads keep the key-value log bounded all the same, where it would grow with every write. (The
    other writer is a real process: as a thread of this one, it held the write lock while waiting for
    the GIL, and on a loaded machine the checkpoints failed for that alone.)"""
    import os
    import subprocess
    import sys

    cap, frame, rounds = 300, 4096 + 24, 3000
    busy, other = (SQLiteStore(tmp_path / "s.db", checkpoint_every=8, wal_cap_pages=cap) for _ in range(2))
    assert busy._kv.execute("PRAGMA wal_autocheckpoint").fetchone()[0] == 0
    wal = f"{busy.kv_path}-wal"
    sizes: list[int] = []
    now_and_then = ("import sys, time\nfrom aimds.store.sqlite import SQLiteStore\n"
                    f"s = SQLiteStore(sys.argv[1], checkpoint_every=8, wal_cap_pages={cap})\n"
                    "while True:\n    s.take_tokens_many([('rl:other', 1e6, 1e6, 1.0)])\n    time.sleep(0.002)\n")
    side = subprocess.Popen([sys.executable, "-c", now_and_then, str(tmp_path / "s.db")],
                            env=os.environ | {"PYTHONPATH": os.pathsep.join(sys.path)})
    try:
        deadline = time.monotonic() + 30
        while busy._kv.execute("SELECT count(*) FROM bucket").fetchone()[0] == 0:  # until it has written
            assert side.poll() is None and time.monotonic() < deadline, "the other writer did not start"
            time.sleep(0.05)
        for i in range(rounds):
            busy.set_many([(f"v:{os.urandom(8).hex()}", os.urandom(300)) for _ in range(4)], ttl=60)
            busy.take_tokens_many([(f"rl:{i % 7}", 1e6, 1e6, 1.0)])
            if i % 25 == 0:
                sizes.append(os.path.getsize(wal))
        assert side.poll() is None  # it wrote all along
    finally:
        side.kill()
        side.wait()
    at_least_written = rounds * 2 * frame  # every write transaction adds a page or more to the log
    assert max(sizes) < 3 * cap * frame < at_least_written / 5
    assert busy.get("rl:1") is None and other.take_tokens("rl:1", 1e6, 1e6)[0]
    for s in (busy, other):
        s.close()


def test_sqlite_checkpoint_copies_the_whole_log(tmp_path) -> None:
    store = SQLiteStore(tmp_path / "s.db", checkpoint_every=10**9)
    for i in range(50):
        store.set(f"k{i}", b"x" * 500)
    pages, copied = store.checkpoint()
    assert pages > 0 and copied == pages
    store.set("after", b"y")  # starts the log over: it holds this write only
    assert store.checkpoint()[0] < pages
    store.close()
