"""The values that flow through the pipeline: roles, threat kinds, findings and verdicts.

Everything here is plain, immutable data so that any stage (and any user) can hold on to it,
serialise it, and compare it without surprises.
"""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass, field
from enum import Enum
from typing import Any


class Role(str, Enum):
    """Where a text came from. Untrusted third-party content is scanned for *indirect* injection."""

    USER = "user"
    SYSTEM = "system"
    DOCUMENT = "document"
    TOOL_OUTPUT = "tool_output"
    ASSISTANT = "assistant"

    @property
    def is_third_party(self) -> bool:
        return self in (Role.DOCUMENT, Role.TOOL_OUTPUT)


class ThreatKind(str, Enum):
    PROMPT_INJECTION = "prompt_injection"
    INDIRECT_INJECTION = "indirect_injection"
    JAILBREAK = "jailbreak"
    SYSTEM_PROMPT_EXTRACTION = "system_prompt_extraction"
    ENCODING_OBFUSCATION = "encoding_obfuscation"
    INVISIBLE_TEXT = "invisible_text"
    DATA_EXFILTRATION = "data_exfiltration"
    CODE_INJECTION = "code_injection"
    PII = "pii"
    SECRET = "secret"
    POLICY_VIOLATION = "policy_violation"
    BEHAVIOUR_ANOMALY = "behaviour_anomaly"


class Action(str, Enum):
    """Ordered from least to most severe; `max()` over actions picks the strictest."""

    ALLOW = "allow"
    SANITIZE = "sanitize"
    REVIEW = "review"
    BLOCK = "block"

    @property
    def severity(self) -> int:
        return _ACTION_ORDER[self]

    @property
    def stops(self) -> bool:
        """True for actions that must not let the text through unchanged and unreviewed."""
        return self in (Action.REVIEW, Action.BLOCK)


_ACTION_ORDER = {Action.ALLOW: 0, Action.SANITIZE: 1, Action.REVIEW: 2, Action.BLOCK: 3}


def strictest(actions: list[Action] | tuple[Action, ...]) -> Action:
    return max(actions, key=lambda a: a.severity, default=Action.ALLOW)


@dataclass(frozen=True, slots=True)
class Span:
    """A half-open character range ``[start, end)`` in the *original* text."""

    start: int
    end: int

    def __post_init__(self) -> None:
        if self.start < 0 or self.end < self.start:
            raise ValueError(f"invalid span [{self.start}, {self.end})")


@dataclass(frozen=True, slots=True)
class Finding:
    """One thing a detector saw.

    ``score`` is a calibrated probability-like value in [0, 1]; thresholds per kind turn it into
    an action in the decide stage. ``span`` points into the original text (``None`` when the
    finding is about the text as a whole). ``reason`` is for humans and must never contain raw
    secrets or PII: detectors quote at most a short, already-safe excerpt.
    """

    kind: ThreatKind
    detector: str
    score: float
    reason: str
    span: Span | None = None
    rule_id: str | None = None
    view: str = "raw"
    metadata: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not 0.0 <= self.score <= 1.0:
            raise ValueError(f"finding score {self.score} outside [0, 1]")

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "kind": self.kind.value,
            "detector": self.detector,
            "score": round(self.score, 4),
            "reason": self.reason,
            "span": [self.span.start, self.span.end] if self.span else None,
            "view": self.view,
        }
        if self.rule_id:
            out["rule_id"] = self.rule_id
        if self.metadata:
            out["metadata"] = self.metadata
        return out


@dataclass(frozen=True, slots=True)
class Verdict:
    """The answer to one check: what to do with the text and why."""

    action: Action
    risk: float
    findings: tuple[Finding, ...]
    role: Role
    latency_ms: float
    sanitized_text: str | None = None
    id: str = field(default_factory=lambda: uuid.uuid4().hex)
    created_at: float = field(default_factory=time.time)
    session_id: str | None = None
    agent_id: str | None = None
    cached: bool = False
    timings: dict[str, float] = field(default_factory=dict)

    @property
    def allowed(self) -> bool:
        return not self.action.stops

    @property
    def reasons(self) -> list[str]:
        return [f.reason for f in self.findings]

    def kinds(self) -> set[ThreatKind]:
        return {f.kind for f in self.findings}

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "action": self.action.value,
            "risk": round(self.risk, 4),
            "role": self.role.value,
            "findings": [f.to_dict() for f in self.findings],
            "sanitized_text": self.sanitized_text,
            "latency_ms": round(self.latency_ms, 3),
            "created_at": self.created_at,
            "session_id": self.session_id,
            "agent_id": self.agent_id,
            "cached": self.cached,
            "timings_ms": {k: round(v, 4) for k, v in self.timings.items()},
        }
