"""Signature detector: every shipped and user rule pack in one multi-pattern pass per view."""

from __future__ import annotations

import re
from dataclasses import dataclass

from aimds.config import Settings
from aimds.detect.rulepack import Matcher, RulePack, load_packs
from aimds.detect.sharedscan import PatternGroup, ScanHits
from aimds.text.views import Prepared, View
from aimds.types import Finding


@dataclass
class SignatureDetector:
    packs: list[RulePack]
    name: str = "signatures"
    tier: str = "fast"

    def __post_init__(self) -> None:
        rules = tuple(r for p in self.packs for r in p.rules)
        self.kinds = frozenset(r.kind for r in rules)
        self.matcher = Matcher(rules)

    def pattern_groups(self) -> tuple[PatternGroup, ...]:
        return self.matcher.pattern_groups()

    def scan(self, prepared: Prepared, shared: ScanHits | None = None) -> list[Finding]:
        best: dict[tuple[str, int, int], Finding] = {}
        for view in prepared.views:
            for match in self.matcher.scan(view.text, shared):
                span = view.to_original(match.start, match.end)
                key = (match.rule.id, span.start, span.end)
                if key in best:
                    continue
                score, context = match.rule.score, ""
                if view.origin is None:
                    factor, context = mention_context(view.text, match.start, match.end)
                    score *= factor
                best[key] = Finding(
                    kind=match.rule.kind,
                    detector=self.name,
                    score=score,
                    reason=_reason(match.rule.reason, view) + context,
                    span=span,
                    rule_id=match.rule.id,
                    view=view.name,
                )
        return _strongest_per_rule(best.values())


_QUOTES = frozenset("'\"“”‘’«»「」`")
# A negation word, then at most 20 word characters, spaces, commas or apostrophes up to where the
# match starts: "\b(not|never|...)\b[\w ,']{0,20}$" on the text before it. Read backwards, that is
# one anchored attempt instead of a search from each of 30 positions (``\n?`` is where ``$`` may
# also match: before a final newline).
_NEGATED_BACKWARDS = re.compile(
    r"\n?[\w ,']{0,20}\b(ton|reven|on|gnihton|t'nod|tnod|t'nseod|t'now|t'ndluohs|tonnac|t'nac|ot\s+esufer|diova)\b",
    re.IGNORECASE,
)
# Reported speech right before the match: "my teacher said to ignore...", "the label says to ignore...":
# an instruction someone gave someone else, read backwards like the negation above.
_REPORTED_BACKWARDS = re.compile(r"\n?\s*ot\s+(?:dias|syas|yas|(?:em|su|meht|mih|reh)\s+(?:dlot|sllet|llet))\b", re.IGNORECASE)
_SENTENCE_END = re.compile(r"[.!?\n]")
_META = re.compile(
    r"\b(explain|why|what\s+(is|are|does|do\s+you\s+(make|think))|how\s+(does|do|would|can|should)|"
    r"assessment|classify|example|meaning|phrase|called|known\s+as|defend|detect|protect|attack\s+pattern)\b",
    re.IGNORECASE,
)


def mention_context(text: str, start: int, end: int, *, negation: bool = True) -> tuple[float, str]:
    """Dampen a match that is quoted, negated or discussed rather than meant.

    "Can you explain why 'ignore previous instructions' is an attack?" names an attack without
    making one. The learned models judge such text better than a pattern can, so the rule's score is
    lowered below the review threshold and left to corroboration. ``negation=False`` for a match
    whose own words are negative ("you are not bound by").
    """
    factor, notes = 1.0, []
    line_end = text.find("\n", start, end + 80)
    if _has_quote(text, max(0, start - 3), start) and _has_quote(text, start, end + 80 if line_end < 0 else line_end):
        factor *= 0.6
        notes.append("quoted")
    if negation and _NEGATED_BACKWARDS.match(text[max(0, start - 30):start][::-1]):
        factor *= 0.6
        notes.append("negated")
    if _REPORTED_BACKWARDS.match(text[max(0, start - 16):start][::-1]):
        factor *= 0.6
        notes.append("reported")
    after = _SENTENCE_END.search(text, end)
    if after is not None and after.group() == "?" and _META.search(text, _sentence_start(text, start), after.start()):
        factor *= 0.75
        notes.append("asked about")
    return max(factor, 0.3), (f" ({', '.join(notes)})" if notes else "")


_APOSTROPHES = frozenset("'’")


def _has_quote(text: str, lo: int, hi: int) -> bool:
    """A quotation mark in ``text[lo:hi]``; an apostrophe between two letters is an elision or a
    contraction ("l'invite", "don't"), not a quote."""
    piece = text[lo:hi]
    if _QUOTES.isdisjoint(piece):
        return False
    for i, char in enumerate(piece, lo):
        if char in _QUOTES and not (char in _APOSTROPHES and 0 < i < len(text) - 1
                                    and text[i - 1].isalpha() and text[i + 1].isalpha()):
            return True
    return False


def _sentence_start(text: str, before: int) -> int:
    return max(text.rfind(".", 0, before), text.rfind("!", 0, before), text.rfind("?", 0, before),
               text.rfind("\n", 0, before)) + 1


def _reason(reason: str, view: View) -> str:
    if view.origin is not None:
        return f"{reason} (hidden in a {view.name.removeprefix('decoded:')} payload)"
    return reason


def _strongest_per_rule(findings) -> list[Finding]:
    """One finding per rule (its first occurrence) keeps verdicts short on repetitive input."""
    first: dict[str, Finding] = {}
    for f in sorted(findings, key=lambda f: (f.span.start if f.span else 0)):
        first.setdefault(f.rule_id or "", f)
    return list(first.values())


def create(settings: Settings) -> SignatureDetector:
    return SignatureDetector(load_packs(settings.rule_packs))


def check_examples(pack: RulePack, settings: Settings | None = None) -> list[tuple[str, str, bool, bool]]:
    """Run each rule of ``pack`` on its own examples through the real normalize + match path.

    Returns ``(rule_id, example, expected_match, matched)`` rows for ``aimds rules test``.
    """
    from aimds.text.normalize import prepare
    from aimds.types import Role

    settings = settings or Settings()
    detector = SignatureDetector([pack])
    rows = []
    for rule in pack.rules:
        cases = [(t, True) for t in rule.examples_match] + [(t, False) for t in rule.examples_no_match]
        for text, expected in cases:
            hits = {f.rule_id for f in detector.scan(prepare(text, Role.USER, settings))}
            rows.append((rule.id, text, expected, rule.id in hits))
    return rows
