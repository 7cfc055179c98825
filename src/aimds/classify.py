"""Sort any text into public, internal, confidential or restricted by what it contains.

Rules (classify.yaml, or a file of the same shape) name entity types or threat kinds with a
minimum count, or keywords; the strictest level any rule reaches wins. Text is scanned with the
PII and secret detectors; findings already at hand can be passed instead to avoid a second scan.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from enum import Enum
from importlib import resources
from pathlib import Path

import yaml

from aimds import yamlio
from aimds.act.redact import entity_of
from aimds.errors import InvalidInput, RulePackError
from aimds.text.views import Prepared, identity_view
from aimds.types import Finding, Role


class DataClass(str, Enum):
    PUBLIC = "public"
    INTERNAL = "internal"
    CONFIDENTIAL = "confidential"
    RESTRICTED = "restricted"

    @property
    def rank(self) -> int:
        return list(DataClass).index(self)


@dataclass(frozen=True, slots=True)
class ClassRule:
    level: DataClass
    entities: frozenset[str]
    kinds: frozenset[str]
    keywords: re.Pattern[str] | None
    min_count: int
    reason: str


@dataclass(frozen=True, slots=True)
class Classification:
    level: DataClass
    reasons: tuple[str, ...]


class Classifier:
    def __init__(self, rules_path: str | Path | None = None) -> None:
        self.rules = _load(rules_path)
        self._detectors = None

    def _scan(self, text: str) -> list[Finding]:
        if self._detectors is None:
            from aimds.detect.pii import PiiDetector
            from aimds.detect.secrets import SecretDetector

            self._detectors = (PiiDetector(), SecretDetector())
        prepared = Prepared(raw=text, role=Role.DOCUMENT, views=(identity_view("normalized", text),))
        return [f for d in self._detectors for f in d.scan(prepared)]

    def classify(self, text: str | None = None, findings: Iterable[Finding] | None = None) -> Classification:
        if text is None and findings is None:
            raise InvalidInput("classify needs a text or findings")
        if text is not None and not isinstance(text, str):
            raise InvalidInput(f"text must be str, got {type(text).__name__}")
        found = list(findings) if findings is not None else self._scan(text or "")
        entities = Counter(entity_of(f) for f in found)
        kinds = Counter(f.kind.value for f in found)
        level, reasons = DataClass.PUBLIC, []
        for rule in self.rules:
            count = sum(entities[e] for e in rule.entities) + sum(kinds[k] for k in rule.kinds)
            hit = (rule.entities or rule.kinds) and count >= rule.min_count
            if not hit and rule.keywords is not None and text:
                match = rule.keywords.search(text)
                hit = match is not None
                if hit:
                    reasons.append(f"{rule.level.value}: keyword '{match.group().lower()}'")
            elif hit:
                reasons.append(f"{rule.level.value}: {rule.reason} ({count} found)")
            if hit and rule.level.rank > level.rank:
                level = rule.level
        return Classification(level, tuple(reasons))


def classify(text_or_findings: str | Sequence[Finding], rules_path: str | Path | None = None) -> DataClass:
    """Level of a text, or of findings from an earlier scan (keywords then cannot count)."""
    classifier = Classifier(rules_path)
    if isinstance(text_or_findings, str):
        return classifier.classify(text=text_or_findings).level
    return classifier.classify(findings=text_or_findings).level


def _load(path: str | Path | None) -> tuple[ClassRule, ...]:
    try:
        raw = (Path(path).read_text(encoding="utf-8") if path is not None
               else resources.files("aimds").joinpath("classify.yaml").read_text(encoding="utf-8"))
        data = yamlio.load(raw)
        rules = []
        for item in data["rules"]:
            words = item.get("keywords") or []
            rules.append(ClassRule(
                level=DataClass(item["level"]),
                entities=frozenset(e.upper() for e in item.get("entities", [])),
                kinds=frozenset(item.get("kinds", [])),
                keywords=re.compile(r"\b(?:" + "|".join(re.escape(w) for w in words) + r")\b", re.I) if words else None,
                min_count=int(item.get("min_count", 1)),
                reason=str(item.get("reason", "")),
            ))
        return tuple(rules)
    except (OSError, yaml.YAMLError, KeyError, TypeError, ValueError) as exc:
        raise RulePackError(f"classification rules {path or 'classify.yaml'}: {exc}") from None
