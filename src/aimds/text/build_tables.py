"""Dev-time generator of ``data/fold_table.json``, the per-character folding table (not used at run time).

Run ``python -m aimds.text.build_tables`` after a Python (Unicode) upgrade; it needs the
``confusable-homoglyphs`` package, whose data is Unicode's ``confusables.txt`` made symmetric.

Why a shipped table: computing NFKC and confusable folding for every code point at import would take
about a second, and caching lazily would let an adversary grow the cache with a text of many distinct
characters. A plain ``{code point: replacement}`` dict fed to ``str.translate`` folds text at C speed
and leaves every character it does not list unchanged.

Each entry says what one code point becomes in the ``normalized`` view:
- invisible and control characters (Cf, Cc other than tab/newline/CR, variation selectors, Hangul
  fillers, combining grapheme joiner) become ``""``;
- otherwise NFKC of the character, with combining diacritics of the Latin/Greek/Cyrillic mark blocks
  stripped (so "é" becomes "e", and zalgo stacks vanish), then each resulting character that is a
  confusable of an ASCII letter or digit replaced by it (Cyrillic "о" becomes "o").
``nfkc`` holds the same without the confusable step, for the ``unicode`` view; where the two would
differ in length (never with this data) the stripped form is used so both share offsets.
"""

from __future__ import annotations

import json
import sys
import unicodedata
from pathlib import Path

OUT = Path(__file__).with_name("data") / "fold_table.json"

#: Combining-mark blocks used for diacritics on Latin, Greek and Cyrillic letters (and zalgo text).
DIACRITIC_BLOCKS = ((0x0300, 0x036F), (0x1AB0, 0x1AFF), (0x1DC0, 0x1DFF), (0x20D0, 0x20FF), (0xFE20, 0xFE2F))
#: Invisible characters that are not in category Cf/Cc.
EXTRA_INVISIBLE = (
    [(0xFE00, 0xFE0F), (0xE0100, 0xE01EF)]  # variation selectors
    + [(0x115F, 0x1160), (0x3164, 0x3164), (0xFFA0, 0xFFA0)]  # Hangul fillers
    + [(0x180B, 0x180D), (0x180F, 0x180F)]  # Mongolian free variation selectors
)
KEEP = {"\t", "\n", "\r"}
SCAN_RANGES = ((0, 0x33FFF), (0xE0000, 0xE01EF))


def _in(cp: int, ranges: tuple[tuple[int, int], ...] | list[tuple[int, int]]) -> bool:
    return any(lo <= cp <= hi for lo, hi in ranges)


def _is_invisible(ch: str) -> bool:
    cp = ord(ch)
    if ch in KEEP:
        return False
    return unicodedata.category(ch) in ("Cf", "Cc") or _in(cp, EXTRA_INVISIBLE) or cp == 0x034F


def _strip_diacritics(s: str) -> str:
    decomposed = unicodedata.normalize("NFD", s)
    kept = "".join(c for c in decomposed if not _in(ord(c), DIACRITIC_BLOCKS))
    return unicodedata.normalize("NFC", kept)


def _confusable_map() -> dict[str, str]:
    """Non-ASCII letters/digits that look like an ASCII letter or digit, mapped to it.

    The data files "I", "1" and "|" look-alikes all under the prototype "l"; upper-case letters and
    digits there are given "I" and "1" instead. Where a character is listed under several ASCII
    characters, prefer a letter for letters and a digit for digits, then the same case.
    """
    import confusable_homoglyphs  # dev-time only

    data = json.loads((Path(confusable_homoglyphs.__file__).parent / "confusables.json").read_text("utf-8"))
    candidates: dict[str, list[str]] = {}
    for key, entries in data.items():
        if not (len(key) == 1 and key.isascii() and key.isalnum()):
            continue
        for entry in entries:
            c = entry["c"]
            if len(c) == 1 and not c.isascii() and unicodedata.category(c)[0] in "LN":
                candidates.setdefault(c, []).append(key)
                if key == "l":
                    candidates[c] += ["I", "1"]

    def rank(c: str, key: str) -> tuple[int, int, str]:
        kind_match = key.isdigit() == (unicodedata.category(c)[0] == "N")
        case_match = key.isupper() == c.isupper()
        return (0 if kind_match else 1, 0 if case_match else 1, key)

    return {c: min(keys, key=lambda k: rank(c, k)) for c, keys in candidates.items()}


def build() -> dict[str, object]:
    confusables = _confusable_map()
    fold: dict[str, str] = {}
    nfkc: dict[str, str] = {}
    for lo, hi in SCAN_RANGES:
        for cp in range(lo, hi + 1):
            ch = chr(cp)
            if 0xD800 <= cp <= 0xDFFF:
                fold[f"{cp:x}"] = nfkc[f"{cp:x}"] = "\ufffd"
                continue
            if _is_invisible(ch) or _in(cp, DIACRITIC_BLOCKS):
                fold[f"{cp:x}"] = ""
                continue
            if cp < 0x80:
                continue
            if unicodedata.category(ch) in ("Zl", "Zp"):
                fold[f"{cp:x}"] = nfkc[f"{cp:x}"] = "\n"
                continue
            plain = unicodedata.normalize("NFKC", ch)
            stripped = _strip_diacritics(plain)
            folded = "".join(confusables.get(c, c) for c in stripped)
            if folded != ch:
                fold[f"{cp:x}"] = folded
            unconfused = plain if len(plain) == len(folded) else stripped
            if unconfused != folded:
                nfkc[f"{cp:x}"] = unconfused
    return {"unicode_version": unicodedata.unidata_version, "fold": fold, "nfkc": nfkc}


def main() -> None:
    table = build()
    OUT.parent.mkdir(exist_ok=True)
    OUT.write_text(json.dumps(table, ensure_ascii=True, separators=(",", ":"), sort_keys=True), "utf-8")
    print(f"wrote {OUT}: {len(table['fold'])} folded, {len(table['nfkc'])} kept by nfkc", file=sys.stderr)


if __name__ == "__main__":
    main()
