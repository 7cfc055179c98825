"""The sanitize action: a cleaned copy of the text, changed only inside the spans findings report.

PII and secrets go through the configured `Redactor` (mask, placeholder, keyed hash, or reversible
anonymization); invisible characters are removed. Everything outside the reported spans is left
exactly as it was.
"""

from __future__ import annotations

import unicodedata
from bisect import bisect_right
from typing import Iterable

from aimds.act.redact import Redactor, Replacement
from aimds.types import Finding, ThreatKind

_KEEP = frozenset("\n\t\r")


def sanitize(text: str, findings: Iterable[Finding], redactor: Redactor, session_id: str | None = None) -> str:
    located = [f for f in findings if f.span is not None]
    redacted = redactor.redact(text, [f for f in located if f.kind in redactor.kinds], session_id)
    shift = _Shift(redacted.replacements)
    edits = []
    for f in located:
        if f.kind is ThreatKind.INVISIBLE_TEXT and not shift.overlaps(f.span.start, f.span.end):
            start, end = shift.map(f.span.start), shift.map(f.span.end)
            edits.append((start, end, _strip_invisible(redacted.text[start:end])))
    return _apply(redacted.text, edits)


class _Shift:
    """Maps offsets in the original text to offsets after redaction replaced some spans."""

    def __init__(self, replacements: tuple[Replacement, ...]) -> None:
        self._spans = sorted(replacements, key=lambda r: r.start)
        self._starts = [r.start for r in self._spans]

    def overlaps(self, start: int, end: int) -> bool:
        return any(r.start < end and start < r.end for r in self._spans)

    def map(self, pos: int) -> int:
        i = bisect_right(self._starts, pos) - 1
        if i < 0:
            return pos
        r = self._spans[i]
        return r.out_end + (pos - r.end) if pos >= r.end else r.out_start


def _strip_invisible(segment: str) -> str:
    return "".join(ch for ch in segment if ch in _KEEP or not _invisible(ch))


def _invisible(ch: str) -> bool:
    cat = unicodedata.category(ch)
    return cat in ("Cf", "Cc") or 0xE0000 <= ord(ch) <= 0xE007F or 0xFE00 <= ord(ch) <= 0xFE0F


def _apply(text: str, edits: list[tuple[int, int, str]]) -> str:
    """Apply non-overlapping edits; where spans overlap the earlier, wider one wins."""
    out, cursor = [], 0
    for start, end, replacement in sorted(edits, key=lambda e: (e[0], -e[1])):
        if start < cursor:
            continue
        out.append(text[cursor:start])
        out.append(replacement)
        cursor = end
    out.append(text[cursor:])
    return "".join(out)
