"""The decide stage: findings plus the text's role become one action and one risk, with reasons.

The policy is data (``defaults.yaml`` merged with the user's ``thresholds`` setting); this module only
interprets it, so changing how strict AIMDS is never needs a code change.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from importlib import resources
from typing import Iterable


from aimds import yamlio
from aimds.config import Settings, Threshold
from aimds.errors import ConfigError
from aimds.text.hidden import RULE_ID as HIDDEN_RULE
from aimds.types import Action, Finding, Role, Span, ThreatKind, strictest


@dataclass(frozen=True, slots=True)
class Decision:
    action: Action
    risk: float
    findings: tuple[Finding, ...]


_NOTHING_FOUND = Decision(action=Action.ALLOW, risk=0.0, findings=())


@dataclass(frozen=True)
class DecisionPolicy:
    thresholds: dict[ThreatKind, Threshold]
    max_action_by_role: dict[Role, Action]
    redirected_in_third_party: frozenset[ThreatKind]
    families: dict[ThreatKind, str]
    corroboration_weight: float
    #: detector -> the witness it counts as in corroboration (detectors trained on the same data share one)
    witness: dict[str, str]
    #: score of the extra witness a finding brings when it lies in a passage hidden from human readers
    hidden_witness: float

    @classmethod
    def from_settings(cls, settings: Settings) -> "DecisionPolicy":
        raw = yamlio.load(resources.files("aimds.decide").joinpath("defaults.yaml").read_text("utf-8"))
        try:
            thresholds = {ThreatKind(k): Threshold(**v) for k, v in raw["thresholds"].items()}
            families = {
                ThreatKind(kind): family for family, kinds in raw["families"].items() for kind in kinds
            }
            policy = cls(
                thresholds=thresholds | dict(settings.thresholds),
                max_action_by_role={Role(r): Action(a) for r, a in raw["max_action_by_role"].items()},
                redirected_in_third_party=frozenset(ThreatKind(k) for k in raw["redirected_in_third_party"]),
                families=families,
                corroboration_weight=float(raw["corroboration_weight"]),
                witness={name: group[0] for group in raw["shared_evidence"] for name in group},
                hidden_witness=float(raw["hidden_passage_witness"]),
            )
        except (KeyError, ValueError, TypeError) as exc:
            raise ConfigError(f"decide/defaults.yaml is invalid: {exc}") from exc
        missing = set(ThreatKind) - set(policy.thresholds)
        if missing:
            raise ConfigError(f"thresholds: no entry for {sorted(k.value for k in missing)}")
        return policy

    def relabel(self, findings: Iterable[Finding], role: Role) -> list[Finding]:
        """Instructions found in third-party content are indirect injections, whatever they ask."""
        if not role.is_third_party:
            return list(findings)
        out = []
        for f in findings:
            if f.kind in self.redirected_in_third_party:
                f = replace(f, kind=ThreatKind.INDIRECT_INJECTION, metadata=f.metadata | {"as": f.kind.value})
            out.append(f)
        return out

    def kind_scores(self, findings: Iterable[Finding]) -> dict[ThreatKind, float]:
        """Per kind: the strongest finding, raised by corroborating witnesses of the same family."""
        witnesses: dict[tuple[str, str], float] = {}
        best: dict[str, tuple[ThreatKind, float, str]] = {}
        scores: dict[ThreatKind, float] = {}
        findings = list(findings)
        hidden = [(f.span.start, f.span.end) for f in findings if f.rule_id == HIDDEN_RULE and f.span is not None]
        for f in findings:
            family = self.families.get(f.kind)
            scores[f.kind] = max(scores.get(f.kind, 0.0), f.score)
            if family is None:
                continue
            witness = self.witness.get(f.detector, f.detector)
            witnesses[(family, witness)] = max(witnesses.get((family, witness), 0.0), f.score)
            if hidden and _mostly_inside(f.span, hidden):
                witnesses[(family, HIDDEN_RULE)] = self.hidden_witness
            if f.score > best.get(family, (f.kind, -1.0, ""))[1]:
                best[family] = (f.kind, f.score, witness)
        for family, (kind, top, top_witness) in best.items():
            remaining = 1.0 - top
            for (fam, witness), s in witnesses.items():
                if fam == family and witness != top_witness:
                    remaining *= 1.0 - self.corroboration_weight * s
            scores[kind] = max(scores[kind], 1.0 - remaining)
        return scores

    def decide(self, findings: Iterable[Finding], role: Role) -> Decision:
        relabelled = self.relabel(findings, role)
        if not relabelled:  # most texts: what the steps below give for no findings, without them
            return _NOTHING_FOUND
        scores = self.kind_scores(relabelled)
        actions = [self._action_for(kind, score) for kind, score in scores.items()]
        action = strictest(actions)
        cap = self.max_action_by_role.get(role)
        if cap is not None and action.severity > cap.severity:
            action = cap
        risk = max((s for k, s in scores.items() if self.thresholds[k].review <= 1.0), default=0.0)
        ordered = tuple(sorted(relabelled, key=lambda f: f.score, reverse=True))
        return Decision(action=action, risk=min(1.0, risk), findings=ordered)

    def _action_for(self, kind: ThreatKind, score: float) -> Action:
        t = self.thresholds[kind]
        if score >= t.block:
            return Action.BLOCK
        if score >= t.review:
            return Action.REVIEW
        if score >= t.sanitize:
            return Action.SANITIZE
        return Action.ALLOW


def _mostly_inside(span: Span | None, passages: list[tuple[int, int]]) -> bool:
    """At least half of ``span`` lies in one of ``passages``: the finding is about that passage, not
    about a window of the page that merely touches it."""
    if span is None:
        return False
    return any(2 * (min(span.end, end) - max(span.start, start)) >= max(span.end - span.start, 1)
               for start, end in passages)
