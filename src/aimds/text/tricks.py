"""The ``folded`` view: leetspeak and spacing tricks undone, for keyword matching only.

Kept apart from ``normalized`` on purpose: undoing the tricks also mangles ordinary text ("h4x"
becomes "hax", "well-known" becomes "wellknown", "a b c" becomes "abc"), which would hurt detectors
that read real prose, numbers, URLs or PII. The view exists only when it differs from ``normalized``.

- letters that only look Latin and that ``normalized`` keeps because they are not confusables of
  one ("т", "ε", "ь", "ᴘʀᴏᴍᴘᴛ" in small capitals, "€") become the Latin letter they pass for:
  obfuscators mix them into English words ("insтructions", "sys+€m"), and here, unlike in
  ``normalized``, folding real Cyrillic or Greek words too costs nothing;
- leetspeak (1->i, 3->e, 0->o, 4->a, 5->s, 7->t, 8->b, @->a, $->s, +->t, !->i, |->i, "11" and
  "||"->"ll") is folded only inside word-sized tokens (2 to 32 characters) made of letters and those
  digits/symbols alone, with at least one of each, so "2024", "$5", hex and base64 blobs stay, and
  not in a number with its unit or ordinal ("6:30am", "1st", "8gb": most prose has one). The
  punctuation among them counts only inside a word ("Hello!" stays), and not where it is the one
  separator between single letters ("A+B", "i|g|n|o|r|e": the separator rules below drop it);
- letters spaced out with one repeated separator ("i g n o r e", "i.g.n.o.r.e") are joined;
- a single separator between two letters ("ign-ore", "ig_no.re") is dropped;
- one symbol interleaved with every character, spaces and punctuation included, over at least six
  characters ("\\I\\ \\h\\a\\v\\e", "i-g-n-o-r-e- -a-l-l"), is dropped: this hides whole sentences, not
  just words, from both keyword matching and the learned models' n-grams.
All regexes are linear: character classes under single quantifiers, the separator pinned by a
backreference, and each token start fixed by a lookbehind. Leet tokens and separators inside words
are found in a copy of the text with one byte per character class, by scans that start with a
literal, so ordinary prose costs a translation and a memchr rather than a `re` character-class scan.
"""

from __future__ import annotations

import functools
import re
import string

import numpy as np

from aimds.text import offsets
from aimds.text.gates import may_match
from aimds.text.views import View

_PUNCTUATION_LEET = "+!|"
_SYMBOL_LEET = "0134578@$"
_LEET_CHARS = _SYMBOL_LEET + _PUNCTUATION_LEET
_TOKEN_CHAR = rf"[A-Za-z0-9{re.escape(_LEET_CHARS)}]"
_LEET_CLASS = f"[{re.escape(_LEET_CHARS)}]"
_MAX_LEET_TOKEN = 32
_TOKENS_ONE_BY_ONE = 8
# A leet token with the character before it, which is what starts a token: the pattern starts with
# a character class, so the engine skips the letters of ordinary words at C speed.
_SEPARATOR_LEET_TOKEN = re.compile(
    rf"([^A-Za-z0-9{re.escape(_LEET_CHARS)}])(?={_LEET_CLASS}*[A-Za-z])(?=[A-Za-z]*{_LEET_CLASS})"
    rf"([A-Za-z{re.escape(_LEET_CHARS)}]{{2,{_MAX_LEET_TOKEN}}})(?!{_TOKEN_CHAR})"
)
_CHARS_PER_TOKEN = 64  # looking at one token costs about what the regex costs on 30-60 characters


def _byte_classes(classes: dict[str, str]) -> bytes:
    """A bytes.translate table giving each listed ASCII character its class letter, any other " "."""
    table = bytearray(b" " * 256)
    for cls, chars in classes.items():
        for c in chars:
            table[ord(c)] = ord(cls)
    return bytes(table)


# What a character is to a leet token: a letter, a leet digit or symbol, leet punctuation, another
# digit, or none of them (nor is the "?" that stands for any non-ASCII character).
_CLASSES = _byte_classes({"a": string.ascii_letters, "1": _SYMBOL_LEET, "p": _PUNCTUATION_LEET, "d": "269"})
# In `_CLASSES` bytes: a leet character beside a letter; leet punctuation only inside a word
# ("Hello!" and "Home | About" hold no leet). Two regexes, each starting with a literal (memchr
# speed): one alternation of both reads every byte, ten times slower on a 100 kB page.
_SYMBOL_NEXT_TO_LETTER = re.compile(rb"1(?:(?<=a1)|(?=a))")
_PUNCTUATION_IN_WORD = re.compile(rb"p(?<=[a1]p)p*(?=[a1])")
_INNER_SEP_CLASSES = _byte_classes({"a": string.ascii_letters, "s": "-._*|~^+"})
_LEET_MAP = {"1": "i", "3": "e", "0": "o", "4": "a", "5": "s", "7": "t", "8": "b", "@": "a", "$": "s",
             "+": "t", "!": "i", "|": "i"}
_LEET = str.maketrans(_LEET_MAP)
# per punctuation character: the table for a token in which it is the separator of spaced letters
_LEET_KEEPING = {p: str.maketrans({k: v for k, v in _LEET_MAP.items() if k != p}) for p in _PUNCTUATION_LEET}
# Letters that pass for Latin ones in a Latin word, that the confusable fold of `unicode_fold` keeps
# (they are not confusables of a Latin letter, only near it: small capitals, Cyrillic "т", Greek
# "ε", "€"). One to one, so offsets do not move.
_LOOKALIKES = {
    "т": "t", "ь": "b", "в": "b", "н": "h", "к": "k", "м": "m", "п": "n", "ε": "e", "ς": "c", "χ": "x",
    "π": "p", "τ": "t", "κ": "k", "ω": "w", "β": "b", "ʀ": "r", "ᴛ": "t", "ᴇ": "e", "ᴘ": "p",
    "ᴍ": "m", "ᴋ": "k", "ᴀ": "a", "ʙ": "b", "ᴅ": "d", "ɢ": "g", "ʜ": "h", "ᴊ": "j", "ʟ": "l", "ɴ": "n",
    "ł": "l", "Ł": "L", "Ð": "D", "đ": "d", "ħ": "h", "ŧ": "t", "ø": "o", "Ø": "O", "€": "e",
}
_LOOKALIKE = re.compile("[" + "".join(_LOOKALIKES) + "]")
_LETTER = r"[^\W\d_]"
_SPACED = re.compile(
    rf"(?<![^\W_]){_LETTER}(?P<sep>[ ._*|~+/:-]){_LETTER}(?:(?P=sep){_LETTER})+(?![^\W_])"
)
# three single letters in a row with one separator: a cheap gate (it starts with a character class)
_SPACED_HINT = re.compile(rf"(?P<sep>[ ._*|~+/:-]){_LETTER}(?P=sep){_LETTER}(?P=sep){_LETTER}(?![^\W_])")
_INNER_SEP = re.compile(rf"[-._*|~^+](?<={_LETTER}.)(?={_LETTER})")
# A symbol, then six or more (character, same symbol) pairs: linear, each pair is two fixed characters.
_INTERLEAVED = re.compile(r"(?P<sep>[^\w\s])(?:[^\n](?P=sep)){6,}")
# The hints without lookarounds (which Hyperscan would drop, firing on every leet character or
# separator): the same texts match.
_LEET_GATE = re.compile(rf"[A-Za-z][{re.escape(_SYMBOL_LEET)}]|[{re.escape(_SYMBOL_LEET)}][A-Za-z]")
# Folding leet turns leet characters into letters (and nothing else changes), so with a leet
# character allowed wherever a letter is, the separator gates fire on the text before folding
# wherever their regexes match the folded text: one Hyperscan pass gates both texts. `_INTERLEAVED`
# needs no such form: folding only takes symbols away from it.
_LETTER_OR_LEET = rf"(?:{_LETTER}|{_LEET_CLASS})"
_SPACED_GATE = re.compile(
    rf"(?P<sep>[ ._*|~+/:-]){_LETTER_OR_LEET}(?P=sep){_LETTER_OR_LEET}(?P=sep){_LETTER_OR_LEET}"
)
_INNER_SEP_GATE = re.compile(rf"{_LETTER_OR_LEET}[-._*|~^+]{_LETTER_OR_LEET}")
#: per regex `fold_tricks` may skip, one that matches wherever it does, for a Hyperscan pass (see `gates`)
GATE_PATTERNS = {"leet": _LEET_GATE, "spaced": _SPACED_GATE, "inner_separator": _INNER_SEP_GATE,
                 "interleaved": _INTERLEAVED}


def fold_tricks(base: View, gates: frozenset[str] | None = None) -> View | None:
    """The folded view of ``base`` (normally the ``normalized`` view), or None when nothing changed.

    ``gates`` (from `aimds.text.gates`, for ``base.text``, and so for its leet folded) lets it skip
    regexes that cannot match.
    """
    text = _fold_lookalikes(base.text)
    if text is not base.text and text.count("€") != base.text.count("€"):
        gates = None  # the gates read "€" as a symbol (the other lookalikes as letters, as they still are)
    if may_hold_leet(text, gates):
        text = _unleet_tokens(text)
    deletions = _separators(text, gates)
    if not deletions:
        if text == base.text:
            return None
        return View("folded", text, base.anchors)
    folded, anchors = offsets.delete(text, deletions)
    return View("folded", folded, offsets.compose(anchors, base.anchors))


def may_hold_leet(text: str, gates: frozenset[str] | None) -> bool:
    """False only when `_unleet_tokens` would leave ``text`` as it is. Leet punctuation is not
    gated: three memchr scans cost less than its pattern in the Hyperscan pass."""
    return may_match(gates, "leet") or any(mark in text for mark in _PUNCTUATION_LEET)


def _fold_lookalikes(text: str) -> str:
    """``text`` with each letter of `_LOOKALIKES` that stands next to a letter made Latin, when the
    text is written in Latin letters (``text`` itself otherwise, or when nothing changes).

    "Written in Latin": at most two letters of other scripts that pass for no Latin one ("и", "л",
    "δ"), or fewer than one for every eight lookalikes. Real Russian or Greek text has about as many
    of those as of lookalikes, and its own keywords match ``normalized``; folding it would only add
    a view to scan. One lookalike
    alone ("€5", "π") is left as it is. Vectorised over code points: a dict `str.translate` of a
    100 kB non-ASCII text costs ~8 ms, this well under one.
    """
    if text.isascii() or _LOOKALIKE.search(text) is None:
        return text
    points = np.frombuffer(text.encode("utf-32-le", "surrogatepass"), dtype=np.uint32)
    kinds = _letter_kinds()[np.minimum(points, 0xFFFF)]
    kinds[points > 0xFFFF] = _OTHER
    counts = np.bincount(kinds, minlength=4)
    if counts[_NATIVE] > 2 and counts[_NATIVE] * 8 >= counts[_LOOKALIKE_LETTER]:
        return text
    lookalike = kinds == _LOOKALIKE_LETTER
    letter = kinds != _OTHER
    beside_letter = np.zeros_like(lookalike)
    beside_letter[1:] |= letter[:-1]
    beside_letter[:-1] |= letter[1:]
    fold_at = lookalike & beside_letter
    if not fold_at.any():
        return text
    folded = points.copy()
    folded[fold_at] = _latin_for()[points[fold_at]]
    return folded.tobytes().decode("utf-32-le", "surrogatepass")


_OTHER, _LATIN, _LOOKALIKE_LETTER, _NATIVE = range(4)


@functools.cache
def _letter_kinds() -> np.ndarray:
    """Per code point of the Basic Multilingual Plane: `_OTHER`, `_LATIN` (an ASCII letter),
    `_LOOKALIKE_LETTER` or `_NATIVE` (another letter), built by `re` in a few ms on first use."""
    table = "".join(map(chr, range(0x10000)))
    table = re.sub(f"[{''.join(_LOOKALIKES)}]", "\x02", table)
    table = re.sub(r"[A-Za-z]", "\x01", table)
    table = re.sub(r"[^\W\d_\x00-\x7f]", "\x03", table)
    table = re.sub(r"[^\x01-\x03]", "\x00", table)
    return np.frombuffer(table.encode("ascii"), dtype=np.uint8).copy()


@functools.cache
def _latin_for() -> np.ndarray:
    latin = np.arange(0x10000, dtype=np.uint32)
    for char, letter in _LOOKALIKES.items():
        latin[ord(char)] = ord(letter)
    return latin


def _unleet_tokens(text: str) -> str:
    """Fold every leet token: a whole run of token characters, 2 to 32 long, made only of letters
    and leet characters, with at least one of each.

    Such a token holds a leet character next to a letter, so tokens are looked at one by one from
    those: in a copy of the text with one byte per character saying what it is (`_CLASSES`), where
    the regex for them starts with a literal (any `re` scan starting with a character class costs
    ~6 ns a character) and bytes.find/rfind find each token's ends. Past a budget of tokens (text
    dense with them), one regex substitution does the rest.
    """
    classes = text.encode("ascii", "replace").translate(_CLASSES)  # one byte per character
    budget = _TOKENS_ONE_BY_ONE + len(text) // _CHARS_PER_TOKEN
    out: list[str] = []
    done = end = 0  # text before `done` is in `out`; tokens before `end` are looked at
    symbol = _SYMBOL_NEXT_TO_LETTER.search(classes)
    punctuation = _PUNCTUATION_IN_WORD.search(classes) if b"p" in classes else None
    while symbol is not None or punctuation is not None:
        # the earlier hint; the token's other hints are skipped at C speed
        at = min(m.start() for m in (symbol, punctuation) if m is not None)
        if budget == 0:  # `end` ends a token, so a separator (or nothing) is next
            out += (text[done:end], _SEPARATOR_LEET_TOKEN.sub(_fold_separated, text[end:]))
            return "".join(out)
        budget -= 1
        start = classes.rfind(b" ", 0, at) + 1
        end = classes.find(b" ", at)
        end = len(text) if end < 0 else end
        if end - start <= _MAX_LEET_TOKEN and b"d" not in classes[start:end]:
            out += (text[done:start], _fold_leet(text[start:end]))
            done = end
        if symbol is not None and symbol.start() < end:
            symbol = _SYMBOL_NEXT_TO_LETTER.search(classes, end)
        if punctuation is not None and punctuation.start() < end:
            punctuation = _PUNCTUATION_IN_WORD.search(classes, end)
    if not out:
        return text
    out.append(text[done:])
    return "".join(out)


# a number with the unit or ordinal suffix that follows it in prose: not leet
_NUMBER_WITH_UNIT = re.compile(r"[0-9]+(?:st|nd|rd|th|am|pm|s|k|m|h|d|x|kg|km|mm|cm|gb|mb|kb|tb|ms|px|hz|mph)", re.IGNORECASE)


def _fold_leet(token: str) -> str:
    """``token`` with its leet characters folded, but not the punctuation at its ends, nor the one
    punctuation character that alternates with single letters ("A+B", "i|g|n|o|r|e")."""
    if "+" not in token and "!" not in token and "|" not in token:  # the usual token ("h1", "p4ss")
        if _NUMBER_WITH_UNIT.fullmatch(token):
            return token
        return token.replace("11", "ll").translate(_LEET)
    core = token.strip(_PUNCTUATION_LEET)
    if not core or _NUMBER_WITH_UNIT.fullmatch(core):
        return token
    start = token.index(core)
    separator = core[1:2]
    if separator and separator in _PUNCTUATION_LEET and len(core) % 2 and core[1::2] == separator * (len(core) // 2):
        table = _LEET_KEEPING[separator]
    else:
        table = _LEET
    return token[:start] + core.replace("11", "ll").replace("||", "ll").translate(table) + token[start + len(core):]


def _fold_separated(match: re.Match[str]) -> str:
    return match.group(1) + _fold_leet(match.group(2))


def _separators(text: str, gates: frozenset[str] | None) -> list[int]:
    """Sorted positions of separator characters that split a word."""
    found: set[int] = set()
    hint = _SPACED_HINT.search(text) if may_match(gates, "spaced") else None
    if hint is not None:
        for match in _SPACED.finditer(text, max(0, hint.start() - 1)):
            found.update(range(match.start() + 1, match.end(), 2))
    if may_match(gates, "inner_separator"):
        found.update(_inner_separators(text))
    if may_match(gates, "interleaved"):
        for match in _INTERLEAVED.finditer(text):
            found.update(range(match.start(), match.end(), 2))
    return sorted(found)


def _inner_separators(text: str) -> list[int]:
    """Positions `_INNER_SEP` matches. In ASCII text, where its letters are [A-Za-z], they are found
    with bytes.find in a copy that says "a" for a letter and "s" for a separator: `re` would test
    each character against the separators' class (~6 ns a character)."""
    if not text.isascii():
        return [m.start() for m in _INNER_SEP.finditer(text)]
    classes = text.encode("ascii").translate(_INNER_SEP_CLASSES)
    found = []
    at = classes.find(b"asa")
    while at >= 0:
        found.append(at + 1)
        at = classes.find(b"asa", at + 2)
    return found
