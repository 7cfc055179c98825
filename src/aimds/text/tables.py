"""Translate tables for the unicode fold, loaded once from the shipped ``data/fold_table.json``.

Three ``str.translate`` tables share one key set, so they all fold at C speed:
- ``fold``: what each listed code point becomes in the ``normalized`` view (see `build_tables`);
- ``nfkc``: the same without confusable folding, for the ``unicode`` view (same lengths);
- ``codes``: a marker per code point whose fold is not one character: ``EXPANDS`` when it becomes
  several, else the class of the removed character; and ``LOOKALIKE`` for confusables of other scripts. Markers are C0 control characters; every C0
  control of the input is itself mapped to a marker, so a marker in the coded text is never input.
"""

from __future__ import annotations

import json
import unicodedata
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import numpy as np

EXPANDS = "\x00"
#: a letter of another script folded to its ASCII look-alike (kept, one character)
LOOKALIKE = "\x10"


@dataclass(frozen=True, slots=True, eq=False)
class InvisibleClass:
    """One family of removed characters, with how suspicious it is on its own."""

    marker: str
    label: str
    base_score: float


ZERO_WIDTH = InvisibleClass("\x01", "zero-width characters", 0.3)
JOINER = InvisibleClass("\x02", "zero-width joiners", 0.3)
DIRECTION_MARK = InvisibleClass("\x03", "direction marks", 0.3)
BIDI_CONTROL = InvisibleClass("\x04", "bidi override/isolate controls", 0.9)
TAG = InvisibleClass("\x05", "Unicode tag characters", 0.95)
VARIATION_SELECTOR = InvisibleClass("\x06", "variation selectors", 0.3)
SOFT_HYPHEN = InvisibleClass("\x07", "soft hyphens", 0.25)
CONTROL = InvisibleClass("\x08", "control characters", 0.5)
OTHER_FORMAT = InvisibleClass("\x0e", "invisible format characters", 0.6)
MARK = InvisibleClass("\x0f", "combining marks", 0.0)  # folded away, reported only as zalgo

INVISIBLE_CLASSES = (
    ZERO_WIDTH, JOINER, DIRECTION_MARK, BIDI_CONTROL, TAG, VARIATION_SELECTOR, SOFT_HYPHEN, CONTROL, OTHER_FORMAT
)
IRREGULAR_CHARS = EXPANDS + "".join(c.marker for c in INVISIBLE_CLASSES) + MARK.marker

_RANGES: tuple[tuple[InvisibleClass, tuple[tuple[int, int], ...]], ...] = (
    (ZERO_WIDTH, ((0x200B, 0x200B), (0x2060, 0x2064), (0xFEFF, 0xFEFF), (0x180E, 0x180E))),
    (JOINER, ((0x200C, 0x200D), (0x034F, 0x034F))),
    (DIRECTION_MARK, ((0x200E, 0x200F), (0x061C, 0x061C))),
    (BIDI_CONTROL, ((0x202A, 0x202E), (0x2066, 0x2069))),
    (TAG, ((0xE0000, 0xE007F),)),
    (VARIATION_SELECTOR, ((0xFE00, 0xFE0F), (0xE0100, 0xE01EF), (0x180B, 0x180D), (0x180F, 0x180F))),
    (SOFT_HYPHEN, ((0x00AD, 0x00AD),)),
    (CONTROL, ((0x00, 0x1F), (0x7F, 0x9F))),
)


@dataclass(frozen=True, slots=True)
class CharMap:
    """A translate table as arrays aligned with `FoldTables.keys` (one lookup of a text's changed
    characters serves all three tables), to translate text made mostly of listed characters in
    numpy: whether the table lists each key, and the one character it becomes (``one`` False where
    it becomes none or several, or is not listed)."""

    listed: np.ndarray
    values: np.ndarray
    one: np.ndarray

    @classmethod
    def of(cls, table: dict[int, str], keys: list[int]) -> "CharMap":
        out = [table.get(k) for k in keys]
        return cls(np.array([o is not None for o in out], dtype=bool),
                   np.array([ord(o) if o is not None and len(o) == 1 else 0 for o in out], dtype=np.uint32),
                   np.array([o is not None and len(o) == 1 for o in out], dtype=bool))


@dataclass(frozen=True, slots=True)
class FoldTables:
    fold: dict[int, str]
    nfkc: dict[int, str]
    codes: dict[int, str]
    #: code points of letters of other scripts folded to an ASCII look-alike (Cyrillic "о"), sorted
    confusables: np.ndarray
    unicode_version: str
    #: per code point up to U+10FFFF: does any table change it (1.1 MB, for finding what to translate)
    changed: np.ndarray
    #: the code points some table lists, sorted (those of ``nfkc``, which lists all)
    keys: np.ndarray
    fold_map: CharMap
    nfkc_map: CharMap
    codes_map: CharMap


def _classify(cp: int) -> InvisibleClass:
    for cls, ranges in _RANGES:
        if any(lo <= cp <= hi for lo, hi in ranges):
            return cls
    return OTHER_FORMAT


@cache
def fold_tables() -> FoldTables:
    """Load the shipped table (about 9,000 entries); constant data, so cached for the process."""
    raw = json.loads((Path(__file__).with_name("data") / "fold_table.json").read_text("utf-8"))
    fold = {int(k, 16): v for k, v in raw["fold"].items()}
    nfkc = fold | {int(k, 16): v for k, v in raw["nfkc"].items()}
    codes: dict[int, str] = {}
    for cp, out in fold.items():
        if out == "":
            codes[cp] = MARK.marker if _is_diacritic(cp) else _classify(cp).marker
        elif len(out) > 1:
            codes[cp] = EXPANDS
    confusables = np.array(
        sorted(
            k
            for k, v in fold.items()
            if len(v) == 1 and v.isascii() and nfkc[k] != v and not unicodedata.normalize("NFD", chr(k))[0].isascii()
        ),
        dtype=np.int64,
    )
    codes.update((cp, LOOKALIKE) for cp in confusables.tolist())
    changed = np.zeros(0x110000, dtype=bool)
    changed[list(nfkc)] = True  # `nfkc` holds every key of `fold`, and so of `codes`
    keys = sorted(nfkc)
    return FoldTables(fold, nfkc, codes, confusables, raw["unicode_version"], changed, np.array(keys, dtype=np.uint32),
                      CharMap.of(fold, keys), CharMap.of(nfkc, keys), CharMap.of(codes, keys))


def _is_diacritic(cp: int) -> bool:
    blocks = ((0x0300, 0x036F), (0x1AB0, 0x1AFF), (0x1DC0, 0x1DFF), (0x20D0, 0x20FF), (0xFE20, 0xFE2F))
    return cp != 0x034F and any(lo <= cp <= hi for lo, hi in blocks)
