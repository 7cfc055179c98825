"""Offline check of a recorded trace against runtime and offline policies.

Runtime policies run through the same incremental monitor as in production (so a recorded trace
gives exactly the verdicts the live system gave, given the same labels); offline policies are
evaluated per session with finite-trace semantics. Events are grouped by (agent, session) in file
order.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from aimds.agents.ast_helpers import offline_witnesses
from aimds.agents.events import Event
from aimds.agents.ltl.offline import evaluate
from aimds.agents.monitor import Monitor
from aimds.agents.policy import PolicySet


@dataclass(frozen=True)
class TraceViolation:
    policy: str
    severity: str
    action: str
    agent_id: str
    session_id: str
    events: tuple[int, ...]

    def to_dict(self) -> dict[str, Any]:
        return {"policy": self.policy, "severity": self.severity, "action": self.action,
                "agent_id": self.agent_id, "session_id": self.session_id, "events": list(self.events)}


@dataclass
class TraceReport:
    events: int = 0
    sessions: int = 0
    policies: int = 0
    violations: list[TraceViolation] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {"events": self.events, "sessions": self.sessions, "policies": self.policies,
                "violations": [v.to_dict() for v in self.violations]}


def check_trace(policies: PolicySet, events: Sequence[Event]) -> TraceReport:
    report = TraceReport(events=len(events), policies=len(policies.policies))
    sessions: dict[tuple[str, str], list[Event]] = {}
    for event in events:
        sessions.setdefault((event.agent_id, event.session_id), []).append(event)
    report.sessions = len(sessions)
    runtime = policies.runtime
    if runtime:
        monitor = Monitor(runtime)
        for event in events:
            for v in monitor.step(event):
                report.violations.append(
                    TraceViolation(v.policy, v.severity, v.action, event.agent_id, event.session_id, v.events)
                )
    for policy in policies.offline:
        for (agent_id, session_id), trace in sessions.items():
            if evaluate(policy.formula, trace)[0]:
                continue
            witnesses = offline_witnesses(policy.formula, trace)
            report.violations.append(TraceViolation(policy.name, policy.severity.value, policy.action.value,
                                                    agent_id, session_id, witnesses))
    return report
