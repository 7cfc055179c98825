"""Runtime defence for agents: events, temporal policies, tool interception, behaviour, identity."""

from aimds.agents.defense import AgentDefense, Decision
from aimds.agents.events import Event, EventKind, from_openai_messages, parse_event, read_trace
from aimds.agents.identity import KeyRing, SignatureError
from aimds.agents.monitor import Monitor, Violation
from aimds.agents.policy import Policy, PolicySet, default_policies, load_policies, make_policy

__all__ = [
    "AgentDefense",
    "Decision",
    "Event",
    "EventKind",
    "KeyRing",
    "Monitor",
    "Policy",
    "PolicySet",
    "SignatureError",
    "Violation",
    "default_policies",
    "from_openai_messages",
    "load_policies",
    "make_policy",
    "parse_event",
    "read_trace",
]
