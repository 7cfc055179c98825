"""Person names without a model: runs of capitalised words checked against name lexicons.

The offline NER models that find names (spaCy's, which Presidio uses) are not on PyPI, and nothing
may be downloaded at run time. Names are instead recognised the way a reader skims for them: two
bounded patterns (runs of capitalised words; one capitalised word after a cue or title), prefiltered
by hyperscan like the other PII patterns, find candidates, and set lookups decide. A known given name followed
by a known surname (or another capitalised word) is a name; a title ("Dr.", "Frau", "Mme") or a
context cue ("my name is", "Dear", "Regards,") lets a single word count and raises confidence.
Given names that are also ordinary words or places ("Will", "May", "Victoria") need a known surname,
a title or a cue; a run followed by an organisation or place word ("Victoria Station") is skipped.

The lexicons (detect/data/names.json) are generated from Faker's provider data, MIT licence, by
``python -m aimds.detect.build_names``; the hand-kept lists and scores are in rules/names.yaml.
Only Latin-script names written with a capital initial are found (not "john smith", not "JOHN SMITH").
"""

from __future__ import annotations

import bisect
import json
import re
from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from typing import Any

import yaml

from aimds import yamlio
from aimds.detect.prefilter import WINDOW_PAD, PatternSet, PatternSpec
from aimds.detect.sharedscan import PatternGroup, ScanHits
from aimds.errors import RulePackError

try:  # Python 3.11+
    from re import _parser as _sre_parse  # type: ignore[attr-defined]
except ImportError:  # pragma: no cover - Python 3.10
    import sre_parse as _sre_parse  # type: ignore[no-redef]

# Latin letters up to Latin Extended-B, by case, spelled out: PatternSet matches in ASCII mode
# (so hyperscan can prefilter), where \w and \b would not know "ü" is a letter.
_NON_ASCII = [chr(c) for c in range(0xC0, 0x250) if chr(c).isalpha()]
_UPPER = "A-Z" + "".join(ch for ch in _NON_ASCII if ch.isupper())
_LOWER = "a-z" + "".join(ch for ch in _NON_ASCII if ch.islower())
_LETTER = "A-Za-z" + "".join(_NON_ASCII)
_PART = rf"[{_UPPER}](?:['’][{_UPPER}])?[{_LOWER}][{_LETTER}]{{0,24}}"
# The word-start check follows the first letter, so that re can skip ahead to capital letters.
_WORD = rf"[{_UPPER}](?<![{_LETTER}0-9'’-].)(?:['’][{_UPPER}])?[{_LOWER}][{_LETTER}]{{0,24}}(?:-{_PART})?(?![{_LETTER}0-9])"
# Hyperscan sees non-ASCII characters as '?': its prefilter for a capitalised word.
_HS_WORD = r"[A-Z?](?:['?][A-Z?])?[a-z?]"
_CUE_SEPARATOR = r"[ \t]{0,2}[,:;!-]?[ \t]{0,2}(?:\r?\n[ \t]{0,2}){0,2}"
_HOUSE_NUMBER = re.compile(r"(?<![\w.,-])\d{1,6}[A-Za-z]?[ \t]{1,2}\Z")
_SENTENCE_END = frozenset(".!?\n\"'“”:;")
_CUE_STRIP = " \t\r\n,:;-–—!"

@dataclass(frozen=True, slots=True)
class NameMatch:
    """A recognised name: span in the scanned text, confidence, and which rule fired (no text)."""

    start: int
    end: int
    score: float
    rule: str


RULE_DETAILS = {
    "title": "after a title",
    "given_surname": "given name + surname",
    "given_capitalised": "given name + capitalised word",
    "ambiguous_given_surname": "given name + surname",
    "unknown_surname": "capitalised word + surname",
    "cue_known": "known name after a context cue",
    "cue_intro": "after an introduction",
}


@dataclass(frozen=True, slots=True)
class _Word:
    start: int
    end: int
    key: str


class NameRecognizer:
    """Finds person names in one string; positions refer to that string."""

    def __init__(self, rules: dict[str, Any] | None = None, lexicon: dict[str, Any] | None = None) -> None:
        rules = rules if rules is not None else _load_yaml("names.yaml")
        lexicon = lexicon if lexicon is not None else _load_lexicon()
        try:
            self.label: str = rules.get("label", "person name")
            self.scores: dict[str, float] = {k: float(v) for k, v in rules["scores"].items()}
            lower = lambda words: frozenset(str(w).lower() for w in words)  # noqa: E731
            self._given = lower(lexicon["given"])
            self._surnames = lower(lexicon["surnames"])
            self._common = lower(lexicon["common"])
            self._ambiguous = lower(rules["ambiguous_given"]) | (self._given & self._common)
            self._given |= self._ambiguous & lower(rules["ambiguous_given"])
            # The address detector's street suffixes (rules/pii.yaml), which are often surnames too.
            self._street_suffixes = lower(_load_yaml("pii.yaml")["vocab"]["street_suffix"])
            self._places = frozenset(" ".join(str(p).lower().split()) for p in rules["place_names"])
            self._org_place = lower(rules["org_place"])
            self._never = lower(rules["never_name"])
            self._titles = lower(str(t).rstrip(".") for t in rules["titles"])
            # Longest first, then alphabetical: the expression must not depend on set order (the
            # hash seed), or every process compiles its own Hyperscan database and caches a new file.
            particles = sorted(lower(rules["particles"]), key=lambda w: (-len(w), w))
            cues = {str(c).lower(): kind for kind in ("weak", "known", "intro") for c in rules["cues"][kind]}
        except (KeyError, TypeError, AttributeError, ValueError) as exc:
            raise RulePackError(f"name rules are incomplete or malformed: {exc!r}") from None
        self._lexicon_words = self._given | self._surnames | self._titles
        missing = set(RULE_DETAILS) - set(self.scores)
        if missing:
            raise RulePackError(f"name rules: no score for {sorted(missing)}")
        # "Dr." before a word works like a cue ("Dr" without a dot joins the run and is seen there);
        # "M." (Monsieur) only counts with its dot.
        cues.update({t + ".": "title" for t in self._titles})
        cues.update({t: "title" for t in lower(rules["titles"]) if not t.endswith(".")})
        self._cues = dict(sorted(cues.items(), key=lambda kv: (-len(kv[0]), kv[0])))
        self._cue_suffixes = tuple(self._cues)
        particle = "|".join(map(re.escape, particles))
        connector = rf"(?:[{_UPPER}]\.[ \t]{{1,2}})?(?:(?:{particle})[ \t]{{1,2}}){{0,2}}"
        # Cue phrases match in any case; titles only capitalised ("Miss" the title, not "miss." the verb).
        title_forms = {str(t) for t in rules["titles"]} | {str(t) + "." for t in rules["titles"] if not str(t).endswith(".")}
        phrases = [c for c, kind in self._cues.items() if kind != "title"]
        cue = f"(?i:{_trie(phrases)})|{_trie(title_forms)}"
        self._patterns = PatternSet([
            # Two to six capitalised words, maybe with a middle initial or particles between.
            PatternSpec("name.run", rf"{_WORD}(?:[ \t]{{1,2}}{connector}{_WORD}){{1,5}}",
                        prefilter=rf"{_HS_WORD}{{1,25}}[ \t]{{1,2}}(?:[A-Z?]\.[ \t]{{1,2}})?"
                                  rf"(?:(?:{particle})[ \t]{{1,2}}){{0,2}}{_HS_WORD}"),
            # One capitalised word right after a cue or title ("Dear Anna", "Dr. Weber"); the word is
            # looked at, not consumed, so it can be the next match's cue ("met Dr. Weber").
            # The look-ahead for a cue's first letter changes no match; it rejects most word starts
            # with one character-set test instead of trying every branch of the alternation there.
            PatternSpec("name.cue", rf"\b(?={_first_letters([*phrases, *title_forms])})(?P<cue>{cue}){_CUE_SEPARATOR}"
                                    rf"(?=(?P<word>{_WORD}))",
                        prefilter=rf"(?:{_ascii_only(cue)}){_CUE_SEPARATOR}{_HS_WORD}"),
        ])
        self._compile_anchors(connector, particle, cue)

    def _compile_anchors(self, connector: str, particle: str, cue: str) -> None:
        """What `find` needs to try the two patterns only where a Hyperscan hit says a match can start.

        Every match of name.run holds a prefilter hit ending 2-4 characters into its second word,
        except where its first word ends in an ASCII capital ("PhD Smith": the prefilter wants a
        lower-case letter before the space); a second prefilter reports those pairs. Every match of
        name.cue has a hit 2-4 characters into the word after it. So a match starts at most
        ``reach`` characters before a hit."""
        run, cue_spec = self._patterns.specs
        self._run_re = re.compile(run.regex, re.ASCII)
        self._cue_re = re.compile(cue_spec.regex, re.ASCII)
        # PatternSet's windows for a prefiltered pattern: its width and WINDOW_PAD on each side.
        self._run_pad = _max_width(run.regex) + WINDOW_PAD
        self._cue_pad = _max_width(cue_spec.regex) + WINDOW_PAD
        hs_word_end = 4  # a hit ends at most this far into the word it ends in (_HS_WORD's width)
        self._run_reach = _max_width(rf"{_WORD}[ \t]{{1,2}}{connector}") + hs_word_end
        self._cue_reach = _max_width(rf"(?:{cue}){_CUE_SEPARATOR}") + hs_word_end
        self._capital_end = PatternSet([
            PatternSpec("name.run_capital_end", rf"[A-Z][ \t]{{1,2}}{connector}{_WORD}",
                        prefilter=rf"[A-Z][ \t]{{1,2}}(?:[A-Z?]\.[ \t]{{1,2}})?"
                                  rf"(?:(?:{particle})[ \t]{{1,2}}){{0,2}}{_HS_WORD}"),
        ])

    @property
    def group(self) -> PatternGroup | None:
        """What `SharedScan` compiles for the two patterns."""
        return self._patterns.group

    @property
    def groups(self) -> tuple[PatternGroup, ...]:
        """Every group `SharedScan` should compile for `find`: the two patterns' and the pairs'
        whose first word ends in a capital (only its hits are used: its regex is never run)."""
        return tuple(g for g in (self._patterns.group, self._capital_end.group) if g is not None)

    def find(self, text: str, shared: ScanHits | None = None) -> list[NameMatch]:
        """Names in ``text``; a name seen both after a cue and in a run may be reported twice
        (overlapping spans: the caller keeps the more confident)."""
        out: list[NameMatch] = []
        for index, match in self._matches(text, shared):
            if index == 0:
                out.extend(self._in_run(text, match.start(), match.group()))
            else:
                kind = self._cues.get(" ".join(match.group("cue").lower().replace("’", "'").split()))
                start, end = match.span("word")
                found = self._single(kind, start, end, match.group("word").replace("’", "'").lower())
                if found is not None:
                    out.append(found)
        return out

    # ----------------------------------------------------------------------------------------

    def _matches(self, text: str, shared: ScanHits | None) -> list[tuple[int, re.Match[str]]]:
        """The matches `PatternSet.finditer` yields, found by trying the patterns only at the few
        positions near a hit where they can start instead of at every capital letter of each window.

        `PatternSet.finditer` runs ``pattern.finditer(text, lo, hi)`` over windows of ±474
        characters around each hit, which on a page full of capitalised words is the whole text.
        That is, from ``lo`` on: the first position where ``pattern.match(text, p, hi)`` succeeds,
        then the first from that match's end, and so on; looking only where a match can start, in
        order, gives the same matches. The windows are PatternSet's (same width and pad), so even a
        match it finds only because a window reaches it comes out the same."""
        run_cue, capital_end = self._patterns.group, self._capital_end.group
        if (shared is None or run_cue is None or capital_end is None or run_cue.ids != (0, 1)
                or not (shared.covers(run_cue) and shared.covers(capital_end))):
            return list(self._patterns.finditer(text, shared))
        hits = shared.hits(run_cue, text)
        if not hits:
            return []
        run_hits = sorted(end for pattern_id, end in hits if pattern_id == 0)
        cue_hits = sorted(end for pattern_id, end in hits if pattern_id == 1)
        run_windows = _windows(run_hits, self._run_pad, len(text))
        cue_windows = _windows(cue_hits, self._cue_pad, len(text))
        run_hits = sorted(run_hits + [end for _, end in shared.hits(capital_end, text)])
        # PatternSet's order: by start, longer first, then pattern (no two entries tie on all three,
        # so the sort never compares the matches themselves)
        found = [(m.start(), -m.end(), 0, m)
                 for m in _chain(self._run_re, text, run_windows, _regions(run_hits, self._run_reach))]
        found += [(m.start(), -m.end(), 1, m)
                  for m in _chain(self._cue_re, text, cue_windows, _regions(cue_hits, self._cue_reach))]
        found.sort()
        return [(index, match) for _, _, index, match in found]

    def _single(self, cue: str | None, start: int, end: int, key: str) -> NameMatch | None:
        """One capitalised word after a cue of this kind: a name if the cue and the word agree."""
        if cue is None or key in self._never:
            return None
        if cue == "title":  # "Mr. Fact" is not a name, "Mr. Young" is
            return self._match(start, end, "title") if key not in self._common or key in self._surnames else None
        if key in self._ambiguous or key in self._common:
            return None
        if self._is_given(key) or (cue != "weak" and key in self._surnames):
            return self._match(start, end, "cue_known")
        if cue == "intro" and key not in self._org_place:
            return self._match(start, end, "cue_intro")
        return None

    def _in_run(self, text: str, run_start: int, run: str) -> list[NameMatch]:
        keys = run.replace("’", "'").lower().split()  # as word by word: lowering keeps the spaces
        if "-" not in run and self._lexicon_words.isdisjoint(keys):
            return []  # headings, products, companies: no word a name could start from
        parts = run.split()
        words: list[_Word] = []
        pos = 0
        for part, key in zip(parts, keys):
            pos = run.find(part, pos)
            if part[0].isupper() and not (len(part) == 2 and part[1] == "."):  # not an initial or particle
                words.append(_Word(run_start + pos, run_start + pos + len(part), key))
            pos += len(part)
        out: list[NameMatch] = []
        i, n = 0, len(words)
        while i < n:
            key = words[i].key
            if key in self._titles and i + 1 < n and words[i + 1].key not in self._never:
                j = self._extend(words, i + 1, allow_common=True)
                if not self._org_follows(words, j):
                    out.append(self._match(words[i + 1].start, words[j - 1].end, "title"))
                i = j
                continue
            if key in self._never or key in self._org_place:
                i += 1
                continue
            j = self._extend(words, i + 1, allow_common=False)
            if self._org_follows(words, j):
                i = j + 1
                continue
            tail = words[i + 1:j]
            has_surname = any(w.key in self._surnames for w in tail)
            rule = None
            if (tail and tail[-1].key in self._street_suffixes
                    and _HOUSE_NUMBER.search(text, max(0, words[i].start - 12), words[i].start)):
                pass  # "874 Kristina Burgs": a street named after someone
            elif tail and self._is_given(key):
                if key in self._ambiguous:  # "Will Smith", not "Will Power"
                    plain = any(w.key in self._surnames and w.key not in self._common for w in tail)
                    rule = "ambiguous_given_surname" if plain else None
                else:
                    rule = "given_surname" if has_surname else "given_capitalised"
            elif (tail and key not in self._common and tail[0].key in self._surnames
                  and tail[0].key not in self._common and not self._sentence_initial(text, words[i].start)):
                rule = "unknown_surname"
            if rule is not None and " ".join(w.key for w in words[i:j]) in self._places:
                rule = None
            if rule is not None:
                out.append(self._cued(text, words[i].start, words[j - 1].end, rule))
                i = j
                continue
            i += 1  # a lone word after a cue ("Dear Anna") is the cue pattern's
        return out

    def _extend(self, words: list[_Word], j: int, *, allow_common: bool) -> int:
        """Index after the last word that can continue a name (at most four words in all)."""
        first = j - 1
        while j < len(words) and j - first < 4:
            key = words[j].key
            if key in self._never or key in self._org_place:
                break
            if not allow_common and key in self._common and key not in self._surnames:
                break
            j += 1
        return j

    def _org_follows(self, words: list[_Word], j: int) -> bool:
        return j < len(words) and words[j].key in self._org_place

    def _is_given(self, key: str) -> bool:
        if key in self._given:
            return True
        return "-" in key and all(part in self._given for part in key.split("-"))

    def _cue_before(self, text: str, start: int) -> str | None:
        context = text[max(0, start - 40):start].lower().rstrip(_CUE_STRIP)
        if not context.endswith(self._cue_suffixes):
            return None
        for cue, kind in self._cues.items():
            if context.endswith(cue):
                cut = len(context) - len(cue)
                if cut == 0 or not context[cut - 1].isalnum():
                    return kind
        return None

    def _sentence_initial(self, text: str, start: int) -> bool:
        k = start - 1
        while k >= 0 and text[k] in " \t":
            k -= 1
        return k < 0 or text[k] in _SENTENCE_END

    def _cued(self, text: str, start: int, end: int, rule: str) -> NameMatch:
        bonus = self.scores["cue_bonus"] if self._cue_before(text, start) else 0.0
        return NameMatch(start, end, min(self.scores["max"], self.scores[rule] + bonus), rule)

    def _match(self, start: int, end: int, rule: str) -> NameMatch:
        return NameMatch(start, end, self.scores[rule], rule)


def _windows(hit_ends: list[int], pad: int, length: int) -> list[tuple[int, int]]:
    """`PatternSet`'s windows around sorted hits: ``pad`` characters on each side, merged."""
    merged: list[tuple[int, int]] = []
    for end in hit_ends:
        lo, hi = end - pad, end + pad
        if merged and lo <= merged[-1][1]:
            merged[-1] = (merged[-1][0], hi)  # ends ascend with the hits
        else:
            merged.append((lo if lo > 0 else 0, hi))
    if merged and merged[-1][1] > length:
        merged[-1] = (merged[-1][0], length)
    return merged


def _regions(hit_ends: list[int], reach: int) -> tuple[list[int], list[int]]:
    """The stretches ``[end - reach, end)`` before sorted hits, merged: starts and ends, ascending."""
    los: list[int] = []
    his: list[int] = []
    for end in hit_ends:
        lo = end - reach
        if his and lo <= his[-1]:
            his[-1] = end  # ends ascend with the hits
        else:
            los.append(lo if lo > 0 else 0)
            his.append(end)
    return los, his


def _chain(pattern: re.Pattern[str], text: str, windows: Iterable[tuple[int, int]],
           regions: tuple[list[int], list[int]]) -> list[re.Match[str]]:
    """``pattern.finditer(text, lo, hi)`` for each window, given stretches that hold every position
    where a match can start.

    Each stretch ends at its last hit, which lies at least two characters into the word after the
    match's first word or cue, so a match starting there also matches in the text cut at the
    stretch's end: a search in the cut text finds the leftmost possible start without walking the
    gap to the next stretch, and ``pattern.match`` over the whole window confirms it. The result is
    what finditer finds next: the leftmost match from where the last one ended."""
    los, his = regions
    out: list[re.Match[str]] = []
    for lo, hi in windows:
        pos = lo
        k = bisect.bisect_right(his, lo)
        while k < len(los) and los[k] < hi:
            start, cut = los[k], his[k]
            if start < pos:
                start = pos
            if cut > hi:
                cut = hi
            probe = pattern.search(text, start, cut) if start < cut else None
            if probe is None:
                k += 1
                continue
            match = pattern.match(text, probe.start(), hi)
            if match is None:
                pos = probe.start() + 1  # no match starts before this either
                continue
            out.append(match)
            pos = match.end()
    return out


def _max_width(regex: str) -> int:
    return int(_sre_parse.parse(regex, re.ASCII).getwidth()[1])


_TRIE_CHAR = {" ": r"[ \t]{1,2}", "'": "['’]"}


def _trie(words: Iterable[str]) -> str:
    """An alternation as a trie ("d(?:ear|r\\.)"): Python's re tries one branch per character
    instead of every word at every position, which matters when hyperscan is not there."""
    root: dict[str, dict] = {}
    for word in words:
        node = root
        for ch in word:
            node = node.setdefault(ch, {})
        node[""] = {}

    def emit(node: dict[str, dict]) -> str:
        branches = [_TRIE_CHAR.get(ch, re.escape(ch)) + emit(sub) for ch, sub in sorted(node.items()) if ch]
        if not branches:
            return ""
        body = branches[0] if len(branches) == 1 else "(?:" + "|".join(branches) + ")"
        return f"(?:{body})?" if "" in node else body

    return emit(root)


def _first_letters(words: Iterable[str]) -> str:
    """A character class holding every character a `_trie` of ``words`` can start with, in either
    case (a superset is harmless: it only decides where the alternation is tried)."""
    first: set[str] = set()
    for word in words:
        for ch in _TRIE_FIRST.get(word[0], word[0]):
            first |= {ch, ch.lower(), ch.upper(), ch.swapcase()}
    return "[" + "".join(re.escape(ch) for ch in sorted(ch for ch in first if len(ch) == 1)) + "]"


_TRIE_FIRST = {" ": " \t", "'": "'’"}


def _ascii_only(regex: str) -> str:
    """The same expression for hyperscan's view of the text, where non-ASCII characters are '?'."""
    return "".join(ch if ord(ch) < 128 else "." for ch in regex)


def _load_yaml(name: str) -> dict[str, Any]:
    try:
        text = resources.files("aimds.detect").joinpath("rules", name).read_text(encoding="utf-8")
        data = yamlio.load(text)
    except (OSError, yaml.YAMLError) as exc:
        raise RulePackError(f"cannot load rule pack {name}: {exc}") from None
    if not isinstance(data, dict):
        raise RulePackError(f"rule pack {name} must be a mapping")
    return data


@lru_cache(maxsize=1)
def _load_lexicon() -> dict[str, Any]:
    try:
        text = resources.files("aimds.detect").joinpath("data", "names.json").read_text(encoding="utf-8")
        return json.loads(text)
    except (OSError, ValueError) as exc:
        raise RulePackError(f"cannot load name lexicon: {exc}") from None


@lru_cache(maxsize=1)
def default_recognizer() -> NameRecognizer:
    """The shipped lexicons and rules, loaded once per process (detectors share it)."""
    return NameRecognizer()
