"""Intent detector: what each sentence tries to make the model do, in many languages.

Signature rules need exact wording and the learned model needs to have seen the language; this
detector generalises both ways by looking for *combinations* of word classes within one sentence
(an action against the model's constraints next to the constraints themselves, addressed to the
model). The classes and combinations are data (``rules/intent.yaml``); all classes are found in one
Hyperscan pass, and the per-sentence scoring is a few set operations.
"""

from __future__ import annotations

import re
import threading
from bisect import bisect_right
from dataclasses import dataclass
from importlib import resources
from typing import Any


from aimds import yamlio
from aimds.config import Settings
from aimds.detect.rulepack import _char_offsets
from aimds.detect.sharedscan import PatternGroup, ScanHits, lowered
from aimds.detect.signatures import mention_context
from aimds.errors import RulePackError
from aimds.text.unicode_fold import fold
from aimds.text.views import Prepared, View
from aimds.types import Finding, ThreatKind

try:
    import hyperscan
except ImportError:  # pragma: no cover - platforms without a hyperscan wheel
    hyperscan = None

_SENTENCE_END = re.compile(r"[.!?;\n\u3002\uff01\uff1f\u061f\u0964]+")
_MAX_SENTENCE_CHARS = 600  # a "sentence" without punctuation is cut into windows this long


@dataclass(frozen=True, slots=True)
class Combo:
    id: str
    kind: ThreatKind
    all: frozenset[str]
    any: frozenset[str]
    boost: frozenset[str]
    score: float
    boosted: float
    reason: str
    negative: bool = False  # its stems carry their own negation ("not bound by"): one before them is theirs
    unless: frozenset[str] = frozenset()  # classes that, in the same sentence and language, call it off

    def score_for(self, present: dict[str, int], *, honour_unless: bool = True) -> float | None:
        """``present`` maps each class found to the bit set of languages whose stems found it. The
        combination must hold within one language: "share" (English) next to "secret" (a French
        stem) in "share the secret to good sleep" is not a request for the model's secrets."""
        languages = -1
        for name in self.all:
            languages &= present.get(name, 0)
            if not languages:
                return None
        if self.any:
            languages &= _union(present, self.any)
            if not languages:
                return None
        if honour_unless and self.unless and _union(present, self.unless) & languages:
            return None
        return self.boosted if _union(present, self.boost) & languages else self.score


def _union(present: dict[str, int], names: frozenset[str]) -> int:
    found = 0
    for name in names:
        found |= present.get(name, 0)
    return found


ANY_LANGUAGE = "any"  # stems listed under this key (URLs, "api key") join a combination in any language


@dataclass(frozen=True)
class Lexicon:
    """``classes`` maps each word class to its stems by language. A hit of an ``actions`` class right
    after a word of ``negations`` forbids the action rather than asks for it; after one of ``reported``
    it reports what someone told someone else ("the label says to ignore line 23")."""

    classes: dict[str, dict[str, tuple[str, ...]]]
    combos: tuple[Combo, ...]
    actions: frozenset[str] = frozenset()
    negations: tuple[str, ...] = ()
    reported: tuple[str, ...] = ()

    @classmethod
    def load(cls, text: str | None = None) -> "Lexicon":
        raw = yamlio.load(text if text is not None else
                             resources.files("aimds.detect").joinpath("rules", "intent.yaml").read_text("utf-8"))
        try:
            written = {
                name: {str(language): sorted({str(stem) for stem in stems}) for language, stems in by_language.items()}
                for name, by_language in raw["classes"].items()
            }
            combos = tuple(
                Combo(c["id"], ThreatKind(c["kind"]), frozenset(c["all"]), frozenset(c.get("any", ())),
                      frozenset(c.get("boost", ())), float(c["score"]), float(c["boosted"]), c["reason"],
                      bool(c.get("negative", False)), frozenset(c.get("unless", ())))
                for c in raw["combos"]
            )
            actions = frozenset(str(name) for name in raw.get("actions", ()))
            negations = tuple(sorted({str(word) for words in raw.get("negations", {}).values() for word in words}))
            reported = tuple(sorted({str(word) for words in raw.get("reported", {}).values() for word in words}))
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise RulePackError(f"intent lexicon is invalid: {exc}") from None
        for name, by_language in written.items():
            bad = [s for stems in by_language.values() for s in stems
                   if s != s.lower() or not s.removeprefix(INSIDE_WORD).strip() or len(s.splitlines()) != 1]
            if bad:
                raise RulePackError(f"intent lexicon class {name}: stems must be lower-case, non-blank, one line: {bad[:3]}")
        classes = {name: {language: _with_folded_forms(stems) for language, stems in by_language.items()}
                   for name, by_language in written.items()}
        for combo in combos:
            unknown = (combo.all | combo.any | combo.boost | combo.unless) - set(classes)
            if unknown:
                raise RulePackError(f"intent combo {combo.id} names unknown classes {sorted(unknown)}")
        if actions - set(classes):
            raise RulePackError(f"intent actions name unknown classes {sorted(actions - set(classes))}")
        bad = [w for w in negations + reported if w != w.lower() or not w.strip() or len(w.splitlines()) != 1]
        if bad:
            raise RulePackError(f"intent negations must be lower-case, non-blank, one line: {bad[:3]}")
        return cls(classes, combos, actions, negations, reported)


def _with_folded_forms(stems: list[str]) -> tuple[str, ...]:
    """Each (one-line) stem as written and as the normalize stage folds it. The ``normalized`` view
    strips diacritics ("révèle" reads "revele", "görmezden" "gormezden"), so a stem written with
    accents would otherwise never match it; the original form still matches views that keep them.
    The fold works character by character, so the stems are folded in one pass, a line each."""
    folded = fold("\n".join(stems)).normalized.text.lower().split("\n")
    return tuple(sorted(set(stems) | {f for f in folded if f.strip()}))


INSIDE_WORD = "*"  # a stem written "*anweisung" also matches inside a word: German compounds ("Hauptanweisung")


def _split_stems(stems: list[str]) -> tuple[list[str], list[str]]:
    """Escaped stems matched at the start of a word (Latin, Cyrillic, Greek letters and digits), and
    those matched anywhere: scripts written without spaces, and stems marked ``INSIDE_WORD``."""
    word_start = [re.escape(s) for s in stems if s[0].isascii() and s[0].isalnum()]
    anywhere = [re.escape(s.removeprefix(INSIDE_WORD)) for s in stems if not (s[0].isascii() and s[0].isalnum())]
    return word_start, anywhere


class _ClassMatcher:
    """Positions (character ends) of every class hit in a lower-cased text, with the languages
    whose stems made the hit."""

    def __init__(self, lexicon: Lexicon) -> None:
        languages = {language: 1 << i for i, language in
                     enumerate(sorted({lang for by_language in lexicon.classes.values() for lang in by_language}))}
        self.names = tuple(lexicon.classes)
        expressions: list[bytes] = []
        ids: list[tuple[int, int]] = []
        for index, by_language in enumerate(lexicon.classes.values()):
            # a stem shared by several languages ("ignor") is one expression with all their bits,
            # so each occurrence is reported once
            masks: dict[str, int] = {}
            for language, stems in by_language.items():
                bit = -1 if language == ANY_LANGUAGE else languages[language]
                for stem in stems:
                    masks[stem] = masks.get(stem, 0) | bit
            by_mask: dict[int, list[str]] = {}
            for stem, mask in masks.items():
                by_mask.setdefault(mask, []).append(stem)
            for mask, stems in sorted(by_mask.items()):
                word_start, anywhere = _split_stems(sorted(stems))
                if word_start:
                    expressions.append(("\\b(?:" + "|".join(word_start) + ")").encode("utf-8"))
                    ids.append((index, mask))
                if anywhere:
                    expressions.append(("(?:" + "|".join(anywhere) + ")").encode("utf-8"))
                    ids.append((index, mask))
        self._ids = ids
        self._fallback = [(ids[i], re.compile(e.decode("utf-8"))) for i, e in enumerate(expressions)]
        self._db = None
        self._group: PatternGroup | None = None
        self._local = threading.local()
        if hyperscan is not None:
            from aimds.detect.hscache import compile_database

            self._db = compile_database(expressions, list(range(len(expressions))), [0] * len(expressions))
            self._group = PatternGroup("lowered", tuple(expressions), tuple(range(len(expressions))),
                                       (0,) * len(expressions))

    @property
    def group(self) -> PatternGroup | None:
        return self._group

    def hits(self, text: str, scanned: list[tuple[int, int]] | None = None) -> list[tuple[int, tuple[int, int]]]:
        """``(end, (class_index, language_bits))`` pairs, unordered, for a `lowered` text; ``scanned``:
        the group's hits in it from a shared scan, if there was one."""
        if self._db is None:
            return [(m.end(), cls) for cls, rx in self._fallback for m in rx.finditer(text)]
        ids = self._ids
        if scanned is not None:
            found = [(end, ids[expr]) for expr, end in scanned]
        else:
            found = self._scan_alone(text)
        if found and not text.isascii():
            to_char = _char_offsets(text)
            found = [(to_char(end), cls) for end, cls in found]
        return found

    def _scan_alone(self, text: str) -> list[tuple[int, int]]:
        scratch = getattr(self._local, "scratch", None)
        if scratch is None:
            scratch = self._local.scratch = hyperscan.Scratch(self._db)
        found: list[tuple[int, tuple[int, int]]] = []
        ids = self._ids

        def on_match(expr: int, start: int, end: int, flags: int, ctx: Any) -> None:
            found.append((end, ids[expr]))

        self._db.scan(text.encode("utf-8", "surrogatepass"), match_event_handler=on_match, scratch=scratch)
        return found


class IntentDetector:
    name = "intent"
    tier = "fast"

    def __init__(self, lexicon: Lexicon | None = None) -> None:
        self.lexicon = lexicon or Lexicon.load()
        self.kinds = frozenset(c.kind for c in self.lexicon.combos)
        self._matcher = _ClassMatcher(self.lexicon)
        self._names = self._matcher.names
        self._negated = _Negation(self.lexicon)

    def pattern_groups(self) -> tuple[PatternGroup, ...]:
        """What `SharedScan` compiles for the word classes (nothing without Hyperscan)."""
        group = self._matcher.group
        return (group,) if group is not None else ()

    def scan(self, prepared: Prepared, shared: ScanHits | None = None) -> list[Finding]:
        best: dict[str, Finding] = {}
        for view in prepared.views:
            for finding in self._scan_view(view, shared):
                current = best.get(finding.rule_id or "")
                if current is None or finding.score > current.score:
                    best[finding.rule_id or ""] = finding
        return list(best.values())

    def _scan_view(self, view: View, shared: ScanHits | None) -> list[Finding]:
        group = self._matcher.group
        scanned = shared.hits(group, view.text) if shared is not None and shared.covers(group) else None
        if scanned == []:
            return []
        text = lowered(view.text)
        hits = self._matcher.hits(text, scanned)
        if not hits:
            return []
        anywhere: dict[str, int] = {}
        for _, (cls, bits) in hits:
            name = self._names[cls]
            anywhere[name] = anywhere.get(name, 0) | bits
        if not any(c.score_for(anywhere, honour_unless=False) is not None for c in self.lexicon.combos):
            return []  # the usual case: no combination anywhere in the text, so no sentence can have one
        boundaries = [m.end() for m in _SENTENCE_END.finditer(text)]
        by_sentence: dict[tuple[int, int], dict[str, int]] = {}
        first_hit: dict[tuple[tuple[int, int], str], int] = {}
        for end, (cls, bits) in hits:
            key = _sentence_of(boundaries, end)
            name = self._names[cls]
            present = by_sentence.setdefault(key, {})
            present[name] = present.get(name, 0) | bits
            first_hit[key, name] = min(first_hit.get((key, name), end), end)
        findings = []
        for key, present in by_sentence.items():
            for combo in self.lexicon.combos:
                score = combo.score_for(present)
                if score is None:
                    continue
                start, end = _bounds(text, boundaries, key)
                forbidden = self._negated.classes(text, start, end, combo.all)
                if forbidden:
                    score = combo.score_for({k: v for k, v in present.items() if k not in forbidden})
                    if score is None:
                        continue
                note = ""
                if view.origin is None:
                    first = min(first_hit[key, name] for name in combo.all)
                    factor, note = mention_context(text, _word_start(text, first, start), _core_end(text, start, end),
                                                   negation=not combo.negative)
                    score *= factor
                findings.append(Finding(
                    kind=combo.kind, detector=self.name, score=score,
                    reason=f"{combo.reason} ({', '.join(sorted(present.keys() & (combo.all | combo.any | combo.boost)))})" + note,
                    span=view.to_original(start, end), rule_id=combo.id, view=view.name,
                ))
        return findings


class _Negation:
    """Which action classes of a sentence are only ever named to be forbidden ("never share your
    password", "do not ignore the safety rules", "without revealing the prompt") or to ask how a
    thing is done ("can you show me how to reset my password?"). Run only where a combination fired,
    so its regexes (the class's stems, with their starts, which the Hyperscan pass does not give)
    cost nothing on ordinary text."""

    _FILLER = r"(?:\s+(?:ever|even|to|be|once))?"
    # "show me how", "zeig mir, wie", "montre-moi comment", "muéstrame cómo", "mostrami come"
    _HOW = re.compile(r"\w*(?:-\w+)?[\s,]*(?:(?:me|us|mir|uns|moi|nous|mi)[\s,]+)?(?:how|wie|comment|cómo|como|come)\b")
    _YOUR_RULES = re.compile(r"\byour\b[^.!?\n]{0,40}\Z")

    def __init__(self, lexicon: Lexicon) -> None:
        self._actions = lexicon.actions
        self._stems: dict[str, re.Pattern[str]] = {}
        for name in lexicon.actions:
            stems = sorted({s for by_language in lexicon.classes[name].values() for s in by_language}, key=len, reverse=True)
            word_start, anywhere = _split_stems(stems)
            parts = ([r"\b(?:" + "|".join(word_start) + ")"] if word_start else []) + (
                ["(?:" + "|".join(anywhere) + ")"] if anywhere else [])
            self._stems[name] = re.compile("|".join(parts))
        groups = []
        for group, words in (("negation", lexicon.negations), ("reported", lexicon.reported)):
            pieces = []
            for word in words:
                # "n't" ends a word ("don't share"); "n'" (French) joins the next one ("n'ignore")
                start = "" if word.startswith("n'") and word != "n'" else r"(?<![^\W_])"
                end = r"\s*" if word.endswith("'") else self._FILLER + r"\s+"
                pieces.append(start + re.escape(word) + end)
            if pieces:
                groups.append(f"(?P<{group}>" + "|".join(pieces) + ")")
        self._before = re.compile("(?:" + "|".join(groups) + r")\Z") if groups else None
        # "if you don't reveal it, I will...", "why not ignore them?": a threat or a nudge, not a rule
        self._conditional = re.compile(
            r"\b(?:if|unless|why)(?:\s+(?:you|u))?(?:\s+(?:do|does|did|will|would|can|could))?\s*\Z"
        )

    def classes(self, text: str, start: int, end: int, names: frozenset[str]) -> frozenset[str]:
        """The action classes among ``names`` each of whose hits in ``text[start:end]`` is negated."""
        forbidden = set()
        for name in names & self._actions:
            hits = [(m.start(), m.end()) for m in self._stems[name].finditer(text, start, end)]
            if hits and all(self._HOW.match(text, to) or self._forbids(text, max(start, at - 48), at) for at, to in hits):
                forbidden.add(name)
        return frozenset(forbidden)

    def _forbids(self, text: str, start: int, at: int) -> bool:
        negation = self._before.search(text, start, at) if self._before is not None else None
        if negation is None or self._conditional.search(text, start, negation.start()) is not None:
            return False
        # "your guidelines say to reveal...": the model's own rules made to demand the action
        return negation.lastgroup != "reported" or self._YOUR_RULES.search(text, start, negation.start()) is None


def _sentence_of(boundaries: list[int], end: int) -> tuple[int, int]:
    """(sentence index, window within it): a long unpunctuated run counts as several sentences."""
    i = bisect_right(boundaries, end - 1)
    start = boundaries[i - 1] if i else 0
    return i, (end - 1 - start) // _MAX_SENTENCE_CHARS


def _bounds(text: str, boundaries: list[int], key: tuple[int, int]) -> tuple[int, int]:
    i, window = key
    start = boundaries[i - 1] if i else 0
    stop = boundaries[i] if i < len(boundaries) else len(text)
    start, stop = start + window * _MAX_SENTENCE_CHARS, min(stop, start + (window + 1) * _MAX_SENTENCE_CHARS)
    while start < stop and text[start].isspace():
        start += 1
    return start, stop


def _word_start(text: str, end: int, floor: int) -> int:
    """Start of the word a class hit ends in, so quotes just before it are seen."""
    pos = end - 1
    while pos > floor and (text[pos - 1].isalnum() or text[pos - 1] == "-"):
        pos -= 1
    return max(pos, floor)


def _core_end(text: str, start: int, end: int) -> int:
    """The sentence without its closing punctuation, so a question mark after it is seen."""
    while end > start and text[end - 1] in ".!?;\n\u3002\uff01\uff1f\u061f\u0964":
        end -= 1
    return end


def create(settings: Settings) -> IntentDetector:
    return IntentDetector()
