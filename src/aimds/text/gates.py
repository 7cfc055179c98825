"""One Hyperscan pass that tells the normalize stage which of its regexes cannot match at all.

Each of Python's `re` scans costs about 5 µs per kB even when its first character is rare, and the
normalize stage has a dozen of them (leet, spacing, base64, hex, escapes, rot13, control
characters), nearly all of which find nothing in ordinary text. Hyperscan runs all of them at once
in prefilter mode, where constructs it lacks (lookarounds, backreferences) only make it report more:
a pattern that did not fire cannot match, and one that fired still runs in `re` for the real
answer. Hyperscan reads bytes, so each non-ASCII character is scanned as an ASCII stand-in that is
in every class of Python's `re` the character is in (see `_stand_in`); a platform without Hyperscan
gets ``None``: run everything.
"""

from __future__ import annotations

import functools
import re
import threading
from typing import Mapping

import numpy as np

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
        db = self._database()
        if db is None:
            return None
        hits: set[str] = set()
        names = self._names

        def on_match(pattern_id: int, _start: int, _end: int, _flags: int, _ctx: object) -> None:
            hits.add(names[pattern_id])

        try:
            db.scan(_scanned_bytes(text), match_event_handler=on_match, scratch=self._scratch(db))
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


# Letters that re.IGNORECASE matches to an ASCII letter (İ, ı -> i; ſ -> s; Kelvin sign -> k), and
# the only ones whose str.lower() holds one.
_CASE_FOLDS_TO_ASCII = {"\u0130": "i", "\u0131": "i", "\u017f": "s", "\u212a": "k"}


@functools.lru_cache(maxsize=4096)
def _stand_in(char: str) -> str:
    """An ASCII character in every class of Python's `re` that holds the non-ASCII ``char``, among
    those the gated patterns use outside lookarounds: ``\\s``, ``\\d``, ``\\w``, ``[^\\W\\d_]``,
    ``[^\\w\\s]``, ``[^\\n]``, and ASCII letters under re.IGNORECASE. A pattern that matches the text
    then matches its stand-in bytes at the same place (a set of ASCII characters holds no other
    character, and Hyperscan drops lookarounds), so the gates stay sound; they may fire more."""
    if char in _CASE_FOLDS_TO_ASCII:
        return _CASE_FOLDS_TO_ASCII[char]
    if char.isspace():
        return " "
    if char.isdecimal():
        return "0"
    if char.isalnum():  # re's \w, less \d: a letter to it
        return "a"
    return "#"


@functools.cache
def _bmp_stand_ins() -> np.ndarray:
    """`_stand_in` of each character of the Basic Multilingual Plane (64 kB), built by `re` itself
    in a few ms: symbols, spaces and digits outside ASCII; what is left there is a letter to it."""
    table = "".join(map(chr, range(0x10000)))
    for pattern, stand_in in (
        (r"[^\w\s\x00-\x7f]", "#"), (r"[^\S\x00-\x7f]", " "), (r"[^\D\x00-\x7f]", "0"), (r"[^\x00-\x7f]", "a")
    ):
        table = re.sub(pattern, stand_in, table)
    scanned = bytearray(table.encode("ascii"))
    for char, letter in _CASE_FOLDS_TO_ASCII.items():
        scanned[ord(char)] = ord(letter)
    return np.frombuffer(bytes(scanned), dtype=np.uint8)


def _scanned_bytes(text: str) -> bytes:
    """``text`` as the gates read it: one byte per character, a stand-in for each non-ASCII one."""
    if text.isascii():
        return text.encode("ascii")
    points = np.frombuffer(text.encode("utf-32-le", "surrogatepass"), dtype=np.uint32)
    scanned = _bmp_stand_ins()[np.minimum(points, 0xFFFF)]
    astral = np.flatnonzero(points > 0xFFFF)
    if len(astral):
        distinct, inverse = np.unique(points[astral], return_inverse=True)
        stand_ins = "".join(_stand_in(chr(p)) for p in distinct.tolist()).encode("ascii")
        scanned[astral] = np.frombuffer(stand_ins, dtype=np.uint8)[inverse]
    return scanned.tobytes()


def may_match(gates: frozenset[str] | None, name: str) -> bool:
    """False only when the gates ran and ``name`` did not fire."""
    return gates is None or name in gates
