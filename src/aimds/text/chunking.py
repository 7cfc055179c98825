"""Cutting long texts into pieces that detectors can score one at a time.

Both helpers are linear: each cut looks back over a bounded stretch of text (a quarter of the
chunk or window) for a sentence end or whitespace, with one precompiled regex per stretch.
"""

from __future__ import annotations

import re

from aimds.errors import InvalidInput

_SENTENCE_END = re.compile(r"[.!?。！？]['\")\]]?\s|\n")
_SPACE = re.compile(r"\s")
_SENTENCE = re.compile(r"[^.!?。！？\n]*(?:[.!?。！？]+|\n|$)")


def chunks(text: str, size: int, overlap: int) -> list[tuple[int, str]]:
    """Overlapping pieces of at most ``size`` characters, as ``(start offset, piece)``.

    Each piece ends, where possible, just after a sentence end or else a whitespace character in the
    last quarter of its span, so a phrase is rarely split; the next piece starts ``overlap``
    characters before that cut, so a payload of up to ``overlap`` characters on a boundary is seen
    whole by one of them.
    """
    if size <= 0 or overlap < 0 or overlap * 2 >= size:
        raise InvalidInput(f"chunking needs size > 0 and 0 <= overlap < size/2 (got {size}, {overlap})")
    n = len(text)
    if n <= size:
        return [(0, text)]
    out: list[tuple[int, str]] = []
    start = 0
    while True:
        limit = start + size
        if limit >= n:
            out.append((start, text[start:]))
            return out
        end = _cut(text, limit - size // 4, limit)
        out.append((start, text[start:end]))
        start = end - overlap


def _cut(text: str, lo: int, hi: int) -> int:
    """The best place to end a piece within ``[lo, hi]``: the last sentence end, else the last space."""
    best = -1
    for match in _SENTENCE_END.finditer(text, lo, hi):
        best = match.end()
    if best > lo:
        return best
    space = text.rfind(" ", lo, hi)
    if space < 0:
        for match in _SPACE.finditer(text, lo, hi):
            space = match.start()
    return space + 1 if space > lo else hi


def sentences_or_windows(text: str, max_chars: int) -> list[tuple[int, int]]:
    """Spans ``[start, end)`` covering ``text``: sentences merged into windows of at most ``max_chars``.

    A sentence longer than ``max_chars`` is split into windows of exactly that size. Whitespace-only
    spans are dropped. Meant for window-level scoring (a model that reads one window at a time).
    """
    if max_chars <= 0:
        raise InvalidInput(f"max_chars must be positive (got {max_chars})")
    spans: list[tuple[int, int]] = []
    cur_start, cur_end = 0, 0
    for match in _SENTENCE.finditer(text):
        s, e = match.span()
        if s == e:
            continue
        if e - cur_start <= max_chars:
            cur_end = e
            continue
        if cur_end > cur_start:
            spans.append((cur_start, cur_end))
        cur_start = s
        while e - cur_start > max_chars:
            spans.append((cur_start, cur_start + max_chars))
            cur_start += max_chars
        cur_end = e
    if cur_end > cur_start:
        spans.append((cur_start, cur_end))
    return [(s, e) for s, e in spans if text[s:e].strip()]
