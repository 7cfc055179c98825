"""Append-only, hash-chained audit trail of every decision.

Each record holds the SHA-256 of its predecessor and of itself (over its canonical JSON), so editing,
dropping or reordering any record breaks the chain at that point and `verify` names it. Dropping the
*newest* records is only detectable against a head (seq, hash) noted earlier, so `verify` accepts one.
Raw text is never stored: only an HMAC of it under a secret key (so equal texts can be correlated
without a dictionary attack on the log), its length, and the findings' kinds, spans and reasons,
which detectors keep free of secrets and PII by contract.

Writes go through `AuditWriter`, which groups records from concurrent requests into one durable
transaction (group commit) and resolves each caller only after the commit. Values can be kept with the
records (the server's verdicts), written with them and read back with `AuditLog.kept`.
"""

from __future__ import annotations

import hashlib
import logging
import hmac
import os
import queue
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import orjson

from aimds.errors import AimdsError

STREAM = "audit"
# Values to keep with appended records, built from the records' sequence numbers.
Keep = Callable[[list[int]], list[tuple[str, bytes]]]
GENESIS = "0" * 64
_DUMP = orjson.OPT_SORT_KEYS


class AuditError(AimdsError):
    code = "audit_error"


def canonical(record: dict[str, Any]) -> bytes:
    return orjson.dumps(record, option=_DUMP)


def record_hash(record: dict[str, Any]) -> str:
    body = {k: v for k, v in record.items() if k != "hash"}
    return hashlib.sha256(canonical(body)).hexdigest()


class _Linker:
    """Seals records onto the chain: numbers each, points it at its predecessor, hashes it.

    The store calls it with canonical bytes; it looks the entry up by those bytes' identity instead of
    parsing them again, and remembers the hash of the record it sealed last, so within a batch no
    record is parsed at all (a store that retries calls it again with the same objects).
    """

    def __init__(self, payloads: list[bytes], entries: list[dict[str, Any]]) -> None:
        self._entries = {id(payload): entry for payload, entry in zip(payloads, entries)}
        self._last: tuple[bytes, str] | None = None

    def __call__(self, prev: bytes | None, seq: int, payload: bytes) -> bytes:
        entry = self._entries.get(id(payload))
        record = dict(entry) if entry is not None else orjson.loads(payload)
        record["seq"] = seq
        if prev is None:
            record["prev"] = GENESIS
        elif self._last is not None and prev is self._last[0]:
            record["prev"] = self._last[1]
        else:
            record["prev"] = orjson.loads(prev)["hash"]
        record.pop("hash", None)
        digest = hashlib.sha256(canonical(record)).hexdigest()
        record["hash"] = digest
        sealed = canonical(record)
        self._last = (sealed, digest)
        return sealed


def load_or_create_key(data_dir: str | os.PathLike[str]) -> bytes:
    """The HMAC key for text digests: ``<data_dir>/audit.key``, created once with mode 0600."""
    path = Path(data_dir) / "audit.key"
    try:
        return bytes.fromhex(path.read_text().strip())
    except FileNotFoundError:
        path.parent.mkdir(parents=True, exist_ok=True)
        key = os.urandom(32)
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            return bytes.fromhex(path.read_text().strip())
        with os.fdopen(fd, "w") as fh:
            fh.write(key.hex())
        return key


def text_mac(key: bytes) -> hmac.HMAC:
    """The keyed digest of texts, keyed once: `decision_entry` copies it per text, which costs half
    of keying a new one (1.4 against 3.0 us for a 256-character text, measured)."""
    return hmac.new(key, digestmod=hashlib.sha256)


def decision_entry(
    verdict: dict[str, Any], text: str, key: bytes | hmac.HMAC, actor: str, client: str | None = None,
    route: str = "check",
) -> dict[str, Any]:
    """The audit record for one verdict (as `Verdict.to_dict()`), with the text reduced to a keyed
    digest. ``key``: the HMAC key, or `text_mac(key)` (faster for many texts)."""
    mac = key.copy() if isinstance(key, hmac.HMAC) else hmac.new(key, digestmod=hashlib.sha256)
    mac.update(text.encode("utf-8", "surrogatepass"))
    return {
        "event": route,
        "ts": time.time(),
        "actor": actor,
        "client": client,
        "verdict_id": verdict["id"],
        "action": verdict["action"],
        "risk": verdict["risk"],
        "role": verdict["role"],
        "session_id": verdict.get("session_id"),
        "agent_id": verdict.get("agent_id"),
        "text_hmac": mac.hexdigest(),
        "text_chars": len(text),
        "findings": [
            {k: f.get(k) for k in ("kind", "detector", "score", "span", "reason", "rule_id")}
            for f in verdict.get("findings", ())
        ],
    }


def action_entry(event: str, actor: str, client: str | None = None, **details: Any) -> dict[str, Any]:
    """The audit record of an administrative action (quarantine, release, review decision, canary).
    ``details`` hold ids and reasons given by administrators, never checked text."""
    return {"event": event, "ts": time.time(), "actor": actor, "client": client} | details


@dataclass(frozen=True)
class VerifyResult:
    ok: bool
    records: int
    head_seq: int
    head_hash: str
    problem: str | None = None
    bad_seq: int | None = None


class AuditLog:
    """Reads, filters, exports and verifies the chain in a store that supports ``append_linked``."""

    def __init__(self, store: Any, stream: str = STREAM) -> None:
        if not hasattr(store, "append_linked"):
            raise AuditError(f"{type(store).__name__} cannot hold a hash-chained log")
        self.store = store
        self.stream = stream

    def append(self, entries: list[dict[str, Any]], keep: Keep | None = None, ttl: float | None = None) -> list[int]:
        """Durably chain ``entries``; returns their sequence numbers once committed. With ``keep``,
        the values ``keep(seqs)`` returns are stored with them (expiring after ``ttl`` seconds)."""
        payloads = [canonical(e) for e in entries]
        return self.store.append_linked(self.stream, payloads, _Linker(payloads, entries), keep, ttl)

    def stage(self, entries: list[dict[str, Any]], keep: Keep | None = None,
              ttl: float | None = None) -> tuple[list[int], Callable[[], None] | None]:
        """Chain ``entries`` (and ``keep``'s values, as `append`) in an open transaction (local stores:
        SQLite, memory); returns their sequence numbers and the commit that makes them durable (None:
        already durable as far as the store goes). Raises `StoreBusy` rather than wait."""
        payloads = [canonical(e) for e in entries]
        return self.store.stage_linked(self.stream, payloads, _Linker(payloads, entries), keep, ttl)

    def kept(self, key: str) -> bytes | None:
        """A value stored with records by `append` or `stage` (None: unknown or expired)."""
        return self.store.get_kept(key)

    def records(self, after: int = 0, page: int = 1000) -> Iterator[dict[str, Any]]:
        while True:
            rows = self.store.read(self.stream, after=after, limit=page)
            for seq, raw in rows:
                record = orjson.loads(raw)
                record.setdefault("seq", seq)
                yield record
            if len(rows) < page:
                return
            after = rows[-1][0]

    def get(self, seq: int) -> dict[str, Any] | None:
        rows = self.store.read(self.stream, after=seq - 1, limit=1)
        return orjson.loads(rows[0][1]) if rows and rows[0][0] == seq else None

    def search(
        self,
        after: int = 0,
        limit: int = 100,
        since: float | None = None,
        until: float | None = None,
        action: str | None = None,
        actor: str | None = None,
        kind: str | None = None,
        event: str | None = None,
    ) -> list[dict[str, Any]]:
        out = []
        for record in self.records(after=after):
            ts = record.get("ts", 0)
            if since is not None and ts < since:
                continue
            if until is not None and ts >= until:
                continue
            if action and record.get("action") != action:
                continue
            if actor and record.get("actor") != actor:
                continue
            if event and record.get("event") != event:
                continue
            if kind and all(f.get("kind") != kind for f in record.get("findings", ())):
                continue
            out.append(record)
            if len(out) >= limit:
                break
        return out

    def export_jsonl(self, out: IO[bytes], records: Iterable[dict[str, Any]] | None = None) -> int:
        count = 0
        for record in self.records() if records is None else records:
            out.write(canonical(record) + b"\n")
            count += 1
        return count

    def verify(self, expect_head: tuple[int, str] | None = None) -> VerifyResult:
        return verify_records(self.records(), expect_head)


def verify_records(
    records: Iterable[dict[str, Any]], expect_head: tuple[int, str] | None = None
) -> VerifyResult:
    """Walk the chain; the first broken link is reported with its sequence number."""
    expected_seq, prev, count = 1, GENESIS, 0
    hash_at_head: str | None = None

    def fail(problem: str, seq: int) -> VerifyResult:
        return VerifyResult(False, count, expected_seq - 1, prev, problem, seq)

    for record in records:
        seq = record.get("seq")
        if seq != expected_seq:
            return fail(f"expected record {expected_seq}, found {seq} (dropped or reordered)", expected_seq)
        if record.get("prev") != prev:
            return fail(f"record {seq} does not point at its predecessor (dropped or reordered)", seq)
        if record.get("hash") != record_hash(record):
            return fail(f"record {seq} was modified (hash mismatch)", seq)
        prev, expected_seq, count = record["hash"], expected_seq + 1, count + 1
        if expect_head is not None and seq == expect_head[0]:
            hash_at_head = prev
    if expect_head is not None:
        head_seq, head_hash = expect_head
        if count < head_seq:
            return fail(f"log ends at record {count}, but record {head_seq} was seen before (truncated)", count + 1)
        if not hmac.compare_digest(hash_at_head or "", head_hash):
            return fail(f"record {head_seq} differs from the head noted earlier (log rewritten)", head_seq)
    return VerifyResult(True, count, expected_seq - 1, prev)


Done = Callable[[list[int] | None, BaseException | None], None]


@dataclass(slots=True)
class _Job:
    entries: list[dict[str, Any]]
    keep: Keep | None
    done: Done


class AuditWriter:
    """Group commit: one background thread turns many concurrent submissions into few durable writes.

    A submission may also carry values to keep with its records (the server keeps verdicts this
    way), so the request path pays for neither the fsync nor the value write. Each submitter learns
    the outcome through its ``done`` callback, called on the writer thread.
    """

    def __init__(self, log: AuditLog, max_batch: int = 512, keep_ttl: float | None = None) -> None:
        self.log = log
        self._max_batch = max_batch
        self._keep_ttl = keep_ttl
        self._queue: queue.SimpleQueue[_Job | None] = queue.SimpleQueue()
        self._thread = threading.Thread()
        self.start()

    def start(self) -> None:
        """(Re)start the writer thread; a no-op while it runs."""
        if not self._thread.is_alive():
            self._thread = threading.Thread(target=self._run, name="aimds-audit-writer", daemon=True)
            self._thread.start()

    @property
    def running(self) -> bool:
        return self._thread.is_alive()

    def submit_many(self, entries: list[dict[str, Any]], done: Done, keep: Keep | None = None) -> None:
        """Queue records; ``done(seqs, None)`` after they (and ``keep(seqs)``) are committed, else ``done(None, error)``."""
        self._queue.put(_Job(entries, keep, done))

    def submit(self, entry: dict[str, Any]) -> Future[int]:
        future: Future[int] = Future()

        def done(seqs: list[int] | None, error: BaseException | None) -> None:
            if error is not None:
                future.set_exception(error)
            else:
                future.set_result(seqs[0])  # type: ignore[index]

        self.submit_many([entry], done)
        return future

    def write(self, entry: dict[str, Any], timeout: float | None = None) -> int:
        return self.submit(entry).result(timeout)

    def _run(self) -> None:
        while True:
            job = self._queue.get()
            if job is None:
                return
            batch, records = [job], len(job.entries)
            while records < self._max_batch:
                try:
                    nxt = self._queue.get_nowait()
                except queue.Empty:
                    break
                if nxt is None:
                    self._commit(batch)
                    return
                batch.append(nxt)
                records += len(nxt.entries)
            self._commit(batch)

    def _commit(self, batch: list[_Job]) -> None:
        try:
            seqs = self.log.append([entry for job in batch for entry in job.entries],
                                   keep_all([(len(job.entries), job.keep) for job in batch]), self._keep_ttl)
        except Exception as exc:  # noqa: BLE001 - every waiting caller must learn the write failed
            for job in batch:
                _notify(job.done, None, exc)
            return
        for job, own in zip(batch, split_seqs(seqs, [len(job.entries) for job in batch])):
            _notify(job.done, own, None)

    def close(self, timeout: float = 10.0) -> None:
        """Write what is queued, then stop."""
        if self._thread.is_alive():
            self._queue.put(None)
            self._thread.join(timeout)


def split_seqs(seqs: list[int], sizes: list[int]) -> list[list[int]]:
    """The sequence numbers of a group's records, per submission of ``sizes`` records each."""
    out, start = [], 0
    for size in sizes:
        out.append(seqs[start:start + size])
        start += size
    return out


def keep_all(parts: list[tuple[int, Keep | None]]) -> Keep | None:
    """One `Keep` for a group of submissions (record count, own keep): each gets its own sequence
    numbers. None when no submission keeps anything."""
    if all(keep is None for _, keep in parts):
        return None

    def keep(seqs: list[int]) -> list[tuple[str, bytes]]:
        own = split_seqs(seqs, [size for size, _ in parts])
        return [value for (_, part), mine in zip(parts, own) if part is not None for value in part(mine)]

    return keep


def _notify(done: Done, seqs: list[int] | None, error: BaseException | None) -> None:
    try:
        done(seqs, error)
    except Exception:  # noqa: BLE001 - one broken callback must not stop the writer
        logging.getLogger("aimds.audit").exception("audit writer callback failed")
