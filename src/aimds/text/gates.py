"""One Hyperscan pass that tells the normalize stage which of its regexes cannot match at all.

Each of Python's `re` scans costs about 5 µs per kB even when its first character is rare, and the
normalize stage has a dozen of them (leet, spacing, base64, hex, escapes, rot13, control
characters), nearly all of which find nothing in ordinary text. Hyperscan runs all of them at once
in prefilter mode, where constructs it lacks (lookarounds, backreferences) only make it report more:
a pattern that did not fire cannot match, and one that fired still runs in `re` for the real
answer. Only ASCII text is gated, because there Python's ``\\w``/``[^\\W\\d_]`` and Hyperscan's mean
the same characters; other text, or a platform without Hyperscan, gets ``None``: run everything.
"""

from __future__ import annotations

import re
import threading
from typing import Mapping

try:
    import hyperscan
except ImportError:  # pragma: no cover - platforms without hyperscan wheels
    hyperscan = None


class Gates:
    """Named regexes scanned together; `fired` says which of them may match a text."""

    def __init__(self, patterns: Mapping[str, re.Pattern[str]]) -> None:
        self._names = tuple(patterns)
        self._patterns = tuple(patterns.values())
        self._db = None
        self._lock = threading.Lock()
        self._local = threading.local()

    def fired(self, text: str) -> frozenset[str] | None:
        """Names of the patterns that may match ``text``; ``None`` when that cannot be told cheaply."""
        if not text.isascii():
            return None
        db = self._database()
        if db is None:
            return None
        hits: set[str] = set()
        names = self._names

        def on_match(pattern_id: int, _start: int, _end: int, _flags: int, _ctx: object) -> None:
            hits.add(names[pattern_id])

        try:
            db.scan(text.encode("ascii"), match_event_handler=on_match, scratch=self._scratch(db))
        except hyperscan.error:  # a shortcut that cannot run is no reason to fail: run every regex
            return None
        return frozenset(hits)

    def _database(self):
        if self._db is None and hyperscan is not None:
            with self._lock:
                if self._db is None:
                    self._db = self._compile()
        return self._db or None

    def _compile(self):
        from aimds.detect.hscache import compile_database

        flags = hyperscan.HS_FLAG_PREFILTER | hyperscan.HS_FLAG_SINGLEMATCH | hyperscan.HS_FLAG_ALLOWEMPTY
        try:
            return compile_database(
                [self._expression(p) for p in self._patterns],
                list(range(len(self._patterns))),
                [flags | (hyperscan.HS_FLAG_CASELESS if p.flags & re.IGNORECASE else 0) for p in self._patterns],
            )
        except hyperscan.error:  # gating is only a shortcut: without it every regex runs
            return False

    @staticmethod
    def _expression(pattern: re.Pattern[str]) -> bytes:
        return pattern.pattern.encode("ascii")

    def _scratch(self, db):
        scratch = getattr(self._local, "scratch", None)
        if scratch is None:
            scratch = self._local.scratch = hyperscan.Scratch(db)
        return scratch


def may_match(gates: frozenset[str] | None, name: str) -> bool:
    """False only when the gates ran and ``name`` did not fire."""
    return gates is None or name in gates
