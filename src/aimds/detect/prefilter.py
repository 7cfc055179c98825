"""Many regexes over one text, fast: hyperscan finds candidate regions, Python's `re` confirms there.

Python's `re` walks the whole text once per pattern, which for a few dozen PII/secret patterns on
ordinary text is far below the throughput a guard in front of every request needs. Hyperscan scans
for all of them in one pass (compiled in prefilter mode, so constructs it lacks, such as lookarounds,
only make it report more, never less); the exact pattern then runs only in a window around each
reported end. Every pattern must have a bounded width: that bound sizes the window, and it also
rules out the unbounded repetition that makes regexes slow on hostile input. Without hyperscan
(non-x86 platforms) the same patterns run directly, slower but with identical results.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

try:  # Python 3.11+
    from re import _parser as _sre_parse  # type: ignore[attr-defined]
except ImportError:  # pragma: no cover - Python 3.10
    import sre_parse as _sre_parse  # type: ignore[no-redef]

try:
    import hyperscan
except ImportError:  # pragma: no cover - platforms without hyperscan wheels
    hyperscan = None

from aimds.detect.sharedscan import PatternGroup, ScanHits
from aimds.errors import RulePackError

MAX_PATTERN_WIDTH = 8192
# Lookarounds are zero-width for the width bound, so windows get this much margin on each side.
WINDOW_PAD = 32


@dataclass(frozen=True, slots=True)
class PatternSpec:
    id: str
    regex: str
    caseless: bool = False
    # Optional cheaper hyperscan expression that matches somewhere inside every real match
    # (e.g. the '@' of an email); the exact regex then runs in a window on both sides of it.
    prefilter: str | None = None


class PatternSet:
    """Compiled patterns; `finditer` yields ``(index, match)`` for every exact match, in text order."""

    def __init__(self, specs: Sequence[PatternSpec], *, use_hyperscan: bool = True) -> None:
        self.specs = tuple(specs)
        self._compiled: list[re.Pattern[str]] = []
        self._widths: list[int] = []
        self._after: list[int] = []
        for spec in self.specs:
            flags = re.ASCII | (re.IGNORECASE if spec.caseless else 0)
            try:
                compiled = re.compile(spec.regex, flags)
                _, max_width = _sre_parse.parse(spec.regex, flags).getwidth()
            except re.error as exc:
                raise RulePackError(f"pattern {spec.id!r} is not a valid regex: {exc}") from None
            if max_width > MAX_PATTERN_WIDTH:
                raise RulePackError(
                    f"pattern {spec.id!r} can match more than {MAX_PATTERN_WIDTH} characters; "
                    "bound every repetition"
                )
            self._compiled.append(compiled)
            self._widths.append(max_width)
            self._after.append(max_width if spec.prefilter else 0)
        self._db = None
        self.group: PatternGroup | None = None
        self._direct: list[int] = list(range(len(self.specs)))
        self._local = threading.local()
        if use_hyperscan and hyperscan is not None and self.specs:
            self._build_database()

    @property
    def accelerated(self) -> bool:
        return self._db is not None

    def _build_database(self) -> None:
        """All patterns in one database; only if that fails, find the ones hyperscan rejects."""
        from aimds.detect.hscache import compile_database

        def build(indices: list[int]):
            return compile_database(
                [_hs_expression(self.specs[i]) for i in indices], indices, [_hs_flags(self.specs[i]) for i in indices]
            )

        accepted = list(range(len(self.specs)))
        try:
            self._db = build(accepted)
        except hyperscan.error:
            accepted = [i for i, spec in enumerate(self.specs) if _hyperscan_accepts(spec)]
            if not accepted:
                return
            self._db = build(accepted)
        self._direct = [i for i in range(len(self.specs)) if i not in set(accepted)]
        self.group = PatternGroup("ascii", tuple(_hs_expression(self.specs[i]) for i in accepted), tuple(accepted),
                                  tuple(_hs_flags(self.specs[i]) for i in accepted))

    def _scratch(self):
        scratch = getattr(self._local, "scratch", None)
        if scratch is None:
            scratch = hyperscan.Scratch(self._db)
            self._local.scratch = scratch
        return scratch

    def finditer(self, text: str, shared: ScanHits | None = None) -> Iterator[tuple[int, re.Match[str]]]:
        """With ``shared``, the candidate regions come from the check's shared scan."""
        candidates = self._candidate_windows(text, shared) if self._db is not None else {}
        if not candidates and not self._direct:
            return iter(())  # the usual case: no pattern can match anywhere
        found: list[tuple[int, int, int, re.Match[str]]] = []
        seen: set[tuple[int, int, int]] = set()

        def keep(index: int, match: re.Match[str]) -> None:
            key = (index, match.start(), match.end())
            if key not in seen:
                seen.add(key)
                found.append((match.start(), match.end(), index, match))

        for index in self._direct:
            for match in self._compiled[index].finditer(text):
                keep(index, match)
        for index, windows in candidates.items():
            pattern = self._compiled[index]
            for start, end in windows:
                for match in pattern.finditer(text, start, end):
                    keep(index, match)
        found.sort(key=lambda item: (item[0], -item[1], item[2]))
        return iter([(index, match) for _, _, index, match in found])

    def _candidate_windows(self, text: str, shared: ScanHits | None = None) -> dict[int, list[tuple[int, int]]]:
        ends: dict[int, list[int]] = {}
        if shared is not None and shared.covers(self.group):
            for pattern_id, end in shared.hits(self.group, text):
                ends.setdefault(pattern_id, []).append(end)
        else:
            # One character per byte keeps hyperscan's offsets equal to Python's; characters
            # outside ASCII become '?', which no ASCII-mode pattern needs to match.
            def on_match(pattern_id: int, _start: int, end: int, _flags: int, _ctx: object) -> None:
                ends.setdefault(pattern_id, []).append(end)

            self._db.scan(text.encode("ascii", "replace"), match_event_handler=on_match, scratch=self._scratch())
        length = len(text)
        windows: dict[int, list[tuple[int, int]]] = {}
        for index, positions in ends.items():
            before = self._widths[index] + WINDOW_PAD
            after = self._after[index] + WINDOW_PAD
            merged: list[tuple[int, int]] = []
            for end in sorted(positions):
                lo, hi = max(0, end - before), min(length, end + after)
                if merged and lo <= merged[-1][1]:
                    merged[-1] = (merged[-1][0], max(merged[-1][1], hi))
                else:
                    merged.append((lo, hi))
            windows[index] = merged
        return windows


def _hs_expression(spec: PatternSpec) -> bytes:
    return (spec.prefilter or spec.regex).encode()


def _hs_flags(spec: PatternSpec) -> int:
    flags = hyperscan.HS_FLAG_PREFILTER | hyperscan.HS_FLAG_ALLOWEMPTY
    if spec.caseless:
        flags |= hyperscan.HS_FLAG_CASELESS
    return flags


def _hyperscan_accepts(spec: PatternSpec) -> bool:
    """Some patterns are beyond hyperscan even in prefilter mode; those run directly instead."""
    db = hyperscan.Database(mode=hyperscan.HS_MODE_BLOCK)
    try:
        db.compile(expressions=[_hs_expression(spec)], ids=[0], elements=1, flags=[_hs_flags(spec)])
    except hyperscan.error:
        return False
    return True
