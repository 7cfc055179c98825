"""The ``normalized`` view: NFKC, confusables folded to ASCII, invisible characters removed.

Pure-ASCII text without control characters (the common case) is returned as is, without touching
a table. Everything else is folded with ``str.translate`` over the shipped table (see `tables`), and
offsets are rebuilt from a parallel translation that marks each removed or expanded character.

The fold is per code point: NFKC composition across characters is not applied, because every
combining diacritic of the Latin/Greek/Cyrillic blocks is stripped anyway, which is what a skeleton
for keyword matching needs. Case is preserved; detectors lowercase for themselves.

Invisible characters are reported as one `INVISIBLE_TEXT` finding, scored by class and amount; the
benign uses (a BOM at the start, one variation selector after an emoji or ideograph, joiners in
emoji and Persian/Indic words, direction marks in right-to-left text, tag letters in subdivision
flags) do not count. Hidden payloads in tag characters and runs of variation selectors (both can
encode arbitrary ASCII/bytes invisibly) are decoded for the caller to add as views.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from itertools import islice

import numpy as np

from aimds.text import offsets, tables
from aimds.text.gates import may_match
from aimds.text.tables import InvisibleClass
from aimds.text.views import View
from aimds.types import Finding, Span, ThreatKind

DETECTOR = "normalize"

_ASCII_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
#: per regex the normalize stage may skip, one that matches wherever it does, for a Hyperscan pass (see `gates`)
GATE_PATTERNS = {"control": _ASCII_CONTROL}
_MAX_RUNS = 64  # past this many runs of characters to change, translating the whole text is cheaper
_IRREGULAR = re.compile("[" + re.escape(tables.IRREGULAR_CHARS) + "]")
_INVISIBLE_MARKERS = "".join(c.marker for c in tables.INVISIBLE_CLASSES)
_VS_CODES = tables.VARIATION_SELECTOR.marker * 4
_LOOKALIKE_IN_WORD = re.compile(tables.LOOKALIKE + "(?:(?<=[A-Za-z].)|(?=[A-Za-z]))")
_RTL_LETTER = re.compile(r"[\u0590-\u08ff\ufb1d-\ufdff\ufe70-\ufefc]")
_LETTER = r"[^\W\d_]"
_ZW_IN_WORD = re.compile(rf"(?<={_LETTER})\x01+(?={_LETTER})")
_MARK_IN_ASCII_WORD = re.compile(r"(?<=[A-Za-z])[\x02\x03]+(?=[A-Za-z])")
_FLAG_TAGS = re.compile("\U0001f3f4[\U000e0020-\U000e007e]{1,8}\U000e007f")
_TAG_RUN = re.compile("[\U000e0000-\U000e007f]+")
_VS_RUN = re.compile("[\ufe00-\ufe0f\U000e0100-\U000e01ef]{4,}")
_ZALGO = re.compile(r"\x0f{3,}")
_TAG_DECODE = {0xE0000 + i: (chr(i) if 0x20 <= i < 0x7F else None) for i in range(0x80)}
_VS_DECODE = {0xFE00 + i: chr(i) for i in range(16)} | {0xE0100 + i: chr(16 + i) for i in range(240)}
_MAX_SPANS = 16
_EXCERPT = 48


@dataclass(frozen=True, slots=True)
class HiddenPayload:
    """Text decoded from invisible characters, with where it sat in the original."""

    name: str
    text: str
    span: Span


@dataclass(frozen=True, slots=True)
class UnicodeFold:
    normalized: View
    unicode: View | None = None
    payloads: tuple[HiddenPayload, ...] = ()
    findings: tuple[Finding, ...] = field(default_factory=tuple)


def fold(text: str, gates: frozenset[str] | None = None) -> UnicodeFold:
    if text.isascii() and not (may_match(gates, "control") and _ASCII_CONTROL.search(text)):
        return UnicodeFold(View("normalized", text))
    t = tables.fold_tables()
    changes = _changes(text, t)
    codes, folded = _translate(text, changes, t.codes, t.codes_map), _translate(text, changes, t.fold, t.fold_map)
    markers = _markers(changes, t.codes_map)
    anchors = _anchors(text, codes, t.fold) if not markers.isdisjoint(tables.IRREGULAR_CHARS) else offsets.IDENTITY
    lookalikes = tables.LOOKALIKE in markers
    # translating with a dict costs ~50 ns a character: the unicode view only when it is kept
    unicode_view = View("unicode", _translate(text, changes, t.nfkc, t.nfkc_map), anchors) if lookalikes else None
    payloads = _hidden_payloads(text) if (tables.TAG.marker in codes or _VS_CODES in codes) else ()
    findings = [
        _invisible_finding(text, codes, payloads) if not markers.isdisjoint(_INVISIBLE_MARKERS) else None,
        _homoglyph_finding(codes) if lookalikes else None,
        _zalgo(codes) if tables.MARK.marker in codes else None,
    ]
    normalized = View("normalized", folded, anchors)
    return UnicodeFold(normalized, unicode_view, payloads, tuple(f for f in findings if f is not None))


@dataclass(frozen=True, slots=True)
class _Changes:
    """Where the fold tables apply in a text: its code points, the positions of those some table
    changes, and their runs (None when there are too many to translate one by one); and, for the
    numpy paths, where each changed character sits in `FoldTables.keys` (looked up once)."""

    points: np.ndarray
    at: np.ndarray
    runs: list[tuple[int, int]] | None
    index: np.ndarray


def _changes(text: str, t: tables.FoldTables) -> _Changes:
    points = offsets.codepoints(text)
    # no table lists printable ASCII: look only the other characters up (below 0x20 wraps around)
    maybe = np.flatnonzero((points - 0x20) > 0x5E)
    at = maybe[t.changed[points[maybe]]]
    index = np.searchsorted(t.keys, points[at])  # exact: every changed character is a key
    if len(at) > _MAX_RUNS * 4:  # numpy's fixed cost pays off
        breaks = np.flatnonzero(np.diff(at) != 1) + 1
        if len(breaks) >= _MAX_RUNS:
            return _Changes(points, at, None, index)
        starts = at[np.concatenate(([0], breaks))].tolist()
        ends = (at[np.concatenate((breaks - 1, [len(at) - 1]))] + 1).tolist()
        return _Changes(points, at, list(zip(starts, ends)), index)
    runs: list[tuple[int, int]] = []
    for pos in at.tolist():
        if runs and runs[-1][1] == pos:
            runs[-1] = (runs[-1][0], pos + 1)
        else:
            runs.append((pos, pos + 1))
    return _Changes(points, at, runs if len(runs) <= _MAX_RUNS else None, index)


def _markers(changes: _Changes, codes_map: tables.CharMap) -> frozenset[str]:
    """The markers in the coded text, from its changed characters alone: any `re` scan of the whole
    coded text costs ~6 ns a character, and no unchanged character is a marker (every C0 control
    is in the tables). Every ``codes`` entry is one marker, below U+0011."""
    index = changes.index
    coded = codes_map.values[index[codes_map.listed[index]]]
    return frozenset(map(chr, np.flatnonzero(np.bincount(coded, minlength=1)).tolist()))


def _translate(text: str, changes: _Changes, table: dict[int, str], char_map: tables.CharMap) -> str:
    """``text.translate(table)``, cheaper: ``str.translate`` with a dict costs ~40 ns for every
    character, even one the table does not hold (Chinese, most Cyrillic).

    A few runs of listed characters are translated one by one, the rest copied; many runs that
    each become one character are translated in numpy; only otherwise does the whole text go.
    """
    if changes.runs is None:
        one_to_one = _translate_points(changes, char_map)
        return one_to_one if one_to_one is not None else text.translate(table)
    out: list[str] = []
    pos = 0
    for start, end in changes.runs:
        out += (text[pos:start], text[start:end].translate(table))
        pos = end
    out.append(text[pos:])
    return "".join(out)


def _translate_points(changes: _Changes, char_map: tables.CharMap) -> str | None:
    """The translation when every listed character of the text becomes exactly one; else None."""
    listed = char_map.listed[changes.index]
    index = changes.index[listed]
    if not char_map.one[index].all():
        return None
    out = changes.points.copy()
    out[changes.at[listed]] = char_map.values[index]
    return offsets.from_codepoints(out)


def _anchors(text: str, codes: str, table: dict[int, str]) -> offsets.Anchors:
    irregular = [m.start() for m in islice(_IRREGULAR.finditer(codes), offsets.SPARSE_LIMIT + 1)]
    if len(irregular) <= offsets.SPARSE_LIMIT:
        return offsets.sparse_anchors([(i, len(table[ord(text[i])])) for i in irregular])
    points = offsets.codepoints(codes)
    removed = (points <= 8) | (points == 14) | (points == 15)
    out_len = np.where(removed, 0, 1).astype(np.int64)
    expanded = np.flatnonzero(points == 0)
    if len(expanded):
        distinct, inverse = np.unique(offsets.codepoints(text)[expanded], return_inverse=True)
        lengths = np.array([len(table[int(cp)]) for cp in distinct], dtype=np.int64)
        out_len[expanded] = lengths[inverse]
    return offsets.anchors_for_lengths(out_len)


# --- invisible characters -------------------------------------------------------------------------


def _effective_counts(text: str, codes: str) -> dict[InvisibleClass, int]:
    """How many characters of each class are hidden, benign uses left out."""
    # str.count and `in` find a marker at memchr speed; the regexes below start with a lookbehind
    # and would be tried at every position
    counts = {cls: codes.count(cls.marker) for cls in tables.INVISIBLE_CLASSES}
    if text.startswith("\ufeff"):
        counts[tables.ZERO_WIDTH] -= 1
    counts[tables.VARIATION_SELECTOR] = _chars_in_runs(codes, tables.VARIATION_SELECTOR.marker)
    joiners_in_words = 0
    if tables.JOINER.marker in codes:
        in_words = _MARK_IN_ASCII_WORD.finditer(codes, 0)
        joiners_in_words = sum(m.end() - m.start() for m in in_words if tables.JOINER.marker in m.group())
    counts[tables.JOINER] = max(_chars_in_runs(codes, tables.JOINER.marker), joiners_in_words)
    if counts[tables.DIRECTION_MARK] and _RTL_LETTER.search(text):
        counts[tables.DIRECTION_MARK] = 0
    if counts[tables.TAG] and "\U0001f3f4" in text:
        counts[tables.TAG] -= sum(len(m) - 1 for m in _FLAG_TAGS.findall(text))
    return {cls: n for cls, n in counts.items() if n > 0}


def _chars_in_runs(codes: str, marker: str) -> int:
    """Characters of ``marker`` that sit in runs of two or more (a single one is a benign use)."""
    if codes.count(marker) < 2:
        return 0
    return sum(len(run) for run in re.findall(re.escape(marker) + "{2,}", codes))


def _invisible_finding(text: str, codes: str, payloads: tuple[HiddenPayload, ...]) -> Finding | None:
    counts = _effective_counts(text, codes)
    if not counts:
        return None
    scores = []
    for cls in counts:
        score = cls.base_score
        if cls is tables.BIDI_CONTROL and _RTL_LETTER.search(text):
            score = 0.6
        if cls is tables.VARIATION_SELECTOR and _VS_RUN.search(text):
            score = 0.9
        scores.append(score)
    zero_width = tables.ZERO_WIDTH.marker in codes and _ZW_IN_WORD.search(codes)
    marks = tables.JOINER.marker in codes or tables.DIRECTION_MARK.marker in codes
    if zero_width or (marks and _MARK_IN_ASCII_WORD.search(codes)):
        scores.append(0.9)
    total = sum(counts.values())
    score = min(1.0, max(scores) + min(0.15, 0.03 * math.log2(total)))
    markers = "".join(cls.marker for cls in counts)
    runs = [m.span() for _, m in zip(range(_MAX_SPANS), re.finditer(f"[{re.escape(markers)}]+", codes))]
    last = max(codes.rfind(m) for m in markers) + 1
    parts = ", ".join(f"{n} {cls.label}" for cls, n in sorted(counts.items(), key=lambda kv: -kv[1]))
    reason = f"{total} invisible characters hidden in the text ({parts})"
    for payload in payloads:
        reason += f"; decoded {payload.name.split(':')[1]}: {_excerpt(payload.text)}"
    return Finding(
        kind=ThreatKind.INVISIBLE_TEXT,
        detector=DETECTOR,
        score=round(score, 4),
        reason=reason,
        span=Span(runs[0][0], last),
        view="raw",
        metadata={
            "count": total,
            "classes": {cls.label: n for cls, n in counts.items()},
            "spans": [list(r) for r in runs],
        },
    )


def _excerpt(text: str) -> str:
    short = text[:_EXCERPT] + ("..." if len(text) > _EXCERPT else "")
    return repr(short)


def _hidden_payloads(text: str) -> tuple[HiddenPayload, ...]:
    found = []
    if _TAG_RUN.search(text):
        tag_text = _FLAG_TAGS.sub("", text) if "\U0001f3f4" in text else text
        runs = list(_TAG_RUN.finditer(tag_text))
        decoded = "".join(m.group() for m in runs).translate(_TAG_DECODE)
        if decoded.strip():
            start = text.find(runs[0].group()[0])
            end = text.rfind(runs[-1].group()[-1]) + 1
            found.append(HiddenPayload("decoded:tags", decoded, Span(start, max(start, end))))
    for _, m in zip(range(_MAX_SPANS), _VS_RUN.finditer(text)):
        raw = m.group().translate(_VS_DECODE).encode("latin-1")
        decoded = raw.decode("utf-8", "replace")
        if decoded.count("\ufffd") * 10 <= len(decoded):
            found.append(HiddenPayload("decoded:variation_selectors", decoded, Span(*m.span())))
    return tuple(found)


# --- look-alikes ----------------------------------------------------------------------------------


def _homoglyph_finding(codes: str) -> Finding | None:
    """Letters of another script that look Latin, written next to ASCII letters ("іgnоrе")."""
    hits = [m.start() for m in _LOOKALIKE_IN_WORD.finditer(codes)]
    if len(hits) < 2:
        return None
    return Finding(
        kind=ThreatKind.ENCODING_OBFUSCATION,
        detector=DETECTOR,
        score=0.5 if len(hits) < 4 else 0.7,
        reason=f"{len(hits)} look-alike letters from other scripts mixed into Latin words",
        span=Span(hits[0], hits[-1] + 1),
        rule_id="normalize.homoglyphs",
        metadata={"count": len(hits)},
    )


def _zalgo(codes: str) -> Finding | None:
    first = _ZALGO.search(codes)
    if first is None:
        return None
    count = codes.count(tables.MARK.marker)
    if count < 8:
        return None
    return Finding(
        kind=ThreatKind.ENCODING_OBFUSCATION,
        detector=DETECTOR,
        score=0.4,
        reason=f"{count} stacked combining marks (zalgo text) folded away",
        span=Span(max(0, first.start() - 1), len(codes)),
        rule_id="normalize.zalgo",
        metadata={"count": count},
    )
