"""Behaviour monitor: what is normal for an agent, and how far its current behaviour is from it.

Per agent: which tools it calls and how often, which argument shapes it uses, how risky the content
it reads is, and how often policies fire. From that an anomaly score (new tool after warm-up, new
argument shape, rate spike, risky reads), a trust score (drops with violations, recovers slowly) and
a status: healthy, suspicious or compromised. Per session: risk accumulated over the conversation
(crescendo-style escalation) and the similarity of the per-turn risk sequence to known multi-turn
attack shapes by dynamic time warping. Settings come from ``behaviour.yaml``.
"""

from __future__ import annotations

from collections import OrderedDict, deque
from dataclasses import dataclass, field
from enum import Enum
from importlib import resources
from typing import Any


from aimds import yamlio

MAX_TOOLS = 1000
MAX_SHAPES = 10_000
MAX_AGENTS = 100_000
MAX_SESSIONS = 100_000
RISK_HISTORY = 32


class AgentHealth(str, Enum):
    HEALTHY = "healthy"
    SUSPICIOUS = "suspicious"
    COMPROMISED = "compromised"


def load_behaviour_settings() -> dict[str, Any]:
    return yamlio.load((resources.files("aimds.agents") / "behaviour.yaml").read_text(encoding="utf-8"))


@dataclass
class AgentProfile:
    agent_id: str
    tool_calls: int = 0
    tools: dict[str, int] = field(default_factory=dict)
    shapes: set[int] = field(default_factory=set)
    recent_calls: deque[float] = field(default_factory=lambda: deque(maxlen=1000))
    usual_rate: float = 0.0
    last_read_risk: float = 0.0
    anomaly: float = 0.0
    trust: float = 1.0
    violations: int = 0
    quarantined: bool = False
    compromised: bool = False
    reasons: list[str] = field(default_factory=list)

    def to_dict(self, health: AgentHealth) -> dict[str, Any]:
        return {
            "agent_id": self.agent_id,
            "status": health.value,
            "trust": round(self.trust, 4),
            "anomaly": round(self.anomaly, 4),
            "tool_calls": self.tool_calls,
            "violations": self.violations,
            "quarantined": self.quarantined,
            "reasons": self.reasons[-10:],
        }


@dataclass
class SessionRisk:
    accumulated: float = 0.0
    history: deque[float] = field(default_factory=lambda: deque(maxlen=RISK_HISTORY))
    escalating: bool = False
    matched_shape: str | None = None


def dtw_distance(a: list[float], b: list[float]) -> float:
    """Dynamic time warping distance (absolute difference), normalised by the path length bound."""
    if not a or not b:
        return float("inf")
    inf = float("inf")
    previous = [0.0] + [inf] * len(b)
    for x in a:
        current = [inf] * (len(b) + 1)
        for j, y in enumerate(b, 1):
            current[j] = abs(x - y) + min(previous[j], previous[j - 1], current[j - 1])
        previous = current
    return previous[-1] / (len(a) + len(b))


class BehaviourMonitor:
    def __init__(self, settings: dict[str, Any] | None = None) -> None:
        self.settings = settings or load_behaviour_settings()
        self._agents: OrderedDict[str, AgentProfile] = OrderedDict()
        self._sessions: OrderedDict[tuple[str, str], SessionRisk] = OrderedDict()

    def profile(self, agent_id: str) -> AgentProfile:
        profile = self._agents.get(agent_id)
        if profile is None:
            profile = self._agents[agent_id] = AgentProfile(agent_id)
            if len(self._agents) > MAX_AGENTS:
                self._agents.popitem(last=False)
        return profile

    def has(self, agent_id: str) -> bool:
        return agent_id in self._agents

    def known_agents(self) -> list[str]:
        return list(self._agents)

    def session(self, agent_id: str, session_id: str) -> SessionRisk:
        key = (agent_id, session_id)
        risk = self._sessions.get(key)
        if risk is None:
            risk = self._sessions[key] = SessionRisk()
            if len(self._sessions) > MAX_SESSIONS:
                self._sessions.popitem(last=False)
        return risk

    def reset_session(self, agent_id: str, session_id: str) -> None:
        self._sessions.pop((agent_id, session_id), None)

    # -- observations ----------------------------------------------------------------------------
    def observe_content(self, agent_id: str, session_id: str, risk: float, untrusted: bool) -> SessionRisk:
        """Content the agent received (user turn or untrusted tool output) with its scan risk."""
        config = self.settings["crescendo"]
        state = self.session(agent_id, session_id)
        state.accumulated = state.accumulated * config["decay"] + risk
        state.history.append(risk)
        if state.accumulated >= config["threshold"]:
            state.escalating = True
        state.matched_shape = state.matched_shape or self._match_shape(list(state.history))
        if state.matched_shape:
            state.escalating = True
        if untrusted:
            self.profile(agent_id).last_read_risk = risk
        return state

    def _match_shape(self, history: list[float]) -> str | None:
        config = self.settings["crescendo"]
        if len(history) < 3 or max(history) < 0.5:
            return None
        for name, shape in config["shapes"].items():
            recent = history[-len(shape) - 2 :]
            if 1.0 - dtw_distance(recent, shape) >= config["dtw_threshold"] and recent[-1] >= shape[-1] - 0.2:
                return name
        return None

    def observe_tool_call(self, agent_id: str, tool: str, argument_shape: int, now: float) -> float:
        """Update the baseline with a tool call and return its anomaly score."""
        config, weights = self.settings, self.settings["anomaly"]
        profile = self.profile(agent_id)
        parts = []
        warmed = profile.tool_calls >= config["warmup_events"]
        if warmed and tool not in profile.tools:
            parts.append(weights["new_tool"])
        if warmed and argument_shape not in profile.shapes:
            parts.append(weights["new_argument_shape"])
        window = config["rate_window_s"]
        while profile.recent_calls and now - profile.recent_calls[0] >= window:
            profile.recent_calls.popleft()
        profile.recent_calls.append(now)
        current_rate = len(profile.recent_calls)
        if warmed and profile.usual_rate and current_rate > config["rate_spike_factor"] * max(profile.usual_rate, 1.0):
            parts.append(weights["rate_spike"])
        parts.append(weights["risky_read_weight"] * profile.last_read_risk)
        score = 1.0
        for part in parts:
            score *= 1.0 - part
        score = 1.0 - score
        profile.usual_rate = current_rate if not profile.usual_rate else 0.95 * profile.usual_rate + 0.05 * current_rate
        profile.tool_calls += 1
        if len(profile.tools) < MAX_TOOLS or tool in profile.tools:
            profile.tools[tool] = profile.tools.get(tool, 0) + 1
        if len(profile.shapes) < MAX_SHAPES:
            profile.shapes.add(argument_shape)
        profile.anomaly = 0.7 * profile.anomaly + 0.3 * score
        return score

    def observe_outcome(self, agent_id: str, violated_actions: list[str], reasons: list[str]) -> None:
        profile = self.profile(agent_id)
        penalties = self.settings["trust_penalty"]
        if violated_actions:
            profile.violations += len(violated_actions)
            for action in violated_actions:
                profile.trust -= penalties.get(action, 0.1)
            profile.reasons.extend(reasons)
            del profile.reasons[:-50]
            if "quarantine" in violated_actions or "block" in violated_actions:
                profile.compromised = True
        else:
            profile.trust += self.settings["trust_recovery"]
        profile.trust = min(1.0, max(0.0, profile.trust))

    def health(self, agent_id: str) -> AgentHealth:
        profile = self._agents.get(agent_id)
        if profile is None:
            return AgentHealth.HEALTHY
        limits = self.settings["status"]
        if profile.quarantined or profile.compromised or profile.trust < limits["compromised_trust"]:
            return AgentHealth.COMPROMISED
        if profile.trust < limits["suspicious_trust"] or profile.anomaly >= limits["suspicious_anomaly"]:
            return AgentHealth.SUSPICIOUS
        return AgentHealth.HEALTHY

    def release(self, agent_id: str) -> None:
        """A human cleared the agent: lift quarantine and the compromised flag, restore some trust."""
        profile = self.profile(agent_id)
        profile.quarantined = profile.compromised = False
        profile.trust = max(profile.trust, self.settings["status"]["suspicious_trust"])
        profile.anomaly = 0.0
