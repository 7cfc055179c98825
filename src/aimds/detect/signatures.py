"""Signature detector: every shipped and user rule pack in one multi-pattern pass per view."""

from __future__ import annotations

from dataclasses import dataclass

from aimds.config import Settings
from aimds.detect.rulepack import Matcher, RulePack, load_packs
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

    def scan(self, prepared: Prepared) -> list[Finding]:
        best: dict[tuple[str, int, int], Finding] = {}
        for view in prepared.views:
            for match in self.matcher.scan(view.text):
                span = view.to_original(match.start, match.end)
                key = (match.rule.id, span.start, span.end)
                if key in best:
                    continue
                best[key] = Finding(
                    kind=match.rule.kind,
                    detector=self.name,
                    score=match.rule.score,
                    reason=_reason(match.rule.reason, view),
                    span=span,
                    rule_id=match.rule.id,
                    view=view.name,
                )
        return _strongest_per_rule(best.values())


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
