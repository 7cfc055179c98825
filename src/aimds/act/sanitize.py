"""The sanitize action: a cleaned copy of the text, changed only inside the spans findings report.

Invisible characters are removed; PII and secrets are replaced by a typed placeholder. Everything
outside the reported spans is left byte-for-byte as it was.
"""

from __future__ import annotations

import unicodedata
from typing import Iterable

from aimds.types import Finding, ThreatKind

_KEEP = frozenset("\n\t\r")
_PLACEHOLDER = {ThreatKind.PII: "[PII:{label}]", ThreatKind.SECRET: "[SECRET:{label}]"}


def sanitize(text: str, findings: Iterable[Finding]) -> str:
    edits: list[tuple[int, int, str]] = []
    for f in findings:
        if f.span is None:
            continue
        if f.kind is ThreatKind.INVISIBLE_TEXT:
            edits.append((f.span.start, f.span.end, _strip_invisible(text[f.span.start : f.span.end])))
        elif f.kind in _PLACEHOLDER:
            label = str(f.metadata.get("entity") or f.metadata.get("type") or f.kind.value).upper()
            edits.append((f.span.start, f.span.end, _PLACEHOLDER[f.kind].format(label=label)))
    return _apply(text, edits)


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
